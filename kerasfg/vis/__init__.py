"""Pure functions ``(model, inputs) -> arrays`` that explain what a network responds to, and the
rendering helpers that turn their maps into uint8 pictures. Nothing here knows of callbacks or
TensorBoard."""

from kerasfg.vis.activations import (
    LayerActivationProbe,
    activation_grids,
    activation_strips,
    layer_activations,
    top_channels,
)
from kerasfg.vis.attention_maps import AttentionMapProbe, attention_layers, scores_to_spatial
from kerasfg.vis.deconvolution import Deconvnet, deconvolution
from kerasfg.vis.deep_visualization import PRESETS, DeepVisSettings, DeepVisualizer, deep_visualization
from kerasfg.vis.explain import METHODS, Explainer, explain
from kerasfg.vis.graph import ModelGraph, output_names
from kerasfg.vis.render import colorize, normalize, overlay, resize, tile, to_uint8_rgb

__all__ = [
           "AttentionMapProbe",
           "Deconvnet",
           "DeepVisSettings",
           "DeepVisualizer",
           "Explainer",
           "LayerActivationProbe",
           "METHODS",
           "ModelGraph",
           "PRESETS",
           "activation_grids",
           "activation_strips",
           "attention_layers",
           "colorize",
           "deconvolution",
           "deep_visualization",
           "explain",
           "layer_activations",
           "normalize",
           "output_names",
           "overlay",
           "resize",
           "scores_to_spatial",
           "tile",
           "to_uint8_rgb",
           "top_channels",
]
