"""What a model serves, and :class:`ExportPlan`: the one description of an export.

:func:`analyze_model` finds the parts of a functional model that shape its signatures (the image input, the
extra inputs, the classification heads and the other outputs); :meth:`ExportPlan.for_model` checks every
export option against them and returns the plan that the signature functions
(:mod:`kerasfg.export.signatures`), the reference outputs (:mod:`kerasfg.export.reference`) and the metadata
and assets (:mod:`kerasfg.export.metadata`) are built from.
"""

from __future__ import annotations

import dataclasses
import re

import keras
import tensorflow as tf

from kerasfg.export import explain as _explain
from kerasfg.export.preprocess import Preprocessing

IMAGE_BYTES = "image_bytes"
METADATA_ASSET = "kerasfg_export.json"  # under the version's assets/
EXPLAIN_MODES = (None, "gradcam", "attention")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ExportError(ValueError):
    """The model cannot be exported as a servable SavedModel; the message names the cause."""


# === What the model serves ===


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """The parts of a functional model that shape its signatures.

    Attributes:
        image_name: the name of the image input.
        image_shape: ``(H, W, C)`` of the image input (None for a dynamic size).
        image_dtype: its dtype.
        extras: ``{name: (shape without batch, dtype)}`` of the other inputs.
        heads: the classification outputs, ``(batch, classes)``.
        maps: the other outputs (attention maps and the like), served by the ``explain`` signature.
    """

    image_name: str
    image_shape: tuple
    image_dtype: str
    extras: dict
    heads: list
    maps: list

    def extra_specs(self):
        """``{name: tf.TensorSpec}`` of the extra inputs, with a batch dimension."""
        return {
            name: tf.TensorSpec((None, *shape), tf.as_dtype(dtype), name=name)
            for name, (shape, dtype) in self.extras.items()
        }


def model_structure(model, attr):
    """``model.input``/``model.output`` (dict, list or tensor); Sequential models only have the plural."""
    try:
        return getattr(model, attr)
    except AttributeError:
        tensors = getattr(model, attr + "s")
        return tensors[0] if len(tensors) == 1 else list(tensors)


def named_outputs(model, values):
    """``values`` in the structure of ``model.output`` (dict, list or one tensor) as ``{output name: value}``."""
    if isinstance(values, dict):
        return dict(values)
    if isinstance(values, (list, tuple)):
        return dict(zip(_explain.output_names(model), values))
    return {_explain.output_names(model)[0]: values}


def output_tensors(model):
    """The model's outputs as an ordered dict name -> KerasTensor."""
    return named_outputs(model, model_structure(model, "output"))


def arrange_inputs(model, by_name):
    """Tensors keyed by input name, in the structure the model was built with."""
    return keras.tree.map_structure(lambda t: by_name[t.name], model_structure(model, "input"))


def _shapes(outputs):
    return {name: tuple(tensor.shape) for name, tensor in outputs.items()}


