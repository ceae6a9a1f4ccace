"""Pure functions ``(model, inputs) -> arrays`` that explain what a network responds to, and the
rendering helpers that turn their maps into uint8 pictures. Nothing here knows of callbacks or
TensorBoard."""

from kerasfg.vis.attention_maps import AttentionMapProbe, attention_layers, scores_to_spatial
from kerasfg.vis.explain import METHODS, Explainer, explain
from kerasfg.vis.graph import ModelGraph, output_names
from kerasfg.vis.render import colorize, normalize, overlay, resize, tile, to_uint8_rgb

__all__ = [
           "AttentionMapProbe",
           "Explainer",
           "METHODS",
           "ModelGraph",
           "attention_layers",
           "colorize",
           "explain",
           "normalize",
           "output_names",
           "overlay",
           "resize",
           "scores_to_spatial",
           "tile",
           "to_uint8_rgb",
]
