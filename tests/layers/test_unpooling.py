"""MaxUnpooling2D against NumPy switches and against TensorFlow's own max-pooling gradient."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.layers import MaxUnpooling2D


def unpool_numpy(x, pool_input, pool_output, p=2):
    """Deconvnet unpooling: each value goes to the first maximum of its window (row-major)."""
    out = np.zeros_like(pool_input)
    b, h, w, c = pool_output.shape
    for n in range(b):
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    window = pool_input[n, i * p:(i + 1) * p, j * p:(j + 1) * p, ch]
                    di, dj = divmod(int(np.argmax(window == pool_output[n, i, j, ch])),
                                    window.shape[1])
                    out[n, i * p + di, j * p + dj, ch] = x[n, i, j, ch]
    return out


@pytest.mark.parametrize("padding,size", [("valid", (6, 4)), ("valid", (5, 7)), ("same", (5, 7))])
def test_matches_numpy_switches_with_ties(padding, size):
    rng = np.random.default_rng(0)
    pool_input = np.round(rng.normal(size=(2, *size, 3)), 0).astype("float32")  # many ties
    pool_output = np.asarray(keras.layers.MaxPooling2D(2, padding=padding)(pool_input))
    x = rng.normal(size=pool_output.shape).astype("float32")
    y = np.asarray(MaxUnpooling2D(2, padding=padding)([x, pool_input, pool_output]))
    assert y.shape == pool_input.shape
    np.testing.assert_array_equal(y, unpool_numpy(x, pool_input, pool_output))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_equals_the_gradient_of_max_pooling(padding):
    """Unpooling x is the backward pass of max pooling with upstream gradient x (no ties)."""
    rng = np.random.default_rng(1)
    pool_input = tf.constant(rng.normal(size=(2, 7, 6, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(pool_input)
        pool_output = tf.nn.max_pool2d(pool_input, 2, 2, padding.upper())
        x = tf.constant(rng.normal(size=pool_output.shape).astype("float32"))
        target = tf.reduce_sum(pool_output * x)
    expected = tape.gradient(target, pool_input)
    y = MaxUnpooling2D(2, padding=padding)([x, pool_input, pool_output])
    np.testing.assert_array_equal(np.asarray(y), expected.numpy())


def test_gradient_flows_to_x_only():
    rng = np.random.default_rng(2)
    pool_input = tf.constant(rng.normal(size=(1, 4, 4, 2)).astype("float32"))
    pool_output = tf.nn.max_pool2d(pool_input, 2, 2, "VALID")
    x = tf.constant(rng.normal(size=pool_output.shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch([x, pool_input])
        total = tf.reduce_sum(MaxUnpooling2D(2)([x, pool_input, pool_output]))
    grad_x, grad_in = tape.gradient(total, [x, pool_input])
    np.testing.assert_array_equal(grad_x.numpy(), np.ones(x.shape, "float32"))
    assert grad_in is None or not np.any(grad_in.numpy())


def test_bad_inputs_raise_clear_errors():
    a, b = np.zeros((1, 4, 4, 2), "float32"), np.zeros((1, 2, 2, 2), "float32")
    with pytest.raises(ValueError, match=r"expects a list \[x, pool_input, pool_output\]"):
        MaxUnpooling2D()([b, a])
    with pytest.raises(ValueError, match="maps .* to 1 along axis 1"):
        MaxUnpooling2D(3)([b, a, b])
    with pytest.raises(ValueError, match="must have the shape of the pooled output"):
        MaxUnpooling2D()([np.zeros((1, 2, 2, 3), "float32"), a, b])
    with pytest.raises(ValueError, match="rank 4"):
        MaxUnpooling2D()([b[0], a, b])
    with pytest.raises(ValueError, match="`padding` must be one of"):
        MaxUnpooling2D(padding="full")
