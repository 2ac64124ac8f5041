"""convnet show: activation maps, filters, Grad-CAM and dreams, checked against numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convnet.cli.main import main


@pytest.fixture(scope="module")
def digits(digits_run):
    from convnet.visualize.common import load_run

    return load_run(digits_run)


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    from convnet.data.sources import load_dataset

    ds = load_dataset("digits")
    path = tmp_path_factory.mktemp("img") / "digit.png"
    Image.fromarray(ds.test.images[0, 0].numpy()).save(path)
    return path


def test_maps_equal_the_models_own_intermediate_outputs(digits, digit_png):
    from convnet.visualize.common import STAGE_KINDS, image_batch
    from convnet.visualize.maps import feature_maps

    _, x = image_batch(digits, digit_png)
    found = feature_maps(digits.model, x)
    expected_layers = [(n, type(m).__name__) for n, m in digits.model.named_children()
                       if type(m).__name__ in STAGE_KINDS]
    assert [(s.name, s.kind) for s in found] == expected_layers      # every conv, ReLU and pool, in order
    assert (found[0].kind, found[0].shape) == ("Conv2d", "28x28x32")
    assert found[-1].shape == "1x1x128"                              # the global max pool
    with torch.no_grad():
        for stage in found:                     # oracle: run the Sequential up to that layer
            expected = digits.model[:int(stage.name) + 1](x)[0].float()
            torch.testing.assert_close(stage.maps, expected.contiguous(), rtol=1e-5, atol=1e-5)
    relu = next(s for s in found if s.kind == "ReLU")
    assert (relu.maps >= 0).all() and (found[0].maps < 0).any()      # ReLU did its job


def test_conv_output_is_not_overwritten_by_a_following_inplace_relu():
    from convnet.visualize.activations import stages

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(inplace=True))
    x = torch.randn(1, 1, 8, 8)
    conv, relu = stages(model, x)
    with torch.no_grad():
        torch.testing.assert_close(conv.maps, model[0](x)[0])
    assert (conv.maps < 0).any() and (relu.maps >= 0).all()


def test_one_layer_by_name_or_index_and_a_bad_one_lists_the_valid_ones(digits, digit_png):
    from convnet.errors import ConfigError
    from convnet.visualize.common import image_batch
    from convnet.visualize.maps import feature_maps

    _, x = image_batch(digits, digit_png)
    assert [s.name for s in feature_maps(digits.model, x, "4")] == ["4"]
    assert [s.name for s in feature_maps(digits.model, x, -1)] == ["12"]
    valid = ", ".join(f"{n} ({type(m).__name__})" for n, m in digits.model.named_children()
                      if type(m).__name__ in ("Conv2d", "MaxPool2d", "ReLU", "AdaptiveMaxPool2d"))
    with pytest.raises(ConfigError) as e:
        feature_maps(digits.model, x, "fc")
    assert str(e.value) == f"no conv/activation/pooling layer 'fc'; valid: {valid} (or an index 0..9)"


def test_filter_grid_holds_the_kernels_scaled(digits):
    from convnet.visualize.filters import filter_grid, filter_images

    w = digits.model[0].weight.detach().numpy()                     # [32, 1, 3, 3]
    _, grid = filter_grid(digits.model)
    first = grid[:3, :3]
    k = w[0, 0]
    np.testing.assert_allclose(first, 0.5 + k / (2 * np.abs(k).max()), atol=1e-6)   # 0 -> mid gray
    assert grid.shape == (6 * 4 - 1, 6 * 4 - 1)                        # 32 kernels in a 6x6 mosaic
    rgb = np.random.default_rng(0).normal(size=(5, 3, 3, 3)).astype(np.float32)
    tiles = filter_images(rgb)
    assert tiles.shape == (5, 3, 3, 3)                              # one colour image per kernel
    np.testing.assert_allclose(tiles[2, 1, 0], 0.5 + rgb[2, :, 1, 0] / (2 * np.abs(rgb[2]).max()), atol=1e-6)


def _object_images(n: int, rng: np.random.Generator):
    """32x32 noise with one 8x8 object at a random place: class 0 a hollow square, 1 an X."""
    square = np.zeros((8, 8), np.float32)
    square[[0, -1], :] = square[:, [0, -1]] = 1
    cross = np.maximum(np.eye(8), np.eye(8)[::-1]).astype(np.float32)
    x = rng.uniform(0, 0.35, (n, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 2, n)
    boxes = rng.integers(0, 24, (n, 2))
    for i, (r, c) in enumerate(boxes):
        x[i, 0, r:r + 8, c:c + 8] = np.maximum(x[i, 0, r:r + 8, c:c + 8], (square, cross)[y[i]])
    return torch.from_numpy(x), torch.from_numpy(y), boxes


def test_gradcam_peaks_where_the_class_is_decided():
    """The class depends only on the object's region, so Grad-CAM must peak there."""
    from convnet.models import create
    from convnet.visualize.gradcam import gradcam

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = create("convnet", num_classes=2, in_channels=1, widths=(8, 16, 32))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        x, y, _ = _object_images(32, rng)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y, boxes = _object_images(20, rng)
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() >= 0.9          # it learned the task
    last_conv = max(int(n) for n, m in model.named_children() if isinstance(m, torch.nn.Conv2d))
    hits, inside_ratio = 0, []
    for i in range(len(x)):
        r = gradcam(model, x[i:i + 1])
        assert r.cam.shape == (32, 32) and int(r.layer) >= last_conv   # the last conv's maps
        peak = np.unravel_index(r.cam.argmax(), r.cam.shape)
        (r0, c0), m = boxes[i], 3                                   # 3 px: one cell of the 8x8 CAM
        hits += (r0 - m <= peak[0] < r0 + 8 + m) and (c0 - m <= peak[1] < c0 + 8 + m)
        box = np.zeros((32, 32), bool)
        box[r0:r0 + 8, c0:c0 + 8] = True
        inside_ratio.append(r.saliency[box].mean() / r.saliency[~box].mean())
    assert hits >= 18, f"Grad-CAM peaked on the object in only {hits} of 20 images"
    assert np.median(inside_ratio) > 3                              # saliency is on the object too


