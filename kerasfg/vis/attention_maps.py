"""The maps of every attention layer of a model, for a batch of inputs, in one compiled call.

Every kerasfg attention layer returns its float32 maps when called with ``return_attention=True``
(see `kerasfg.layers.base`). `AttentionMapProbe` runs the model through `kerasfg.vis.ModelGraph`,
which calls the chosen attention layers that way, so it reads the maps of Functional, Sequential and
nested models alike, with the trained layers themselves.
"""

import numpy as np
import tensorflow as tf

from kerasfg.layers.base import AttentionLayer
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.introspect import ModelGraph


def scores_to_spatial(scores, height, width):
    """The attention each position receives, per head, as spatial maps.

    Args:
        scores: attention scores `(batch, heads, queries, keys)` over the `height * width` positions
            of a feature map in row-major order.
        height, width: the feature map's spatial shape.

    Returns:
        float32 array `(batch, height, width, heads)`: the mean over queries of each key's score.
    """
    scores = np.asarray(scores, np.float32)
    batch, heads, _, keys = scores.shape
    if keys != height * width:
        raise ValueError(f"scores over {keys} positions do not fit a {height}x{width} feature map.")
    received = scores.mean(axis=2).reshape(batch, heads, height, width)
    return received.transpose(0, 2, 3, 1)


def attention_layers(graph, layers=None):
    """The paths of a model's attention layers, in model order (inside nested models too).

    Args:
        graph: a `kerasfg.vis.ModelGraph` of the model.
        layers: paths or unique names of the attention layers to keep; all by default.
    """
    paths = graph.paths_of(AttentionLayer)
    if layers is not None:
        chosen = [graph.find(name) for name in layers]
        missing = [name for name, path in zip(layers, chosen) if path not in paths]
        if missing:
            raise ValueError(f"Layers {missing} of model '{graph.model.name}' are not attention layers; its "
                             f"attention layers are {paths}.")
        paths = chosen
    if not paths:
        raise ValueError(f"Model '{graph.model.name}' has no kerasfg attention layer.")
    return paths


class AttentionMapProbe:
    """Compute the attention maps of a model's attention layers.

    Args:
        model: a built Keras model with kerasfg attention layers (Functional, Sequential or nested).
        layers: paths or unique names of the attention layers to read; all of them by default.

    Call arguments:
        inputs: a batch in the form the model takes (an array, or a dict of named inputs).

    Returns:
        A dict ``{layer path: {map name: float32 array}}``; spatial maps have shape
        `(batch, height, width, n)`, channel gates `(batch, channels)`, attention scores
        `(batch, heads, queries, keys)` (see `scores_to_spatial`). The path of a layer of the model
        itself is its name.

    Example:

    ```python
    probe = AttentionMapProbe(model)
    maps = probe({"image": images, "expression": expressions})
    maps["stage2_block1_attention"]["spatial"].shape  # (batch, 16, 16, 1)
    ```
    """

    def __init__(self, model, layers=None):
        graph = ModelGraph(model)
        self.layers = attention_layers(graph, layers)
        self.input_shapes = input_shapes(graph, self.layers)
        self._maps = RecordingFunction(lambda inputs: graph.run(inputs, attention=self.layers).attention)

    def __call__(self, inputs):
        maps = self._maps(tf.nest.map_structure(tf.convert_to_tensor, inputs))
        return {layer: {name: np.asarray(value, np.float32) for name, value in layer_maps.items()}
                for layer, layer_maps in maps.items()}


def input_shapes(graph, paths):
    """``{path: input shape}`` of layers of a `kerasfg.vis.ModelGraph`, with ``None`` for the batch."""
    return {path: tuple(graph.layers[path].input.shape) for path in paths}
