"""The one module that knows how Keras stores a model's graph, and runs it with taps and swapped activations.

Explanation methods need more than a model's outputs: which input is the image, the feature maps of an
inner layer (Grad-CAM, activations, deconvolution), the score before the softmax (saliency, deep
visualization), a different ReLU gradient (guided backpropagation, the deconvnet). Building a second
``keras.Model`` up to an inner layer breaks for nested models ("not connected to inputs") and
re-calling a used layer does not connect in Keras 3. This module answers those questions from the
model's own graph, descending into nested Functional and Sequential models:

- the inputs: `ModelInputs` (the image input, the others, and the form the model takes them in);
- the outputs: `output_names`, `output_tensor`;
- state kept with a model for its lifetime, unseen by Keras: `kept_with`;
- the graph: `producer` (the layer that computed a tensor), `layer_inputs`, `consumers`, `upstream` (the
  layers a layer depends on);
- the layer the CAM methods weigh by default: `feature_layer`;
- running the model: `ModelGraph`, which calls the trained layers themselves with taps on any layer,
  the scores before the final softmax, swapped ReLUs and held attention gates, inside
  `tf.GradientTape` and `tf.function`.

It is the only module of kerasfg that touches private Keras (and TensorFlow) attributes, so that a Keras
upgrade breaks one file, loudly: every private attribute is read through `_private`, which names the
attribute and the Keras version when it is missing, and `missing_internals` checks all of them (listed in
`KERAS_INTERNALS`) on small models; the test suite runs it.
"""

import contextlib
import dataclasses

import keras
import numpy as np
import tensorflow as tf

KERAS_INTERNALS = {
    "KerasTensor._keras_history": "the layer, call and output index that computed a symbolic tensor",
    "Operation._inbound_nodes": "the calls of a layer in its model's graph (Node.input_tensors: what it was fed)",
    "Sequential._functional": "the functional graph that a Sequential model with a known input builds",
    "Functional._inputs_struct": "the structure (dict, list, tensor) a functional model takes its inputs in",
    "Functional._outputs_struct": "the structure (dict, list, tensor) of a functional model's outputs",
    "Functional._standardize_inputs": "a functional model's inputs, flattened in the order of model.inputs",
    "Functional._run_through_graph": "runs a functional model's graph, calling a function for every layer",
    "Layer._call_has_training_arg": "whether a layer's call takes `training`",
    "Trainer._initial_epoch": "the epoch fit resumes from (set by BackupAndRestore and kerasfg's ResumableBackup)",
    "tensorflow context.function_call_options": "the per-thread options compiled functions are called with",
}
"""The private Keras and TensorFlow attributes this module reads, and what for (see `missing_internals`)."""


class KerasInternalsError(RuntimeError):
    """A private Keras attribute that kerasfg relies on is missing (a Keras version kerasfg does not know)."""


def _private(obj, name):
    """``getattr(obj, name)`` for a private attribute listed in `KERAS_INTERNALS`, or a clear error naming it."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise KerasInternalsError(
            f"kerasfg.vis.introspect reads the private attribute {type(obj).__name__}.{name}, which Keras "
            f"{keras.__version__} does not have; kerasfg's visualizations support the Keras versions whose "
            f"private attributes {sorted(KERAS_INTERNALS)} exist (see kerasfg.vis.introspect).") from None


# === Models and their graphs ===


def is_model(operation):
    """Whether ``operation`` (a layer of a model) is itself a model (a nested model)."""
    return isinstance(operation, keras.Model)


def functional_of(model):
    """The functional graph of a model, or None for a Sequential model built without a `keras.Input`."""
    if isinstance(model, keras.Sequential):
        return _private(model, "_functional")
    return model


def _history(tensor):
    """``(operation, node index, tensor index)`` of a symbolic tensor."""
    return tuple(_private(tensor, "_keras_history"))


def _flat_outputs(model):
    functional = functional_of(model)
    if functional is None:
        raise ValueError(f"Sequential model '{model.name}' has no graph (build it with a keras.Input first).")
    return keras.tree.flatten(functional.outputs)


def output_names(model):
    """The names of a model's outputs: the keys of a dict output, otherwise the output layers' names."""
    functional = functional_of(model)
    structure = None if functional is None else _private(functional, "_outputs_struct")
    if isinstance(structure, dict):
        return list(structure)
    return [layer.name for layer in _output_layers(model)]


def _output_layers(model):
    """The layers whose outputs are the model's outputs, looking inside nested models."""
    functional = functional_of(model)
    if functional is None:
        last = model.layers[-1]
        return _output_layers(last) if is_model(last) else [last]
    layers = []
    for tensor in keras.tree.flatten(functional.outputs):
        operation = _history(tensor)[0]
        layers.extend(_output_layers(operation) if is_model(operation) else [operation])
    return layers


