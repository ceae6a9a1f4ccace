"""How kerasfg stores its recordings in TensorBoard event files: the one place that decides it.

A recording is written twice, for two readers:

- kerasfg's TensorBoard plugin reads a blob sequence of PNGs under ``kerasfg/<tag>``, whose metadata
  declares the plugin name ``kerasfg``, the blob-sequence data class and a JSON description of what the
  pictures are (see `kerasfg.tensorboard.metadata`). Heat maps are stored raw (8-bit grayscale), so the
  plugin can colour and blend them itself. What changes from step to step goes with the step, as a JSON
  string tensor under ``kerasfg/<tag>/annotations``.
- The stock Images dashboard reads an ordinary image summary under ``<tag>`` (heat maps already
  blended over the probe images).

Tags have the form ``<kind>/<layer or method>/<name>``, for example
``attention/stage2_block1_attention/spatial`` or ``gradcam/identity/conv5``. Numbers are scalar
summaries (Scalars dashboard), such as ``progress/<metric>``; tables are also written as text.
"""

import io
import json
import struct

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.image import metadata as image_metadata

from kerasfg.tensorboard import metadata
from kerasfg.vis import render


def file_writer(log_dir):
    """A summary writer for ``log_dir``."""
    return tf.summary.create_file_writer(str(log_dir))


def _check_pictures(tag, pictures):
    pictures = np.asarray(pictures)
    if pictures.ndim == 3:
        pictures = pictures[None]
    if pictures.dtype != np.uint8 or pictures.ndim != 4 or pictures.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Pictures for '{tag}' must be uint8 of shape (n, h, w, 1|3|4), "
                         f"got {pictures.dtype} {pictures.shape}.")
    return pictures


def image(writer, tag, pictures, step, description=None, *, encoded=None):
    """Write uint8 pictures `(n, h, w, 1|3|4)` (or one `(h, w, c)`) as a stock image summary.

    The summary is the one `tf.summary.image` writes (width, height, then one PNG per picture), with
    the PNGs encoded here, or passed as ``encoded`` when they already are.
    """
    pictures = _check_pictures(tag, pictures)
    encoded = [_png(picture) for picture in pictures] if encoded is None else encoded
    height, width = pictures.shape[1:3]
    with writer.as_default():
        tf.summary.write(tag, tf.constant([str(width).encode(), str(height).encode(), *encoded]), step=step,
                         metadata=image_metadata.create_summary_metadata(display_name=None,
                                                                         description=description))
    writer.flush()


def _metadata(kind, description, data_class, **fields):
    return summary_pb2.SummaryMetadata(
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME, content=metadata.content(kind, **fields)),
        data_class=data_class)


def _write_json(writer, tag, value, step, *, kind, description=None, **fields):
    """Write ``value`` as a JSON string tensor under ``kerasfg/<tag>``, a recording of ``kind``."""
    with writer.as_default():
        tf.summary.write(metadata.plugin_tag(tag), tf.constant(json.dumps(value)), step=step,
                         metadata=_metadata(kind, description, summary_pb2.DATA_CLASS_TENSOR, **fields))


def _png(picture):
    """PNG bytes of a uint8 picture `(h, w, 1|3|4)`, at the fastest compression (recordings are small)."""
    buffer = io.BytesIO()
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(buffer, format="PNG",
                                                                                  compress_level=1)
    return buffer.getvalue()


