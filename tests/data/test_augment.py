"""Seeded augmentation: exact flips, determinism, ranges, and the Keras-layer equivalent."""

import numpy as np
import pytest
import tensorflow as tf

from kerasfg.data import AugmentConfig, augment_batch, augmentation_layers
from kerasfg.data.augment import affine_matrices, get_config


def batch(n=8, size=16, channels=3, seed=0):
    """Float pixels in 0..255."""
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, channels)).astype(np.float32)


def test_flip_only_is_exact_mirror_or_identity():
    x = batch()
    y = augment_batch(x, tf.constant([1, 2]), AugmentConfig(flip=True)).numpy()
    flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(len(x))]
    kept = [np.array_equal(y[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_same_seed_same_output_other_seed_differs():
    x = batch()
    cfg = get_config("default")
    a = augment_batch(x, tf.constant([3, 4]), cfg).numpy()
    b = augment_batch(x, tf.constant([3, 4]), cfg).numpy()
    c = augment_batch(x, tf.constant([3, 5]), cfg).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.min() >= 0.0 and a.max() <= 255.0 and a.shape == x.shape


def test_identity_affine_and_flip_affine_match_direct_ops():
    x = batch(4, 9)
    n = len(x)
    zeros = tf.zeros([n])
    for flip in (False, True):
        m = affine_matrices(n, 9, 9, zeros, tf.ones([n]), zeros, zeros, tf.fill([n], flip))
        y = tf.raw_ops.ImageProjectiveTransformV3(images=x, transforms=m, output_shape=[9, 9], fill_value=0.0,
                                                  interpolation="BILINEAR", fill_mode="REFLECT").numpy()
        np.testing.assert_allclose(y, x[:, :, ::-1] if flip else x, atol=1e-5)


def test_zoom_in_enlarges_a_centred_square():
    x = np.zeros((1, 33, 33, 1), np.float32)
    x[0, 12:21, 12:21] = 1.0  # a 9x9 square in the centre (the warp is scale-free)
    m = affine_matrices(1, 33, 33, tf.zeros([1]), tf.constant([2.0]), tf.zeros([1]), tf.zeros([1]),
                        tf.constant([False]))
    y = tf.raw_ops.ImageProjectiveTransformV3(images=x, transforms=m, output_shape=[33, 33], fill_value=0.0,
                                              interpolation="BILINEAR", fill_mode="CONSTANT").numpy()
    assert abs((y > 0.5).sum() - 4 * (x > 0.5).sum()) <= 4 * 9


def test_grayscale_stays_single_channel_and_brightness_contrast_bounded():
    x = batch(channels=1)
    y = augment_batch(x, tf.constant([0, 1]), AugmentConfig(flip=False, brightness=0.2, contrast=0.3)).numpy()
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    # Brightness is a per-image constant shift and contrast a per-image scaling about the mean; unclipped
    # pixels stay an affine function of the input
    i = 0
    inside = (y[i] > 1) & (y[i] < 254)
    slope, intercept = np.polyfit(x[i][inside], y[i][inside], 1)
    np.testing.assert_allclose(y[i][inside], slope * x[i][inside] + intercept, atol=1e-3)
    assert 0.7 - 1e-6 <= slope <= 1.3 + 1e-6


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="zoom must be in"):
        AugmentConfig(zoom=1.5)
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        get_config("heavy")
    assert get_config("fer") == AugmentConfig(flip=True, zoom=0.3)
    assert not get_config(None).active


def test_keras_layers_equivalent():
    layers = augmentation_layers("default", seed=1)
    names = [layer.name for layer in layers]
    assert names == ["augment_flip", "augment_rotation", "augment_zoom", "augment_crop", "augment_brightness",
                     "augment_contrast"]
    x = batch(2, 16)
    y = x
    for layer in layers:
        y = layer(y, training=False)
    np.testing.assert_allclose(np.asarray(y), x, atol=1e-4)  # inactive at inference


def test_uint8_input_matches_float_input():
    x8 = batch(4, 16).round().astype(np.uint8)
    seed = tf.constant([5, 6])
    for cfg in ("flip", "default"):
        from_uint8 = augment_batch(x8, seed, cfg).numpy()
        from_float = augment_batch(x8.astype(np.float32), seed, cfg).numpy()
        assert from_uint8.dtype == np.float32
        # the uint8 warp rounds to whole pixel values, which contrast (factor <= 1.2) may stretch
        np.testing.assert_allclose(from_uint8, from_float, atol=1.25)
