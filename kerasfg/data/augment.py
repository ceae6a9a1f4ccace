"""Seeded data augmentation for face images: flip, zoom, random crop, rotation, brightness, contrast.

Two ways to use the same :class:`AugmentConfig`:

- :func:`augment_batch` augments a whole batch inside ``tf.data`` with stateless random ops. Given the same
  seed it gives the same result, on any machine; :class:`~kerasfg.data.FaceDataset.as_dataset` draws a fresh
  seed per batch from one dataset-level seed, so epochs differ but runs repeat. Zoom, rotation and crop are
  folded into one affine warp per image (one ``ImageProjectiveTransformV3`` call per batch). This is the
  default: it keeps augmentation out of the model and out of XLA (``ImageProjectiveTransformV3`` has no XLA
  kernel in TF 2.21).
- :func:`augmentation_layers` returns the equivalent Keras preprocessing layers, for users who want the
  augmentation inside the model (active only in training). ``RandomZoom``/``RandomRotation`` disable XLA for
  the whole model.

Images are pixels in ``0..255`` (uint8, or float32 as kerasfg models take them: normalization is a layer of
the model, and serving signatures feed the same scale), NHWC, with 1 (grayscale) or 3 (RGB) channels;
photometric changes are
applied per channel alike, so grayscale stays grayscale. "Random crop" is the translation of a crop window by
up to ``crop`` of the side (edges filled by reflection), the same image size in and out.
"""

import dataclasses
import math

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """What to randomise, and by how much.

    Args:
        flip: horizontal flip with probability 0.5.
        zoom: scale factor drawn uniformly in ``[1 - zoom, 1 + zoom]`` (``ImageDataGenerator``'s
            ``zoom_range``; the FER paper's code uses 0.3).
        rotation: angle drawn uniformly in ``[-rotation, rotation]`` degrees.
        crop: random crop: the window is shifted by up to ``crop`` times the side in each direction.
        brightness: delta drawn in ``[-brightness, brightness]`` times 255 and added to all pixels.
        contrast: factor drawn in ``[1 - contrast, 1 + contrast]``; pixels move away from the per-image,
            per-channel mean by that factor.
        fill_mode: how the affine warp fills pixels from outside the image: ``reflect``, ``nearest``,
            ``constant`` (black) or ``wrap``.
    """

    flip: bool = True
    zoom: float = 0.0
    rotation: float = 0.0
    crop: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    fill_mode: str = "reflect"

    def __post_init__(self):
        for name in ("zoom", "crop", "brightness", "contrast"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"AugmentConfig.{name} must be in [0, 1), got {value!r}")
        if not 0.0 <= self.rotation <= 180.0:
            raise ValueError(f"AugmentConfig.rotation must be in [0, 180] degrees, got {self.rotation!r}")
        if self.fill_mode not in ("reflect", "nearest", "constant", "wrap"):
            raise ValueError(
                f"AugmentConfig.fill_mode must be reflect, nearest, constant or wrap, got {self.fill_mode!r}")

    @property
    def geometric(self):
        return self.zoom > 0 or self.rotation > 0 or self.crop > 0

    @property
    def active(self):
        return self.flip or self.geometric or self.brightness > 0 or self.contrast > 0


PRESETS = {
    "none": AugmentConfig(flip=False),
    "flip": AugmentConfig(flip=True),
    # Miskow 2022 (FER2013/CK+/JAFFE): ImageDataGenerator(zoom_range=0.3, horizontal_flip=True).
    "fer": AugmentConfig(flip=True, zoom=0.3),
    # Random crop + flip, as used for Adience / fine-grained transfer (224 crops of 256 is a 12.5% shift).
    "crop_flip": AugmentConfig(flip=True, crop=0.0625),
    "default": AugmentConfig(flip=True, zoom=0.1, rotation=10.0, crop=0.05, brightness=0.1, contrast=0.2),
}


def get_config(augment):
    """Turn ``None``/``False``, a preset name, a dict of fields, or an :class:`AugmentConfig` into a config."""
    if augment is None or augment is False:
        return PRESETS["none"]
    if augment is True:
        return PRESETS["default"]
    if isinstance(augment, AugmentConfig):
        return augment
    if isinstance(augment, str):
        if augment not in PRESETS:
            raise ValueError(f"unknown augmentation preset {augment!r}; expected one of {sorted(PRESETS)}")
        return PRESETS[augment]
    if isinstance(augment, dict):
        return AugmentConfig(**augment)
    raise TypeError(f"augment must be None, a preset name, a dict or an AugmentConfig, got {type(augment)}")


