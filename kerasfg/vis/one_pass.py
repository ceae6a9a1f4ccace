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
import functools

import keras
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

    def predicted(self, output):
        """The class that each example's logits of ``output`` predict, int32 `(n,)` (the top score; for a
        single sigmoid unit, 1 where its score is positive), as `chosen_classes` picks it."""
        return np.asarray(chosen_classes(tf.constant(self.logits[output]), -1))

    def first(self, count):
        """The result for the first ``count`` examples of the batch (all of them when None)."""
        cut = slice(None, count)
        return PassResult({key: value[cut] for key, value in self.maps.items()},
                          {key: value[cut] for key, value in self.logits.items()},
                          {key: value[cut] for key, value in self.taps.items()},
                          {path: {name: value[cut] for name, value in maps.items()}
                           for path, maps in self.attention.items()})


def chosen_classes(logits, classes):
    """``classes`` with each negative entry replaced by the image's top-scoring class (for a single sigmoid
    unit, 1 where its score is positive)."""
    if logits.shape[-1] == 1:
        predicted = tf.cast(logits[:, 0] > 0, tf.int32)
    else:
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.where(classes < 0, predicted, tf.cast(classes, tf.int32))


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


def run_one_pass(explainer, inputs, explanations=(), *, taps=(), attention=(), classes=None, explained=None,
                 weights=None):
    """Compute explanations, layer outputs and attention maps of a batch in one compiled pass.

    The compiled function is kept by ``explainer`` for this set of explanations, taps and attention
    layers, so a repeated call runs without tracing again. A call that explains its examples (it asks
    for explanations or attention maps) also runs a kept function that computes more than it asks for
    (`covering_pass`), rather than tracing one of its own: for example the faithfulness curves run the
    pass that the recording callbacks traced.

    With ``weights``, the pass computes what the model would with those values in place of its weights,
    which it leaves as they are (the values are arguments of the compiled function, read through a
    `keras.StatelessScope`): the recording callbacks' shared pass computes with a copy of the weights this way,
    and the sanity checks explain randomized models with the same function, while other threads read, save or
    export the model. It is a function of its own, traced once for any values, which covers (as above) calls
    with weights given and, given the values of the model's own, calls without.

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
        weights: values of every weight of the model (``model.weights``, in that order) to compute with,
            instead of the model's own; None: the model's own.

    Returns:
        A `PassResult`; its maps and attention maps cover the explained examples.
    """
    explanations = tuple(sorted(set(explanations)))
    taps, attention = tuple(sorted(set(taps))), tuple(sorted(set(attention)))
    image, rest = explainer.split_inputs(inputs)
    count = image.shape[0]
    explains = bool(explanations or attention)
    explained = count if explained is None or not explains else min(explained, count)
    key = covering_pass(explainer, ("one_pass" if weights is None else "one_pass_with_weights", explanations, taps,
                                    attention, explained < count))
    kind, computed, _, kept_attention, forward_more = key
    if kind == "one_pass_with_weights" and weights is None:  # covered by a function that takes the weights
        weights = own_weights(explainer.model)
    rows = slice(None)  # the examples of the batch run that are the caller's
    if (computed or kept_attention) and not explains:
        # A covering pass explains its first examples: the first example goes once more in front, explained and
        # dropped, and the caller's examples all run forward only.
        image, rest, explained, rows = *_with_copy(image, rest, 0), 1, slice(1, None)
    elif forward_more and explained == count:
        # A covering pass runs its last examples forward only, and the model cannot run an empty batch: the last
        # example goes once more, forward only, and is dropped.
        image, rest, rows = *_with_copy(image, rest, -1), slice(None, count)
    classes = classes or {}
    classes = {output: explainer.classes_tensor(classes.get(output), explained)
               for output in sorted({e.output for e in computed})}
    build = functools.partial(one_pass, explainer, computed, key[2], key[3], forward_more)
    if weights is None:
        result = explainer.compiled(key, build)(image, rest, classes, tf.constant(explained))
    else:
        variables = explainer.model.weights
        if len(weights) != len(variables):
            raise ValueError(f"weights must hold a value for each of the {len(variables)} weights of model "
                             f"'{explainer.model.name}' (model.weights); received {len(weights)}.")
        compiled = explainer.compiled(key, lambda: with_weights(build(), variables))
        values = [tf.convert_to_tensor(value) for value in weights]
        result = compiled(image, rest, classes, tf.constant(explained), values)
    return PassResult(
        maps={e: np.asarray(result["maps"][e.key], np.float32) for e in explanations},
        logits={name: np.asarray(value[rows], np.float32) for name, value in result["logits"].items()},
        taps={path: np.asarray(result["taps"][path][rows], np.float32) for path in taps},
        attention={path: {name: np.asarray(value, np.float32) for name, value in result["attention"][path].items()}
                   for path in attention})


def own_weights(model):
    """The model's own weights as `run_one_pass` takes ``weights``: its variables, read by the call, not copied."""
    return [variable.value for variable in model.weights]


def with_weights(function, variables):
    """``function`` of the model's tensors, made a function of the values of ``variables`` too (a last
    argument, a list): it computes with them in place of the variables' own (`keras.StatelessScope`)."""
    def compute(*args):
        *args, values = args
        shaped = [tf.reshape(value, variable.shape) for value, variable in zip(values, variables)]  # any batch axis
        with keras.StatelessScope(state_mapping=list(zip(variables, shaped))):
            return function(*args)

    return compute


def _with_copy(image, rest, index):
    """The batch with a copy of its example ``index`` (0: in front, -1: at the end)."""
    def add(value):
        copy = value[index:][:1]
        return tf.concat([copy, value] if index == 0 else [value, copy], 0)

    return add(image), {name: add(value) for name, value in rest.items()}


def covering_pass(explainer, key):
    """The key of a one-pass function that ``explainer`` keeps and that computes all that ``key`` asks for, or
    ``key`` itself when it keeps none (or keeps ``key``). A function that computes with given weights also covers
    calls with the model's own (`run_one_pass` then gives it their values), preferring one of the model's own; a
    function with the model's own weights covers only calls with those.

    A kept function covers a call that explains examples when it computes the same explanations or more,
    taps and attention maps, and runs examples forward only if the call does. Its extra explanations and
    maps are computed on the examples that the call explains anyway, from the same backward pass, so
    running it costs little more than a function of the call's own would, and saves tracing and
    instantiating one (a large part of what a recording costs). A call that explains nothing (logits
    and taps alone) is covered by a kept function with those taps that runs examples forward only:
    `run_one_pass` lets it explain one example and drop it.
    """
    kind, explanations, taps, attention, forward_more = key
    explains = bool(explanations or attention)
    kept = explainer.kept(kind) + (explainer.kept("one_pass_with_weights") if kind == "one_pass" else [])
    covering = [other for other in kept if set(explanations) <= set(other[1]) and set(taps) <= set(other[2])
                and set(attention) <= set(other[3]) and other[4] >= forward_more and (explains or other[4])]
    return key if key in kept or not covering else covering[0]
