"""ECA against a NumPy implementation of the paper's formula, and its adaptive kernel size."""

import numpy as np
import pytest
from layer_cases import randomize, sigmoid, weights

from kerasfg.layers import ECA, eca_kernel_size


def eca_numpy(x, kernel, circular=False):
    """ECA: w_i = sigma(sum_j k_j y_{i + j - (k-1)/2}), y = GAP(x), zero (or circular) padding."""
    y = x.mean(axis=(1, 2))
    k = kernel.shape[0]
    half = k // 2
    padded = np.pad(y, ((0, 0), (half, half)), mode="wrap" if circular else "constant")
    channels = y.shape[1]
    logits = np.stack([padded[:, i:i + k] @ kernel for i in range(channels)], axis=1)
    gate = sigmoid(logits)
    return x * gate[:, None, None, :], gate


@pytest.mark.parametrize("circular", [False, True])
def test_forward_matches_numpy_formula(circular):
    x = np.random.default_rng(0).normal(size=(3, 4, 5, 64)).astype("float32")
    layer = ECA(padding="circular" if circular else "zeros")
    layer.build(x.shape)
    randomize(layer)
    y, maps = layer(x, return_attention=True)
    kernel = weights(layer)["conv/kernel"][:, 0, 0]
    assert kernel.shape == (3,)  # adaptive rule for C = 64
    expected, gate = eca_numpy(x.astype("float64"), kernel, circular)
    np.testing.assert_allclose(maps["channel"], gate, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_gate_is_per_channel():
    """Unlike the FER report's code, channels with different pooled values get different gates."""
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 32)).astype("float32")
    layer = ECA(kernel_size=3)
    layer.build(x.shape)
    randomize(layer)
    _, maps = layer(x, return_attention=True)
    assert np.unique(np.round(np.asarray(maps["channel"][0]), 6)).size > 16


def test_adaptive_kernel_size_table():
    """ECOSYSTEM.md c.1: the paper's rule gives {64: 3, 128: 5, 256: 5, 512: 5, 1024: 5, 2048: 7}."""
    table = {c: eca_kernel_size(c) for c in (64, 128, 256, 512, 1024, 2048)}
    assert table == {64: 3, 128: 5, 256: 5, 512: 5, 1024: 5, 2048: 7}
    for channels, k in table.items():
        layer = ECA()
        layer.build((None, 4, 4, channels))
        assert layer.effective_kernel_size == k
        assert layer.count_params() == k  # k weights, no bias


def test_fer_report_variant_reproduces_the_reported_parameter_counts():
    """NOTES-001 s.10: that code has k * C weights and k = 9/9/11/11 for C = 256..2048."""
    ks = []
    for channels in (256, 512, 1024, 2048):
        layer = ECA(variant="fer_report")
        layer.build((None, 4, 4, channels))
        ks.append(layer.effective_kernel_size)
        assert layer.count_params() == layer.effective_kernel_size * channels
    assert ks == [9, 9, 11, 11]
    x = np.random.default_rng(2).normal(size=(2, 3, 3, 256)).astype("float32")
    layer = ECA(variant="fer_report")
    _, maps = layer(x, return_attention=True)
    gate = np.asarray(maps["channel"])
    np.testing.assert_allclose(gate, np.broadcast_to(gate[:, :1], gate.shape))  # one gate for all


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"`kernel_size` must be a positive odd integer.*4"):
        ECA(kernel_size=4)
    with pytest.raises(ValueError, match=r"rank 4.*rank 2"):
        ECA()(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="`padding` must be one of"):
        ECA(padding="reflect")
