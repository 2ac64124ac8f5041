"""The model zoo: published parameter counts and multiply-adds, and every registered model
trains: right output shape, a gradient for every parameter, finite numbers, bounded cost."""

from __future__ import annotations

import resource
import time

import pytest
import torch

from convnet.models import create, get_spec, names
from convnet.models.summary import build_on_meta, summarize, summarize_spec


def meta_params(name: str, num_classes: int, in_channels: int = 3) -> int:
    with torch.device("meta"):
        model = create(name, num_classes, in_channels)
    return sum(p.numel() for p in model.parameters())


# The list, from the reference implementations (torchvision), at 1000 classes, 3x224x224.
PUBLISHED = {
    "alexnet": 61_100_840, "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "googlenet": 6_624_904,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904,
    # further published counts: torchvision's model table, Caffe's bvlc_alexnet (the 2012 layout)
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg19": 143_667_240, "vgg19_bn": 143_678_248, "googlenet_aux": 13_004_888,
    "resnext101_32x8d": 88_791_336, "resnext101_64x4d": 83_455_272, "alexnet_2012": 60_965_224,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_imagenet_parameter_counts_match_the_reference_implementations(name):
    assert meta_params(name, 1000) == PUBLISHED[name]


def test_cifar_resnets_match_the_paper_table():
    # He et al. 2015, table 6: ResNet-20 0.27M, 32 0.46M, 44 0.66M, 56 0.85M, 110 1.7M
    paper = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7}
    for name, millions in paper.items():
        digits = 1 if name == "resnet110" else 2
        assert round(meta_params(name, 10) / 1e6, digits) == millions, name
    assert meta_params("resnet20", 10) == 269_722       # option-A shortcuts have no parameters


def test_capsnet_has_the_papers_8_2_million_parameters():
    model = create("capsnet", 10, 1)
    total = sum(p.numel() for p in model.parameters())
    decoder = sum(p.numel() for p in model.decoder.parameters())
    assert round(total / 1e6, 1) == 8.2 and round((total - decoder) / 1e6, 1) == 6.8
    assert model.digits.W.shape == (1152, 10, 16, 8)    # 32x6x6 primary capsules of 8D -> 10 of 16D


def test_other_small_models_have_their_known_counts():
    assert meta_params("lenet5", 10, 1) == 61_706
    assert meta_params("allcnn_c", 10, 3) == 1_369_738  # Springenberg et al.: ~1.4M
    # Page's ResNet-9 by hand from its layer list: convs 6,563,520 + BN 4,480 + FC 5,120
    assert meta_params("resnet9", 10, 3) == 6_573_120


# torchvision's published GFLOPS (multiply-adds of conv + linear layers, 3x224x224)
GMACS = {"alexnet": 0.71, "vgg16": 15.47, "vgg19_bn": 19.63, "googlenet": 1.50, "resnet18": 1.81,
         "resnet50": 4.09, "resnext50_32x4d": 4.23, "resnext101_32x8d": 16.41}


@pytest.mark.parametrize("name", sorted(GMACS))
def test_multiply_adds_match_torchvision(name):
    assert round(summarize_spec(get_spec(name)).macs / 1e9, 2) == GMACS[name]


@pytest.mark.parametrize("name", ["capsnet", "allcnn_c", "resnet20", "lenet5", "googlenet_aux"])
def test_multiply_adds_match_pytorchs_flop_counter(name):
    from torch.utils.flop_counter import FlopCounterMode

    spec = get_spec(name)
    model = build_on_meta(spec).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, spec.in_channels, *spec.input_size, device="meta"))
    assert summarize_spec(spec).macs == counter.get_total_flops() // 2


def test_receptive_fields_match_the_published_values():
    # Araujo, Norris, Sim, "Computing receptive fields of convolutional neural networks"
    # (Distill 2019): AlexNet 195, VGG-16 212 at the last pooling layer.
    vgg = summarize_spec(get_spec("vgg16"))
    assert [r.rf for r in vgg.rows if r.kind == "MaxPool2d"] == [6, 16, 44, 100, 212]
    for name in ("alexnet", "alexnet_2012"):
        rows = summarize_spec(get_spec(name)).rows
        assert [r.rf for r in rows if r.name.startswith("features")][-1] == 195