def output_tensor(model, name):
    """The symbolic tensor of ``model``'s output ``name`` (see `output_names`)."""
    names = output_names(model)
    if name not in names:
        raise ValueError(f"Model '{model.name}' has no output {name!r}; its outputs are {names}.")
    structure = _private(functional_of(model), "_outputs_struct")
    if isinstance(structure, dict):
        return structure[name]
    return _flat_outputs(model)[names.index(name)]


def output_activation(model, name):
    """The final squashing of output ``name``: ``"softmax"``, ``"sigmoid"`` or ``"log_softmax"`` (the activation
    of the layer that computes it, or a separate ``Softmax``/``Activation`` layer), or None. `ModelGraph` with
    ``logits=True`` skips it."""
    found = producer(output_tensor(model, name))
    if found is None:
        return None
    layer = found.layer
    if isinstance(layer, _ACTIVATION_LAYERS):
        activation = _standalone_activation(layer)
    else:
        activation = _activation_name(getattr(layer, "activation", None))
    return activation if activation in _SQUASHING else None


@dataclasses.dataclass(frozen=True)
class Producer:
    """The layer that computed a symbolic tensor (see `producer`).

    Attributes:
        layer: the layer.
        path: its path (``"<nested model>/<layer>"`` inside nested models).
        inputs: the symbolic tensors it was called on, flattened.
        scopes: the nested models entered on the way, for `producer` to step out of them again.
    """

    layer: object
    path: str
    inputs: tuple
    scopes: tuple = ()


def producer(tensor, scopes=()):
    """The `Producer` of a symbolic tensor, looking through nested models; None for an input of the model.

    Args:
        tensor: a symbolic tensor of a model's graph (an output, or an input of a `Producer`).
        scopes: the ``scopes`` of the `Producer` whose input ``tensor`` is (nested models to step out of).
    """
    while True:
        operation, node_index, tensor_index = _history(tensor)
        prefix = scopes[-1][2] if scopes else ""
        if isinstance(operation, keras.layers.InputLayer) or operation is None:
            if not scopes:
                return None
            model, node, _ = scopes[-1]
            scopes = scopes[:-1]
            inner = [id(t) for t in keras.tree.flatten(functional_of(model).inputs)]
            tensor = node.input_tensors[inner.index(id(tensor))]
            continue
        node = _private(operation, "_inbound_nodes")[node_index]
        if is_model(operation):
            scopes = (*scopes, (operation, node, f"{prefix}{operation.name}/"))
            tensor = _flat_outputs(operation)[tensor_index]
            continue
        return Producer(operation, prefix + operation.name, tuple(node.input_tensors), scopes)


def input_name_of(tensor):
    """The name of the model input that a symbolic input tensor is (see `ModelInputs.names`)."""
    operation = _history(tensor)[0]
    return operation.name if operation is not None else tensor.name


