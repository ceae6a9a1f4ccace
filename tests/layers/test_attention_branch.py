"""AttentionBranch against a NumPy implementation of ABN (official code, paper's Eq. 1 and 2)."""

import numpy as np
import pytest
from layer_cases import conv2d_same, randomize, sigmoid, weights

from kerasfg.layers import AttentionBranch


def bn(x, w, name, eps=1e-5):
    return ((x - w[f"{name}/moving_mean"]) / np.sqrt(w[f"{name}/moving_variance"] + eps)
            * w[f"{name}/gamma"] + w[f"{name}/beta"])


def abn_numpy(g, branch, w, mechanism="residual"):
    """ABN: a = relu(BN(conv1x1(BN(branch)))); M = sigma(BN(conv3x3(a))); logits = GAP(conv1x1(a))."""
    a = bn(branch, w, "input_bn")
    a = np.maximum(bn(conv2d_same(a, w["class_conv/kernel"]), w, "class_bn"), 0)
    m = sigmoid(bn(conv2d_same(a, w["map_conv/kernel"]), w, "map_bn"))
    logits = conv2d_same(a, w["logit_conv/kernel"]).mean(axis=(1, 2))
    out = (1 + m) * g if mechanism == "residual" else m * g
    return out, logits, m


@pytest.mark.parametrize("mechanism,k", [("residual", 3), ("multiply", 1)])
def test_single_task_matches_numpy(mechanism, k):
    rng = np.random.default_rng(0)
    g = rng.normal(size=(2, 6, 5, 8)).astype("float32")
    branch = rng.normal(size=(2, 6, 5, 12)).astype("float32")
    layer = AttentionBranch(num_classes=4, map_kernel_size=k, mechanism=mechanism)
    layer.build([g.shape, branch.shape])
    randomize(layer)
    (out, logits), maps = layer([g, branch], training=False, return_attention=True)
    e_out, e_logits, e_m = abn_numpy(g.astype("float64"), branch.astype("float64"),
                                     weights(layer), mechanism)
    np.testing.assert_allclose(maps["attention"], e_m, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits, e_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out, e_out, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_multi_task_matches_numpy(pooling):
    """One 1x1 map per task; task logits pooled; per-task features (1 + M_t) g on axis 1."""
    rng = np.random.default_rng(1)
    g = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    layer = AttentionBranch(num_tasks=3, task_pooling=pooling)
    layer.build(g.shape)
    randomize(layer)
    (out, logits), maps = layer(g, training=False, return_attention=True)
    w = weights(layer)
    t = np.einsum("bhwc,ct->bhwt", bn(g.astype("float64"), w, "input_bn"),
                  w["task_conv/kernel"][0, 0]) + w["task_conv/bias"]
    m = sigmoid(t)
    np.testing.assert_allclose(logits, t.mean((1, 2)) if pooling == "avg" else t.max((1, 2)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["attention"], m, rtol=1e-5, atol=1e-6)
    assert out.shape == (2, 3, 4, 4, 6)
    for task in range(3):
        np.testing.assert_allclose(out[:, task], (1 + m[..., task:task + 1]) * g, rtol=1e-5,
                                   atol=1e-5)


def test_parameter_count_closed_form():
    c, k, ks = 12, 5, 3
    layer = AttentionBranch(num_classes=k, map_kernel_size=ks)
    layer.build((None, 7, 7, c))
    # BN(c) + conv1x1 c->K + BN(K) + conv ks x ks K->1 + BN(1) + conv1x1 K->K; BN = 4 values
    assert layer.count_params() == 4 * c + c * k + 4 * k + ks * ks * k + 4 + k * k
    multi = AttentionBranch(num_tasks=40, input_batchnorm=False)
    multi.build((None, 14, 14, c))
    assert multi.count_params() == c * 40 + 40


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="give `num_classes` >= 1"):
        AttentionBranch()
    with pytest.raises(ValueError, match=r"`map_kernel_size` must be a positive odd integer.*2"):
        AttentionBranch(num_classes=3, map_kernel_size=2)
    with pytest.raises(ValueError, match="`mechanism` must be one of"):
        AttentionBranch(num_classes=3, mechanism="add")
    with pytest.raises(ValueError, match="rank 4"):
        AttentionBranch(num_classes=3)(np.zeros((2, 4, 4), "float32"))
    with pytest.raises(ValueError, match="same height and width"):
        AttentionBranch(num_classes=3)([np.zeros((1, 4, 4, 2), "float32"),
                                        np.zeros((1, 2, 2, 2), "float32")])