def empirical_receptive_field(model, layer, shape) -> int:
    """Height of the input region whose pixels change the centre unit of `layer`'s output."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.05)                         # all-positive weights: no unit is ever switched off
    out = {}
    layer.register_forward_hook(lambda m, i, o: out.setdefault("y", o))
    x = torch.rand(1, *shape).add_(0.5).requires_grad_()
    model.eval()(x)
    y = out["y"]
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    rows = x.grad[0].abs().sum((0, 2)).nonzero()
    return int(rows.max() - rows.min() + 1)


STRIDED = "input(1,64,64)-conv(4,5,stride=2)-relu-avgpool(3,2)-[conv(4,3)-relu]x2-gap"


# max pooling passes the gradient to one pixel per window, so the oracle needs nets without it
@pytest.mark.parametrize("name,layer", [("resnet20", "stages.3"), ("resnet20", "stages.6"),
                                        ("lenet5", "3"), ("allcnn_c", "19"), (STRIDED, "5")])
def test_receptive_fields_match_input_gradients(name, layer):
    """Independent oracle: the extent of d(centre unit)/d(input) on a large enough input."""
    spec = get_spec(name)
    size = {"lenet5": 28}.get(name, 64 if name == STRIDED else 96)
    shape = (spec.in_channels, size, size)
    model = create(name, 10, spec.in_channels).float()
    rows = {r.name: r.rf for r in summarize(build_on_meta(spec, shape, 10), shape).rows}
    module = dict(model.named_modules())[layer]
    # a composite layer's rf is that of its last leaf
    last_leaf = [n for n, m in model.named_modules() if n.startswith(layer + ".") and not list(m.children())]
    expected = rows[layer] if layer in rows else rows[last_leaf[-1]]
    assert empirical_receptive_field(model, module, shape) == expected


def test_capsnet_summary_covers_the_routing_and_the_decoder():
    """The digit capsules route over all 1,152 primary capsules, so their receptive field is the
    input region any primary capsule sees (oracle: the input gradient of the capsule lengths);
    the decoder runs only in the training loss but its parameters are listed."""
    spec = get_spec("capsnet")
    s = summarize_spec(spec)
    assert sum(r.params for r in s.rows) == s.params == 8_215_568
    decoder = [r for r in s.rows if r.name.startswith("decoder.")]
    assert [r.in_forward for r in decoder] == [False] * 3 and sum(r.macs for r in decoder) > 0
    assert s.macs == sum(r.macs for r in s.rows if r.in_forward)
    model = create("capsnet", 10, 1)
    with torch.no_grad():
        model.primary.conv.weight.abs_()              # no ReLU unit switched off by chance
    x = torch.rand(1, 1, 28, 28).add_(0.5).requires_grad_()
    model.capsules(x).norm(dim=-1).sum().backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero()
    digits = next(r for r in s.rows if r.name == "digits")
    assert digits.rf == int(rows.max() - rows.min() + 1) == 27


# Models over 30M parameters are checked on the meta device (shapes and autograd graph, no
# arithmetic); the others for real, ImageNet ones at reduced input so batch 2 is cheap in CI.
BIG = 20_000_000


@pytest.fixture(autouse=True)
def one_thread():
    """Batch-2 passes are too small to share; one thread also keeps CPU time honest when the
    machine is busy (idle OpenMP threads spin)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trial_input(name: str, spec) -> tuple[int, int]:
    size = tuple(spec.input_size)
    if not spec.fixed_size and size[0] > 64:
        size = {"alexnet": (64, 64), "alexnet_2012": (100, 100)}.get(name, (32, 32))
    return size


def _classifiers() -> list[str]:
    """Every model with [B, classes] logits: the CTC line readers (per-column logits [B, W/4, K+1])
    are trained and checked by tests/test_ocr.py instead."""
    return [n for n in names() if get_spec(n).builder.__module__ != "convnet.models.crnn"]