def affine_matrices(batch, height, width, angle, scale, shift_x, shift_y, flip):
    """Flattened 8-parameter transforms (output pixel -> input pixel) for ``ImageProjectiveTransformV3``.

    ``angle`` in radians, ``scale`` > 1 zooms in, shifts in pixels, ``flip`` a boolean per image; all of
    shape ``[batch]``.
    """
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    cos = tf.cos(angle) / scale
    sin = tf.sin(angle) / scale
    sign = tf.where(flip, -1.0, 1.0)  # mirroring the output x axis = negating the first column
    a0, a1 = cos * sign, -sin
    b0, b1 = sin * sign, cos
    a2 = cx + shift_x - a0 * cx - a1 * cy
    b2 = cy + shift_y - b0 * cx - b1 * cy
    zeros = tf.zeros([batch], tf.float32)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def augment_batch(images, seed, config):
    """Augment a batch of ``[B, H, W, C]`` images with the stateless ``seed`` (shape [2]).

    ``images`` are uint8 or float pixels in ``0..255``; the result is float32 in ``0..255``. The same
    images and seed always give the same output; each image gets its own random parameters. uint8 input is
    warped before conversion to float (the warp is about 1.5x faster on uint8).
    """
    config = get_config(config)
    images = tf.convert_to_tensor(images)
    if images.dtype != tf.uint8:
        images = tf.cast(images, tf.float32)
    if not config.active:
        return to_float(images)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=7)

    def uniform(i, low, high):
        return tf.random.stateless_uniform([batch], seed=seeds[i], minval=low, maxval=high)

    flip = uniform(0, 0.0, 1.0) < 0.5 if config.flip else tf.zeros([batch], tf.bool)
    if config.geometric:
        angle = uniform(1, -1.0, 1.0) * (config.rotation * math.pi / 180.0)
        scale = uniform(2, 1.0 - config.zoom, 1.0 + config.zoom)
        shift_x = uniform(3, -1.0, 1.0) * config.crop * tf.cast(width, tf.float32)
        shift_y = uniform(4, -1.0, 1.0) * config.crop * tf.cast(height, tf.float32)
        transforms = affine_matrices(batch, height, width, angle, scale, shift_x, shift_y, flip)
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode=config.fill_mode.upper())
    elif config.flip:
        images = flip_batch(images, flip)
    images = to_float(images)
    if config.contrast > 0 or config.brightness > 0:
        # contrast then brightness, (x - mean) * f + mean + b, as one multiply-add per pixel
        scale, offset = 1.0, 0.0
        if config.contrast > 0:
            scale = uniform(5, 1.0 - config.contrast, 1.0 + config.contrast)[:, None, None, None]
            offset = tf.reduce_mean(images, axis=[1, 2], keepdims=True) * (1.0 - scale)
        if config.brightness > 0:
            offset = offset + 255.0 * uniform(6, -config.brightness, config.brightness)[:, None, None, None]
        images = tf.clip_by_value(images * scale + offset, 0.0, 255.0)
    return images


def flip_batch(images, flip):
    """Mirror the images whose ``flip`` entry is true: one gather from [images; mirrored images].

    (A broadcast ``tf.where`` does the same about 5x slower in tf.data.)
    """
    n = tf.shape(images)[0]
    both = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
    return tf.gather(both, tf.range(n) + n * tf.cast(flip, tf.int32))


def to_float(images):
    """Pixels as float32 (same 0..255 scale)."""
    return tf.cast(images, tf.float32)


def augmentation_layers(config, seed=None):
    """The same augmentation as Keras preprocessing layers (active only when ``training=True``).

    Returns a list of layers to put at the front of a model (after the input, on 0..255 pixels). The Keras
    layers draw their own random numbers, so results match :func:`augment_batch` in distribution, not bit
    for bit.
    """
    import keras

    config = get_config(config)
    layers = []
    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="augment_flip"))
    if config.rotation > 0:
        layers.append(keras.layers.RandomRotation(config.rotation / 360.0, fill_mode=config.fill_mode,
                                                  seed=seed, name="augment_rotation"))
    if config.zoom > 0:
        layers.append(keras.layers.RandomZoom((-config.zoom, config.zoom), fill_mode=config.fill_mode,
                                              seed=seed, name="augment_zoom"))
    if config.crop > 0:
        layers.append(keras.layers.RandomTranslation(config.crop, config.crop, fill_mode=config.fill_mode,
                                                     seed=seed, name="augment_crop"))
    if config.brightness > 0:
        layers.append(keras.layers.RandomBrightness(config.brightness, value_range=(0.0, 255.0), seed=seed,
                                                    name="augment_brightness"))
    if config.contrast > 0:
        layers.append(keras.layers.RandomContrast(config.contrast, value_range=(0.0, 255.0), seed=seed,
                                                  name="augment_contrast"))
    return layers