def layer_inputs(layer, path=None):
    """The symbolic tensors a layer was called on, for a layer called once in its model.

    Raises:
        ValueError: for a layer called several times (shared weights), whose input is ambiguous.
    """
    nodes = _private(layer, "_inbound_nodes")
    if len(nodes) != 1:
        raise ValueError(f"Layer '{path or layer.name}' is called {len(nodes)} times in its model, so its input is "
                         "ambiguous.")
    return tuple(nodes[0].input_tensors)


def output_rank(layer):
    """The rank of a layer's output (4 for feature maps), or None for a layer never called or with several."""
    try:
        output = layer.output
    except (AttributeError, ValueError):  # never called, or called several times
        return None
    return len(output.shape) if hasattr(output, "shape") else None


def initial_epoch(model):
    """The number of epochs done when ``model.fit`` starts: 0, or the epoch it resumes from (a backup's)."""
    return int(getattr(model, "_initial_epoch", None) or 0)


def set_initial_epoch(model, epoch):
    """Make a ``model.fit`` that is starting (from a callback's ``on_train_begin``) resume after ``epoch`` epochs,
    as Keras's ``BackupAndRestore`` does."""
    _private(model, "_initial_epoch")
    model._initial_epoch = epoch


_KEPT = "_kerasfg_kept"


def kept_with(model, kind):
    """The ``kind(model)`` kept with ``model`` (built at the first call), for as long as the model lives.

    Explainers and the recording callbacks' shared pass keep compiled functions that hold the model. A cache
    keyed by the model (even a `weakref.WeakKeyDictionary`) would keep every model alive through its own
    entry; kept on the model instead, they die with it. They are set on the model's ``__dict__`` past
    Keras's attribute tracking, so Keras does not see them: they are no weights, layers or dependencies of
    the model, and ``.keras`` saving, SavedModel export and ``summary()`` ignore them.

    Args:
        model: a Keras model (or layer).
        kind: a class (or function) of one argument, the model.

    Returns:
        the one ``kind(model)`` of ``model``.

    Example:

    ```python
    assert kept_with(model, Explainer) is kept_with(model, Explainer)
    ```
    """
    kept = vars(model).get(_KEPT)
    if kept is None:
        kept = {}
        object.__setattr__(model, _KEPT, kept)  # Layer.__setattr__ would track it (and its functions)
    if kind not in kept:
        kept[kind] = kind(model)
    return kept[kind]


def call_in_inference(layer, *args, **kwargs):
    """Call a layer in inference mode (``training=False`` when its call takes it)."""
    if _private(layer, "_call_has_training_arg"):
        kwargs = {**kwargs, "training": False}
    return layer(*args, **kwargs)


# === Inputs ===


