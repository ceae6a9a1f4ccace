"""Several explanations, layer outputs and attention maps of a batch from one forward and backward pass.

Saliency, CAM, Grad-CAM, Grad-CAM++ and Layer-CAM of a class all need the same forward pass and, for
the gradient methods, the same backward pass: the class score's gradients with respect to the image
and to a layer's feature maps come from one tape. Guided backpropagation comes from the same backward
pass: the batch holds the explained images twice, and `kerasfg.vis.gradients.GuidableRelu`, in place of
every ReLU, guides the gradient of the second copy.
`one_pass` builds that function for any set of explanations, tapped layers and attention layers, so
that the recording callbacks of a model trace and run one function per recording rather than one
per method, and `kerasfg.vis.Explainer` uses it for each of these methods alone.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from kerasfg.vis import cam, gradients

ONE_PASS_METHODS = ("saliency", "guided_backprop", "cam", "gradcam", "gradcam++", "layercam")
"""The methods computed from one forward and backward pass (`one_pass`)."""


@dataclasses.dataclass(frozen=True, order=True)
class Explanation:
    """One heat map to compute: a method of `ONE_PASS_METHODS` for an output, on a layer's feature maps
    (the layer path; None for saliency and guided backpropagation, which explain the image)."""

    method: str
    output: str
    layer: str | None = None

    @property
    def key(self):
        """``"method|output|layer"``, its key among the compiled function's outputs."""
        return f"{self.method}|{self.output}|{self.layer or ''}"


@dataclasses.dataclass
class PassResult:
    """What `one_pass` computed for a batch, as NumPy arrays.

    Attributes:
        maps: ``{Explanation: float32 (n, height, width)}`` at the image resolution.
        logits: ``{output name: float32 (n, classes)}``, the scores before the softmax or sigmoid.
        taps: ``{layer path: float32 array}``, the outputs of the tapped layers.
        attention: ``{layer path: {map name: float32 array}}``, the maps of the attention layers.
    """

    maps: dict
    logits: dict
    taps: dict
    attention: dict

    def first(self, count):
        """The result for the first ``count`` examples of the batch (all of them when None)."""
        cut = slice(None, count)
        return PassResult({key: value[cut] for key, value in self.maps.items()},
                          {key: value[cut] for key, value in self.logits.items()},
                          {key: value[cut] for key, value in self.taps.items()},
                          {path: {name: value[cut] for name, value in maps.items()}
                           for path, maps in self.attention.items()})


