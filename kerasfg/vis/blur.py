"""The Gaussian blur of kerasfg.vis: deep visualization's regularizer and the faithfulness curves' blurred images.

A Gaussian blur of an image is separable, a linear map along its height and one along its width, so it is
two matrix products: ``rows @ image @ cols.T`` per channel, with the `blur_matrix` of each axis. As matrices
the blur can differ from image to image in one batch (one pair of matrices per image), which deep
visualization's compiled ascent uses to run presets with different blurs together.
"""

import numpy as np
import tensorflow as tf


def blur_matrix(size, std):
    """The `(size, size)` matrix of a 1-D Gaussian blur of ``std`` pixels along an axis of ``size`` pixels.

    The kernel is truncated at 4 standard deviations (at most ``size - 1`` pixels) and the axis is extended
    symmetrically beyond its ends (``d c b a | a b c d``): SciPy's ``gaussian_filter1d`` with
    ``mode="reflect"`` and ``truncate=4``. A ``std`` of 0 gives the identity.

    Args:
        size: the number of pixels along the axis.
        std: the standard deviation in pixels (non-negative).

    Returns:
        A float64 array ``m`` with ``blurred[i] = sum_j m[i, j] * pixels[j]``.
    """
    if std < 0:
        raise ValueError(f"A Gaussian blur needs a non-negative standard deviation; received {std!r}.")
    if std == 0:
        return np.eye(size)
    radius = min(int(4 * std + 0.5), size - 1)
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / std) ** 2)
    taps /= taps.sum()
    sources = np.arange(size)[:, None] + offsets[None]
    sources = np.where(sources < 0, -sources - 1, np.where(sources >= size, 2 * size - sources - 1, sources))
    matrix = np.zeros((size, size))
    np.add.at(matrix, (np.repeat(np.arange(size), len(offsets)), sources.reshape(-1)), np.tile(taps, size))
    return matrix


def blur_with(images, rows, cols):
    """``images`` `(batch, h, w, c)` blurred by per-image matrices ``rows`` `(batch, h, h)` and ``cols``
    `(batch, w, w)` (see `blur_matrix`), inside compiled functions."""
    blurred = tf.einsum("bij,bjwc->biwc", rows, images)
    return tf.einsum("bkw,bhwc->bhkc", cols, blurred)


def gaussian_blur(images, std):
    """Blur images `(batch, h, w, c)` with a Gaussian of ``std`` pixels, channel by channel.

    SciPy's ``gaussian_filter`` with ``mode="reflect"`` and ``truncate=4`` on the height and width axes
    (the kernel at most the image's size minus one), see `blur_matrix`. Runs inside compiled functions;
    NumPy images give a NumPy array back.

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
    _, height, width, _ = images.shape
    rows = tf.constant(blur_matrix(height, std), images.dtype)[None]
    cols = tf.constant(blur_matrix(width, std), images.dtype)[None]
    batch = tf.shape(images)[:1]
    return blur_with(images, tf.tile(rows, tf.concat([batch, [1, 1]], 0)), tf.tile(cols, tf.concat([batch, [1, 1]], 0)))
