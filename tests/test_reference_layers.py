"""Every reference layer against PyTorch (forward and every gradient, float64, 1e-6 relative)
on shapes and settings drawn by hypothesis, and against centred finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import reference as ref

FAST = settings(max_examples=25, deadline=None)


def close(ours, theirs, what):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    err = float(np.abs(ours - theirs).max(initial=0)) / scale
    assert err <= 1e-6, f"{what}: relative error {err:.2e}"


def against_torch(layer, module, x, params=(), train=False, rng=None):
    """Run both engines on x (float64) with the same weights; compare out, dx and each dparam."""
    rng = rng or np.random.default_rng(0)
    layer.astype(np.float64)
    module = module.double().train(train)
    with torch.no_grad():
        for name in params:
            getattr(module, name).copy_(torch.from_numpy(layer.params[name]))
    out, cache = layer.forward(x, train=train)
    dout = rng.standard_normal(out.shape)
    dx, grads = layer.backward(dout, cache)
    tx = torch.tensor(x, requires_grad=True)
    tout = module(tx)
    tout.backward(torch.from_numpy(dout))
    close(out, tout, f"{layer} forward")
    close(dx, tx.grad, f"{layer} dx")
    assert sorted(grads) == sorted(params)
    for name in params:
        close(grads[name], getattr(module, name).grad, f"{layer} d{name}")
    return out


def finite_differences(layer, x, train=False, n=6, eps=1e-6, seed=0):
    """Centred differences of L = sum(out * R) at n random entries of x and of each parameter."""
    rng = np.random.default_rng(seed)
    layer.astype(np.float64)
    out, cache = layer.forward(x, train=train)
    r = rng.standard_normal(out.shape)
    dx, grads = layer.backward(r, cache)

    def loss():
        return float((layer.forward(x, train=train)[0] * r).sum())

    for name, array, grad in [("x", x, dx)] + [(k, layer.params[k], grads[k]) for k in layer.params]:
        for _ in range(n):
            i = tuple(rng.integers(0, s) for s in array.shape)
            old = array[i]
            array[i] = old + eps
            up = loss()
            array[i] = old - eps
            down = loss()
            array[i] = old
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - grad[i]) <= 1e-5 * max(1.0, abs(numeric)), \
                f"{layer} d{name}{i}: analytic {grad[i]:.8g}, numeric {numeric:.8g}"


@st.composite
def conv_case(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["zeros", "replicate", "reflect"]))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    span = [dilation * (kk - 1) + 1 for kk in k]
    h = draw(st.integers(max(3, span[0] - 2 * padding[0]), 9))
    w = draw(st.integers(max(3, span[1] - 2 * padding[1]), 9))
    bias = draw(st.booleans())
    n = draw(st.integers(1, 3))
    return n, cin, cout, k, stride, padding, dilation, groups, mode, bias, h, w


@FAST
@given(conv_case(), st.integers(0, 2**31))
def test_conv2d_matches_torch(case, seed):
    n, cin, cout, k, stride, padding, dilation, groups, mode, bias, h, w = case
    rng = np.random.default_rng(seed)
    layer = ref.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias, mode, rng)
    module = nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias, mode)
    x = rng.standard_normal((n, cin, h, w))
    out = against_torch(layer, module, x, ["weight"] + (["bias"] if bias else []), rng=rng)
    assert out.shape[2] == ref.output_size(h, k[0], stride[0], padding[0], dilation)


@settings(max_examples=8, deadline=None)
@given(conv_case())
def test_conv2d_finite_differences(case):
    n, cin, cout, k, stride, padding, dilation, groups, mode, bias, h, w = case
    rng = np.random.default_rng(1)
    layer = ref.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias, mode, rng)
    finite_differences(layer, rng.standard_normal((n, cin, h, w)))


@st.composite
def pool_case(draw):
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k // 2))
    h, w = draw(st.integers(k, 9)), draw(st.integers(k, 9))
    return draw(st.integers(1, 3)), draw(st.integers(1, 4)), k, stride, padding, h, w


@FAST
@given(pool_case(), st.sampled_from(["max", "avg"]), st.integers(0, 2**31))
def test_pools_match_torch(case, kind, seed):
    n, c, k, stride, padding, h, w = case
    rng = np.random.default_rng(seed)
    layer = (ref.MaxPool2d if kind == "max" else ref.AvgPool2d)(k, stride, padding)
    module = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(k, stride, padding)
    against_torch(layer, module, rng.standard_normal((n, c, h, w)), rng=rng)
    finite_differences(layer, rng.standard_normal((n, c, h, w)), n=3)


@FAST
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31))
def test_global_average_pool_matches_torch(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    against_torch(ref.GlobalAvgPool2d(), nn.AdaptiveAvgPool2d(1), x, rng=rng)
    finite_differences(ref.GlobalAvgPool2d(), x, n=3)


@FAST
@given(st.sampled_from(["relu", "tanh", "sigmoid", "flatten"]),
       st.lists(st.integers(1, 5), min_size=4, max_size=4), st.integers(0, 2**31))
def test_elementwise_layers_match_torch(kind, shape, seed):
    rng = np.random.default_rng(seed)
    layer, module = {"relu": (ref.ReLU(), nn.ReLU()), "tanh": (ref.Tanh(), nn.Tanh()),
                     "sigmoid": (ref.Sigmoid(), nn.Sigmoid()), "flatten": (ref.Flatten(), nn.Flatten())}[kind]
    x = rng.standard_normal(shape) * 3
    against_torch(layer, module, x, rng=rng)
    finite_differences(layer, x, n=3)


@FAST
@given(st.integers(1, 8), st.integers(1, 7), st.floats(1e-4, 1.0), st.floats(0.25, 1.0),
       st.floats(0.5, 2.0), st.integers(0, 2**31))
def test_local_response_norm_matches_torch(size, c, alpha, beta, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c, 3, 4)) * 2
    against_torch(ref.LocalResponseNorm(size, alpha, beta, k), nn.LocalResponseNorm(size, alpha, beta, k), x, rng=rng)
    finite_differences(ref.LocalResponseNorm(size, alpha, beta, k), x, n=4)


@FAST
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 9), st.booleans(), st.integers(0, 2**31))
def test_linear_matches_torch(n, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    layer, module = ref.Linear(fin, fout, bias, rng), nn.Linear(fin, fout, bias)
    x = rng.standard_normal((n, fin))
    against_torch(layer, module, x, ["weight"] + (["bias"] if bias else []), rng=rng)
    finite_differences(layer, x)


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5), st.booleans(), st.integers(0, 2**31))
def test_batchnorm_matches_torch(n, c, hw, train, seed):
    rng = np.random.default_rng(seed)
    if train and n * hw * hw < 2:
        n = 2
    layer, module = ref.BatchNorm2d(c), nn.BatchNorm2d(c)
    layer.params["weight"] = rng.standard_normal(c)
    layer.params["bias"] = rng.standard_normal(c)
    if not train:   # evaluation uses running statistics: make them non-trivial in both engines
        layer.buffers["running_mean"], layer.buffers["running_var"] = rng.standard_normal(c), rng.uniform(0.5, 2, c)
        module.running_mean.copy_(torch.from_numpy(layer.buffers["running_mean"]))
        module.running_var.copy_(torch.from_numpy(layer.buffers["running_var"]))
    x = rng.standard_normal((n, c, hw, hw)) * 2 + 1
    against_torch(layer, module, x, ["weight", "bias"], train=train, rng=rng)
    close(layer.buffers["running_mean"], module.running_mean, "running_mean")
    close(layer.buffers["running_var"], module.running_var, "running_var")
    assert int(layer.buffers["num_batches_tracked"]) == int(module.num_batches_tracked)
    if train:
        finite_differences(ref.BatchNorm2d(c).astype(np.float64), x, train=True, n=4)


@FAST
@given(st.integers(1, 6), st.integers(2, 7), st.floats(0, 0.5), st.integers(0, 2**31))
def test_cross_entropy_matches_torch(n, k, smoothing, seed):
    rng = np.random.default_rng(seed)
    logits, labels = rng.standard_normal((n, k)) * 3, rng.integers(0, k, n)
    loss, dlogits = ref.cross_entropy(logits, labels, smoothing)
    t = torch.tensor(logits, requires_grad=True)
    tloss = F.cross_entropy(t, torch.from_numpy(labels), label_smoothing=smoothing)
    tloss.backward()
    close(np.array(loss), tloss, "cross-entropy loss")
    close(dlogits, t.grad, "cross-entropy dlogits")
    close(ref.softmax(logits), torch.softmax(torch.from_numpy(logits), 1), "softmax")


def test_dropout_scales_survivors_and_is_identity_in_evaluation():
    rng = np.random.default_rng(0)
    layer = ref.Dropout(0.3, rng)
    x = rng.standard_normal((50, 40, 2, 2))
    out, mask = layer.forward(x, train=True)
    zeroed = (out == 0).mean()
    assert 0.27 < zeroed < 0.33, zeroed
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.7)
    dout = rng.standard_normal(x.shape)
    dx, _ = layer.backward(dout, mask)
    tx = torch.tensor(x, requires_grad=True)      # the same mask through autograd
    (tx * torch.from_numpy(mask)).backward(torch.from_numpy(dout))
    close(dx, tx.grad, "dropout dx")
    assert np.array_equal(layer(x, train=False), x)
    close(layer(x, train=False), nn.Dropout(0.3).eval()(torch.from_numpy(x)), "dropout eval")


def test_sigmoid_does_not_overflow():
    out = ref.Sigmoid()(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize("stride, padding, dilation, groups, mode", [
    (1, 1, 1, 1, "zeros"), (2, 2, 1, 2, "reflect"), (1, 3, 2, 2, "replicate"), (3, 0, 2, 1, "zeros")])
def test_conv2d_in_row_blocks_matches_torch(monkeypatch, stride, padding, dilation, groups, mode):
    """Tiny COLS_BYTES: im2col is built one or two output rows at a time, forward and backward."""
    import convnet.reference.conv as conv

    monkeypatch.setattr(conv, "COLS_BYTES", 2000)
    rng = np.random.default_rng(3)
    layer = ref.Conv2d(4, 6, 3, stride, padding, dilation, groups, True, mode, rng)
    x = rng.standard_normal((3, 4, 11, 9))
    assert len(layer._row_blocks(conv.windows(np.zeros((4, 11 + 2 * padding, 9 + 2 * padding, 3)), layer.kernel,
                                               layer.stride, layer.dilation, (4, 4), groups))) > 1
    against_torch(layer, nn.Conv2d(4, 6, 3, stride, padding, dilation, groups, True, mode), x,
                  ["weight", "bias"], rng=rng)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 5), st.integers(2, 6), st.floats(0, 0.5), st.integers(0, 2**31))
def test_cross_entropy_finite_differences(n, k, smoothing, seed):
    rng = np.random.default_rng(seed)
    logits, labels = rng.standard_normal((n, k)) * 2, rng.integers(0, k, n)
    _, grad = ref.cross_entropy(logits, labels, smoothing)
    eps = 1e-6
    for _ in range(5):
        i = tuple(rng.integers(0, s) for s in logits.shape)
        up, down = logits.copy(), logits.copy()
        up[i] += eps
        down[i] -= eps
        numeric = (ref.cross_entropy(up, labels, smoothing)[0] - ref.cross_entropy(down, labels, smoothing)[0]) / (2 * eps)
        assert abs(numeric - grad[i]) <= 1e-6 * max(1.0, abs(numeric)), (numeric, grad[i])