def one_pass(explainer, explanations=(), taps=(), attention=(), forward_more=False):
    """A function ``(image, rest, classes) -> dict of tensors`` that computes everything asked for.

    Args:
        explainer: the `kerasfg.vis.Explainer` of the model.
        explanations: `Explanation`s, with their layers resolved to paths (see
            `kerasfg.vis.Explainer.layer_path`).
        taps: paths of the layers whose outputs to return.
        attention: paths of the attention layers whose maps to return.
        forward_more: whether the batch has more examples than are explained, whose logits and taps are
            computed by a forward pass only.

    The function takes the image tensor, the model's other inputs and ``{output: int32 (n,)}`` classes
    to explain for each explained output (-1: the image's predicted class), and returns
    ``{"maps": {Explanation.key: map}, "logits": ..., "taps": ..., "attention": ...}``; the maps and
    the attention maps are of the first ``n`` examples, where ``n`` is the length of the classes (the
    number of examples explained), the logits and taps of all examples. See `run_one_pass` for the
    NumPy form.
    """
    explanations = sorted(set(explanations))
    cam_heads = {e.output: cam.gap_head(explainer.graph, e.output)[1] for e in explanations if e.method == "cam"}
    features = sorted({e.layer for e in explanations if e.layer is not None})
    copies = 2 if any(e.method == "guided_backprop" for e in explanations) else 1

    def compute(image, rest, classes, explained):
        head = image[:explained]
        # With guided backpropagation, the explained examples go twice; the second copy's gradient is guided.
        batch = tf.concat([head] * copies, 0)
        batch_rest = {name: tf.concat([value[:explained]] * copies, 0) for name, value in rest.items()}
        relu = gradients.GuidableRelu(tf.range(copies * explained) >= explained) if copies > 1 else None
        first = slice(None, explained)
        maps = {}
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(batch)
            run = explainer.graph.run(explainer.model_inputs(batch, batch_rest), taps=sorted({*taps, *features}),
                                      attention=attention, logits=True, relu=relu)
            both = {name: tf.cast(value, tf.float32) for name, value in run.outputs.items()}
            chosen = {output: explainer.chosen_classes(both[output][first], classes[output]) for output in classes}
            scores = {output: explainer.class_scores(both[output], tf.concat([chosen[output]] * copies, 0))
                      for output in classes}
        for output in sorted({e.output for e in explanations}):
            wanted = [e for e in explanations if e.output == output]
            image_needed = any(e.method in ("saliency", "guided_backprop") for e in wanted)
            layers = sorted({e.layer for e in wanted if e.method in cam.GRADIENT_CAMS})
            targets = [batch] * image_needed + [run.taps[layer] for layer in layers]
            grads = dict(zip([None] * image_needed + layers, tape.gradient(scores[output], targets) if targets else []))
            for e in wanted:
                if e.method == "saliency":
                    maps[e.key] = gradients.gradient_map(grads[None][first])
                elif e.method == "guided_backprop":
                    maps[e.key] = gradients.gradient_map(grads[None][explained:])
                elif e.method == "cam":
                    maps[e.key] = cam.class_activation_map(run.taps[e.layer][first], cam_heads[output],
                                                           chosen[output], head)
                else:
                    maps[e.key] = cam.gradient_cam(e.method, run.taps[e.layer][first], grads[e.layer][first], head)
        del tape
        logits = {name: value[first] for name, value in both.items()}
        tapped = {path: run.taps[path][first] for path in taps}
        attended = {path: {name: value[first] for name, value in layer_maps.items()}
                    for path, layer_maps in run.attention.items()}
        if forward_more:
            tail_rest = {name: value[explained:] for name, value in rest.items()}
            tail = explainer.graph.run(explainer.model_inputs(image[explained:], tail_rest), taps=taps, logits=True)
            logits = {name: tf.concat([value, tf.cast(tail.outputs[name], tf.float32)], 0)
                      for name, value in logits.items()}
            tapped = {path: tf.concat([value, tail.taps[path]], 0) for path, value in tapped.items()}
        return {"maps": maps, "logits": logits, "taps": tapped, "attention": attended}

    return compute


def run_one_pass(explainer, inputs, explanations=(), *, taps=(), attention=(), classes=None, explained=None):
    """Compute explanations, layer outputs and attention maps of a batch in one compiled pass.

    The compiled function is kept by ``explainer`` for this set of explanations, taps and attention
    layers, so a repeated call runs without tracing again.

    Args:
        explainer: the `kerasfg.vis.Explainer` of the model.
        inputs: the batch, in a form `kerasfg.vis.Explainer` accepts.
        explanations: `Explanation`s (layer paths resolved).
        taps: layer paths whose outputs to return.
        attention: attention layer paths whose maps to return.
        classes: ``{output: None, an int or one int per explained example}``, the class explained for
            each output; the predicted class by default.
        explained: how many of the first examples to explain and read attention maps of; all by
            default. The others run forward only, for their logits and taps, which costs a fraction of
            an explanation.

    Returns:
        A `PassResult`; its maps and attention maps cover the explained examples.
    """
    explanations = tuple(sorted(set(explanations)))
    taps, attention = tuple(sorted(set(taps))), tuple(sorted(set(attention)))
    image, rest = explainer.split_inputs(inputs)
    count = image.shape[0]
    explained = count if explained is None or not (explanations or attention) else min(explained, count)
    forward_more = explained < count
    classes = classes or {}
    classes = {output: explainer.classes_tensor(classes.get(output), explained)
               for output in sorted({e.output for e in explanations})}
    compiled = explainer.compiled(("one_pass", explanations, taps, attention, forward_more),
                                  lambda: one_pass(explainer, explanations, taps, attention, forward_more))
    result = compiled(image, rest, classes, tf.constant(explained))
    by_key = {e.key: e for e in explanations}
    return PassResult(
        maps={by_key[key]: np.asarray(value, np.float32) for key, value in result["maps"].items()},
        logits={name: np.asarray(value, np.float32) for name, value in result["logits"].items()},
        taps={path: np.asarray(value, np.float32) for path, value in result["taps"].items()},
        attention={path: {name: np.asarray(value, np.float32) for name, value in maps.items()}
                   for path, maps in result["attention"].items()})
