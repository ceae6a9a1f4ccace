"""What the layers of a model output for a batch of inputs, and their pictures: filter grids and strips.

The thesis's layer-activation view (``papers/NOTES-004.md`` §1.2 (2), §3): one forward pass of the
probe images in inference mode, the output of every layer except InputLayer, Dropout and Flatten
(which show nothing new), convolution and pooling maps tiled into a grid with white separators,
dense outputs as a strip. Decisions where the thesis leaves a choice (NOTES §4, item 3):

- each filter map is normalised to [0, 1] by its own minimum and maximum (not by a per-layer
  maximum as the reference code does), so that weak filters stay visible and negative values of
  non-ReLU layers are shown, not clipped; a constant (dead) map is black;
- a dense strip is normalised by its own minimum and maximum, one strip per image;
- when only some filters are shown, they are the ``max_filters`` with the largest mean activation
  over the whole batch, in index order, so that every image of a batch shows the same filters.

Outputs are channels-last (Keras's default ``image_data_format``).
"""

import keras
import numpy as np
import tensorflow as tf

from kerasfg.vis import render
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.introspect import ModelGraph

EXCLUDED_LAYERS = (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.Flatten)


def _default_layers(graph):
    return [path for path, layer in graph.layers.items()
            if not isinstance(layer, (keras.Model, *EXCLUDED_LAYERS))]


def representative_layers(model):
    """A few layers that summarise a model: the last layer of each run of feature maps of one size.

    Walking the layers in model order from the first layer with weights (the layers before it, such as
    a ``Rescaling`` of the pixels, carry no features yet), the layers with 4-D outputs (feature maps)
    form runs of equal spatial size; the last layer of each run is the output of a stage (in a ResNet,
    the last block of each stage; in a VGG, the last convolution before each pooling, and the last
    pooling). Padding and cropping layers, which only pass between sizes, are skipped. A model without
    feature maps is represented by its dense layers.

    Args:
        model: a built Keras model.

    Returns:
        Layer paths, in model order.
    """
    graph = ModelGraph(model)
    skipped = (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)
    layers = [(path, graph.layers[path]) for path in _default_layers(graph)]
    first = next((k for k, (_, layer) in enumerate(layers) if layer.weights), 0)
    layers = layers[first:]
    maps = [(path, tuple(layer.output.shape[1:3])) for path, layer in layers
            if len(layer.output.shape) == 4 and not isinstance(layer, skipped)]
    if not maps:
        return [path for path, layer in layers if len(layer.output.shape) == 2]
    return [path for (path, size), (_, after) in zip(maps, maps[1:] + [(None, None)]) if size != after]


class LayerActivationProbe:
    """Compute the outputs of chosen layers of any Keras model in one compiled forward pass.

    Args:
        model: a built Keras model (Functional, Sequential, nested, multi-input or multi-output).
        layers: paths or unique names of the layers to read (see `ModelGraph.find`); by default all
            layers except InputLayer, Dropout, Flatten and nested models themselves (their layers
            are included).

    Call arguments:
        inputs: a batch in the form the model takes (an array, or a dict of named inputs).

    Returns:
        ``{layer path: float32 array}`` in the order of ``layers``.

    Example:

    ```python
    probe = LayerActivationProbe(model, ["conv1", "backbone/conv2"])
    maps = probe(images)  # {"conv1": (batch, h, w, c), "backbone/conv2": ...}
    ```
    """

    def __init__(self, model, layers=None):
        self.graph = ModelGraph(model)
        names = _default_layers(self.graph) if layers is None else layers
        self.paths = [self.graph.find(name) for name in names]
        self._forward = RecordingFunction(lambda inputs: self.graph(inputs, taps=self.paths)[1])

    def __call__(self, inputs):
        inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
        taps = self._forward(inputs)
        return {path: np.asarray(taps[path], np.float32) for path in self.paths}


def layer_activations(model, inputs, layers=None):
    """The outputs of a model's layers for a batch of inputs, from one compiled forward pass.

    Args:
        model: a built Keras model (Functional, Sequential, nested, multi-input or multi-output).
        inputs: a batch in the form the model takes.
        layers: paths or unique names of the layers to read; all but InputLayer, Dropout, Flatten
            and nested models by default.

    Returns:
        ``{layer path: float32 array}``.

    To read the same layers repeatedly (a callback), keep a `LayerActivationProbe`: it compiles
    once.
    """
    return LayerActivationProbe(model, layers)(inputs)


def top_channels(maps, count=None):
    """The indices of the ``count`` channels with the largest mean over a batch, in index order.

    Args:
        maps: `(batch, ..., channels)` activations.
        count: how many channels to keep; all when None or not smaller than the number of channels.
    """
    maps = np.asarray(maps, np.float32)
    channels = maps.shape[-1]
    if count is None or count >= channels:
        return np.arange(channels)
    means = maps.reshape(-1, channels).mean(axis=0)
    return np.sort(np.argsort(-means, kind="stable")[:count])


def activation_grids(maps, channels=None, columns=None, padding=1):
    """One grayscale grid of filter maps per image.

    Args:
        maps: `(batch, h, w, channels)` activations of a convolution or pooling layer.
        channels: the channel indices to show, in tile order; all by default (see `top_channels`).
        columns: tiles per grid row; square-ish by default.
        padding: width of the white separators.

    Returns:
        uint8 array `(batch, H, W, 1)`: tile ``k`` (row-major) of grid ``i`` is channel
        ``channels[k]`` of image ``i``, scaled by its own minimum and maximum to 0..255.
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 4:
        raise ValueError(f"activation_grids expects maps (batch, h, w, channels); got shape {maps.shape}.")
    channels = np.arange(maps.shape[-1]) if channels is None else np.asarray(channels)
    batch, h, w, _ = maps.shape
    selected = maps[..., channels].transpose(0, 3, 1, 2).reshape(-1, h, w)
    gray = (render.normalize(selected) * 255).round().astype(np.uint8)
    gray = gray.reshape(batch, len(channels), h, w, 1)
    return np.stack([render.tile(tiles, columns=columns, padding=padding) for tiles in gray])


def activation_strips(values, cell=(8, 4)):
    """One grayscale strip per image: the values of a dense layer, left to right.

    Args:
        values: `(batch, units)` activations (any other shape is flattened per image).
        cell: `(height, width)` in pixels of each unit's cell.

    Returns:
        uint8 array `(batch, cell[0], units * cell[1], 1)`, each strip scaled by its own minimum and
        maximum to 0..255.
    """
    values = np.asarray(values, np.float32)
    values = values.reshape(len(values), -1)
    gray = (render.normalize(values) * 255).round().astype(np.uint8)
    return np.repeat(np.repeat(gray[:, None, :, None], cell[0], axis=1), cell[1], axis=2)