class ModelInputs:
    """A model's inputs: which one is the image, the others, and the form the model takes them in.

    The image input is the model's only 4-D input `(batch, height, width, channels)`, whatever its name;
    among several 4-D inputs, the one named ``"image"``. Every explanation, deep visualization,
    deconvolution and faithfulness score of kerasfg uses this rule.

    Inputs are passed as the model takes them: an array for a single-input model; for a multi-input model
    a dict by input name (the keys of a dict-structured model, otherwise the input tensors' names) or a
    list in the order of ``model.inputs``.

    Args:
        model: a built Keras model.

    Attributes:
        names: the input names, in the order of ``model.inputs``.
        image_name: the image input's name.
        image_shape: `(height, width, channels)` of the image input.
        specs: ``{name: (shape without the batch axis, dtype)}`` of every input.

    Raises:
        ValueError: when the model has no 4-D input, or several and none named ``"image"``.
    """

    def __init__(self, model):
        self.model_name = model.name
        functional = functional_of(model)
        structure = None if functional is None else _private(functional, "_inputs_struct")
        tensors = list(model.inputs)
        if isinstance(structure, dict):
            by_id = {id(tensor): key for key, tensor in structure.items()}
            self.names = [by_id.get(id(tensor), input_name_of(tensor)) for tensor in tensors]
        else:
            self.names = [input_name_of(tensor) for tensor in tensors]
        self.specs = {name: (tuple(tensor.shape[1:]), str(tensor.dtype)) for name, tensor in zip(self.names, tensors)}
        images = [name for name, (shape, _) in self.specs.items() if len(shape) == 3]
        if len(images) > 1 and "image" in images:
            images = ["image"]
        if len(images) != 1:
            shapes = {name: (None, *shape) for name, (shape, _) in self.specs.items()}
            raise ValueError(f"Model '{model.name}' has the inputs {shapes}; kerasfg needs one image input of shape "
                             "(batch, height, width, channels): the only 4-D input, or the one named 'image'.")
        self.image_name = images[0]
        self.image_shape = self.specs[self.image_name][0]

    @property
    def single(self):
        """Whether the model has one input (taken as an array rather than a dict)."""
        return len(self.names) == 1

    @property
    def others(self):
        """The names of the inputs other than the image."""
        return [name for name in self.names if name != self.image_name]

    def as_dict(self, inputs):
        """``{name: value}`` of a batch in any form the model takes (see the class docstring)."""
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(self.names))
            missing = [name for name in self.names if name not in inputs]
            if unknown or missing:
                raise ValueError(f"Model '{self.model_name}' takes the inputs {self.names}; got a dict with "
                                 f"{sorted(inputs)} (missing {missing}, unknown {unknown}).")
            return dict(inputs)
        if isinstance(inputs, (list, tuple)) and not self.single:
            if len(inputs) != len(self.names):
                raise ValueError(f"Model '{self.model_name}' takes {len(self.names)} inputs {self.names}; got a "
                                 f"list of {len(inputs)}.")
            return dict(zip(self.names, inputs))
        if not self.single:
            raise ValueError(f"Model '{self.model_name}' takes the inputs {self.names}; pass a dict with the image "
                             f"under {self.image_name!r}, got {type(inputs).__name__}.")
        return {self.image_name: inputs}

    def split(self, inputs):
        """``(image, {name: value} of the other inputs)`` of a batch in any form the model takes."""
        values = self.as_dict(inputs)
        image = values.pop(self.image_name)
        return image, values

    def image(self, inputs):
        """The image part of a batch of inputs, as a NumPy array."""
        return np.asarray(self.split(inputs)[0])

    def join(self, image, rest=None):
        """The model's inputs from the image and ``rest`` (``{name: value}`` of the other inputs)."""
        if self.single:
            return image
        return {self.image_name: image, **(rest or {})}

    def zeros(self, batch):
        """``{name: zeros}`` of the other inputs, for ``batch`` examples (a tensor or an int)."""
        return {name: tf.zeros(tf.concat([tf.reshape(tf.cast(batch, tf.int32), [1]), tf.constant(shape, tf.int32)],
                                         0), dtype)
                for name, (shape, dtype) in self.specs.items() if name != self.image_name}


# === Layers ===


def consumers(graph, path):
    """The paths of the layers of a `ModelGraph` that take layer ``path``'s output as an input."""
    target = graph.layers[graph.find(path)]
    found = []
    for candidate, layer in graph.layers.items():
        if is_model(layer) or isinstance(layer, keras.layers.InputLayer):
            continue
        for node in _private(layer, "_inbound_nodes"):
            scopes = _scopes_of(graph, candidate)
            for tensor in node.input_tensors:
                made_by = producer(tensor, scopes)
                if made_by is not None and made_by.layer is target and candidate not in found:
                    found.append(candidate)
    return found


def upstream(graph, path):
    """The paths of the layers of a `ModelGraph` that layer ``path``'s output depends on (its ancestors)."""
    path = graph.find(path)
    found, pending = [], [(path, _scopes_of(graph, path))]
    while pending:
        current, scopes = pending.pop()
        for node in _private(graph.layers[current], "_inbound_nodes"):
            for tensor in node.input_tensors:
                made_by = producer(tensor, scopes)
                if made_by is not None and made_by.path not in found:
                    found.append(made_by.path)
                    pending.append((made_by.path, made_by.scopes))
    return found