@pytest.mark.parametrize("name", _classifiers())
def test_every_model_trains(name):
    spec = get_spec(name)
    size = trial_input(name, spec)
    classes, channels = 7, 3 if spec.in_channels == 3 else 1
    on_meta = meta_params(name, classes, channels) > BIG or name == "googlenet_aux"  # aux: own test
    torch.manual_seed(0)
    t0 = time.process_time()          # CPU seconds: other work on a shared machine does not count
    if on_meta:
        with torch.device("meta"):
            model = create(name, classes, channels)
    else:
        model = create(name, classes, channels)
    device = "meta" if on_meta else "cpu"
    x = torch.randn(2, channels, *size, device=device)
    if hasattr(model, "example_input"):       # models that read something else than images (token ids)
        x = model.example_input(2).to(device)
    y = torch.tensor([1, 5], device=device)
    model.train()
    if hasattr(model, "training_loss"):
        loss, logits = model.training_loss(x, y)
    else:
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    assert logits.shape == (2, classes)
    missing = [n for n, p in model.named_parameters() if p.grad is None and p.requires_grad]  # frozen: by design
    assert not missing, f"no gradient for {missing[:5]}"
    if not on_meta:
        assert torch.isfinite(loss) and torch.isfinite(logits).all()
        bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        assert not bad, f"non-finite gradient in {bad[:5]}"
        model.eval()
        with torch.no_grad():
            assert model(x).shape == (2, classes)
    assert time.process_time() - t0 < 30, "forward+backward at batch 2 took over 30 CPU seconds"
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gib < 6, f"process peak memory {peak_gib:.1f} GiB"


def test_registry_rejects_duplicates_and_names_follow_torchvision():
    from convnet.models.registry import register

    with pytest.raises(ValueError, match="already registered"):
        register("resnet18", input_size=(224, 224))(lambda num_classes, in_channels: None)
    wanted = {"lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn",
              "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
              "resnext101_32x8d", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "allcnn_c",
              "capsnet"}
    assert wanted <= set(names())


def test_googlenet_auxiliary_heads_count_only_in_training():
    model = create("googlenet_aux", 5, 3)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 4])
    model.train()
    logits, aux1, aux2 = model.features(x)
    assert aux1.shape == aux2.shape == (2, 5)
    ce = torch.nn.functional.cross_entropy
    torch.manual_seed(1)                                 # the same dropout masks in both passes
    logits, aux1, aux2 = model.features(x)
    expected = ce(logits, y) + 0.3 * (ce(aux1, y) + ce(aux2, y))
    torch.manual_seed(1)
    loss, _ = model.training_loss(x, y)
    assert torch.allclose(loss, expected)
    model.eval()
    assert model.features(x)[1] is None                 # eval: main head only


def test_capsnet_margin_loss_and_reconstruction():
    from convnet.models.capsnet import squash

    v = squash(torch.tensor([[3.0, 4.0]]))               # length 25/26 of a unit vector
    assert torch.allclose(v.norm(), torch.tensor(25 / 26))
    model = create("capsnet", 10, 1)
    x = torch.rand(3, 1, 28, 28)
    caps = model.capsules(x)
    assert caps.shape == (3, 10, 16) and (caps.norm(dim=-1) < 1).all()
    model.eval()
    logits = model(x)
    assert torch.allclose(logits.exp(), caps.norm(dim=-1), atol=1e-5)   # forward = log lengths
    recon = model.reconstruct(caps, torch.tensor([0, 1, 2]))
    assert recon.shape == (3, 1, 28, 28) and 0 <= recon.min() and recon.max() <= 1
    # masking: only the chosen class's capsule reaches the decoder
    other = caps.clone()
    other[:, 3:] = 0
    assert torch.allclose(model.reconstruct(other, torch.tensor([0, 1, 2])), recon)


def test_notation_models_summarise_at_other_sizes():
    spec = get_spec("conv(8,3)-relu-pool(2)-fc(4)")
    s = summarize_spec(spec, (3, 16, 16))
    assert s.output_shape == (4,) and s.params == 3 * 9 * 8 + 8 + 8 * 8 * 8 * 4 + 4
