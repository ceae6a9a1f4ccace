"""AugmentedConv2D against a NumPy implementation of Bello et al.'s formula with 2-D relative logits."""

import numpy as np
import pytest
from layer_cases import conv2d_same, randomize, weights
from test_self_attention import softmax

from kerasfg.layers import AugmentedConv2D


def aa_numpy(x, w, filters, dk, dv, heads, relative=True):
    """concat[conv(x), Wo * MHA], O_h = softmax((Q K^T + S_H + S_W) / sqrt(dkh)) V."""
    b, h, wd, _ = x.shape
    conv = conv2d_same(x, w["conv/kernel"]) + w["conv/bias"]
    qkv = conv2d_same(x, w["qkv/kernel"]) + w["qkv/bias"]
    qkv = qkv.reshape(b, h * wd, 2 * dk + dv)
    dkh, dvh = dk // heads, dv // heads
    q = qkv[..., :dk].reshape(b, h * wd, heads, dkh)
    k = qkv[..., dk:2 * dk].reshape(b, h * wd, heads, dkh)
    v = qkv[..., 2 * dk:].reshape(b, h * wd, heads, dvh)
    logits = np.einsum("bind,bjnd->bnij", q, k)
    if relative:
        ys, xs = np.divmod(np.arange(h * wd), wd)  # row-major positions
        r_w = w["rel_width"][xs[None, :] - xs[:, None] + wd - 1]  # (i, j, dkh)
        r_h = w["rel_height"][ys[None, :] - ys[:, None] + h - 1]
        logits = logits + np.einsum("bind,ijd->bnij", q, r_w) + np.einsum("bind,ijd->bnij", q, r_h)
    scores = softmax(logits / np.sqrt(dkh))
    z = np.einsum("bnij,bjnd->bind", scores, v).reshape(b, h, wd, dv)
    attn = conv2d_same(z, w["attention_output/kernel"]) + w["attention_output/bias"]
    return np.concatenate([conv, attn], axis=-1), scores


@pytest.mark.parametrize("relative", [True, False])
def test_forward_matches_numpy_formula(relative):
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 6)).astype("float32")
    layer = AugmentedConv2D(16, 3, key_depth=8, value_depth=6, num_heads=2, relative=relative)
    layer.build(x.shape)
    randomize(layer)
    y, maps = layer(x, return_attention=True)
    expected, scores = aa_numpy(x.astype("float64"), weights(layer), 16, 8, 6, 2, relative)
    assert y.shape == (2, 5, 4, 16)
    np.testing.assert_allclose(maps["scores"], scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_parameter_count_closed_form():
    c, f, k, dk, dv, heads, h, w = 6, 20, 3, 8, 4, 4, 7, 5
    layer = AugmentedConv2D(f, k, key_depth=dk, value_depth=dv, num_heads=heads)
    layer.build((None, h, w, c))
    dkh = dk // heads
    expected = (k * k * c * (f - dv) + f - dv + c * (2 * dk + dv) + 2 * dk + dv + dv * dv + dv
                + (2 * w - 1) * dkh + (2 * h - 1) * dkh)
    assert layer.count_params() == expected


def test_fractional_depths_as_in_titu1994():
    layer = AugmentedConv2D(20, key_depth=0.2, value_depth=0.2, num_heads=4)
    assert (layer.dk, layer.dv) == (4, 4)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"`key_depth` \(6 channels\) must be a positive multiple"):
        AugmentedConv2D(12, key_depth=6, value_depth=4, num_heads=4)
    with pytest.raises(ValueError, match=r"`kernel_size` must be a positive odd integer.*2"):
        AugmentedConv2D(12, 2, key_depth=4, value_depth=4, num_heads=2)
    with pytest.raises(ValueError, match="must be smaller than `filters`"):
        AugmentedConv2D(4, key_depth=4, value_depth=4, num_heads=2)
    with pytest.raises(ValueError, match="rank 4"):
        AugmentedConv2D(8, key_depth=2, value_depth=2, num_heads=2)(np.zeros((3, 3, 3), "float32"))
