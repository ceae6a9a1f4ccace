"""The penultimate features of a model's output: what its final classifier layer sees.

The features of a classifier's last hidden layer are its embedding of the input; in TensorBoard's
projector, how they cluster by class shows what the network has learnt to tell apart. They are found
from the model's own graph: the layer that feeds the layer computing the chosen output (a separate
final activation or softmax layer is looked through), read with a `kerasfg.vis.ModelGraph` tap.
"""

import keras
import numpy as np

from kerasfg.vis.graph import ModelGraph, _functional_of, _is_model, output_names

_STANDALONE_ACTIVATIONS = (keras.layers.Activation, keras.layers.Softmax, keras.layers.ReLU)


def _producer(tensor):
    return tensor._keras_history.operation


def _output_tensor(model, output):
    functional = _functional_of(model)
    structure = functional._outputs_struct
    if isinstance(structure, dict):
        return structure[output]
    return keras.tree.flatten(functional.outputs)[output_names(model).index(output)]


def _last_layer(model, prefix):
    """``(path prefix, layer)`` of the layer that computes a single-output (possibly nested) model's output."""
    functional = _functional_of(model)
    layer = model.layers[-1] if functional is None else _producer(keras.tree.flatten(functional.outputs)[0])
    if _is_model(layer):
        return _last_layer(layer, f"{prefix}{layer.name}/")
    return prefix, layer


def penultimate_layer(model, output=None):
    """The path (for `kerasfg.vis.ModelGraph` taps) of the layer whose output feeds ``output``'s layer.

    Args:
        model: a built Keras model: Functional or Sequential, with one or several outputs; the output
            layer may sit inside a nested model.
        output: the output's name; the first output by default.

    Returns:
        The layer path, such as ``"dropout"`` or ``"head/hidden"``.
    """
    names = output_names(model)
    output = output or names[0]
    if output not in names:
        raise ValueError(f"Model '{model.name}' has no output {output!r}; its outputs are {names}.")
    functional = _functional_of(model)
    if functional is None:
        prefix, layer = _last_layer(model, "")
    else:
        layer = _producer(_output_tensor(functional, output))
        prefix, layer = _last_layer(layer, f"{layer.name}/") if _is_model(layer) else ("", layer)
    while isinstance(layer, _STANDALONE_ACTIVATIONS):
        layer = _producer(layer.input)
    feeding = _producer(layer.input)
    if isinstance(feeding, keras.layers.InputLayer):
        raise ValueError(f"The layer '{layer.name}' computing output {output!r} of model '{model.name}' reads "
                         "the inputs of its model directly; there are no penultimate features to read.")
    return prefix + feeding.name


def penultimate_features(model, inputs, output=None):
    """The penultimate features of ``output`` and its predicted classes, for a batch of inputs.

    Args:
        model: a built Keras model.
        inputs: a batch in the form the model takes.
        output: the output's name; the first output by default.

    Returns:
        ``(features, predicted)``: float32 `(n, d)` (feature maps are flattened) and int `(n,)`.
    """
    output = output or output_names(model)[0]
    path = penultimate_layer(model, output)
    outputs, taps = ModelGraph(model)(inputs, taps=[path])
    features = keras.ops.convert_to_numpy(taps[path]).astype(np.float32)
    predicted = keras.ops.convert_to_numpy(outputs[output]).argmax(axis=-1)
    return features.reshape(len(features), -1), predicted
