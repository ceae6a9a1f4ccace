"""The penultimate features of a model's output: what its final classifier layer sees.

The features of a classifier's last hidden layer are its embedding of the input; in TensorBoard's
projector, how they cluster by class shows what the network has learnt to tell apart. They are found
from the model's own graph: the layer that feeds the layer computing the chosen output (a separate
final activation or softmax layer is looked through), read with a `kerasfg.vis.ModelGraph` tap.
"""

import keras
import numpy as np

from kerasfg.vis.introspect import ModelGraph, output_names, output_tensor, producer

_STANDALONE_ACTIVATIONS = (keras.layers.Activation, keras.layers.Softmax, keras.layers.ReLU)


def penultimate_layer(model, output=None):
    """The path (for `kerasfg.vis.ModelGraph` taps) of the layer whose output feeds ``output``'s layer.

    Args:
        model: a built Keras model: Functional or Sequential, with one or several outputs; the output
            layer may sit inside a nested model.
        output: the output's name; the first output by default.

    Returns:
        The layer path, such as ``"dropout"`` or ``"head/hidden"``.
    """
    output = output or output_names(model)[0]
    found = producer(output_tensor(model, output))
    while found is not None and isinstance(found.layer, _STANDALONE_ACTIVATIONS):
        found = producer(found.inputs[0], found.scopes)
    feeding = None if found is None else producer(found.inputs[0], found.scopes)
    if feeding is None:
        name = "an input" if found is None else f"the layer '{found.path}'"
        raise ValueError(f"{name} computing output {output!r} of model '{model.name}' reads the inputs of its "
                         "model directly; there are no penultimate features to read.")
    return feeding.path


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
