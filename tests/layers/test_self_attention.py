"""SelfAttention2D against a NumPy implementation of scaled dot-product multi-head attention."""

import numpy as np
import pytest
from layer_cases import randomize, weights

from kerasfg.layers import SelfAttention2D


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def mhsa_numpy(x, w, heads, dk, dv, position=True, norm=True, residual=True):
    """Z = softmax(Q K^T / sqrt(dk)) V per head on the H*W tokens (Eq. 1-4 of 000_*.txt)."""
    b, h, wd, c = x.shape
    t = x + w["position"] if position else x
    t = t.reshape(b, h * wd, c)
    if norm:
        mu, var = t.mean(-1, keepdims=True), t.var(-1, keepdims=True)
        t = (t - mu) / np.sqrt(var + 1e-5) * w["norm/gamma"] + w["norm/beta"]

    def proj(name, depth):
        return (t @ w[f"{name}/kernel"] + w[f"{name}/bias"]).reshape(b, h * wd, heads, depth)

    q, k, v = proj("query", dk), proj("key", dk), proj("value", dv)
    scores = softmax(np.einsum("bqnd,bknd->bnqk", q, k) / np.sqrt(dk))
    z = np.einsum("bnqk,bknd->bqnd", scores, v).reshape(b, h * wd, heads * dv)
    z = (z @ w["output/kernel"] + w["output/bias"]).reshape(x.shape)
    return (x + w["gamma"] * z if residual else z), scores


@pytest.mark.parametrize("full", [True, False])
def test_forward_matches_numpy_formula(full):
    x = np.random.default_rng(0).normal(size=(2, 4, 3, 8)).astype("float32")
    layer = SelfAttention2D(num_heads=2, key_dim=None if full else 3, value_dim=None if full else 5,
                            position_embedding=full, layer_norm=full, residual=full)
    layer.build(x.shape)
    randomize(layer)
    y, maps = layer(x, return_attention=True)
    dk, dv = (4, 4) if full else (3, 5)
    expected, scores = mhsa_numpy(x.astype("float64"), weights(layer), 2, dk, dv, full, full, full)
    np.testing.assert_allclose(maps["scores"], scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(maps["scores"]).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_starts_as_identity():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 8)).astype("float32")
    np.testing.assert_array_equal(SelfAttention2D(num_heads=2)(x), x)


def test_parameter_count_closed_form():
    h, w, c, heads, dk, dv = 5, 4, 12, 3, 2, 6
    layer = SelfAttention2D(num_heads=heads, key_dim=dk, value_dim=dv)
    layer.build((None, h, w, c))
    expected = (h * w * c + 2 * c  # position embedding, layer norm
                + 2 * (c * heads * dk + heads * dk) + c * heads * dv + heads * dv
                + heads * dv * c + c + 1)  # output projection, gamma
    assert layer.count_params() == expected


def test_any_input_size_without_position_embedding():
    layer = SelfAttention2D(num_heads=2, position_embedding=False)
    for size in (3, 5):
        x = np.ones((1, size, size, 4), "float32")
        assert layer(x).shape == x.shape


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"rank 4.*rank 3"):
        SelfAttention2D()(np.zeros((2, 9, 8), "float32"))
    with pytest.raises(ValueError, match="cannot be split into num_heads=8"):
        SelfAttention2D(num_heads=8)(np.zeros((1, 2, 2, 4), "float32"))
    with pytest.raises(ValueError, match="`num_heads` must be a positive integer"):
        SelfAttention2D(num_heads=0)