def recording(writer, tag, pictures, step, *, kind, dashboard=None, description=None, annotations=None,
              **fields):
    """Write a kerasfg recording: pictures for the plugin, and pictures for the Images dashboard.

    Args:
        writer: a summary writer (`file_writer`).
        tag: the recording's tag; the plugin's copy goes under ``kerasfg/<tag>``.
        pictures: uint8 `(n, h, w, 1|3|4)`, what the plugin shows.
        step: the step (for recording callbacks, the number of epochs done).
        kind: one of `kerasfg.tensorboard.metadata.KINDS`.
        dashboard: uint8 pictures for the stock Images dashboard; ``pictures`` by default.
        description: a sentence shown in both dashboards.
        annotations: a JSON-serialisable dict of what belongs to this step only (such as the indices of
            the feature maps shown), written as an ``annotations`` recording under ``<tag>/annotations``,
            which the content's field ``annotations`` names. TensorBoard keeps the metadata content of a
            tag's first step only, so whatever changes from step to step belongs here, not in ``fields``.
        **fields: JSON-serialisable fields of the metadata content (``layer``, ``method``...), the same
            at every step.
    """
    pictures = _check_pictures(tag, pictures)
    if annotations is not None:
        if not isinstance(annotations, dict):
            raise ValueError(f"The annotations of '{tag}' must be a dict, got {type(annotations).__name__}.")
        fields["annotations"] = f"{tag}/annotations"
        _write_json(writer, fields["annotations"], annotations, step, kind="annotations",
                    description=f"what changes from step to step in {tag}")
    encoded = [_png(picture) for picture in pictures]
    with writer.as_default():
        tf.summary.write(metadata.plugin_tag(tag), tf.constant(encoded), step=step,
                         metadata=_metadata(kind, description, summary_pb2.DATA_CLASS_BLOB_SEQUENCE, **fields))
    if dashboard is None:
        image(writer, tag, pictures, step, description, encoded=encoded)
    else:
        image(writer, tag, dashboard, step, description)


def probe_images(writer, images, step, tag="probe/images", labels=None):
    """Write the probe images `(n, h, w, 1|3)` (pixels in 0..255) that heat maps are drawn over."""
    recording(writer, tag, render.to_uint8_rgb(images), step, kind="probe", labels=labels,
              description="the probe images that kerasfg's recordings are computed on")


def heatmaps(writer, tag, maps, images, step, *, method, probe_tag="probe/images", alpha=0.5,
             colormap="jet", description=None, **fields):
    """Write one heat map per probe image.

    Args:
        writer: a summary writer.
        tag: the recording's tag, such as ``gradcam/identity/conv5``.
        maps: `(n, h', w')` or `(n, h', w', 1)` maps of any range; each is normalised to [0, 1] and
            resized to the images' size.
        images: the probe images `(n, h, w, 1|3)` in 0..255, for the dashboard's overlays.
        step: the step.
        method: the method that made the maps (``gradcam``, ``saliency``, ``attention``...).
        probe_tag: the tag of the probe images in the same log directory (see `probe_images`).
        alpha, colormap: the Images dashboard's overlays.
        description: a sentence shown in both dashboards.
        **fields: more metadata content, such as ``layer`` and ``output``.
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim == 4:
        maps = maps[..., 0]
    images = np.asarray(images)
    if maps.ndim != 3 or len(maps) != len(images):
        raise ValueError(f"heatmaps '{tag}' expects one map (n, h, w) per image; got maps of shape "
                         f"{maps.shape} for {len(images)} images.")
    gray = render.normalize(render.resize(maps, images.shape[1:3]))
    pictures = (gray * 255).round().astype(np.uint8)[..., None]
    recording(writer, tag, pictures, step, kind="heatmap", method=method, probe=probe_tag,
              dashboard=render.overlay(images, maps, alpha, colormap), description=description, **fields)


def table(writer, tag, columns, rows, step, description=None, **fields):
    """Write a table (a list of row lists under ``columns``) for the plugin and as Markdown text."""
    rows = [list(row) for row in rows]
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"Every row of table '{tag}' needs {len(columns)} values ({columns}).")
    _write_json(writer, tag, rows, step, kind="table", description=description, columns=list(columns), **fields)
    with writer.as_default():
        tf.summary.text(tag, _markdown(columns, rows), step=step, description=description)
    writer.flush()


def _markdown(columns, rows):
    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
_SCALAR_SHAPE = tensor_shape_pb2.TensorShapeProto()


def scalars(writer, values, step):
    """Write each ``{tag: number}`` of ``values`` as a scalar summary at ``step``.

    The values are what ``tf.summary.scalar`` writes (a float32 scalar tensor with the Scalars plugin's
    metadata), in one event written by one op: per-batch progress writes a few every step, and one
    ``tf.summary.scalar`` op per value cost several times as much.
    """
    values = [summary_pb2.Summary.Value(tag=tag, metadata=_SCALAR_METADATA, tensor=tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=_SCALAR_SHAPE, tensor_content=struct.pack("<f", float(value))))
        for tag, value in values.items()]
    if values:
        with writer.as_default():
            tf.summary.experimental.write_raw_pb(summary_pb2.Summary(value=values).SerializeToString(), step=step)
