"""One entry point to every visual explanation: ``explain(model, inputs, "gradcam")``.

`Explainer` runs the methods of `kerasfg.vis.one_pass`, `kerasfg.vis.gradients` and `kerasfg.vis.cam`
on any model that `kerasfg.vis.ModelGraph` runs (Functional, Sequential, nested, multi-input,
multi-output), batched over the inputs, with one compiled function per method, layer and output (or per
set of them, see `kerasfg.vis.one_pass.run_one_pass`) that it keeps for later calls."""

import numpy as np
import tensorflow as tf

from kerasfg.vis import cam, gradients
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.introspect import ModelGraph, feature_layer, kept_with
from kerasfg.vis.one_pass import ONE_PASS_METHODS, Explanation, chosen_classes, run_one_pass

METHODS = ("cam", "gradcam", "gradcam++", "guided_backprop", "layercam", "saliency", "scorecam", "smoothgrad")
"""The names of the explanation methods. Those of `kerasfg.vis.one_pass.ONE_PASS_METHODS` are computed
by `kerasfg.vis.one_pass`; SmoothGrad and Score-CAM by `kerasfg.vis.gradients.smoothgrad` and
`kerasfg.vis.cam.scorecam`."""

_MULTI_PASS = {"scorecam": cam.scorecam, "smoothgrad": gradients.smoothgrad}

LAYER_METHODS = ("gradcam", "gradcam++", "layercam", "scorecam")
"""The methods that weigh the feature maps of a layer (``layer=`` chooses it)."""


def check_method(method, layer=None):
    """Raise a ValueError unless ``method`` is one of `METHODS` that takes ``layer`` (when given)."""
    if method not in METHODS:
        raise ValueError(f"Unknown explanation method {method!r}; choose one of {sorted(METHODS)}.")
    if layer is not None and method not in LAYER_METHODS:
        raise ValueError(f"Method {method!r} takes no layer; only {list(LAYER_METHODS)} do.")