def _scopes_of(graph, path):
    """The nested-model scopes (see `producer`) of the layer at ``path``."""
    scopes, prefix = (), ""
    for name in path.split("/")[:-1]:
        model = graph.layers[prefix + name]
        prefix = f"{prefix}{name}/"
        scopes = (*scopes, (model, _private(model, "_inbound_nodes")[0], prefix))
    return scopes


_SPATIAL_REDUCTIONS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Flatten,
                       keras.layers.Reshape)
_PASS_THROUGH = (keras.layers.Activation, keras.layers.Softmax, keras.layers.ReLU, keras.layers.Dropout,
                 keras.layers.BatchNormalization, keras.layers.Identity)


def _is_classifier_convolution(layer):
    """A 1x1 convolution, which turns feature maps into class-score maps when no dense layer follows it."""
    return isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (1, 1)


MIN_CAM_MAP = 3
"""The smallest side, in cells, of the feature map the CAM methods weigh by default (`feature_layer`): 3x3 is the
smallest map with a cell away from the border; every cell of a 2x2 map is a corner."""


def feature_layer(graph, output=None, layer=None):
    """The path of the layer whose feature maps the CAM methods (and the served Grad-CAM) weigh.

    By default: walking back from ``output`` along each layer's first input, the first layer with a
    4-D output `(batch, height, width, channels)`, i.e. the last spatial layer before the global pooling
    (or flatten) of the head. When the head has no dense layer and that layer is a 1x1 convolution (a
    classifier convolution, whose channels are the class scores, with its normalization and activation),
    the layer before it: weighing class-score maps only gives back the class's own map. When that layer's
    map is smaller than `MIN_CAM_MAP` (3x3; ResNet-18's last stage is 2x2 at 64x64 pixels, 1x1 at 32x32),
    walking on back along first inputs, the first layer whose map is at least that large (the end of the
    stage before): upsampled, a 2x2 map has its maximum in a corner block of the image whatever the image
    shows (see docs/evaluation.md). When the walk reaches the input first, the small map stays.

    Args:
        graph: a `ModelGraph`.
        output: the output to explain; the first by default.
        layer: a layer path or unique name, checked to have a 4-D output, instead of the default.

    Raises:
        ValueError: when ``layer`` has no 4-D output, or no layer on the way back from the output has one.
    """
    if layer is not None:
        path = graph.find(layer)
        rank = output_rank(graph.layers[path])
        if rank not in (None, 4):
            raise ValueError(f"Layer '{path}' has a {rank}-D output; CAM methods need a 4-D "
                             "(batch, height, width, channels) feature map.")
        return path
    output = graph.output_names[0] if output is None else output
    found = producer(output_tensor(graph.model, output))
    dense_seen = False
    while found is not None and output_rank(found.layer) != 4:
        dense_seen = dense_seen or not isinstance(found.layer, (*_SPATIAL_REDUCTIONS, *_PASS_THROUGH))
        found = producer(found.inputs[0], found.scopes) if found.inputs else None
    if found is not None and not dense_seen:
        walked = found
        while walked is not None and isinstance(walked.layer, _PASS_THROUGH) and walked.inputs:
            walked = producer(walked.inputs[0], walked.scopes)
        if walked is not None and _is_classifier_convolution(walked.layer) and walked.inputs:
            before = producer(walked.inputs[0], walked.scopes)
            if before is not None and output_rank(before.layer) == 4:
                found = before
    if found is None:
        raise ValueError(f"Model '{graph.model.name}' has no layer with a 4-D (batch, height, width, channels) "
                         f"output on the way back from output {output!r} to compute a CAM on.")
    if (_map_side(found.layer) or MIN_CAM_MAP) >= MIN_CAM_MAP:
        return found.path
    walked = found
    while walked.inputs:
        walked = producer(walked.inputs[0], walked.scopes)
        if walked is None or isinstance(walked.layer, keras.layers.InputLayer):
            break
        if (_map_side(walked.layer) or 0) >= MIN_CAM_MAP:
            return walked.path
    return found.path


