"""What kerasfg's summaries declare in their metadata, shared by the writer and the TensorBoard plugin.

Every kerasfg recording is stored under the plugin name ``kerasfg`` with a JSON description (its
*content*) that says what kind of recording it is and how to show it:

``{"version": 1, "kind": <one of KINDS>, ...kind-specific fields}``

TensorBoard keeps the content of a time series' first step only, so the content holds what stays the
same at every step; what changes from step to step (the *annotations* of the step, listed below where a
kind has them) is written with the step's data instead, as an ``annotations`` recording that the content's
field ``annotations`` names.

- ``probe``: the probe images themselves (RGB); ``labels`` (optional) names each image.
- ``heatmap``: one map per probe image, stored as 8-bit grayscale at the probe images' size (0 = none,
  255 = the map's maximum); ``method`` (``gradcam``, ``saliency``, ``attention``...), ``layer``,
  ``output`` and ``probe`` (the tag of the probe images the maps belong to).
- ``activations``: one filter grid (conv layers) or strip (dense layers) per probe image; ``layer``.
- ``deconvolution``: one row of reconstructions of the top feature maps per probe image; ``layer``,
  ``switches`` (``pooling`` or ``relu``, see `kerasfg.vis.Deconvnet`), ``colour`` (false: drawn in grey, the
  sum of the channels); annotations ``feature_maps`` (the indices shown, a list per image).
- ``deep_visualization``: one picture per unit; ``layer``, ``units``, ``preset`` and ``settings``;
  annotations ``activations`` and ``start_activations`` (each unit's activation on its final and on its
  start image).
- ``confusion_matrix``: one picture; ``output``, ``class_names`` and ``counts`` (the tag of the ``table``
  of the counts, rows true and columns predicted).
- ``sanity_checks``: one picture per method, the maps of the first probe image from the trained model and
  then with more and more layers randomized; ``output``, ``methods``, ``layers`` (what each tile shows:
  ``"trained"``, then the last layer randomized) and ``table`` (the tag of the ``table`` of rank
  correlations and SSIMs).
- ``table``: a JSON table (``columns`` in the content, ``rows`` in the tensor), such as faithfulness.
- ``annotations``: a JSON object per step (in the tensor), the annotations of the recording ``<tag>``,
  written under ``<tag>/annotations``; no fields.

Pictures are blob sequences of PNG bytes, tables and annotations JSON string tensors.
This module imports no TensorFlow, so that the plugin stays light.
"""

import json

PLUGIN_NAME = "kerasfg"
VERSION = 1
KINDS = ("probe", "heatmap", "activations", "deconvolution", "deep_visualization", "confusion_matrix", "table",
         "annotations", "sanity_checks")
TAG_PREFIX = PLUGIN_NAME + "/"


def content(kind, **fields):
    """The metadata content of a recording of ``kind``: UTF-8 JSON bytes."""
    if kind not in KINDS:
        raise ValueError(f"Unknown kerasfg recording kind {kind!r}; expected one of {KINDS}.")
    return json.dumps({"version": VERSION, "kind": kind, **fields}, sort_keys=True).encode("utf-8")


def parse(raw):
    """The dict of a metadata content written by `content`; ``{}`` for anything unreadable."""
    try:
        parsed = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) and parsed.get("kind") in KINDS else {}


def plugin_tag(tag):
    """The tag a recording has in kerasfg's plugin; ``tag`` itself is the stock Images dashboard's."""
    return TAG_PREFIX + tag
