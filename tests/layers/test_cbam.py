"""CBAM against a NumPy implementation of the paper's formulas (official-code conventions)."""

import keras
import numpy as np
import pytest
from layer_cases import conv2d_same, randomize, sigmoid, weights

from kerasfg.layers import CBAM


def cbam_numpy(x, w, order="channel_first", pool_order="max_mean", eps=1e-5, bias=True):
    """CBAM, written from the paper: Mc = sigma(MLP(avg) + MLP(max)); Ms = sigma(BN(conv([max, mean])))."""

    def mlp(v):
        h = v @ w["mlp_hidden/kernel"] + (w["mlp_hidden/bias"] if bias else 0)
        return np.maximum(h, 0) @ w["mlp_out/kernel"] + (w["mlp_out/bias"] if bias else 0)

    def channel(t):
        return sigmoid(mlp(t.mean(axis=(1, 2))) + mlp(t.max(axis=(1, 2))))[:, None, None, :]

    def spatial(t):
        pooled = [t.max(axis=-1, keepdims=True), t.mean(axis=-1, keepdims=True)]
        if pool_order == "mean_max":
            pooled = pooled[::-1]
        z = conv2d_same(np.concatenate(pooled, axis=-1), w["spatial_conv/kernel"])
        z = (z - w["spatial_bn/moving_mean"]) / np.sqrt(w["spatial_bn/moving_variance"] + eps)
        return sigmoid(z * w["spatial_bn/gamma"] + w["spatial_bn/beta"])

    if order == "channel_first":
        mc = channel(x)
        ms = spatial(x * mc)
    elif order == "spatial_first":
        ms = spatial(x)
        mc = channel(x * ms)
    else:
        mc, ms = channel(x), spatial(x)
    return x * mc * ms, mc[:, 0, 0, :], ms


@pytest.mark.parametrize(
    "order,pool_order,bias",
    [("channel_first", "max_mean", True), ("spatial_first", "mean_max", True),
     ("parallel", "max_mean", False)],
)
def test_forward_matches_numpy_formula(order, pool_order, bias):
    x = np.random.default_rng(0).normal(size=(3, 7, 6, 16)).astype("float32")
    layer = CBAM(ratio=4, kernel_size=5, order=order, spatial_pool_order=pool_order, mlp_bias=bias)
    layer.build(x.shape)
    randomize(layer)
    y, maps = layer(x, training=False, return_attention=True)
    expected, mc, ms = cbam_numpy(x.astype("float64"), weights(layer), order, pool_order,
                                  bias=bias)
    np.testing.assert_allclose(maps["channel"], mc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["spatial"], ms, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_spatial_gate_starts_at_one_half():
    """Official initialisation: the spatial BN gamma is 0, so Ms = sigmoid(beta=0) = 0.5."""
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 8)).astype("float32")
    _, maps = CBAM(ratio=2)(x, training=False, return_attention=True)
    np.testing.assert_array_equal(maps["spatial"], np.full((2, 5, 5, 1), 0.5, "float32"))


def test_no_spatial_is_channel_attention_only():
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 8)).astype("float32")
    layer = CBAM(ratio=2, use_spatial=False)
    y, maps = layer(x, return_attention=True)
    assert sorted(maps) == ["channel"]
    np.testing.assert_allclose(y, x * keras.ops.convert_to_numpy(maps["channel"])[:, None, None],
                               rtol=1e-6)


@pytest.mark.parametrize("channels,ratio,k,bias", [(64, 16, 7, True), (40, 16, 7, True),
                                                   (24, 4, 3, False)])
def test_parameter_count_closed_form(channels, ratio, k, bias):
    layer = CBAM(ratio=ratio, kernel_size=k, mlp_bias=bias)
    layer.build((None, 9, 9, channels))
    r = channels // ratio
    mlp = 2 * channels * r + (r + channels if bias else 0)
    trainable = mlp + 2 * k * k + 2  # conv 2 -> 1 without bias, BN gamma and beta
    assert layer.reduced_channels == r
    assert sum(int(np.prod(v.shape)) for v in layer.trainable_weights) == trainable
    assert layer.count_params() == trainable + 2  # BN moving mean and variance


@pytest.mark.parametrize("channels,divisor,expected", [(40, None, 2), (40, 1, 3), (24, 1, 2),
                                                       (64, 8, 8), (256, 8, 16)])
def test_reduced_channels_rounding(channels, divisor, expected):
    """Official floor vs timm's make_divisible (ECOSYSTEM.md c.1 table, ratio 16)."""
    layer = CBAM(ratio=16, divisor=divisor)
    layer.build((None, 4, 4, channels))
    assert layer.reduced_channels == expected


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"rank 4.*\(2, 8\)"):
        CBAM()(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match=r"8 input channels with ratio=16 give a bottleneck of 0"):
        CBAM(ratio=16)(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match=r"`kernel_size` must be a positive odd integer.*6"):
        CBAM(kernel_size=6)
    with pytest.raises(ValueError, match="`order` must be one of"):
        CBAM(order="sideways")
    with pytest.raises(ValueError, match="`spatial_pool_order` must be one of"):
        CBAM(spatial_pool_order="max_max")


@pytest.mark.parametrize("axis,shape", [((1, 2), (2, 5, 4, 6)), ((3,), (2, 5, 4, 6)), ((1, 2), (2, 20, 20, 3)),
                                        ((3,), (1, 2, 3, 2100))])