def _map_side(layer):
    """The smaller side of a layer's 4-D output map, or None (another rank, or a size known only at run time)."""
    if output_rank(layer) != 4 or None in layer.output.shape[1:3]:
        return None
    return min(layer.output.shape[1:3])


# === Running the graph ===


_SQUASHING = ("softmax", "sigmoid", "log_softmax")
_ACTIVATION_LAYERS = (keras.layers.Activation, keras.layers.Softmax, keras.layers.ReLU, keras.layers.LeakyReLU,
                      keras.layers.ELU, keras.layers.PReLU)


def _activation_name(function):
    return getattr(function, "__name__", "")


def _is_modified_relu(layer):
    """A ``ReLU`` layer with a slope, threshold or ceiling is not a plain ReLU."""
    if not isinstance(layer, keras.layers.ReLU):
        return False
    return bool(layer.negative_slope) or bool(layer.threshold) or layer.max_value is not None


def _standalone_activation(layer):
    """The name of what an activation layer computes (``"relu"``, ``"softmax"``, ``"elu"``...)."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, keras.layers.ReLU):
        return "relu" if not _is_modified_relu(layer) else "modified_relu"
    if isinstance(layer, keras.layers.Activation):
        return _activation_name(layer.activation)
    return type(layer).__name__.lower()  # LeakyReLU, ELU, PReLU


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

    Attributes:
        model: the model.
        layers: ``{path: layer}`` in model order, nested models' layers after the nested model.
        output_names: the model's output names (`output_names`).
        inputs: the model's `ModelInputs`.

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
        self._inputs = None

    @property
    def inputs(self):
        """The model's `ModelInputs` (which input is the image, and the others)."""
        if self._inputs is None:
            self._inputs = ModelInputs(self.model)
        return self._inputs

    def _collect(self, model, prefix):
        for layer in model.layers:
            path = prefix + layer.name
            self.layers[path] = layer
            if is_model(layer):
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

    def run(self, inputs, *, taps=(), attention=(), logits=False, relu=None, wrap_activations=None, hold_gates=False,
            replace=None):
        """Run the model in inference mode, like calling the graph, and also read attention maps.

        A run changes nothing of the model: a layer whose activation is swapped is called through a
        shallow copy that has the other activation (`_with_activation`), so that other threads (training,
        saving, exporting the model) never see it, and each run keeps its own state, so that runs traced on
        several threads at once do not mix.

        Args:
            inputs, taps, logits, relu, replace: as when calling the graph.
            attention: paths (or unique names) of kerasfg attention layers whose maps to return;
                each is called with ``return_attention=True``.
            wrap_activations: ``wrap(activation) -> function`` applied to every activation of the
                network's body (ReLU and its variants, ELU, any ``activation=`` of a layer or
                ``Activation`` layer), but not to a softmax or sigmoid, nor to what attention layers
                compute inside; the function is used in its place (the deconvnet's rectification of the
                backward signal wraps them).
            hold_gates: whether the gates of kerasfg attention layers are constants for the gradient
                (``x * stop_gradient(gate)``, see `kerasfg.layers.base.gates_held`).

        Returns:
            A `GraphRun`.
        """
        from kerasfg.layers.base import AttentionLayer, gates_held

        replay = _Replay(self._output_layers, taps={self.find(name): None for name in taps},
                         attention={self.find(name): None for name in attention},
                         replace={self.find(name): fn for name, fn in (replace or {}).items()},
                         logits=logits, relu=relu, wrap=wrap_activations)
        not_attention = [path for path in replay.attention if not isinstance(self.layers[path], AttentionLayer)]
        if not_attention:
            raise ValueError(f"Layers {not_attention} of model '{self.model.name}' are not kerasfg attention layers.")
        with gates_held() if hold_gates else contextlib.nullcontext():
            outputs = replay.run(self.model, inputs, "")
        missing = [path for path, value in {**replay.taps, **replay.attention}.items() if value is None]
        if missing:
            raise ValueError(f"Layers {missing} are not on the path from the inputs to the outputs.")
        if not isinstance(outputs, dict):
            outputs = dict(zip(self.output_names, keras.tree.flatten(outputs), strict=True))
        return GraphRun(dict(outputs), replay.taps, replay.attention)


