"""kerasfg's BatchNormalization (fused kernel) against Keras's own layer and the BN formula."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.layers import BatchNormalization


def twin_layers(shape, **kwargs):
    """A Keras BN and a kerasfg BN with the same random weights and moving statistics."""
    rng = np.random.default_rng(0)
    layers = (keras.layers.BatchNormalization(**kwargs), BatchNormalization(**kwargs))
    channels = shape[-1]
    values = [rng.normal(1, 0.3, channels), rng.normal(0, 0.3, channels),
              rng.normal(0, 0.5, channels), rng.uniform(0.5, 2, channels)]
    for layer in layers:
        layer.build(shape)
        layer.set_weights([v.astype("float32") for v in values])
    return layers


def step(layer, x, training):
    """Outputs and gradients of a non-linear loss w.r.t. the input and gamma, beta (if any)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, "float32") * tf.sin(tf.cast(y, "float32")))
    grads = tape.gradient(loss, [x, *(w.value for w in layer.trainable_weights)])
    return [np.asarray(tf.cast(t, "float32")) for t in (y, *grads)]


def bn_training_numpy(x, gamma, beta, epsilon):
    """Float64 BN with batch statistics and the gradients of sum(y sin y) (Ioffe & Szegedy 2015)."""
    axes = (0, 1, 2)
    mean, variance = x.mean(axis=axes), x.var(axis=axes)
    inv = 1 / np.sqrt(variance + epsilon)
    xhat = (x - mean) * inv
    y = xhat * gamma + beta
    dy = np.sin(y) + y * np.cos(y)
    dbeta, dgamma = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
    dx = gamma * inv * (dy - dbeta / x[..., 0].size - xhat * dgamma / x[..., 0].size)
    return y, dx, dgamma, dbeta


@pytest.mark.parametrize("shape", [(4, 5, 6, 7), (1, 1, 1, 3), (3, 2, 2, 8)])
def test_training_step_matches_the_formula_and_keras(shape):
    x = np.random.default_rng(1).normal(2, 3, size=shape).astype("float32")
    reference, fused = twin_layers(shape, epsilon=1.001e-5, momentum=0.9)
    gamma, beta = (w.astype("float64") for w in fused.get_weights()[:2])
    expected = bn_training_numpy(x.astype("float64"), gamma, beta, 1.001e-5)
    for layer in (reference, fused):
        for value, exact in zip(step(layer, x, True), expected):
            # Keras's composed formula loses up to ~1e-4 to cancellation when n = 1.
            np.testing.assert_allclose(value, exact, rtol=1e-4, atol=2e-4)
    for expected, actual in zip(reference.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    # Independent check of the moving variance: it averages the biased batch variance.
    start = twin_layers(shape)[1].moving_variance.numpy()
    variance = x.reshape(-1, shape[-1]).var(axis=0)
    np.testing.assert_allclose(fused.moving_variance.numpy(), 0.9 * start + 0.1 * variance,
                               rtol=1e-4, atol=1e-6)


def test_inference_matches_the_formula_with_moving_statistics():
    x = np.random.default_rng(2).normal(size=(2, 3, 3, 5)).astype("float32")
    reference, fused = twin_layers(x.shape)
    gamma, beta, mean, variance = fused.get_weights()
    expected = (x - mean) / np.sqrt(variance + fused.epsilon) * gamma + beta
    for layer in (reference, fused):
        np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused(x, training=True), reference(x, training=True), atol=1e-5)


def test_bfloat16_inputs_give_bfloat16_outputs_with_float32_statistics():
    x = np.random.default_rng(3).normal(1, 2, size=(4, 6, 6, 16)).astype("float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    reference, fused = twin_layers(x.shape)
    keras.config.set_dtype_policy("float32")
    xb = tf.cast(x, "bfloat16")
    y_ref, y = reference(xb, training=True), fused(xb, training=True)
    assert y.dtype == "bfloat16" and fused.moving_mean.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, "float32"), tf.cast(y_ref, "float32"), atol=0.05)
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), atol=1e-3)


def test_frozen_layer_uses_moving_statistics_in_training():
    x = np.random.default_rng(4).normal(size=(2, 4, 4, 3)).astype("float32")
    reference, fused = twin_layers(x.shape)
    reference.trainable = fused.trainable = False
    before = fused.get_weights()
    np.testing.assert_allclose(fused(x, training=True), reference(x, training=True), atol=1e-5)
    for a, b in zip(before, fused.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,shape", [({"epsilon": 1e-6}, (2, 3, 3, 4)),  # below the kernel's
                                          ({"axis": 1}, (2, 3, 3, 4)),
                                          ({"center": False}, (2, 3, 3, 4)),
                                          ({}, (2, 5, 4))])  # rank 3
def test_cases_without_the_fused_kernel_compute_what_keras_computes(kwargs, shape):
    x = np.random.default_rng(5).normal(size=shape).astype("float32")
    reference, fused = (keras.layers.BatchNormalization(**kwargs), BatchNormalization(**kwargs))
    for layer in (reference, fused):
        layer.build(shape)
    assert "FusedBatchNormV3" not in op_types(fused, shape)
    for expected, actual in zip(step(reference, x, True)[:2], step(fused, x, True)[:2]):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def op_types(layer, shape):
    """The operation types of a traced training step (forward and input gradient) of ``layer``."""

    @tf.function
    def train(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return tape.gradient(y, x)

    graph = train.get_concrete_function(tf.TensorSpec(shape)).graph
    return [op.type for op in graph.get_operations()]


def test_training_graph_uses_one_fused_op_per_direction():
    layer = BatchNormalization()
    layer.build((2, 4, 4, 8))
    types = op_types(layer, (2, 4, 4, 8))
    assert types.count("FusedBatchNormV3") == 1 and types.count("FusedBatchNormGradV3") == 1
    assert "SquaredDifference" not in types  # no composed moments


def test_serialization_round_trip_in_a_model(tmp_path):
    inputs = keras.Input((4, 4, 3))
    outputs = BatchNormalization(momentum=0.9, epsilon=1.001e-5, name="bn")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(6).normal(size=(2, 4, 4, 3)).astype("float32")
    model(x, training=True)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is BatchNormalization
    assert loaded.get_layer("bn").get_config() == model.get_layer("bn").get_config()
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)
