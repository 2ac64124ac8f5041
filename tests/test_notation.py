"""The architecture notation: what it builds, and errors that point at the offending token."""

from __future__ import annotations

import pytest
import torch

from convnet.errors import ConfigError
from convnet.models import create, get_spec
from convnet.models.notation import parse

LECTURE = "conv(32,5)-relu-pool(2)-conv(64,5)-relu-pool(2)-fc(128)-relu-fc(10)"


def test_the_lecture_example_builds_the_network_it_says():
    model = create(LECTURE)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear"]
    # "same" padding: 28 -> 14 -> 7, so fc(128) sees 64 x 7 x 7 inputs
    assert model[7].in_features == 64 * 7 * 7
    expected = (1 * 25 * 32 + 32) + (32 * 25 * 64 + 64) + (64 * 49 * 128 + 128) + (128 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    spec = get_spec(LECTURE)
    assert spec.fixed_size and spec.input_size == (28, 28) and spec.num_classes == 10


def test_repeat_groups_input_size_and_named_arguments():
    text = "input(3,32,32)-[conv(16,3)-bn-relu]x2-conv(32,3,stride=2,pad=1)-bn-relu-gap-dropout(0.2)-fc"
    spec = get_spec(text)
    assert spec.input_size == (32, 32) and spec.in_channels == 3 and not spec.fixed_size
    model = spec.build(5, 3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [(3, 16, 1), (16, 16, 1), (16, 32, 2)]
    assert model(torch.randn(2, 3, 48, 48)).shape == (2, 5)   # global average pool: any size


def test_valid_padding_lenet_shapes():
    model = create("conv(6,5,pad=0)-tanh-avgpool(2)-conv(16,5,pad=0)-tanh-avgpool(2)-fc(120)-tanh-fc(84)-tanh-fc",
                   num_classes=10, in_channels=1)
    assert sum(p.numel() for p in model.parameters()) == 44_426   # LeNet-5 on 28x28 without C1 padding


def test_a_notation_without_a_final_fc_gets_a_classifier():
    model = create("conv(8,3)-relu-gap", num_classes=4, in_channels=1)
    assert isinstance(model[-1], torch.nn.Linear) and model[-1].out_features == 4


@pytest.mark.parametrize("text,fragment,position", [
    ("conc(32,5)-relu", "unknown layer 'conc'", 1),
    ("conv(32,5)-relu-pool(0)", "kernel=0 must be a whole number >= 1", 17),
    ("conv(32,5)--relu", "expected a layer name, found '-'", 12),
    ("conv(32)-relu", "conv(32) needs out, kernel", 1),
    ("conv(a,3)-relu", "'a' is not a number", 6),
    ("conv(3,3)-pool(64)", "pool(64) does not fit its 28x28 input", 11),
    ("conv(3,3)-fc(10)-conv(3,3)", "conv(3,3) needs an image-shaped input", 18),
    ("relu-[conv(3,3)-relu", "expected '-' or ']', found the end", 21),
    ("relu-[conv(3,3)]-fc", "must be followed by xN", 17),
    ("dropout(1.5)-fc", "p=1.5 must be a probability", 1),
    ("conv(3,3,foo=1)-fc", "unknown argument 'foo'", 1),
    ("conv(3,3)-relu)", "expected '-' or the end, found ')'", 15),
    ("fc(5)-fc-fc(7)", "only the last fc may leave out its width", 7),
    ("relu-input(3,8,8)", "input(...) may only be the first item", 6),
])
def test_errors_point_at_the_offending_token(text, fragment, position):
    with pytest.raises(ConfigError) as e:
        get_spec(text)
    message = str(e.value)
    assert fragment in message and f"at character {position} of {text!r}" in message
    assert "\n" not in message


def test_the_last_fc_must_match_the_data():
    with pytest.raises(ConfigError, match=r"fc\(10\) gives 10 outputs but the data have 3 classes"):
        get_spec(LECTURE).build(3, 1)


def test_parse_expands_groups_in_order():
    shape, layers = parse("input(2,16,16)-[conv(4,3)-relu]x3-fc")
    assert shape == (2, 16, 16)
    assert [l.name for l in layers] == ["conv", "relu"] * 3 + ["fc"]


def test_cli_trains_a_notation_model_on_the_digits(tmp_path, capsys):
    from convnet.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--model", "conv(8,3)-bn-relu-pool(2)-conv(16,3)-bn-relu-gap-fc", "--epochs", "1",
                 "--lr", "0.05", "--out", str(out), "--no-progress"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    from convnet.inference import Classifier

    clf = Classifier.load(out)
    assert clf.probabilities(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape == (2, 10)
    assert main(["train", "--model", "conv(8,3)-relu-pool(0)", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at character 16" in err and not (tmp_path / "bad").exists()
