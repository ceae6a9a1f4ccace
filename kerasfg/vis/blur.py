"""The Gaussian blur of kerasfg.vis: deep visualization's regularizer and the faithfulness curves' blurred images."""

import numpy as np
import tensorflow as tf


def gaussian_blur(images, std):
    """Blur images `(batch, h, w, c)` with a Gaussian of ``std`` pixels, channel by channel.

    Two depthwise 1-D convolutions with a kernel truncated at 4 standard deviations (at most the image's
    size minus one), over a symmetric padding: SciPy's ``gaussian_filter`` with ``mode="reflect"`` and
    ``truncate=4`` on the height and width axes. Runs inside compiled functions; NumPy images give a
    NumPy array back.

    Args:
        images: float images `(batch, height, width, channels)`, a tensor or a NumPy array.
        std: the standard deviation in pixels (positive).

    Returns:
        The blurred images, of the same type, shape and dtype.
    """
    if std <= 0:
        raise ValueError(f"gaussian_blur needs a positive standard deviation; received {std!r}.")
    if isinstance(images, np.ndarray):
        return gaussian_blur(tf.constant(images), std).numpy()
    _, height, width, channels = images.shape
    radius = min(int(4 * std + 0.5), height - 1, width - 1)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / std) ** 2)
    taps = tf.constant(np.tile((taps / taps.sum())[:, None, None], (1, channels, 1)), images.dtype)
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    rows = tf.nn.depthwise_conv2d(padded, taps[:, None], strides=(1, 1, 1, 1), padding="VALID")
    return tf.nn.depthwise_conv2d(rows, taps[None], strides=(1, 1, 1, 1), padding="VALID")