@pytest.mark.parametrize("values", ["rounded", "all_equal"])
def test_fused_max_mean_pool_has_the_autograd_gradient(axis, shape, values):
    """Ties included (rounded inputs; a constant map ties everywhere, so that the counts of ties reach
    the pooled size: 6 and 20 counted in bfloat16, 400 in float16, 2100 in float32): the max's gradient is
    shared as TensorFlow shares it."""
    import tensorflow as tf

    from kerasfg.layers.base import max_mean_pool

    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=shape)) if values == "rounded" else np.full(shape, 0.5)
    x = tf.constant(x, "float32")
    w = tf.constant(np.random.default_rng(1).normal(size=max_mean_pool(x, axis).shape), "float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        fused = max_mean_pool(x, axis)
        plain = tf.concat([tf.reduce_max(x, axis, keepdims=True),
                           tf.reduce_mean(x, axis, keepdims=True)], axis=axis[0])
        fused_loss, plain_loss = tf.reduce_sum(fused * w), tf.reduce_sum(plain * w)
    np.testing.assert_array_equal(fused.numpy(), plain.numpy())
    np.testing.assert_allclose(tape.gradient(fused_loss, x), tape.gradient(plain_loss, x),
                               rtol=1e-6, atol=1e-7)


def pooled_and_gradient(pool, x, w):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled = pool(x)
        loss = tf.reduce_sum(pooled * w)
    return pooled.numpy(), tape.gradient(loss, x).numpy()


@pytest.mark.parametrize("pool,reference", [("mean", np.mean), ("max", np.max)])
@pytest.mark.parametrize("ties", [False, True])
def test_global_pooling_matches_the_reductions(pool, reference, ties):
    """Global pooling kernels compute the reductions; without ties their gradient is the reduction's, with
    ties (rounded inputs) the maximum's gradient goes whole to one tied position instead of being shared."""
    import tensorflow as tf

    from kerasfg.layers.base import global_pool

    axis = (1, 2)
    values = np.random.default_rng(0).normal(size=(2, 5, 4, 6))
    x = tf.constant(np.round(values) if ties else values, "float32")
    expected = reference(x.numpy(), axis=axis)
    w = tf.constant(np.random.default_rng(1).normal(size=expected.shape), "float32")
    pooled, gradient = pooled_and_gradient(lambda x: global_pool(x, pool), x, w)
    np.testing.assert_allclose(pooled, expected, rtol=1e-6, atol=1e-6)
    _, autograd = pooled_and_gradient(
        lambda x: (tf.reduce_mean if pool == "mean" else tf.reduce_max)(x, axis), x, w)
    if pool == "mean" or not ties:
        np.testing.assert_allclose(gradient, autograd, rtol=1e-5, atol=1e-6)
    else:  # the same gradient mass per pooled value, all on positions that hold the maximum
        np.testing.assert_allclose(gradient.sum(axis=axis), autograd.sum(axis=axis), rtol=1e-5, atol=1e-6)
        at_max = x.numpy() == reference(x.numpy(), axis=axis, keepdims=True)
        assert np.all(gradient[~at_max] == 0)
        assert np.all(np.count_nonzero(gradient, axis=axis) <= 1)


def test_global_pool_of_maps_of_unknown_size_reduces():
    from kerasfg.layers.base import global_pool

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, [global_pool(inputs, "mean"), global_pool(inputs, "max")])
    x = np.random.default_rng(2).normal(size=(2, 5, 7, 3)).astype("float32")
    mean, maximum = model(x)
    np.testing.assert_allclose(mean, x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(maximum, x.max(axis=(1, 2)))


def assert_same_value_and_gradients(fused, plain, variables, seed):
    """``fused(*variables)`` equals ``plain(*variables)``, and so do the gradients of a random projection."""
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(seed).normal(size=plain(*variables).shape), "float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(variables)
        fused_value, plain_value = fused(*variables), plain(*variables)
        fused_loss, plain_loss = tf.reduce_sum(fused_value * w), tf.reduce_sum(plain_value * w)
    np.testing.assert_allclose(fused_value.numpy(), plain_value.numpy(), rtol=1e-6, atol=1e-7)
    for variable in variables:
        np.testing.assert_allclose(tape.gradient(fused_loss, variable), tape.gradient(plain_loss, variable),
                                   rtol=1e-5, atol=1e-6)


def test_channel_scaling_has_the_multiplications_value_and_gradient():
    """`scale_channels` (every channel gate's multiply) against ``x * gate`` and its autograd gradient."""
    import tensorflow as tf

    from kerasfg.layers.base import scale_channels

    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(2, 5, 4, 6)), "float32")
    gate = tf.constant(rng.uniform(size=(2, 6)), "float32")
    assert_same_value_and_gradients(scale_channels, lambda x, gate: x * gate[:, None, None, :], [x, gate], 3)


def test_mean_pool_and_input_has_the_gated_expressions_value_and_gradient():
    """A gate computed from `mean_pool_and_input`'s pooling and applied to its returned input has the value
    and gradient of the plain expression ``x * sigmoid(mean(x) @ kernel)``, whose ``x`` feeds both."""
    import tensorflow as tf

    from kerasfg.layers.base import mean_pool_and_input

    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(2, 5, 4, 6)), "float32")
    kernel = tf.constant(rng.normal(size=(6, 6)), "float32")
    pooled, passed = mean_pool_and_input(x)
    np.testing.assert_allclose(pooled, tf.reduce_mean(x, axis=(1, 2)), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(passed.numpy(), x.numpy())

    def fused(x, kernel):
        pooled, passed = mean_pool_and_input(x)
        return passed * tf.sigmoid(pooled @ kernel)[:, None, None, :]

    def plain(x, kernel):
        return x * tf.sigmoid(tf.reduce_mean(x, axis=(1, 2)) @ kernel)[:, None, None, :]

    assert_same_value_and_gradients(fused, plain, [x, kernel], 4)
