"""Run a Keras model from its own inputs while reading, or changing, what any of its layers computes.

Explanation methods need more than a model's outputs: the feature maps of an inner layer (Grad-CAM,
activations, deconvolution), the score before the softmax (saliency, deep visualization), or a
different ReLU gradient (guided backpropagation). Building a second ``keras.Model`` up to an inner layer
breaks for nested models ("not connected to inputs") and re-calling a used layer does not connect in
Keras 3. `ModelGraph` instead walks the model's own graph, layer by layer, descending into nested
Functional and Sequential models, with the trained layers themselves; so it works for Functional,
Sequential, nested, multi-input and multi-output models alike, inside `tf.GradientTape` and
`tf.function`.
"""

import contextlib
import dataclasses

import keras

_SQUASHING = ("softmax", "sigmoid", "log_softmax")


def _activation_name(function):
    return getattr(function, "__name__", "")


def _is_model(operation):
    return isinstance(operation, keras.Model)


def _functional_of(model):
    """The functional graph of a model, or None for a Sequential model built without one."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model


def _output_layers(model):
    """The layers whose outputs are the model's outputs, looking inside nested models."""
    functional = _functional_of(model)
    if functional is None:
        return _output_layers(model.layers[-1]) if _is_model(model.layers[-1]) else [model.layers[-1]]
    layers = []
    for tensor in keras.tree.flatten(functional.outputs):
        operation = tensor._keras_history.operation
        layers.extend(_output_layers(operation) if _is_model(operation) else [operation])
    return layers


def output_names(model):
    """The names of a model's outputs: the keys of a dict output, otherwise the output layers' names."""
    functional = _functional_of(model)
    structure = getattr(functional, "_outputs_struct", None)
    if isinstance(structure, dict):
        return list(structure)
    return [layer.name for layer in _output_layers(model)]


@dataclasses.dataclass
class GraphRun:
    """What `ModelGraph.run` computed.

    Attributes:
        outputs: ``{output name: tensor}``.
        taps: ``{layer path: output tensor}`` of the tapped layers.
        attention: ``{layer path: {map name: tensor}}`` of the attention layers asked for (see
            `kerasfg.layers.base.AttentionLayer`).
    """

    outputs: dict
    taps: dict
    attention: dict


