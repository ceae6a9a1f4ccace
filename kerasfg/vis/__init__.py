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
from kerasfg.vis.confusion import confusion_matrix, render_confusion_matrix
from kerasfg.vis.deconvolution import Deconvnet, deconvolution
from kerasfg.vis.deep_visualization import PRESETS, DeepVisSettings, DeepVisualizer, deep_visualization
from kerasfg.vis.embeddings import penultimate_features, penultimate_layer
from kerasfg.vis.explain import METHODS, Explainer, explain
from kerasfg.vis.faithfulness import (
    applicable_methods,
    area_under_curve,
    energy_in_mask,
    faithfulness_table,
    mask_share,
    perturbation_curves,
    pointing_game,
)
from kerasfg.vis.introspect import ModelGraph, ModelInputs, feature_layer, output_names
from kerasfg.vis.one_pass import Explanation, run_one_pass
from kerasfg.vis.render import colorize, normalize, overlay, resize, tile, to_uint8_rgb

__all__ = [
    "AttentionMapProbe",
    "Deconvnet",
    "DeepVisSettings",
    "DeepVisualizer",
    "Explainer",
    "Explanation",
    "LayerActivationProbe",
    "METHODS",
    "ModelGraph",
    "ModelInputs",
    "PRESETS",
    "activation_grids",
    "activation_strips",
    "applicable_methods",
    "area_under_curve",
    "attention_layers",
    "colorize",
    "confusion_matrix",
    "deconvolution",
    "deep_visualization",
    "energy_in_mask",
    "explain",
    "faithfulness_table",
    "feature_layer",
    "layer_activations",
    "mask_share",
    "normalize",
    "output_names",
    "overlay",
    "penultimate_features",
    "penultimate_layer",
    "perturbation_curves",
    "pointing_game",
    "render_confusion_matrix",
    "resize",
    "run_one_pass",
    "scores_to_spatial",
    "tile",
    "to_uint8_rgb",
    "top_channels",
]
