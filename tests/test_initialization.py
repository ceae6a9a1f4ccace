"""LSUV (Mishkin and Matas 2015) against its definition: orthonormal kernels, then unit output variance per
layer on the batch, checked with NumPy; and through the config (``train.init: lsuv``)."""

import keras
import numpy as np
import pytest

from kerasfg.initialization import lsuv_initialize
from kerasfg.models import build_model


def test_lsuv_dense_layers_have_unit_variance_and_orthogonal_kernels():
    """A plain NumPy forward pass of the initialized weights: every layer's pre-activation output has variance
    1 within the tolerance, and every kernel is a scaled orthonormal matrix."""
    inputs = keras.Input((20,))
    hidden = keras.layers.Dense(12, activation="relu", name="fc1")(inputs)
    outputs = keras.layers.Dense(5, activation="softmax", name="fc2")(hidden)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(3.0, 4.0, (256, 20)).astype("float32")
    variances = lsuv_initialize(model, x, tolerance=0.01, max_iterations=20, seed=0)
    w1, b1 = model.get_layer("fc1").get_weights()
    w2, b2 = model.get_layer("fc2").get_weights()
    assert not b1.any() and not b2.any()
    z1 = x @ w1
    z2 = np.maximum(z1, 0) @ w2
    assert np.var(z1) == pytest.approx(1.0, abs=0.01) and np.var(z2) == pytest.approx(1.0, abs=0.01)
    assert variances == pytest.approx({"fc1": np.var(z1), "fc2": np.var(z2)}, rel=1e-4)
    for w in (w1, w2):  # columns orthogonal with one common norm (20x12 and 12x5: taller than wide)
        gram = w.T @ w
        np.testing.assert_allclose(gram, np.eye(len(gram)) * gram[0, 0], atol=1e-5 * gram[0, 0])
    assert model.get_layer("fc2").activation is keras.activations.softmax  # put back after measuring


def test_lsuv_on_the_small_mnist_cnn():
    model = build_model("mnist_small_cnn", input_shape=(16, 16, 1), num_classes=10, filters=(4, 8), units=16)
    images = np.random.default_rng(1).uniform(0, 255, (32, 16, 16, 1)).astype("float32")
    variances = lsuv_initialize(model, images)
    assert list(variances) == ["conv1", "conv2", "fc1", "predictions"]
    assert all(abs(v - 1.0) < 0.1 for v in variances.values())
    kernel = model.get_layer("conv2").kernel.numpy().reshape(-1, 8)  # 36 x 8: orthogonal columns
    gram = kernel.T @ kernel
    np.testing.assert_allclose(gram, np.eye(8) * gram[0, 0], atol=1e-4 * gram[0, 0])


def test_lsuv_needs_a_kernel():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="model 'empty' has no convolution or dense layer"):
        lsuv_initialize(keras.Model(inputs, keras.layers.ReLU()(inputs), name="empty"), np.ones((2, 4)))