def test_gradcam_explains_a_named_class(digits, digit_png):
    from convnet.visualize.common import class_index, image_batch
    from convnet.visualize.gradcam import gradcam

    _, x = image_batch(digits, digit_png)
    r = gradcam(digits.model, x, class_index(digits.classes, "3"))
    assert r.class_index == 3 and 0 <= r.cam.min() and r.cam.max() <= 1
    with torch.no_grad():
        expected = torch.softmax(digits.model(x), 1)[0].numpy()
    np.testing.assert_allclose(r.probabilities, expected, rtol=1e-5, atol=1e-6)


def test_dream_excites_its_filter_more_than_any_real_image(digits):
    from convnet.data.sources import load_dataset
    from convnet.visualize.dream import dream, filter_scores

    result = dream(digits.model, digits.preprocess, layer="8", filters=[0, 5, 9], steps=80)   # 40 was marginal on one thread (0.0998 vs 0.1018)
    assert result.images.shape == (3, 28, 28) and 0 <= result.images.min() and result.images.max() <= 1
    real = digits.preprocess(load_dataset("digits").test.images[:200])
    with torch.no_grad():
        for i, f in enumerate(result.filters):
            best_real = filter_scores(digits.model, digits.model[8], real, [f] * len(real)).max().item()
            assert result.activation[i] > best_real, (f, result.activation[i], best_real)
            assert result.activation[i] > result.start[i]


def _png_size(path):
    with Image.open(path) as im:
        return im.size