def analyze_model(model, heads=None) -> ServedModel:
    """Find the image input, the extra inputs, the classification heads and the map outputs of ``model``.

    Args:
        model: a built functional or Sequential ``keras.Model``.
        heads: the names of the classification outputs (a list, or one name); default every
            ``(batch, classes)`` output.

    Raises:
        ExportError: naming what is wrong: no or two image inputs, names that cannot be signature names, a
            head that is not a ``(batch, classes)`` output.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ExportError(f"expected a built functional keras.Model, got {type(model).__name__}")
    image, extras = None, {}
    for tensor in model.inputs:
        name = tensor.name
        if not _NAME_RE.match(name):
            raise ExportError(f"model input name {name!r} is not a valid signature input name ([A-Za-z][A-Za-z0-9_]*)")
        if len(tensor.shape) == 4:
            if image is not None:
                raise ExportError(f"the model has two image (rank-4) inputs, {image.name!r} and {name!r}; "
                                  "export supports one image input plus scalar/vector inputs")
            image = tensor
        else:
            extras[name] = (tuple(tensor.shape[1:]), str(tensor.dtype))
    if image is None:
        raise ExportError("the model has no image input: expected one input of shape (batch, height, width, "
                          f"channels), got {[(t.name, tuple(t.shape)) for t in model.inputs]}")
    if IMAGE_BYTES in extras:
        raise ExportError(f"model input name {IMAGE_BYTES!r} is reserved for the encoded image signature input")
    outputs = output_tensors(model)
    if heads is None:
        heads = [name for name, t in outputs.items() if len(t.shape) == 2]
    else:
        heads = [heads] if isinstance(heads, str) else list(heads)
        for name in heads:
            if name not in outputs or len(outputs[name].shape) != 2:
                raise ExportError(f"head {name!r} is not a (batch, classes) output of the model; outputs are "
                                  f"{_shapes(outputs)}")
    if not heads:
        raise ExportError(f"the model has no classification output of shape (batch, classes): {_shapes(outputs)}")
    for name in outputs:
        if not _NAME_RE.match(name):
            raise ExportError(f"model output name {name!r} is not a valid signature output name")
    maps = [name for name in outputs if name not in heads]
    return ServedModel(image.name, tuple(image.shape[1:]), str(image.dtype), extras, heads, maps)


def check_servable_layers(model):
    """Reject layers whose code cannot be trusted to serve: Lambda layers (arbitrary Python).

    Ops are checked again on the written graph (py_function, custom ops), see
    :func:`kerasfg.export._verify_worker.scan_ops`.
    """
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))  # nested models
        if isinstance(layer, keras.layers.Lambda):
            raise ExportError(
                f"layer {layer.name!r} is a Lambda layer: its Python function is not part of a servable, "
                "reloadable model; write it as a registered keras.layers.Layer subclass using keras.ops"
            )


# === The plan ===


@dataclasses.dataclass(frozen=True)
class ExportPlan:
    """Everything an export is built from; make one with :meth:`for_model`.

    Attributes:
        model: the Keras model.
        served: its :class:`ServedModel`.
        preprocessing: the :class:`~kerasfg.export.preprocess.Preprocessing` of ``serving_default``.
        class_names: ``{head: [name, ...]}`` (heads without names are absent).
        explain: None, ``"gradcam"`` or ``"attention"``: what the ``explain`` signature serves.
        gradcam: the :class:`~kerasfg.export.explain.GradcamProbe` of ``explain="gradcam"``, else None.
        assets: ``{file name: bytes}`` written under the version's ``assets/`` besides kerasfg's own files.
        metadata: extra entries of ``assets/kerasfg_export.json``.
        head_layers: ``{head: the layer that produces it}``; a head layer may describe itself to the export
            (:func:`head_descriptions`) and add serving outputs (``serving_outputs(head, outputs)``: the
            expected age of a DEX head).
    """

    model: keras.Model
    served: ServedModel
    preprocessing: Preprocessing
    class_names: dict
    explain: str | None = None
    gradcam: _explain.GradcamProbe | None = None
    assets: dict = dataclasses.field(default_factory=dict)
    metadata: dict = dataclasses.field(default_factory=dict)
    head_layers: dict = dataclasses.field(default_factory=dict)

    @property
    def signature_names(self):
        """The signatures the export has, in the order they are written."""
        return ["serving_default", "serve_pixels", *(["explain"] if self.explain else [])]

    @classmethod
    def for_model(cls, model, *, heads=None, class_names=None, explain=None, gradcam_layer=None,
                  preprocessing=None, assets=None, metadata=None) -> ExportPlan:
        """Check the export options against ``model`` (see :func:`kerasfg.export.export_saved_model` for the
        arguments) and return the plan.

        Raises:
            ExportError: an option does not fit the model; the message names the option, the expected form
                and what was given.
        """
        if explain not in EXPLAIN_MODES:
            raise ExportError(f"explain must be one of {EXPLAIN_MODES}, got {explain!r}")
        served = analyze_model(model, heads)
        check_servable_layers(model)
        outputs = output_tensors(model)
        preprocessing = _resolve_preprocessing(served, preprocessing)
        gradcam = None
        if explain == "gradcam":
            layer = _gradcam_layer(model, outputs, gradcam_layer)
            gradcam = _explain.GradcamProbe(model, layer, model_structure(model, "input"), outputs, served.heads,
                                            preprocessing.image_size)
        elif explain == "attention" and not served.maps:
            raise ExportError("explain='attention' needs an attention-map output (an output that is not "
                              f"(batch, classes)); the model's outputs are {list(outputs)}")
        if metadata is not None and not isinstance(metadata, dict):
            raise ExportError(f"metadata must be a dict of extra JSON entries, got {type(metadata).__name__}")
        head_layers = {head: _explain.producing_layer(outputs[head]) for head in served.heads}
        head_assets, head_metadata = head_descriptions(head_layers)
        return cls(model, served, preprocessing, _check_class_names(class_names, outputs, served), explain,
                   gradcam, _check_assets({**head_assets, **(assets or {})}, served.heads),
                   {**head_metadata, **(metadata or {})}, head_layers)


def head_descriptions(head_layers):
    """The assets and metadata entries that head layers give of themselves: ``(assets, metadata)``.

    A head layer with a method ``export_description(head) -> (assets, metadata)`` (an output-code head: its
    code matrix; a DEX head: its age bins) adds ``assets`` (``{file name: bytes}``) and ``metadata``
    (``{key: {head: entry}}``; the entries of several heads under one key are merged).
    """
    assets, metadata = {}, {}
    for head, layer in head_layers.items():
        describe = getattr(layer, "export_description", None)
        if describe is None:
            continue
        files, entries = describe(head)
        assets.update(files)
        for key, by_head in entries.items():
            metadata.setdefault(key, {}).update(by_head)
    return assets, metadata


def _gradcam_layer(model, outputs, name):
    """The layer Grad-CAM weighs: ``name``, or the last 4-D layer feeding a head."""
    if name is None:
        layer = _explain.last_feature_layer(model, outputs.values())
        if layer is None:
            raise ExportError("explain='gradcam' needs a 4-D (batch, height, width, channels) layer before the "
                              "heads; none found (pass gradcam_layer=NAME)")
        return layer
    layer = model.get_layer(name)
    if len(layer.output.shape) != 4:
        raise ExportError(f"gradcam layer {name!r} has output shape {tuple(layer.output.shape)}, "
                          "expected (batch, height, width, channels)")
    return layer


def _check_class_names(class_names, outputs, served):
    """``{head: [str, ...]}`` from ``class_names``: a dict by head, or a list for a model with one head."""
    if class_names is None:
        return {}
    if isinstance(class_names, (list, tuple)):
        if len(served.heads) != 1:
            raise ExportError(f"class_names: a list names the classes of a model with one head; this model has "
                              f"{len(served.heads)} heads, {served.heads}: pass {{head: [name, ...]}}")
        class_names = {served.heads[0]: class_names}
    if not isinstance(class_names, dict):
        raise ExportError(f"class_names must be {{head: [name, ...]}} (or a list for a one-head model), got "
                          f"{type(class_names).__name__}")
    checked = {}
    for head, names in class_names.items():
        if head not in served.heads:
            raise ExportError(f"class_names given for {head!r}, which is not a classification head; heads are "
                              f"{served.heads}")
        if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
            raise ExportError(f"class_names[{head!r}] must be a list of class names, got {type(names).__name__}")
        units = outputs[head].shape[-1]
        expected = 2 if units == 1 else units
        names = [str(n) for n in names]
        if len(names) != expected:
            raise ExportError(f"head {head!r} has {expected} classes but {len(names)} class names were given")
        bad = [n for n in names if "\n" in n or "\r" in n or n == ""]
        if bad:
            raise ExportError(f"class names of {head!r} must be non-empty single lines, got {bad!r}")
        checked[head] = names
    return checked


def _resolve_preprocessing(served, preprocessing):
    """``preprocessing`` (a Preprocessing, its fields as a dict, or None for a resize to the input size),
    checked against the image input."""
    if isinstance(preprocessing, dict):
        try:
            preprocessing = Preprocessing(**preprocessing)
        except TypeError as error:
            fields = [f.name for f in dataclasses.fields(Preprocessing)]
            raise ExportError(f"preprocessing: expected the fields {fields}, got {sorted(preprocessing)} "
                              f"({error})") from None
    h, w, c = served.image_shape
    if preprocessing is None:
        if h is None or w is None:
            raise ExportError(f"the image input {served.image_name!r} has dynamic size {served.image_shape}; pass "
                              "preprocessing=Preprocessing(image_size=(H, W)) to say what serving resizes to")
        preprocessing = Preprocessing(image_size=(h, w), channels=c)
    if not isinstance(preprocessing, Preprocessing):
        raise ExportError("preprocessing must be a kerasfg.export.Preprocessing, a dict of its fields or None, "
                          f"got {type(preprocessing).__name__}")
    if (h is not None and (h, w) != preprocessing.image_size) or (c is not None and c != preprocessing.channels):
        raise ExportError(f"preprocessing makes {preprocessing.image_size + (preprocessing.channels,)} images "
                          f"but the model's {served.image_name!r} input is {served.image_shape}")
    return preprocessing


def labels_asset(head):
    """The file name, under the version's ``assets/``, of the class names of ``head`` (one per line)."""
    return f"{head}_labels.txt"


def _check_assets(assets, heads):
    """``{file name: bytes}`` from ``assets`` (values may be str, written as UTF-8)."""
    if assets is not None and not isinstance(assets, dict):
        raise ExportError(f"assets must be {{file name: bytes or str}}, got {type(assets).__name__}")
    reserved = {METADATA_ASSET, *(labels_asset(head) for head in heads)}
    checked = {}
    for name, content in (assets or {}).items():
        if not isinstance(name, str) or not re.match(r"^[\w][\w.\-]*$", name):
            raise ExportError(f"assets: {name!r} is not a plain file name (letters, digits, '_', '-', '.')")
        if name in reserved:
            raise ExportError(f"assets: {name!r} is written by kerasfg itself; reserved names are {sorted(reserved)}")
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes):
            raise ExportError(f"assets[{name!r}] must be bytes or str, got {type(content).__name__}")
        checked[name] = content
    return checked
