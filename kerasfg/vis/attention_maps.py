"""The maps of every attention layer of a model, for a batch of inputs, in one compiled call.

Every kerasfg attention layer returns its float32 maps when called with ``return_attention=True``
(see `kerasfg.layers.base`). `AttentionMapProbe` builds one functional model that computes, from the
model's own inputs, the maps of all (or the chosen) attention layers, sharing the trained weights.
"""

import keras
import numpy as np

from kerasfg.layers.base import AttentionLayer


class _MapsOf(keras.layers.Layer):
    """Calls an existing attention layer with ``return_attention=True`` and returns its maps.

    Re-calling a layer that is already part of a model on a tensor of that model does not connect in
    Keras 3; calling it inside another layer's ``call`` does, and shares its weights.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs):
        return self.layer(inputs, return_attention=True, training=False)[1]


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


def attention_layers(model):
    """The attention layers of a flat functional model, in model order."""
    return [layer for layer in model.layers if isinstance(layer, AttentionLayer)]


class AttentionMapProbe:
    """Compute the attention maps of a model's attention layers.

    Args:
        model: a functional Keras model with kerasfg attention layers.
        layer_names: names of the attention layers to read; all of them by default.

    Call arguments:
        inputs: a batch in the form the model takes (an array, or a dict of named inputs).

    Returns:
        A dict ``{layer name: {map name: float32 array}}``; spatial maps have shape
        `(batch, height, width, n)`, channel gates `(batch, channels)`, attention scores
        `(batch, heads, queries, keys)` (see `scores_to_spatial`).

    Example:

    ```python
    probe = AttentionMapProbe(model)
    maps = probe({"image": images, "expression": expressions})
    maps["stage2_block1_attention"]["spatial"].shape  # (batch, 16, 16, 1)
    ```
    """

    def __init__(self, model, layer_names=None):
        layers = attention_layers(model)
        if layer_names is not None:
            by_name = {layer.name: layer for layer in layers}
            missing = [name for name in layer_names if name not in by_name]
            if missing:
                raise ValueError(f"No attention layer named {missing} in model '{model.name}'; its "
                                 f"attention layers are {sorted(by_name)}.")
            layers = [by_name[name] for name in layer_names]
        if not layers:
            raise ValueError(f"Model '{model.name}' has no kerasfg attention layer.")
        self.layer_names = [layer.name for layer in layers]
        self.input_shapes = {layer.name: tuple(layer.input.shape) for layer in layers}
        outputs = {layer.name: _MapsOf(layer, name=f"{layer.name}_maps")(layer.input)
                   for layer in layers}
        self._probe = keras.Model(model.inputs, outputs, name=f"{model.name}_attention_maps")

    def __call__(self, inputs):
        maps = self._probe.predict_on_batch(inputs)
        return {layer: {name: np.asarray(value, np.float32) for name, value in layer_maps.items()}
                for layer, layer_maps in maps.items()}