def test_cli_writes_each_picture(digits_run, digit_png, tmp_path, capsys):
    assert main(["show", "filters", str(digits_run), "--out", str(tmp_path / "f.png")]) == 0
    assert "layer 0: 32 filters of 3x3x1" in capsys.readouterr().out
    assert main(["show", "maps", str(digits_run), str(digit_png), "--out", str(tmp_path / "m.png")]) == 0
    shapes = capsys.readouterr().out
    assert shapes.startswith("28x28x1 -> 28x28x32 (Conv2d) -> ") and shapes.count(" -> ") == 10
    assert "x128 (ReLU) -> 1x1x128 (AdaptiveMaxPool2d)" in shapes
    assert main(["show", "gradcam", str(digits_run), str(digit_png), "--class", "6",
                 "--out", str(tmp_path / "g.png")]) == 0
    assert "explaining '6'" in capsys.readouterr().out
    assert main(["show", "dream", str(digits_run), "--layer", "4", "--filter", "0-3", "--steps", "5",
                 "--out", str(tmp_path / "d.svg")]) == 0
    assert "filter   3:" in capsys.readouterr().out
    for name in ("f.png", "m.png", "g.png"):
        w, h = _png_size(tmp_path / name)
        assert w > 200 and h > 150
    assert (tmp_path / "d.svg").read_text().lstrip().startswith("<?xml")


def test_cli_default_out_is_inside_the_run(digits_run, capsys):
    assert main(["show", "filters", str(digits_run), "--layer", "-1"]) == 0
    out = digits_run / "show" / "filters-8.png"
    assert f"wrote {out}" in capsys.readouterr().out and out.is_file()


def test_a_photo_of_the_wrong_size_and_colour_is_converted_as_predict_does(digits, shared_images):
    from convnet.visualize.common import image_batch

    raw, x = image_batch(digits, shared_images / "chelsea.png")     # 451x300 RGB into 28x28 gray
    assert raw.shape == (1, 1, 28, 28) and x.shape == (1, 1, 28, 28)
    assert torch.equal(raw[0], digits.to_uint8(shared_images / "chelsea.png"))


@pytest.mark.parametrize("argv, message", [
    (["filters", "{run}", "--layer", "conv9"], "no conv layer 'conv9'; valid: 0 (Conv2d), 4 (Conv2d), 8 (Conv2d)"),
    (["maps", "{run}", "{img}", "--layer", "99"], "no conv/activation/pooling layer '99'; valid: 0 (Conv2d)"),
    (["gradcam", "{run}", "{img}", "--class", "cat"], "no class 'cat'; classes: 0, 1, 2"),
    (["dream", "{run}", "--filter", "500"], "has filters 0..127; no filter 500"),
    (["dream", "{run}", "--filter", "a-b"], "--filter 'a-b': give numbers like"),
    (["maps", "{run}", "{missing}"], "no such file:"),
    (["filters", "{run}", "--out", "{tmp}/x.bmpx"], "unsupported picture type '.bmpx'"),
])
def test_bad_input_is_one_line_naming_it(digits_run, digit_png, tmp_path, capsys, argv, message):
    fill = {"run": str(digits_run), "img": str(digit_png), "missing": str(tmp_path / "no.png"), "tmp": str(tmp_path)}
    assert main(["show"] + [a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_run_directory_without_a_model_says_so(digits_run, tmp_path, capsys):
    import shutil

    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(digits_run / "config.json", bare / "config.json")
    assert main(["show", "filters", str(bare)]) == 2
    assert "has no trained model (model.safetensors is missing)" in capsys.readouterr().err
    assert main(["show", "filters", str(tmp_path)]) == 2
    assert "is not a run directory (no config.json)" in capsys.readouterr().err


def test_gradcam_equals_a_hand_computation_where_a_relu_runs_twice():
    """ResNet blocks call one ReLU module twice; Grad-CAM must use the last call's maps and
    its own gradient. Oracle: retain_grad on the block's output, the formula by hand."""
    from convnet.models import create
    from convnet.visualize.gradcam import gradcam

    torch.manual_seed(0)
    model = create("resnet20", num_classes=10, in_channels=3).eval()
    x = torch.randn(1, 3, 32, 32)
    result = gradcam(model, x)
    assert result.layer == "stages.8.relu"
    box = {}

    def keep(module, inputs, output):
        output.retain_grad()
        box["out"] = output

    handle = dict(model.named_modules())["stages.8"].register_forward_hook(keep)
    logits = model(x)
    handle.remove()
    logits[0, logits.argmax()].backward()
    maps, grad = box["out"].detach(), box["out"].grad
    cam = torch.relu((grad.mean((2, 3), keepdim=True) * maps).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
    np.testing.assert_allclose(result.cam, (cam / cam.max()).numpy(), atol=1e-5)
    assert result.class_index == int(logits.argmax())