class ModelGraph:
    """A model's layers by path, and a way to run the model that reads or changes any of them.

    Layers inside nested models have paths ``"<nested model>/<layer>"``; `find` also accepts a
    layer's bare name when it is unique.

    Args:
        model: a built Keras model (Functional, Sequential, or either with nested models).

    Example:

    ```python
    graph = ModelGraph(model)
    with tf.GradientTape() as tape:
        outputs, taps = graph(images, taps=["backbone/conv5"], logits=True)
        score = outputs["identity"][:, 3]
    gradients = tape.gradient(score, taps["backbone/conv5"])
    ```
    """

    def __init__(self, model):
        if not model.built:
            raise ValueError(f"Model '{model.name}' is not built; call it on data or build it first.")
        self.model = model
        self.layers = {}
        self._collect(model, "")
        self.output_names = output_names(model)
        self._output_layers = {id(layer) for layer in _output_layers(model)}

    def _collect(self, model, prefix):
        for layer in model.layers:
            path = prefix + layer.name
            self.layers[path] = layer
            if _is_model(layer):
                self._collect(layer, path + "/")

    def find(self, name):
        """The path of the layer called ``name`` (a path, or a unique bare layer name)."""
        if name in self.layers:
            return name
        matches = [path for path in self.layers if path.rsplit("/", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        problem = f"{len(matches)} layers named '{name}' ({matches})" if matches else f"no layer '{name}'"
        raise ValueError(f"Model '{self.model.name}' has {problem}; its layers are {list(self.layers)}.")

    def paths_of(self, kind):
        """The paths of the layers that are instances of ``kind`` (a class or tuple of classes)."""
        return [path for path, layer in self.layers.items() if isinstance(layer, kind)]

    def __call__(self, inputs, *, taps=(), logits=False, relu=None, replace=None):
        """Run the model in inference mode.

        Args:
            inputs: the model's inputs, in any form the model accepts (tensors, not NumPy, inside a
                `tf.function`).
            taps: paths (or unique names) of layers whose outputs to return.
            logits: whether the output layers skip their softmax or sigmoid, so that the outputs are
                the scores before it (a separate final ``Activation``/``Softmax`` layer is skipped).
            relu: a function used in place of every ReLU (ReLU activations of layers, ``Activation``
                and ``ReLU`` layers), such as a guided ReLU.
            replace: ``{path: function}``: the output of each such layer is replaced by
                ``function(output)`` before the rest of the model sees it.

        Returns:
            ``(outputs, taps)``: ``{output name: tensor}`` and ``{path: tensor}``.
        """
        run = self.run(inputs, taps=taps, logits=logits, relu=relu, replace=replace)
        return run.outputs, run.taps

    def run(self, inputs, *, taps=(), attention=(), logits=False, relu=None, replace=None):
        """Run the model in inference mode, like calling the graph, and also read attention maps.

        Args:
            inputs, taps, logits, relu, replace: as when calling the graph.
            attention: paths (or unique names) of kerasfg attention layers whose maps to return;
                each is called with ``return_attention=True``.

        Returns:
            A `GraphRun`.
        """
        from kerasfg.layers.base import AttentionLayer

        self._taps = {self.find(name): None for name in taps}
        self._attention = {self.find(name): None for name in attention}
        not_attention = [path for path in self._attention if not isinstance(self.layers[path], AttentionLayer)]
        if not_attention:
            raise ValueError(f"Layers {not_attention} of model '{self.model.name}' are not kerasfg attention layers.")
        self._replace = {self.find(name): fn for name, fn in (replace or {}).items()}
        self._logits, self._relu = logits, relu
        try:
            outputs = self._run(self.model, inputs, "")
            found, maps = dict(self._taps), dict(self._attention)
        finally:
            self._taps, self._attention, self._replace = {}, {}, {}
        missing = [path for path, value in {**found, **maps}.items() if value is None]
        if missing:
            raise ValueError(f"Layers {missing} are not on the path from the inputs to the outputs.")
        if not isinstance(outputs, dict):
            outputs = dict(zip(self.output_names, keras.tree.flatten(outputs), strict=True))
        return GraphRun(dict(outputs), found, maps)

    def _run(self, model, inputs, prefix):
        functional = _functional_of(model)
        if functional is None:
            for layer in model.layers:
                inputs = self._operation(layer, prefix + layer.name)(inputs)
            return inputs
        paths = {id(layer): prefix + layer.name for layer in functional.layers}
        flat = functional._standardize_inputs(inputs)
        outputs = functional._run_through_graph(
            flat, operation_fn=lambda op: self._operation(op, paths.get(id(op), prefix + op.name)))
        return outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs

    def _operation(self, operation, path):
        def call(*args, **kwargs):
            if _is_model(operation):
                output = self._run(operation, args[0], path + "/")
            elif path in self._attention:
                output, self._attention[path] = operation(*args, **kwargs, return_attention=True, training=False)
            else:
                output = self._call_layer(operation, args, kwargs)
            if path in self._taps:
                self._taps[path] = output
            if path in self._replace:
                output = self._replace[path](output)
            return output

        return call

    def _call_layer(self, layer, args, kwargs):
        if getattr(layer, "_call_has_training_arg", False):
            kwargs = {**kwargs, "training": False}
        is_output = id(layer) in self._output_layers
        standalone = isinstance(layer, (keras.layers.Activation, keras.layers.Softmax, keras.layers.ReLU))
        if standalone:
            name = "softmax" if isinstance(layer, keras.layers.Softmax) else (
                "relu" if isinstance(layer, keras.layers.ReLU) else _activation_name(layer.activation))
            if self._logits and is_output and name in _SQUASHING:
                return args[0]
            if self._relu is not None and name == "relu" and not _is_modified_relu(layer):
                return self._relu(args[0])
            return layer(*args, **kwargs)
        with self._swapped_activation(layer, is_output):
            return layer(*args, **kwargs)

    @contextlib.contextmanager
    def _swapped_activation(self, layer, is_output):
        original = getattr(layer, "activation", None)
        name = _activation_name(original)
        replacement = None
        if self._logits and is_output and name in _SQUASHING:
            replacement = keras.activations.linear
        elif self._relu is not None and name == "relu":
            replacement = self._relu
        if replacement is None:
            yield
            return
        layer.activation = replacement
        try:
            yield
        finally:
            layer.activation = original


def _is_modified_relu(layer):
    """A ``ReLU`` layer with a slope, threshold or ceiling is not a plain ReLU."""
    if not isinstance(layer, keras.layers.ReLU):
        return False
    return bool(layer.negative_slope) or bool(layer.threshold) or layer.max_value is not None
