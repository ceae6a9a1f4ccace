"""Saliency, SmoothGrad and guided backpropagation against independent computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.vis import METHODS, Explainer, explain
from kerasfg.vis.gradients import GuidableRelu


def _tiny_model(dtype="float32"):
    inputs = keras.Input((8, 8, 3), dtype=dtype)
    x = keras.layers.Conv2D(4, 3, activation="relu", dtype=dtype, name="conv1")(inputs)
    x = keras.layers.Conv2D(5, 3, activation="relu", dtype=dtype, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", dtype=dtype, name="preds")(x))


def test_saliency_equals_central_differences_of_the_score_before_the_softmax():
    model = _tiny_model("float64")
    image = np.random.default_rng(0).normal(size=(1, 8, 8, 3))
    maps = explain(model, image.astype("float32"), "saliency")

    logits = keras.Model(model.inputs[0], model.get_layer("preds").input @ model.get_layer("preds").kernel
                         + model.get_layer("preds").bias)
    x = image.astype("float32").astype("float64")  # the explained image, exactly
    top = int(np.argmax(logits(x)[0]))
    eps = 1e-6
    steps = np.eye(8 * 8 * 3).reshape(-1, 8, 8, 3) * eps
    plus = np.asarray(logits(x + steps))[:, top]
    minus = np.asarray(logits(x - steps))[:, top]
    expected = np.abs((plus - minus) / (2 * eps)).reshape(8, 8, 3).max(axis=-1)
    np.testing.assert_allclose(maps[0], expected, rtol=1e-4, atol=1e-7)


def test_saliency_of_a_given_class_differs_from_the_predicted_one():
    model = _tiny_model()
    images = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    top = np.argmax(model(images), axis=-1)
    explainer = Explainer(model)
    np.testing.assert_allclose(explainer(images, "saliency"), explainer(images, "saliency", classes=top))
    other = (top + 1) % 3
    assert not np.allclose(explainer(images, "saliency"), explainer(images, "saliency", classes=other))


@tf.custom_gradient
def _reference_guided_relu(x):
    return tf.maximum(x, 0.0), lambda dy: tf.where((x > 0) & (dy > 0), dy, tf.zeros_like(dy))


def test_guided_backprop_passes_only_positive_gradients_where_the_input_was_positive():
    model = _tiny_model()
    images = tf.constant(np.random.default_rng(2).normal(size=(3, 8, 8, 3)), tf.float32)
    conv1, conv2, dense = (model.get_layer(name) for name in ("conv1", "conv2", "preds"))

    def logits(x):
        x = _reference_guided_relu(tf.nn.conv2d(x, conv1.kernel, 1, "VALID") + conv1.bias)
        x = _reference_guided_relu(tf.nn.conv2d(x, conv2.kernel, 1, "VALID") + conv2.bias)
        return tf.reduce_mean(x, axis=[1, 2]) @ dense.kernel + dense.bias

    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = logits(images)
        score = tf.reduce_sum(tf.gather(scores, tf.argmax(scores, -1), batch_dims=1))
    expected = np.abs(tape.gradient(score, images).numpy()).max(axis=-1)
    maps = explain(model, images.numpy(), "guided_backprop")
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(maps, explain(model, images.numpy(), "saliency"))


def test_guidable_relu_guides_the_gradient_of_the_chosen_examples_only():
    x = tf.constant([[-1.0, 0.5, 2.0, 3.0], [-1.0, 0.5, 2.0, 3.0]])
    upstream = tf.constant([[1.0, -2.0, 3.0, -4.0], [1.0, -2.0, 3.0, -4.0]])
    relu = GuidableRelu(tf.constant([False, True]))

    @tf.function(autograph=False)
    def forward_and_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = relu(x)
        return y, tape.gradient(y, x, output_gradients=upstream)

    y, gradient = forward_and_backward(x)
    np.testing.assert_array_equal(y, [[0.0, 0.5, 2.0, 3.0]] * 2)
    np.testing.assert_array_equal(gradient[0], [0.0, -2.0, 3.0, -4.0])  # the ReLU's own derivative
    np.testing.assert_array_equal(gradient[1], [0.0, 0.0, 3.0, 0.0])  # and only positive gradients pass


def test_smoothgrad_averages_gradients_over_noisy_copies():
    model = _tiny_model()
    images = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype("float32")
    explainer = Explainer(model)
    saliency = explainer(images, "saliency")
    np.testing.assert_allclose(explainer(images, "smoothgrad", samples=3, noise=0.0), saliency, rtol=1e-5)
    smooth = explainer(images, "smoothgrad", samples=8, noise=0.3, seed=1)
    np.testing.assert_array_equal(smooth, explainer(images, "smoothgrad", samples=8, noise=0.3, seed=1))
    assert not np.allclose(smooth, saliency)
    with pytest.raises(ValueError, match="samples >= 1"):
        explainer(images, "smoothgrad", samples=0)


def test_unknown_method_and_misplaced_layer_are_named():
    model = _tiny_model()
    images = np.zeros((1, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="Unknown explanation method 'occlusion'"):
        explain(model, images, "occlusion")
    with pytest.raises(ValueError, match="takes no layer"):
        explain(model, images, "saliency", layer="conv2")
    assert set(METHODS) == {"saliency", "smoothgrad", "guided_backprop", "cam", "gradcam", "gradcam++",
                            "layercam", "scorecam"}
