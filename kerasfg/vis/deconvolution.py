"""Zeiler and Fergus's deconvnet, built automatically for the convolution-and-pooling part of a model.

For a chosen layer, `Deconvnet` walks the model's graph back from that layer to an image input
(through nested models), layer by layer, and projects a feature map back to pixel space along that
path in reverse order. The forward pass taps every layer on the path, which records the max-pooling
switches (the pooling inputs and outputs; `kerasfg.layers.MaxUnpooling2D` finds the maxima in them).

How each layer of the path is inverted (decisions for ``papers/NOTES-004.md`` §4 item 7):

- ``Conv2D``: its activation (if any) becomes a ReLU of the reconstruction, then the transposed
  convolution with the layer's own kernel (`tf.nn.conv2d_transpose`, i.e. a convolution with the
  flipped filters), same strides, padding and dilation, no bias; the deconvnet is literal, not a
  gradient override.
- ``MaxPooling2D``: unpooling at the switches; `MaxUnpooling2D` for non-overlapping windows, and
  TensorFlow's max-pooling gradient (the same routing, summed where windows overlap) otherwise,
  such as ResNet's 3x3 stride-2 stem pooling.
- activations (``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``): a ReLU of the
  reconstruction; the deconvnet rectifies whatever the forward non-linearity was.
- ``BatchNormalization`` (inference): the transpose of its linear part, a multiplication by the
  per-channel scale ``gamma / sqrt(variance + epsilon)`` without the shift, just as the transposed
  convolution drops the bias. Dividing by the scale (its inverse) blows up channels whose variance
  is tiny; ignoring it would weight the channels of the following convolution unevenly.
- ``Rescaling``: multiplication by its scale (no offset); ``ZeroPadding2D``: cropping.
- identity-like layers (``Dropout`` and its variants, ``GaussianNoise``, ``ActivityRegularization``,
  ``Identity``) are passed through.

Anything else (``Dense``, ``Flatten``, attention layers, layers with several inputs such as
``Add``) cannot be inverted: `Deconvnet` raises an error that names the layer and says why. In a
ResNet, for example, the deconvnet reaches the stem and the residual branch of the first block, but
no layer behind the first addition.

Reference: Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasfg.layers import MaxUnpooling2D
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.graph import ModelGraph

_ACTIVATIONS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
                keras.layers.PReLU)
_IDENTITIES = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
               keras.layers.GaussianDropout, keras.layers.GaussianNoise, keras.layers.AlphaDropout,
               keras.layers.ActivityRegularization, keras.layers.Identity)
_INVERTIBLE = (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.BatchNormalization,
               keras.layers.Rescaling, keras.layers.ZeroPadding2D, *_ACTIVATIONS, *_IDENTITIES)
_SUPPORTED = "Conv2D, MaxPooling2D, BatchNormalization, Rescaling, ZeroPadding2D, activations and dropout"


def _input_tensors(operation, path):
    nodes = operation._inbound_nodes
    if len(nodes) != 1:
        raise ValueError(f"The deconvnet cannot follow layer '{path}': it is used {len(nodes)} times in the "
                         "model, so its input is ambiguous.")
    return nodes[0].arguments.keras_tensors


def _check_invertible(layer, path):
    exact_conv = type(layer) is keras.layers.Conv2D  # subclasses may compute something else
    if not isinstance(layer, _INVERTIBLE) or (isinstance(layer, keras.layers.Conv2D) and not exact_conv):
        raise ValueError(f"The deconvnet cannot invert layer '{path}' ({type(layer).__name__}): it inverts only "
                         f"{_SUPPORTED}, so it stops at the first other layer on the way to the input.")
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D)) and layer.data_format != "channels_last":
        raise ValueError(f"The deconvnet cannot invert layer '{path}': it needs channels_last data.")
    if exact_conv and layer.groups != 1:
        raise ValueError(f"The deconvnet cannot invert layer '{path}': grouped convolutions are not supported.")


def deconvnet_path(graph, layer):
    """The layers from an image input up to ``layer``, in forward order, that a deconvnet inverts.

    Args:
        graph: the model's `ModelGraph`.
        layer: path or unique name of the last layer.

    Returns:
        ``(input name, [layer paths])``: the name of the model input the path starts at, and the
        layers of the path, the first one fed by that input, the last one ``layer``.

    Raises:
        ValueError: naming the first layer on the way down that the deconvnet cannot invert.
    """
    path = graph.find(layer)
    operation = graph.layers[path]
    if isinstance(operation, keras.Model):
        raise ValueError(f"Choose a layer inside the nested model '{path}', not the model itself.")
    chain = []
    while True:
        tensors = _input_tensors(operation, path)
        if len(tensors) != 1:
            raise ValueError(f"The deconvnet cannot invert layer '{path}' ({type(operation).__name__}): it joins "
                             f"{len(tensors)} inputs, and the deconvnet follows a single path to the image.")
        _check_invertible(operation, path)
        chain.append(path)
        operation, path = _producer(graph, tensors[0], path)
        if operation is None:
            return path, chain[::-1]


def deepest_layer(graph):
    """The path of the last convolution or max-pooling layer (in model order) that a deconvnet can reach."""
    for path in reversed(graph.paths_of((keras.layers.Conv2D, keras.layers.MaxPooling2D))):
        try:
            deconvnet_path(graph, path)
        except ValueError:
            continue
        return path
    raise ValueError(f"Model '{graph.model.name}' has no convolution or max-pooling layer that a deconvnet can "
                     "reach from an image input.")


def _producer(graph, tensor, consumer):
    """The layer that computes ``tensor`` (an input of layer ``consumer``) and its path.

    Steps out of a nested model at its input and into a nested model at its output. Returns
    ``(None, input name)`` at an input of the outer model.
    """
    operation = tensor._keras_history.operation
    prefix = consumer.rpartition("/")[0]
    while isinstance(operation, keras.layers.InputLayer):
        if not prefix:
            return None, operation.name
        model = graph.layers[prefix]
        tensors = _input_tensors(model, prefix)
        if len(tensors) != 1:
            raise ValueError(f"The deconvnet cannot follow nested model '{prefix}': it has {len(tensors)} inputs.")
        operation, prefix = tensors[0]._keras_history.operation, prefix.rpartition("/")[0]
    path = f"{prefix}/{operation.name}" if prefix else operation.name
    while isinstance(operation, keras.Model):
        functional = operation._functional if isinstance(operation, keras.Sequential) else operation
        outputs = functional.outputs if functional is not None else [operation.layers[-1].output]
        if len(outputs) != 1:
            raise ValueError(f"The deconvnet cannot follow nested model '{path}': it has {len(outputs)} outputs.")
        operation = outputs[0]._keras_history.operation
        path = f"{path}/{operation.name}"
    return operation, path


def unpool(layer, signal, pool_input, pool_output):
    """Put each value of ``signal`` (shaped like the output of the ``MaxPooling2D`` ``layer``) at its switch.

    The switches are the positions of the maxima of the pooling windows in ``pool_input``, found by
    comparison with ``pool_output`` (the first maximum on ties); where windows overlap, the values
    routed to one position add up. Every other position is zero.
    """
    pool_size, strides = tuple(layer.pool_size), tuple(layer.strides)
    if pool_size == strides:
        return MaxUnpooling2D(pool_size, padding=layer.padding, dtype="float32")([signal, pool_input, pool_output])
    return tf.raw_ops.MaxPoolGrad(orig_input=pool_input, orig_output=pool_output, grad=signal,
                                  ksize=(1, *pool_size, 1), strides=(1, *strides, 1), padding=layer.padding.upper())


def _batch_norm_scale(layer):
    scale = tf.math.rsqrt(tf.cast(layer.moving_variance, tf.float32) + layer.epsilon)
    if layer.scale:
        scale *= tf.cast(layer.gamma, tf.float32)
    return scale


def _invert(layer, signal, layer_input, layer_output):
    """The deconvnet's step down through ``layer``: from a reconstruction of its output to one of its input."""
    if isinstance(layer, keras.layers.Conv2D):
        if layer.activation is not keras.activations.linear:
            signal = tf.nn.relu(signal)
        shape = tf.concat([tf.shape(signal)[:1], tf.shape(layer_input)[1:]], axis=0)
        return tf.nn.conv2d_transpose(signal, tf.cast(layer.kernel, tf.float32), shape,
                                      strides=(1, *layer.strides, 1), padding=layer.padding.upper(),
                                      dilations=(1, *layer.dilation_rate, 1))
    if isinstance(layer, keras.layers.MaxPooling2D):
        return unpool(layer, signal, layer_input, layer_output)
    if isinstance(layer, _ACTIVATIONS):
        return tf.nn.relu(signal)
    if isinstance(layer, keras.layers.BatchNormalization):
        if layer.axis not in (-1, len(signal.shape) - 1):
            raise ValueError(f"The deconvnet cannot invert '{layer.name}': it normalises axis {layer.axis}, "
                             "not the channels.")
        return signal * _batch_norm_scale(layer)
    if isinstance(layer, keras.layers.Rescaling):
        return signal * tf.cast(layer.scale, tf.float32)
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        return signal[:, top:top + layer_input.shape[1], left:left + layer_input.shape[2]]
    return signal  # identity-like