class Explainer:
    """Explain a model's outputs with heat maps over its image input, keeping compiled functions.

    Args:
        model: a built Keras model whose image input has shape `(batch, height, width, channels)`.

    Call arguments:
        inputs: a batch: an array of images, or for a multi-input model a dict of named arrays (or a
            list in the order of ``model.inputs``) whose image input (the only 4-D input, or the one named
            ``"image"``: `kerasfg.vis.introspect.ModelInputs`) is what the maps explain.
        method: one of `METHODS`.
        layer: the layer (path or unique name) whose feature maps the CAM methods weigh; by default
            the last spatial layer before the head's global pooling
            (`kerasfg.vis.introspect.feature_layer`), inside nested models too.
        output: the output (head) to explain; the model's first output by default.
        classes: the class to explain: None (each image's predicted class), an int, or one int per
            image.
        **options: options of the method (``samples``, ``noise`` and ``seed`` for smoothgrad,
            ``max_channels``, ``batch_size`` and ``baseline`` for scorecam).

    Returns:
        float32 array `(n, height, width)`: one map per image at the input resolution.

    Example:

    ```python
    explainer = Explainer(model)
    maps = explainer({"image": images, "expression": expressions}, "gradcam", output="identity")
    ```
    """

    def __init__(self, model):
        self.model = model
        self.graph = ModelGraph(model)
        self.inputs = self.graph.inputs
        self._compiled = {}

    @property
    def image_name(self):
        """The image input's name for a multi-input model (which takes a dict); None for a single-input model
        (which takes the image array itself)."""
        return None if self.inputs.single else self.inputs.image_name

    def __call__(self, inputs, method, *, layer=None, output=None, classes=None, **options):
        check_method(method, layer)
        output = self.output_name(output)
        if method in ONE_PASS_METHODS:
            if options:
                raise ValueError(f"Method {method!r} takes no options; got {sorted(options)}.")
            explanation = self.explanation(method, output, layer)
            return run_one_pass(self, inputs, [explanation], classes={output: classes}).maps[explanation]
        image, rest = self.split_inputs(inputs)
        if method in LAYER_METHODS:
            options["layer"] = layer
        maps = _MULTI_PASS[method](self, image, rest, self.classes_tensor(classes, image.shape[0]), output=output,
                                   **options)
        return np.asarray(maps, np.float32)

    def maps_of(self, methods, inputs, *, output=None, classes=None, weights=None):
        """The maps of several methods for one batch: ``{name: float32 (n, height, width)}``.

        Args:
            methods: ``{name: method}``, each a method name of `METHODS` (those of
                `kerasfg.vis.one_pass.ONE_PASS_METHODS` are computed together, from one pass), a callable
                ``fn(model, inputs, *, output, classes) -> (n, h, w) maps`` or an array of maps already
                computed.
            inputs, output, classes: as when calling the explainer.
            weights: values of the model's weights (``model.weights``, in that order) to explain with, leaving
                the model's own as they are (see `kerasfg.vis.one_pass.run_one_pass`); then every method must
                be one of `ONE_PASS_METHODS` or an array (`explains_with_weights`).
        """
        if weights is not None and not self.explains_with_weights(methods):
            raise ValueError(f"Only the methods {list(ONE_PASS_METHODS)} explain with other weights than the "
                             f"model's; received {methods}.")
        for name, method in methods.items():
            if isinstance(method, str):
                check_method(method)
            elif not (callable(method) or isinstance(method, np.ndarray)):
                raise ValueError(f"Method {name!r} must be a method name of kerasfg.vis.explain, a callable "
                                 f"(model, inputs, *, output, classes) -> maps or an array of maps; got {method!r}.")
        output = self.output_name(output)
        one_pass = {name: self.explanation(method, output)
                    for name, method in methods.items() if isinstance(method, str) and method in ONE_PASS_METHODS}
        computed = run_one_pass(self, inputs, one_pass.values(), classes={output: classes},
                                weights=weights).maps if one_pass else {}
        maps = {}
        for name, method in methods.items():
            if name in one_pass:
                maps[name] = computed[one_pass[name]]
            elif isinstance(method, str):
                maps[name] = self(inputs, method, output=output, classes=classes)
            elif callable(method):
                maps[name] = method(self.model, inputs, output=output, classes=classes)
            else:
                maps[name] = method
        return maps

    @staticmethod
    def explains_with_weights(methods):
        """Whether `maps_of` computes all of ``methods`` with weights given (`ONE_PASS_METHODS` and arrays)."""
        return all(isinstance(method, np.ndarray) or (isinstance(method, str) and method in ONE_PASS_METHODS)
                   for method in methods.values())

    def output_name(self, output=None):
        """``output``, checked against the model's output names, or the first output's name."""
        if output is None:
            return self.graph.output_names[0]
        if output not in self.graph.output_names:
            raise ValueError(f"Model '{self.model.name}' has no output {output!r}; its outputs are "
                             f"{self.graph.output_names}.")
        return output

    def layer_path(self, method, output=None, layer=None):
        """The path of the layer whose feature maps ``method`` weighs for ``output``; None for the
        gradient methods, which explain the input directly."""
        if method == "cam":
            return cam.gap_head(self.graph, self.output_name(output))[0]
        if method in LAYER_METHODS:
            return feature_layer(self.graph, self.output_name(output), layer)
        return None

    def explanation(self, method, output=None, layer=None):
        """The `kerasfg.vis.one_pass.Explanation` of a one-pass method, with its output and layer resolved."""
        output = self.output_name(output)
        return Explanation(method, output, self.layer_path(method, output, layer))

    @classmethod
    def of(cls, model):
        """The `Explainer` that ``model``'s recording callbacks share, so that each method is compiled
        once per model rather than once per callback. It is kept with the model and lives as long
        as the model (`kerasfg.vis.introspect.kept_with`)."""
        return kept_with(model, cls)

    def compiled(self, key, build):
        """The compiled function of ``build()`` kept under ``key``, traced once for batches of any size
        (a `kerasfg.vis.compiled.RecordingFunction`)."""
        if key not in self._compiled:
            self._compiled[key] = RecordingFunction(build())
        return self._compiled[key]

    def kept(self, kind):
        """The keys of the compiled functions kept so far whose key starts with ``kind``, oldest first."""
        return [key for key in list(self._compiled) if key[0] == kind]  # a copy: other threads may add some

    def model_inputs(self, image, rest):
        """The model's inputs from the image and the other named inputs."""
        return self.inputs.join(image, rest)

    def logits(self, image, rest, output, *, taps=(), relu=None):
        """``(float32 scores before the softmax of output, {path: tapped tensor})``."""
        outputs, tapped = self.graph(self.model_inputs(image, rest), taps=taps, logits=True, relu=relu)
        return tf.cast(outputs[output], tf.float32), tapped

    chosen_classes = staticmethod(chosen_classes)

    @classmethod
    def class_scores(cls, logits, classes):
        """Each image's score of its class (`chosen_classes`); for a single sigmoid unit, the score of the
        chosen side (the score for class 1, its negative for class 0)."""
        chosen = cls.chosen_classes(logits, classes)
        if logits.shape[-1] == 1:
            return tf.where(chosen > 0, logits[:, 0], -logits[:, 0])
        return tf.gather(logits, chosen, batch_dims=1)

    @classmethod
    def class_probabilities(cls, logits, classes):
        """Each image's probability of its class: the softmax over the classes, or for a single sigmoid unit
        the sigmoid of its chosen side's score."""
        if logits.shape[-1] == 1:
            return tf.sigmoid(cls.class_scores(logits, classes))
        return tf.gather(tf.nn.softmax(logits, axis=-1), cls.chosen_classes(logits, classes), batch_dims=1)

    def split_inputs(self, inputs):
        """``(float32 image tensor, {name: tensor} of the other inputs)`` of a batch of inputs."""
        image, rest = self.inputs.split(inputs)
        image = tf.convert_to_tensor(np.asarray(image, np.float32))
        if image.shape.rank != 4:
            raise ValueError(f"Explanations need images of shape (batch, height, width, channels); got {image.shape}.")
        return image, {name: tf.convert_to_tensor(value) for name, value in rest.items()}

    @staticmethod
    def classes_tensor(classes, count):
        """The int32 `(count,)` tensor of classes to explain: -1 (the predicted class) for None, an int for
        every image, or one int per image."""
        if classes is None:
            classes = -1
        classes = np.broadcast_to(np.asarray(classes, np.int32), (count,)) if np.ndim(classes) == 0 \
            else np.asarray(classes, np.int32)
        if classes.shape != (count,):
            raise ValueError(f"classes must be None, an int or one int per image ({count}); got shape {classes.shape}.")
        return tf.constant(classes)


def explain(model, inputs, method, *, layer=None, output=None, classes=None, **options):
    """Heat maps `(n, height, width)` that explain ``model``'s output for a batch of inputs.

    A one-off `Explainer` call; keep an `Explainer` to explain the same model repeatedly without
    compiling again.

    Args:
        model: a built Keras model (Functional, Sequential, nested, multi-input or multi-output).
        inputs: an array of images, or a dict of named inputs (the image input is the only 4-D input,
            or the one named ``"image"``).
        method: ``"saliency"``, ``"smoothgrad"``, ``"guided_backprop"``, ``"cam"``, ``"gradcam"``,
            ``"gradcam++"``, ``"layercam"`` or ``"scorecam"`` (see `METHODS`).
        layer: the layer of the Grad-CAM family and Score-CAM; the last spatial layer before the head by
            default (`kerasfg.vis.introspect.feature_layer`).
        output: the output to explain; the first by default.
        classes: None (the predicted class of each image), an int, or one int per image.
        **options: method options, see `Explainer`.

    Returns:
        float32 array `(n, height, width)` at the input resolution.
    """
    return Explainer(model)(inputs, method, layer=layer, output=output, classes=classes, **options)
