"""`convnet explain`: the lecture's worked example checked against arithmetic done by hand here,
other settings against PyTorch, the GIF opened with PIL, and bad input refused in one line."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convnet.cli.main import main

# The lecture example, written out again here (not imported) so the test is its own oracle.
IMAGE = [[[1, 2, 0, 1], [0, 1, 2, 2], [2, 0, 1, 0], [1, 1, 0, 2]],
         [[0, 1, 1, 2], [2, 2, 0, 1], [1, 0, 2, 1], [0, 2, 1, 0]],
         [[2, 0, 1, 1], [1, 0, 0, 2], [0, 1, 1, 2], [2, 1, 0, 1]]]
FILTER = [[[1, -1], [0, 1]], [[-1, 0], [1, 1]], [[0, 1], [-1, 0]]]
BIAS = 1


def explain(capsys, *argv) -> tuple[int, str, str]:
    try:
        rc = main(["explain", *argv])
    except SystemExit as e:             # argparse refuses a bad option value before run()
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_lecture_convolution_matches_the_arithmetic_by_hand(capsys):
    rc, text, _ = explain(capsys, "conv")
    assert rc == 0
    assert "a 4x4x3 input, 1 filter of 2x2x3, stride 2, padding 0" in text
    assert "H' = (H + 2P - K)/S + 1 = (4 + 2*0 - 2)/2 + 1 = 2" in text
    assert "4x4x3 -> 2x2x1" in text
    # by hand: out[0,0] = (1*1 + 2*-1 + 0*0 + 1*1) + (0*-1 + 1*0 + 2*1 + 2*1) + (2*0 + 0*1 + 1*-1 + 0*0) + 1
    assert "d=0: [1 2; 0 1] * [1 -1; 0 1] = [1 -2; 0 1] -> sum 0" in text
    assert "d=1: [0 1; 2 2] * [-1 0; 1 1] = [0 0; 2 2] -> sum 4" in text
    assert "d=2: [2 0; 1 0] * [0 1; -1 0] = [0 0; -1 0] -> sum -1" in text
    assert "0 + 4 + (-1) + bias 1 = 4 -> out[0,0] of map 0" in text
    expected = {(0, 0): 4, (0, 1): 3, (1, 0): 4, (1, 1): 5}                  # worked out on paper
    for (y, x), value in expected.items():
        sums = [sum(IMAGE[d][2 * y + i][2 * x + j] * FILTER[d][i][j] for i in range(2) for j in range(2))
                for d in range(3)]
        assert sum(sums) + BIAS == value                                     # the paper sums agree
        terms = " + ".join(str(s) if s >= 0 else f"({s})" for s in sums)
        assert f"{terms} + bias 1 = {value} -> out[{y},{x}] of map 0" in text
    assert "Activation map 0 (2x2):\n  4 3\n  4 5" in text


def test_lecture_max_and_average_pooling(capsys):
    rc, text, _ = explain(capsys, "pool")
    assert rc == 0 and "(4 + 2*0 - 2)/2 + 1 = 2" in text
    assert "[1 1; 5 6] -> max 6 (at row 1, column 1) -> out[0,0]" in text
    assert "[2 4; 7 8] -> max 8 (at row 1, column 3) -> out[0,1]" in text
    assert "Pooled slice d=0 (2x2):\n  6 8\n  3 4" in text
    rc, text, _ = explain(capsys, "pool", "--mode", "avg")
    assert "mean (1 + 1 + 5 + 6)/4 = 3.25 -> out[0,0]" in text               # 13/4
    assert "Pooled slice d=0 (2x2):\n  3.25 5.25\n     2    2" in text


def test_ten_4x4_filters_at_stride_1_turn_10x10x3_into_7x7x10(capsys):
    rc, text, _ = explain(capsys, "conv", "--image-size", "10", "--channels", "3", "--filter-size", "4",
                          "--filters", "10", "--stride", "1")
    assert rc == 0
    assert "(10 + 2*0 - 4)/1 + 1 = 7" in text and "10x10x3 -> 7x7x10" in text
    assert "... 47 more positions" in text                                   # 49 positions, 2 spelled out
    assert text.count("Activation map ") == 10


def _args(**kw):
    base = dict(image=None, image_size=None, channels=None, filter=None, filter_size=None, filters=1,
                filter_index=0, seed=0, stride=1, padding=0, padding_mode="zeros", show=None, gif=None)
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("mode", ["zeros", "replicate", "reflect"])
def test_random_settings_agree_with_pytorch(mode):
    from convnet.cli.explain import conv_inputs
    from convnet.reference.explain import explain_conv

    image, filters, bias, k = conv_inputs(_args(image_size=7, channels=2, filter_size=3, filters=3, seed=4))
    lines, out = explain_conv(image, filters, bias, stride=2, padding=2, padding_mode=mode)
    x = torch.from_numpy(image)[None]
    x = F.pad(x, (2, 2, 2, 2), mode={"zeros": "constant", "replicate": "replicate", "reflect": "reflect"}[mode])
    expected = F.conv2d(x, torch.from_numpy(filters), torch.from_numpy(bias), stride=2)[0].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert f"padding 2 ({mode})" in lines[0] and "(7 + 2*2 - 3)/2 + 1 = 5" in "\n".join(lines)


def test_real_image_with_a_sobel_filter_and_a_gif(capsys, shared_images, tmp_path):
    from PIL import Image

    from convnet.cli.explain import conv_inputs
    from convnet.reference.explain import explain_conv

    args = _args(image=str(shared_images / "chelsea.png"), image_size=20, channels=1, filter="sobel-x")
    image, filters, bias, k = conv_inputs(args)
    assert image.shape == (1, 20, 20) and 0 <= image.min() and image.max() <= 1 and image.std() > 0.05
    np.testing.assert_array_equal(filters[0, 0], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    _, out = explain_conv(image, filters, bias, stride=1)
    expected = F.conv2d(torch.from_numpy(image)[None], torch.from_numpy(filters))[0].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)

    gif = tmp_path / "sobel.gif"
    rc, text, _ = explain(capsys, "conv", "--image", str(shared_images / "chelsea.png"), "--image-size", "20",
                          "--channels", "1", "--filter", "sobel-x", "--stride", "2", "--gif", str(gif))
    assert rc == 0 and "9x9" in text and f"wrote {gif} (81 frames)" in text
    with Image.open(gif) as im:
        frames = im.n_frames
        im.seek(0)
        first = np.asarray(im.convert("RGB")).copy()
        im.seek(frames - 1)
        last = np.asarray(im.convert("RGB")).copy()
    assert frames == 81
    assert np.abs(first.astype(int) - last).sum() > 0                        # the map filled in


def test_long_animations_are_thinned_but_end_on_the_full_map(tmp_path):
    from PIL import Image

    from convnet.reference.animate import sliding_gif

    out_map = np.arange(144, dtype=float).reshape(12, 12)
    n = sliding_gif(tmp_path / "a.gif", np.zeros((14, 14)), out_map, 3, 1, "t", max_frames=10)
    with Image.open(tmp_path / "a.gif") as im:
        assert n == im.n_frames == 11                                        # every 15th position + the last


def test_lecture_gif_has_one_frame_per_output_position(capsys, tmp_path):
    from PIL import Image

    gif = tmp_path / "lecture.gif"
    rc, text, _ = explain(capsys, "conv", "--gif", str(gif))
    assert rc == 0 and "wrote" in text
    with Image.open(gif) as im:
        assert im.n_frames == 4
    rc, text, _ = explain(capsys, "pool", "--gif", str(tmp_path / "pool.gif"))
    with Image.open(tmp_path / "pool.gif") as im:
        assert rc == 0 and im.n_frames == 4
    rc, _, err = explain(capsys, "conv", "--gif", str(tmp_path))                 # a folder, not a file
    assert rc == 2 and f"--gif {tmp_path}: cannot write it" in err


def test_learned_filter_from_a_run_directory(capsys, tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    run.mkdir()
    weight, bias = rng.standard_normal((6, 1, 5, 5)).astype(np.float32), np.arange(6, dtype=np.float32)
    save_file({"0.weight": weight, "0.bias": bias, "3.weight": np.zeros((16, 6, 5, 5), np.float32)},
              str(run / "model.safetensors"))
    from convnet.cli.explain import conv_inputs

    image, filters, b, k = conv_inputs(_args(filter=str(run), filter_index=4, image_size=6))
    assert k == 5 and image.shape == (1, 6, 6) and b[0] == 4
    np.testing.assert_allclose(filters[0], weight[4])
    rc, text, err = explain(capsys, "conv", "--filter", str(run), "--filter-index", "6")
    assert rc == 2 and "--filter-index 6: 0.weight has only 6 filters" in err


def test_network_lenet5_volumes_parameters_and_receptive_fields(capsys):
    rc, text, _ = explain(capsys, "network", "lenet5")
    assert rc == 0
    rows = {line.split()[0]: line for line in text.splitlines()[2:] if line.strip()}
    # by hand: RF 5; pool 5 + 1*1 = 6 (jump 2); conv 6 + 4*2 = 14; pool 14 + 1*2 = 16
    for layer, volume, params, rf in [("0", "28x28x6", "156", "5x5"), ("2", "14x14x6", None, "6x6"),
                                      ("3", "10x10x16", "2,416", "14x14"), ("5", "5x5x16", None, "16x16"),
                                      ("7", "120", "48,120", "whole input"), ("11", "10", "850", "whole input")]:
        assert volume in rows[layer] and rf in rows[layer], rows[layer]
        if params:
            assert params in rows[layer]
    assert "total: 61,706 parameters" in text


@pytest.mark.parametrize("argv, message", [
    (["conv", "--image-size", "4", "--filter-size", "7"], "kernel 7 (span 7 with dilation 1) is larger than the padded input H=4+2*0=4"),
    (["conv", "--stride", "0"], "--stride: 0 must be at least 1"),
    (["conv", "--padding-mode", "circular"], "invalid choice: 'circular'"),
    (["conv", "--filter", "emboss"], "unknown filter 'emboss'"),
    (["conv", "--filter", "sobel-x", "--filter-size", "5"], "filter sobel-x is 3x3, not 5x5"),
    (["conv", "--image", "/no/such.png"], "/no/such.png"),
    (["conv", "--image-size", "3", "--padding", "3", "--padding-mode", "reflect", "--filter-size", "3", "--seed", "1"],
     "reflect padding (3, 3) must be smaller than the input H=3, W=3"),
    (["pool", "--size", "3", "--padding", "2"], "padding 2 must be at most half the window 3"),
    (["network", "lenet5", "--input-size", "8"], "does not take a 8x8x1 input"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    rc, text, err = explain(capsys, *argv)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
