"""The Grad-CAM that the ``explain`` signature serves: kerasfg.vis's, in the serving graph.

The served maps are those of `kerasfg.vis.explain(model, images, "gradcam")` and of the TensorBoard
recordings: the same default layer (`kerasfg.vis.introspect.feature_layer`), the same class scores (the
head's score before its softmax or sigmoid; for a single sigmoid unit, the score of the predicted side) and
the same Grad-CAM (`kerasfg.vis.cam.gradient_cam`), each map divided by its maximum so that it lies in
0..1. The model runs through `kerasfg.vis.introspect.ModelGraph`, which reads a model's graph for export
too (output names, the layer that computes an output).
"""

from __future__ import annotations

import tensorflow as tf

from kerasfg.vis import cam
from kerasfg.vis.explain import Explainer
from kerasfg.vis.introspect import ModelGraph, feature_layer, output_activation, output_names

__all__ = ["GradcamProbe", "output_names"]


class GradcamProbe:
    """Grad-CAM of the top class of each head, computed in the serving graph.

    Args:
        model: the exported model.
        heads: the classification heads.
        image_size: ``(height, width)`` the maps are upsampled to.
        layer: the name or path of the layer whose activations Grad-CAM weighs; by default the layer
            `kerasfg.vis.introspect.feature_layer` gives for the first head.

    Attributes:
        layer: the path of that layer.

    Raises:
        ValueError: naming the layer, when it has no 4-D output or none is found.
    """

    def __init__(self, model, heads, image_size, layer=None):
        self.graph = ModelGraph(model)
        self.heads = list(heads)
        self.image_size = tuple(image_size)
        self.layer = feature_layer(self.graph, self.heads[0], layer)
        self.activations = {head: output_activation(model, head) for head in self.heads}

    def score_kinds(self):
        """``{head: "logit" | "output value"}``: what each head's Grad-CAM differentiates (for the metadata)."""
        return {head: "logit" if self.activations[head] else "output value" for head in self.heads}

    def __call__(self, inputs, top_classes):
        """The model's outputs and ``{head: (B, H, W) Grad-CAM in 0..1}``.

        Args:
            inputs: the model's inputs, arranged as the model takes them (the image and the extra inputs).
            top_classes: ``top_classes(outputs)`` gives ``{head: int32 class per image}``.
        """
        with tf.GradientTape(persistent=len(self.heads) > 1) as tape:
            run = self.graph.run(inputs, taps=[self.layer], logits=True)
            outputs = {name: _squashed(value, self.activations.get(name)) for name, value in run.outputs.items()}
            classes = top_classes(outputs)
            scores = {head: tf.reduce_sum(Explainer.class_scores(tf.cast(run.outputs[head], tf.float32),
                                                                 classes[head]))
                      for head in self.heads}
        features = run.taps[self.layer]
        size = tf.zeros([1, *self.image_size, 1])  # the maps' size
        maps = {}
        for head in self.heads:
            gradcam = cam.gradient_cam("gradcam", features, tape.gradient(scores[head], features), size)
            maps[head] = tf.math.divide_no_nan(gradcam, tf.reduce_max(gradcam, axis=(1, 2), keepdims=True))
        return outputs, maps


def _squashed(scores, activation):
    """An output from its scores before the final activation (``"softmax"``, ``"sigmoid"``, ...) or as it is."""
    if activation is None:
        return scores
    return {"softmax": tf.nn.softmax, "sigmoid": tf.sigmoid, "log_softmax": tf.nn.log_softmax}[activation](scores)
