""":class:`ExportPlan`: the one description of an export.

:meth:`ExportPlan.for_model` checks every export option against what the model serves
(:mod:`kerasfg.export.served`) and returns the plan that the signature functions
(:mod:`kerasfg.export.signatures`), the reference outputs (:mod:`kerasfg.export.reference`) and the metadata
and assets (:mod:`kerasfg.export.metadata`) are built from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import keras

from kerasfg.data.preprocessing import ASSUMED, Preprocessing
from kerasfg.export import explain as _explain
from kerasfg.export.served import (
    ExportError,
    ServedModel,
    analyze_model,
    check_servable_layers,
    output_tensors,
)
from kerasfg.vis.introspect import producer

log = logging.getLogger(__name__)

METADATA_ASSET = "kerasfg_export.json"  # under the version's assets/
METADATA_KEYS = ("kerasfg_version", "tensorflow_version", "image_input", "extra_inputs", "heads", "map_outputs",
                 "class_names", "preprocessing", "explain", "signatures", "verification_tolerance", "assets")
"""The entries kerasfg writes in ``kerasfg_export.json`` (see :mod:`kerasfg.export.metadata`)."""
EXPLAIN_MODES = (None, "gradcam", "attention")


@dataclasses.dataclass(frozen=True)
class ExportPlan:
    """Everything an export is built from; make one with :meth:`for_model`.

    Attributes:
        model: the Keras model.
        served: its :class:`ServedModel`.
        preprocessing: the :class:`~kerasfg.data.preprocessing.Preprocessing` of ``serving_default``.
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
            try:
                gradcam = _explain.GradcamProbe(model, served.heads, preprocessing.image_size, gradcam_layer)
            except ValueError as error:
                raise ExportError(f"explain='gradcam': {error} (pass gradcam_layer=NAME, a layer with a "
                                  "(batch, height, width, channels) output)") from error
        elif explain == "attention" and not served.maps:
            raise ExportError("explain='attention' needs an attention-map output (an output that is not "
                              f"(batch, classes)); the model's outputs are {list(outputs)}")
        _check_metadata(metadata)
        head_layers = {head: producer(outputs[head]).layer for head in served.heads}
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
        preprocessing = Preprocessing(image_size=(h, w), channels=c, origin=ASSUMED)
        log.warning("no preprocessing given: serving_default %s (%s); pass preprocessing= to match the "
                    "training pipeline", ASSUMED, preprocessing.summary())
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


def _check_metadata(metadata):
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise ExportError(f"metadata must be a dict of extra JSON entries, got {type(metadata).__name__}")
    clashes = sorted(set(metadata) & set(METADATA_KEYS))
    if clashes:
        raise ExportError(f"metadata entries {clashes} are written by kerasfg itself; choose other keys")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as error:
        raise ExportError(f"metadata must be JSON-serializable: {error}") from None
