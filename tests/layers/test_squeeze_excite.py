"""SqueezeExcite against a NumPy implementation of the SENet formula."""

import numpy as np
import pytest
from layer_cases import randomize, sigmoid, weights

from kerasfg.layers import SqueezeExcite


def se_numpy(x, w):
    """SENet: s = sigma(W2 relu(W1 z + b1) + b2), z = global average pool; output x * s."""
    z = x.mean(axis=(1, 2))
    s = sigmoid(np.maximum(z @ w["squeeze/kernel"] + w["squeeze/bias"], 0) @ w["excite/kernel"]
                + w["excite/bias"])
    return x * s[:, None, None, :], s


def test_forward_matches_numpy_formula():
    x = np.random.default_rng(0).normal(size=(3, 5, 4, 32)).astype("float32")
    layer = SqueezeExcite(ratio=8)
    layer.build(x.shape)
    randomize(layer)
    y, maps = layer(x, return_attention=True)
    expected, gate = se_numpy(x.astype("float64"), weights(layer))
    np.testing.assert_allclose(maps["channel"], gate, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_hard_sigmoid_gate_is_relu6_shifted():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 16)).astype("float32")
    layer = SqueezeExcite(ratio=4, activation="swish", gate_activation="hard_sigmoid")
    layer.build(x.shape)
    randomize(layer)
    w = weights(layer)
    z = x.mean(axis=(1, 2))
    h = z @ w["squeeze/kernel"] + w["squeeze/bias"]
    logits = (h * sigmoid(h)) @ w["excite/kernel"] + w["excite/bias"]
    _, maps = layer(x, return_attention=True)
    np.testing.assert_allclose(maps["channel"], np.clip(logits + 3, 0, 6) / 6, atol=1e-5)


@pytest.mark.parametrize("channels,ratio,divisor,reduced", [(256, 16, None, 16), (64, 16, None, 4),
                                                            (64, 16, 8, 8), (40, 16, 8, 8),
                                                            (160, 16, 8, 8)])
def test_parameter_count_closed_form(channels, ratio, divisor, reduced):
    """(C r + r) + (r C + C) with r = C // ratio (SENet) or timm's make_divisible (ECOSYSTEM c.1)."""
    layer = SqueezeExcite(ratio=ratio, divisor=divisor)
    layer.build((None, 7, 7, channels))
    assert layer.reduced_channels == reduced
    assert layer.count_params() == 2 * channels * reduced + reduced + channels


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"rank 4.*rank 3"):
        SqueezeExcite()(np.zeros((2, 5, 8), "float32"))
    with pytest.raises(ValueError, match="12 input channels with ratio=16 give a bottleneck of 0"):
        SqueezeExcite(ratio=16)(np.zeros((1, 2, 2, 12), "float32"))
    with pytest.raises(ValueError, match="`ratio` must be >= 1"):
        SqueezeExcite(ratio=0)