@dataclasses.dataclass
class _Replay:
    """One run of a `ModelGraph`: what it reads and changes (``output_layers``: the ids of the model's output
    layers, whose softmax ``logits`` skips), and what it has read so far."""

    output_layers: set
    taps: dict
    attention: dict
    replace: dict
    logits: bool
    relu: object
    wrap: object

    def run(self, model, inputs, prefix):
        functional = functional_of(model)
        if functional is None:
            for layer in model.layers:
                inputs = self._operation(layer, prefix + layer.name)(inputs)
            return inputs
        paths = {id(layer): prefix + layer.name for layer in functional.layers}
        flat = _private(functional, "_standardize_inputs")(inputs)
        outputs = _private(functional, "_run_through_graph")(
            flat, operation_fn=lambda op: self._operation(op, paths.get(id(op), prefix + op.name)))
        return outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs

    def _operation(self, operation, path):
        def call(*args, **kwargs):
            if is_model(operation):
                output = self.run(operation, args[0], path + "/")
            elif path in self.attention:
                if kwargs.get("return_attention"):  # the model itself reads the maps (an output of the layer)
                    output = self._call_layer(operation, args, kwargs)
                    self.attention[path] = output[1]
                else:
                    output, self.attention[path] = call_in_inference(operation, *args, **kwargs,
                                                                     return_attention=True)
            else:
                output = self._call_layer(operation, args, kwargs)
            if path in self.taps:
                self.taps[path] = output
            if path in self.replace:
                output = self.replace[path](output)
            return output

        return call

    def _call_layer(self, layer, args, kwargs):
        from kerasfg.layers.base import AttentionLayer

        if isinstance(layer, AttentionLayer):  # what it computes inside is its own (its `activation` too)
            return call_in_inference(layer, *args, **kwargs)
        is_output = id(layer) in self.output_layers
        if isinstance(layer, _ACTIVATION_LAYERS):
            name = _standalone_activation(layer)
            if self.logits and is_output and name in _SQUASHING:
                return args[0]
            if self.wrap is not None and name not in _SQUASHING + ("linear",):
                return self.wrap(lambda x: call_in_inference(layer, x, *args[1:], **kwargs))(args[0])
            if self.relu is not None and name == "relu":
                return self.relu(args[0])
            return call_in_inference(layer, *args, **kwargs)
        return call_in_inference(self._swapped_activation(layer, is_output), *args, **kwargs)

    def _swapped_activation(self, layer, is_output):
        """``layer``, or a copy of it with its ``activation`` swapped for this run's."""
        original = getattr(layer, "activation", None)
        name = _activation_name(original)
        if self.logits and is_output and name in _SQUASHING:
            return _with_activation(layer, keras.activations.linear)
        if self.wrap is not None and original is not None and name not in _SQUASHING + ("linear",):
            return _with_activation(layer, self.wrap(original))
        if self.relu is not None and name == "relu":
            return _with_activation(layer, self.relu)
        return layer