def keep_maximum(feature_maps, channels):
    """Feature maps with every entry zeroed but the maximum of the chosen channel, one per row.

    Args:
        feature_maps: `(batch, h, w, c)` activations.
        channels: `(batch,)` the channel to keep for each row.

    Returns:
        A tensor shaped like ``feature_maps``: row ``i`` holds only the largest entry of its
        channel ``channels[i]`` (the first one in row-major order on ties), at its position.
    """
    maps = tf.gather(feature_maps, channels, axis=3, batch_dims=1)  # (batch, h, w)
    flat = tf.reshape(maps, (tf.shape(maps)[0], -1))
    hot = tf.one_hot(tf.argmax(flat, axis=1), tf.shape(flat)[1], dtype=feature_maps.dtype)
    single = tf.reshape(hot * flat, tf.shape(maps))
    return single[..., None] * tf.one_hot(channels, tf.shape(feature_maps)[3], dtype=feature_maps.dtype)[:, None, None]


class Deconvnet:
    """Project the strongest feature maps of a layer back to the input with a Zeiler-Fergus deconvnet.

    See the module docstring for how each layer is inverted and which layers can be.

    Args:
        model: a built Keras model (Functional, Sequential, nested, multi-input or multi-output).
        layer: path or unique name of the convolution or pooling layer whose feature maps to project;
            by default the deepest one it can reach (`deepest_layer`).

    Call arguments:
        inputs: a batch in the form the model takes (an array, or a dict of named inputs).
        top_n: how many feature maps to reconstruct per image: the ``top_n`` with the largest
            maximum activation, strongest first.

    Returns:
        ``(reconstructions, feature_maps)``: float32 `(batch, top_n, height, width, channels)` in
        the space of the image input (``input_name``), and int `(batch, top_n)` channel indices.
        Reconstruction ``[i, k]`` keeps only the largest entry of feature map ``feature_maps[i, k]``
        of image ``i`` and zeroes every other activation of the layer.

    Example:

    ```python
    deconvnet = Deconvnet(model, "pool2")
    reconstructions, indices = deconvnet(images, top_n=9)
    ```
    """

    def __init__(self, model, layer=None):
        self.graph = ModelGraph(model)
        self.input_name, self.path = deconvnet_path(self.graph, deepest_layer(self.graph) if layer is None else layer)
        self.layer = self.path[-1]
        self._project = RecordingFunction(self._reconstruct)

    def __call__(self, inputs, top_n=9):
        channels = self.graph.layers[self.layer].output.shape[-1]
        if not 1 <= top_n <= channels:
            raise ValueError(f"top_n must be between 1 and the {channels} feature maps of '{self.layer}'; "
                             f"received {top_n}.")
        inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
        reconstructions, indices = self._project(inputs, tf.constant(top_n))
        return np.asarray(reconstructions, np.float32), np.asarray(indices)

    def _image(self, inputs):
        if isinstance(inputs, dict):
            return inputs[self.input_name]
        if len(self.graph.model.inputs) == 1:
            return inputs
        names = [tensor._keras_history.operation.name for tensor in self.graph.model.inputs]
        return inputs[names.index(self.input_name)]

    def _forward(self, image):
        """The output of every layer of the path, each layer run in inference mode on the previous one's output.

        Only the path is traced, not the whole model: every layer gets its input in the dtype that the
        model feeds it (the model's and nested models' inputs convert to their own dtypes).
        """
        outputs = []
        for path in self.path:
            layer = self.graph.layers[path]
            image = tf.cast(image, _input_tensors(layer, path)[0].dtype)
            image = layer(image, **({"training": False} if layer._call_has_training_arg else {}))
            outputs.append(image)
        return outputs

    def _reconstruct(self, inputs, top_n):
        image = self._image(inputs)
        outputs = [tf.cast(value, tf.float32) for value in [image, *self._forward(image)]]  # project in float32
        features = outputs[-1]
        if features.shape.rank != 4:
            raise ValueError(f"The deconvnet projects feature maps (batch, h, w, c); '{self.layer}' outputs "
                             f"{features.shape}.")
        strongest = tf.math.top_k(tf.reduce_max(features, axis=(1, 2)), k=top_n).indices  # (batch, top_n)
        batch = tf.shape(features)[0]

        def repeat(tensor):  # every image top_n times: row i * top_n + k
            return tf.repeat(tensor, top_n, axis=0)

        signal = keep_maximum(repeat(features), tf.reshape(strongest, (-1,)))
        for depth in range(len(self.path) - 1, -1, -1):
            layer = self.graph.layers[self.path[depth]]
            layer_input, layer_output = outputs[depth], outputs[depth + 1]
            if isinstance(layer, keras.layers.MaxPooling2D):  # the switches of each image, for its top_n rows
                layer_input, layer_output = repeat(layer_input), repeat(layer_output)
            signal = _invert(layer, signal, layer_input, layer_output)
        shape = tf.concat([[batch, top_n], tf.shape(signal)[1:]], axis=0)
        return tf.reshape(signal, shape), strongest


def deconvolution(model, inputs, layer=None, top_n=9):
    """Deconvnet reconstructions of the ``top_n`` strongest feature maps of ``layer`` for each input.

    A one-off `Deconvnet(model, layer)(inputs, top_n)`; keep a `Deconvnet` to project repeatedly.
    ``layer`` is by default the deepest convolution or max-pooling layer the deconvnet can reach.

    Returns:
        ``(reconstructions (batch, top_n, h, w, c), feature map indices (batch, top_n))``.
    """
    return Deconvnet(model, layer)(inputs, top_n)
