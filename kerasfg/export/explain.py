"""What export reads from a Keras graph, and the Grad-CAM that the ``explain`` signature serves.

This is the only module of :mod:`kerasfg.export` that touches Keras internals (``_keras_history``: the layer
that produced a tensor). Issue 17 moves these lookups and the served Grad-CAM onto
``kerasfg.vis.introspect``, the package's one module that knows how Keras stores a graph.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def producing_layer(tensor):
    """The layer whose output ``tensor`` (a symbolic KerasTensor of a functional model) is."""
    return tensor._keras_history.operation


def output_names(model):
    """Output names of a functional or Sequential model (Sequential has no ``output_names`` in Keras 3)."""
    names = getattr(model, "output_names", None)
    return list(names) if names else [producing_layer(t).name for t in model.outputs]


def last_feature_layer(model, outputs):
    """The last layer with a spatial ``(batch, height, width, channels)`` output that is not a model output
    (``outputs``: the output tensors), or None: the layer Grad-CAM weighs by default."""
    output_layers = {producing_layer(t) for t in outputs}
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer) or layer in output_layers:
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # shared layers have several outputs
            continue
        if len(shape) == 4 and (shape[1] is None or shape[1] > 1):
            return layer
    return None


def logit_layers(outputs, heads):
    """Heads whose logits Grad-CAM can differentiate, as in the paper: produced by a ``Dense`` layer with a
    softmax/sigmoid activation (logits = its pre-activation) or by a ``Softmax`` layer or softmax/sigmoid
    ``Activation`` layer (logits = its input). Other heads use their output values.

    Args:
        outputs: ``{output name: output tensor}`` of the model.
        heads: the names of the classification heads.
    """
    squash = (keras.activations.softmax, keras.activations.sigmoid)
    found = {}
    for head in heads:
        layer = producing_layer(outputs[head])
        activation = getattr(layer, "activation", None)
        if isinstance(layer, keras.layers.Softmax) or (
                isinstance(layer, (keras.layers.Dense, keras.layers.Activation)) and activation in squash):
            found[head] = layer
    return found


class GradcamProbe:
    """Grad-CAM of the top class of each head, computed in the serving graph.

    Args:
        model: the exported model.
        layer: the layer whose activations Grad-CAM weighs.
        inputs, outputs: the model's input structure and ``{output name: output tensor}``.
        heads: the classification heads.
        image_size: ``(height, width)`` the maps are upsampled to.
    """

    def __init__(self, model, layer, inputs, outputs, heads, image_size):
        self.layer = layer
        self.heads = list(heads)
        self.image_size = tuple(image_size)
        self.logit_layers = logit_layers(outputs, heads)  # head -> its softmax/sigmoid layer
        features = {head: found.input for head, found in self.logit_layers.items()}
        self.model = keras.Model(inputs, [layer.output, dict(outputs), features], name=f"{model.name}_gradcam_probe")

    def score_kinds(self):
        """``{head: "logit" | "output value"}``: what each head's Grad-CAM differentiates (for the metadata)."""
        return {head: "logit" if head in self.logit_layers else "output value" for head in self.heads}

    def __call__(self, run, top_classes):
        """The model's outputs and ``{head: (B, H, W) Grad-CAM in 0..1}``.

        Args:
            run: ``run(keras_model)`` calls a model on the images (and extra inputs) being explained.
            top_classes: ``top_classes(outputs)`` gives ``{head: int32 class per image}``.
        """
        with tf.GradientTape(persistent=len(self.heads) > 1) as tape:
            activations, outputs, features = run(self.model)
            classes = top_classes(outputs)
            scores = {head: self._score(head, outputs, features, classes[head]) for head in self.heads}
        maps = {head: gradcam_map(activations, tape.gradient(scores[head], activations), self.image_size)
                for head in self.heads}
        return outputs, maps

    def _score(self, head, outputs, features, cls):
        layer = self.logit_layers.get(head)
        if isinstance(layer, keras.layers.Dense):  # y^c before the softmax/sigmoid (the paper)
            x = tf.cast(features[head], layer.kernel.dtype)
            y = tf.matmul(x, layer.kernel) + (layer.bias if layer.use_bias else 0.0)
            y = tf.cast(y, tf.float32)
        elif layer is not None:  # a Softmax/Activation layer: its input are the logits
            y = tf.cast(features[head], tf.float32)
        else:  # an output of unknown structure: its probability
            y = tf.cast(outputs[head], tf.float32)
        if y.shape[-1] == 1:  # one sigmoid unit: the score of the predicted side
            side = y[:, 0] if layer is not None else y[:, 0] - 0.5
            return tf.reduce_sum(tf.where(cls > 0, side, -side))
        return tf.reduce_sum(tf.gather(y, cls, batch_dims=1))


def gradcam_map(activations, grads, image_size):
    """Grad-CAM (Selvaraju et al., 2017): ReLU of the gradient-weighted channel sum, upsampled, in 0..1.

    ``activations`` and ``grads`` are ``(B, h, w, K)``; returns ``(B, H, W)`` float32, each map divided by its
    maximum (all zeros where the map is zero everywhere).
    """
    activations = tf.cast(activations, tf.float32)
    grads = tf.cast(grads, tf.float32)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, image_size, method="bilinear")[..., 0]
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(cam, peak)