def _with_activation(layer, activation):
    """A shallow copy of ``layer`` (the same weights) whose ``activation`` is ``activation``; ``layer`` itself is
    left as it is.

    The copy is made from the layer's attributes (``copy.copy`` would pickle it: Keras objects pickle by saving
    themselves), and its activation is set past ``Layer.__setattr__``, whose tracker it shares with the layer.
    """
    swapped = object.__new__(type(layer))
    vars(swapped).update(vars(layer))
    vars(swapped)["activation"] = activation
    return swapped


# === TensorFlow: calling compiled functions without Grappler ===


@contextlib.contextmanager
def without_graph_rewrites():
    """Call compiled functions in this thread without Grappler's rewrites of their graphs.

    A function is optimized, once, for the options of the thread that calls it, and again whenever it is
    called with other options: call a function always inside this context or always outside it (see
    `kerasfg.vis.compiled.RecordingFunction`).

    TensorFlow keeps these options per thread in its eager context (``FunctionCallOptions``, not a public
    API); where it has none, functions are called as they are.
    """
    from tensorflow.python.eager import context

    eager = context.context()
    previous = getattr(eager, "function_call_options", None)
    if not isinstance(previous, context.FunctionCallOptions):
        yield
        return
    eager.function_call_options = _unoptimized(previous)
    try:
        yield
    finally:
        eager.function_call_options = previous


_UNOPTIMIZED = {}


def _unoptimized(options):
    """``options`` with Grappler's meta optimizer off (one object per configuration, so that a function is
    optimized once for it)."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    key = (options.executor_type, options.config_proto_serialized)
    if key not in _UNOPTIMIZED:
        config = config_pb2.ConfigProto.FromString(options.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        _UNOPTIMIZED[key] = context.FunctionCallOptions(executor_type=options.executor_type, config_proto=config)
    return _UNOPTIMIZED[key]


def graph_rewrites_disabled():
    """Whether compiled functions called in this thread now run without Grappler's rewrites."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    options = context.context().function_call_options
    config = config_pb2.ConfigProto.FromString(options.config_proto_serialized)
    return config.graph_options.rewrite_options.disable_meta_optimizer


# === The internals, checked ===


def missing_internals():
    """The entries of `KERAS_INTERNALS` that this Keras and TensorFlow lack, with why each is needed.

    Builds a small Functional model (with a nested Sequential model) and a Sequential one, and reads every
    private attribute this module relies on. An empty dict means this Keras works with kerasfg's
    visualizations.
    """
    from tensorflow.python.eager import context

    inner = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 1, name="conv")], name="inner")
    image = keras.Input((4, 4, 1), name="image")
    model = keras.Model({"image": image}, {"out": keras.layers.GlobalAveragePooling2D(name="gap")(inner(image))})
    tensor = model.outputs[0]
    checks = {
        "KerasTensor._keras_history": lambda: len(tensor._keras_history) == 3,
        "Operation._inbound_nodes": lambda: bool(model.get_layer("gap")._inbound_nodes[0].input_tensors),
        "Sequential._functional": lambda: inner._functional is not None,
        "Functional._inputs_struct": lambda: isinstance(model._inputs_struct, dict),
        "Functional._outputs_struct": lambda: isinstance(model._outputs_struct, dict),
        "Functional._standardize_inputs": lambda: callable(model._standardize_inputs),
        "Functional._run_through_graph": lambda: callable(model._run_through_graph),
        "Layer._call_has_training_arg": lambda: isinstance(model.get_layer("gap")._call_has_training_arg, bool),
        "Trainer._initial_epoch": lambda: hasattr(model, "_initial_epoch"),
        "tensorflow context.function_call_options": lambda: isinstance(context.context().function_call_options,
                                                                       context.FunctionCallOptions),
    }
    missing = {}
    for name, check in checks.items():
        try:
            present = check()
        except (AttributeError, IndexError, TypeError):
            present = False
        if not present:
            missing[name] = KERAS_INTERNALS[name]
    return missing
