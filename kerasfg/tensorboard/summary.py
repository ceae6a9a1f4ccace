"""How kerasfg stores its recordings in TensorBoard event files: the one place that decides it.

Pictures are written as TensorBoard image summaries, so the stock Images dashboard shows them, under
tags of the form ``<kind>/<layer>/<name>`` (for example ``attention/stage2_block1_attention/spatial``).
Numbers are scalar summaries (Scalars dashboard) under ``progress/<metric>``.
"""

import numpy as np
import tensorflow as tf


def file_writer(log_dir):
    """A summary writer for ``log_dir``."""
    return tf.summary.create_file_writer(str(log_dir))


def image(writer, tag, pictures, step, description=None):
    """Write uint8 RGB pictures `(n, h, w, 3)` (or one `(h, w, 3)`) as an image summary at ``step``."""
    pictures = np.asarray(pictures)
    if pictures.ndim == 3:
        pictures = pictures[None]
    if pictures.dtype != np.uint8 or pictures.ndim != 4 or pictures.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image summary '{tag}' expects uint8 pictures of shape (n, h, w, 1|3|4), "
                         f"got {pictures.dtype} {pictures.shape}.")
    with writer.as_default():
        tf.summary.image(tag, pictures, step=step, max_outputs=len(pictures),
                         description=description)
    writer.flush()


def scalars(writer, values, step):
    """Write each ``{tag: number}`` of ``values`` as a scalar summary at ``step``."""
    with writer.as_default():
        for tag, value in values.items():
            tf.summary.scalar(tag, float(value), step=step)
