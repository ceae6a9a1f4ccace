"""Export a Keras model as a versioned SavedModel that TensorFlow Serving loads unchanged.

``export_saved_model(model, "saved_models/facecls")`` writes ``saved_models/facecls/<next version>/`` with:

* signatures, each returning a dict of named outputs (per classification head ``<head>_probs``,
  ``<head>_class`` and, when class names are given, ``<head>_name``):

  - ``serving_default``: ``image_bytes`` (a batch of encoded JPEG/PNG/...) decoded and resized in the graph
    with :mod:`kerasfg.export.preprocess`, plus the model's extra inputs by name;
  - ``serve_pixels``: the model's image input as float32 pixels in 0..255, plus the extra inputs;
  - ``explain`` (``explain="gradcam"`` or ``"attention"``): the inputs of ``serving_default``; returns the
    prediction and, per head, the Grad-CAM of the top class (``<head>_gradcam``, ``(B, H, W)`` in 0..1),
    and every attention-map output of the model under its own name;

* ``assets/<head>_labels.txt`` (the class names, read by the graph) and ``assets/kerasfg_export.json`` (input
  specs, preprocessing, heads, signatures);
* ``assets.extra/tf_serving_warmup_requests`` (PredictionLog records, see :mod:`kerasfg.export.warmup`) whose
  stored responses are the Keras model's own outputs, which :func:`kerasfg.export.verify.verify_export`
  compares against.

The version directory is written under a temporary sibling name, checked, verified and then renamed into
place, so TF Serving's file-system poller never sees a half-written version.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import re
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from kerasfg.export import preprocess as _pre
from kerasfg.export import warmup as _warmup
from kerasfg.export._verify_worker import scan_ops
from kerasfg.export.versions import list_versions, next_version  # noqa: F401 (public here too)
from kerasfg.io_utils import atomic_directory

log = logging.getLogger(__name__)

IMAGE_BYTES = "image_bytes"
EXPLAIN_MODES = (None, "gradcam", "attention")
METADATA_ASSET = "kerasfg_export.json"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ExportError(ValueError):
    """The model cannot be exported as a servable SavedModel; the message names the cause."""


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_saved_model` wrote."""

    path: pathlib.Path
    version: int
    signatures: dict  # signature name -> {"inputs": {name: spec}, "outputs": [names]}
    verification: object | None  # a kerasfg.export.verify.VerifyReport, or None with verify=False
    seconds: float


# === Model analysis ===


@dataclasses.dataclass
class ServingSpec:
    """The parts of a functional model that shape its signatures."""

    image_name: str
    image_shape: tuple  # (H, W, C) of the model's image input (None for dynamic)
    image_dtype: str
    extras: dict  # name -> (shape without batch, dtype)
    heads: list  # classification outputs (rank 2)
    maps: list  # other outputs (attention maps and the like), served by ``explain``

    def extra_specs(self):
        return {
            name: tf.TensorSpec((None, *shape), tf.as_dtype(dtype), name=name)
            for name, (shape, dtype) in self.extras.items()
        }


def analyze_model(model, heads=None) -> ServingSpec:
    """Find the image input, the extra inputs, the classification heads and the map outputs of ``model``."""
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
    outputs = _output_tensors(model)
    if heads is None:
        heads = [name for name, t in outputs.items() if len(t.shape) == 2]
    else:
        heads = list(heads)
        for name in heads:
            if name not in outputs or len(outputs[name].shape) != 2:
                raise ExportError(f"head {name!r} is not a (batch, classes) output of the model; outputs are "
                                  f"{ {k: tuple(v.shape) for k, v in outputs.items()} }")
    if not heads:
        raise ExportError(f"the model has no classification output of shape (batch, classes): "
                          f"{ {k: tuple(v.shape) for k, v in outputs.items()} }")
    for name in outputs:
        if not _NAME_RE.match(name):
            raise ExportError(f"model output name {name!r} is not a valid signature output name")
    maps = [name for name in outputs if name not in heads]
    return ServingSpec(image.name, tuple(image.shape[1:]), str(image.dtype), extras, heads, maps)


def _output_names(model):
    """Output names of a functional or Sequential model (Sequential has no ``output_names`` in Keras 3)."""
    names = getattr(model, "output_names", None)
    return list(names) if names else [t._keras_history.operation.name for t in model.outputs]


def _structure(model, attr):
    """``model.input``/``model.output`` (dict, list or tensor); Sequential models only have the plural."""
    try:
        return getattr(model, attr)
    except AttributeError:
        tensors = getattr(model, attr + "s")
        return tensors[0] if len(tensors) == 1 else list(tensors)


def _output_tensors(model):
    """The model's outputs as an ordered dict name -> KerasTensor."""
    return _named_outputs(model, _structure(model, "output"))


def _named_outputs(model, values):
    if isinstance(values, dict):
        return dict(values)
    if isinstance(values, (list, tuple)):
        return dict(zip(_output_names(model), values))
    return {_output_names(model)[0]: values}


def _model_inputs(model, by_name):
    """Arrange tensors keyed by input name in the structure the model was built with."""
    return keras.tree.map_structure(lambda t: by_name[t.name], _structure(model, "input"))


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


def find_gradcam_layer(model, spec: ServingSpec, name=None):
    """The layer whose activations Grad-CAM weighs: ``name``, or the last 4-D layer feeding a head."""
    if name is not None:
        layer = model.get_layer(name)
        if len(layer.output.shape) != 4:
            raise ExportError(f"gradcam layer {name!r} has output shape {tuple(layer.output.shape)}, "
                              "expected (batch, height, width, channels)")
        return layer
    output_layers = {t._keras_history.operation for t in _output_tensors(model).values()}
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer) or layer in output_layers:
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # shared layers have several outputs
            continue
        if len(shape) == 4 and (shape[1] is None or shape[1] > 1):
            return layer
    raise ExportError("explain='gradcam' needs a 4-D (batch, height, width, channels) layer before the heads; "
                      "none found (pass gradcam_layer=NAME)")


# === Serving functions ===


class _Signatures:
    """Builds the serving functions of one model; each returns a dict of named tensors."""

    def __init__(self, model, spec: ServingSpec, preprocessing, tables, gradcam_layer=None):
        self.model = model
        self.spec = spec
        self.pre = preprocessing
        self.tables = tables
        self.probe = None
        self.logit_layers = {}  # head -> its Dense softmax/sigmoid layer, whose pre-activation Grad-CAM uses
        if gradcam_layer is not None:
            self.logit_layers = logit_layers(model, spec)
            features = {head: layer.input for head, layer in self.logit_layers.items()}
            self.probe = keras.Model(_structure(model, "input"),
                                     [gradcam_layer.output, _structure(model, "output"), features],
                                     name=f"{model.name}_gradcam_probe")

    # -- input handling

    def pixel_spec(self):
        h, w = self.pre.image_size
        return tf.TensorSpec((None, h, w, self.pre.channels), tf.float32, name=self.spec.image_name)

    def bytes_spec(self):
        return tf.TensorSpec((None,), tf.string, name=IMAGE_BYTES)

    def _check_inputs(self, pixels, extras):
        """In-graph checks that name the expected spec (TF Serving returns them as INVALID_ARGUMENT).

        The messages avoid quotes, which the Assert op prints escaped."""
        checks = []
        h, w = self.pre.image_size
        checks.append(tf.debugging.assert_equal(
            tf.shape(pixels)[1:], tf.constant([h, w, self.pre.channels]),
            message=f"input {self.spec.image_name} expects float32 pixels of shape (-1, {h}, {w}, "
                    f"{self.pre.channels}), got shape"))
        batch = tf.shape(pixels)[0]
        for name, value in extras.items():
            shape, dtype = self.spec.extras[name]
            checks.append(tf.debugging.assert_equal(
                tf.shape(value)[0], batch,
                message=f"input {name} ({dtype} of shape (-1, {', '.join(map(str, shape))})) must have "
                        "the same batch size as the images; got batch sizes"))
        return checks

    def _pixels_from_bytes(self, image_bytes):
        return _pre.decode_images(image_bytes, self.pre)

    def _call(self, model, pixels, extras):
        with tf.control_dependencies(self._check_inputs(pixels, extras)):
            pixels = tf.identity(pixels)
        by_name = {self.spec.image_name: tf.cast(pixels, self.spec.image_dtype), **extras}
        return model(_model_inputs(self.model, by_name), training=False)

    # -- outputs

    def head_outputs(self, outputs):
        result = {}
        for head in self.spec.heads:
            probs = tf.cast(outputs[head], tf.float32)
            if probs.shape[-1] == 1:  # one sigmoid unit: class 1 when p > 0.5
                cls = tf.cast(probs[:, 0] > 0.5, tf.int32)
            else:
                cls = tf.argmax(probs, axis=-1, output_type=tf.int32)
            result[f"{head}_probs"] = probs
            result[f"{head}_class"] = cls
            if head in self.tables:
                result[f"{head}_name"] = self.tables[head].lookup(tf.cast(cls, tf.int64))
        return result

    # -- the signatures

    def serve_bytes(self, inputs):
        extras = {k: v for k, v in inputs.items() if k != IMAGE_BYTES}
        pixels = self._pixels_from_bytes(inputs[IMAGE_BYTES])
        return self.head_outputs(_named_outputs(self.model, self._call(self.model, pixels, extras)))

    def serve_pixels(self, inputs):
        extras = {k: v for k, v in inputs.items() if k != self.spec.image_name}
        return self.head_outputs(_named_outputs(self.model, self._call(self.model, inputs[self.spec.image_name],
                                                                       extras)))

    def explain_pixels(self, pixels, extras):
        """Prediction + Grad-CAM (when a probe layer is set) + map outputs, from pixels."""
        if self.probe is None:
            outputs = _named_outputs(self.model, self._call(self.model, pixels, extras))
            result = self.head_outputs(outputs)
        else:
            with tf.GradientTape(persistent=len(self.spec.heads) > 1) as tape:
                activations, outputs, features = self._call(self.probe, pixels, extras)
                outputs = _named_outputs(self.model, outputs)
                result = self.head_outputs(outputs)
                scores = {}
                for head in self.spec.heads:
                    cls = result[f"{head}_class"]
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
                        side = y[:, 0] if head in self.logit_layers else y[:, 0] - 0.5
                        scores[head] = tf.reduce_sum(tf.where(cls > 0, side, -side))
                    else:
                        scores[head] = tf.reduce_sum(tf.gather(y, cls, batch_dims=1))
            for head in self.spec.heads:
                grads = tape.gradient(scores[head], activations)
                result[f"{head}_gradcam"] = gradcam_map(activations, grads, self.pre.image_size)
        for name in self.spec.maps:
            result[name] = tf.cast(outputs[name], tf.float32)
        return result

    def explain(self, inputs):
        extras = {k: v for k, v in inputs.items() if k != IMAGE_BYTES}
        return self.explain_pixels(self._pixels_from_bytes(inputs[IMAGE_BYTES]), extras)


def logit_layers(model, spec):
    """Heads whose logits Grad-CAM can differentiate, as in the paper: produced by a ``Dense`` layer with a
    softmax/sigmoid activation (logits = its pre-activation) or by a ``Softmax`` layer or softmax/sigmoid
    ``Activation`` layer (logits = its input). Other heads use their output values."""
    squash = (keras.activations.softmax, keras.activations.sigmoid)
    outputs = _output_tensors(model)
    found = {}
    for head in spec.heads:
        layer = outputs[head]._keras_history.operation
        activation = getattr(layer, "activation", None)
        if isinstance(layer, keras.layers.Softmax) or (
                isinstance(layer, (keras.layers.Dense, keras.layers.Activation)) and activation in squash):
            found[head] = layer
    return found


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


def default_tolerance(model) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing the SavedModel with the Keras model: graph rewrites (fused oneDNN
    kernels) round differently from eager execution, by up to one unit in the last place of the compute
    dtype, so mixed-precision models get the tolerance of their half-precision type."""
    dtypes = {getattr(layer, "compute_dtype", "float32") for layer in model.layers}
    if "bfloat16" in dtypes:
        return 2e-2, 1e-2  # bfloat16 has 8 bits of mantissa: one ulp at 1.0 is 0.0078
    if "float16" in dtypes:
        return 5e-3, 2e-3
    return 1e-4, 1e-5


# === Export ===


def _check_class_names(class_names, model, spec):
    class_names = dict(class_names or {})
    outputs = _output_tensors(model)
    for head, names in class_names.items():
        if head not in spec.heads:
            raise ExportError(f"class_names given for {head!r}, which is not a classification head; heads are "
                              f"{spec.heads}")
        units = outputs[head].shape[-1]
        expected = 2 if units == 1 else units
        names = [str(n) for n in names]
        if len(names) != expected:
            raise ExportError(f"head {head!r} has {expected} classes but {len(names)} class names were given")
        bad = [n for n in names if "\n" in n or "\r" in n or n == ""]
        if bad:
            raise ExportError(f"class names of {head!r} must be non-empty single lines, got {bad!r}")
        class_names[head] = names
    return class_names


def _default_preprocessing(spec, preprocessing):
    if isinstance(preprocessing, dict):
        preprocessing = _pre.Preprocessing(**preprocessing)
    h, w, c = spec.image_shape
    if preprocessing is None:
        if h is None or w is None:
            raise ExportError(f"the image input {spec.image_name!r} has dynamic size {spec.image_shape}; pass "
                              "preprocessing=Preprocessing(image_size=(H, W)) to say what serving resizes to")
        preprocessing = _pre.Preprocessing(image_size=(h, w), channels=c)
    if (h is not None and (h, w) != preprocessing.image_size) or (c is not None and c != preprocessing.channels):
        raise ExportError(f"preprocessing makes {preprocessing.image_size + (preprocessing.channels,)} images "
                          f"but the model's {spec.image_name!r} input is {spec.image_shape}")
    return preprocessing


def sample_images(preprocessing, count=2, seed=0) -> list[bytes]:
    """Deterministic smooth test images: a lossless PNG at the model's size, then JPEGs of other sizes."""
    rng = np.random.default_rng(seed)
    h, w = preprocessing.image_size
    images = []
    for k in range(count):
        size = (h, w) if k == 0 else (h + 7 * k, w + 3 * k)
        yy, xx = np.meshgrid(np.linspace(0, 1, size[0]), np.linspace(0, 1, size[1]), indexing="ij")
        base = np.stack([yy, xx, (yy + xx) / 2][: preprocessing.channels], axis=-1) * 200
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        encode = tf.io.encode_png if k == 0 else (lambda p: tf.io.encode_jpeg(p, quality=90))
        images.append(bytes(encode(pixels).numpy()))
    return images


def _sample_extras(spec, batch, sample_inputs):
    extras = {}
    sample_inputs = dict(sample_inputs or {})
    for name, (shape, dtype) in spec.extras.items():
        if name in sample_inputs:
            value = np.asarray(sample_inputs[name], dtype=dtype)
            if value.shape != (batch, *shape):
                raise ExportError(f"sample_inputs[{name!r}] must have shape {(batch, *shape)}, got {value.shape}")
        else:  # zeros are valid for embeddings, masks and numeric features alike
            value = np.zeros((batch, *[s or 1 for s in shape]), dtype=dtype)
        extras[name] = value
    return extras


def export_saved_model(
    model,
    base_path,
    version: int | None = None,
    *,
    class_names: dict | None = None,
    explain: str | None = None,
    gradcam_layer: str | None = None,
    heads=None,
    preprocessing=None,
    sample_images_bytes: list[bytes] | None = None,
    sample_inputs: dict | None = None,
    warmup: bool = True,
    verify: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
) -> ExportResult:
    """Export ``model`` to ``<base_path>/<version>/`` for TensorFlow Serving, atomically.

    Args:
        model: a built functional ``keras.Model`` with one image input (``(B, H, W, C)`` float pixels in
            0..255; normalization inside the model), optional extra inputs (scalars or vectors per example)
            and one output or a dict of named outputs.
        base_path: the TF Serving model base path; versions are its integer subdirectories.
        version: the version to write; default the next integer. An existing version is never overwritten.
        class_names: ``{head: [name, ...]}``; adds ``<head>_name`` outputs and ``assets/<head>_labels.txt``.
        explain: None, ``"gradcam"`` (Grad-CAM of each head's top class, plus any map outputs) or
            ``"attention"`` (the model's attention-map outputs) adds the ``explain`` signature.
        gradcam_layer: the layer Grad-CAM weighs; default the last 4-D layer before the outputs.
        heads: the classification outputs; default every ``(batch, classes)`` output.
        preprocessing: a :class:`kerasfg.export.preprocess.Preprocessing` (or its kwargs) matching the
            training pipeline; default bilinear resize to the model's input size.
        sample_images_bytes, sample_inputs: encoded images and extra-input values for the warmup records and
            the verification (default: synthetic images and zeros).
        warmup: write ``assets.extra/tf_serving_warmup_requests``.
        verify: run :func:`kerasfg.export.verify.verify_export` on the written version before publishing it.
        rtol, atol: verification tolerance between the SavedModel's and the Keras model's outputs; default
            from the model's precision (see :func:`default_tolerance`).

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: the model cannot serve (Lambda layer, py_function, non-stock op, bad names...), or the
            verification failed; nothing is published then.
        FileExistsError: the version exists.
    """
    from kerasfg.export import verify as _verify  # verify imports this module

    start = time.perf_counter()
    if explain not in EXPLAIN_MODES:
        raise ExportError(f"explain must be one of {EXPLAIN_MODES}, got {explain!r}")
    spec = analyze_model(model, heads)
    check_servable_layers(model)
    class_names = _check_class_names(class_names, model, spec)
    pre = _default_preprocessing(spec, preprocessing)
    layer = None
    if explain == "gradcam":
        layer = find_gradcam_layer(model, spec, gradcam_layer)
    elif explain == "attention" and not spec.maps:
        raise ExportError("explain='attention' needs an attention-map output (an output that is not "
                          f"(batch, classes)); the model's outputs are {list(_output_tensors(model))}")

    base = pathlib.Path(base_path)
    version = next_version(base) if version is None else int(version)
    if version < 0:
        raise ExportError(f"version must be a non-negative integer, got {version}")
    final = base / str(version)
    scratch = None  # holds the verification requests when no warmup file is written
    try:
        # Written and verified under a temporary name, published by one rename: TF Serving's file
        # system poller never sees a partial version, and a failed check publishes nothing.
        with atomic_directory(final) as staging:
            signatures = _write(model, spec, pre, class_names, layer, explain, staging)
            problems = scan_ops(staging)["problems"]
            if problems:
                raise ExportError("the exported graph would not serve in TensorFlow Serving:\n  "
                                  + "\n  ".join(problems))
            images = list(sample_images_bytes or sample_images(pre))
            extras = _sample_extras(spec, len(images), sample_inputs)
            records = reference_requests(model, spec, pre, images, extras, signatures, layer, class_names)
            requests_file = staging / "assets.extra" / _warmup.WARMUP_FILE
            if not warmup:
                scratch = tempfile.mkdtemp(prefix="kerasfg-verify-")
                requests_file = pathlib.Path(scratch) / _warmup.WARMUP_FILE
            _warmup.write_warmup(requests_file, records)
            default_rtol, default_atol = default_tolerance(model)
            tolerance = (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)
            _write_metadata(staging, model, spec, pre, class_names, signatures, explain, layer, tolerance)
            report = None
            if verify:
                report = _verify.verify_export(staging, requests_file=requests_file, rtol=tolerance[0],
                                               atol=tolerance[1], require_version_dir=False)
                if not report.ok:
                    raise ExportError(f"verification of the export failed:\n{report.summary()}")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    log.info("exported %s (%s) in %.1f s", final, ", ".join(signatures), seconds)
    if report is not None:
        report.path = final
    return ExportResult(final, version, signatures, report, seconds)


def _write(model, spec, pre, class_names, layer, explain, staging):
    sigs = _Signatures(model, spec, pre, {}, layer)
    extra_specs = spec.extra_specs()
    with tempfile.TemporaryDirectory(prefix="kerasfg-labels-") as labels_dir:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for head, names in class_names.items():
            labels = pathlib.Path(labels_dir) / f"{head}_labels.txt"
            labels.write_text("\n".join(names) + "\n", encoding="utf-8")
            table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(str(labels), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                              tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
                default_value="")
            archive.track(table)
            sigs.tables[head] = table
        bytes_inputs = {IMAGE_BYTES: sigs.bytes_spec(), **extra_specs}
        pixel_inputs = {spec.image_name: sigs.pixel_spec(), **extra_specs}
        endpoints = {"serving_default": (sigs.serve_bytes, bytes_inputs),
                     "serve_pixels": (sigs.serve_pixels, pixel_inputs)}
        if explain:
            endpoints["explain"] = (sigs.explain, bytes_inputs)
        signatures = {}
        for name, (fn, inputs) in endpoints.items():
            concrete = archive.add_endpoint(name, fn, input_signature=[inputs]).get_concrete_function()
            signatures[name] = {
                "inputs": {k: {"dtype": v.dtype.name, "shape": [-1 if d is None else d for d in v.shape]}
                           for k, v in inputs.items()},
                "outputs": sorted(concrete.structured_outputs),
            }
        archive.write_out(str(staging), verbose=False)
    return signatures


def _write_metadata(staging, model, spec, pre, class_names, signatures, explain, layer, tolerance):
    import kerasfg

    logits = logit_layers(model, spec) if layer is not None else {}
    meta = {
        "kerasfg_version": kerasfg.__version__,
        "tensorflow_version": tf.__version__,
        "image_input": spec.image_name,
        "extra_inputs": {k: {"shape": list(s), "dtype": d} for k, (s, d) in spec.extras.items()},
        "heads": spec.heads,
        "map_outputs": spec.maps,
        "class_names": class_names,
        "preprocessing": pre.describe(),
        "explain": {"mode": explain, "gradcam_layer": layer.name if layer is not None else None,
                    "gradcam_score": {head: "logit" if head in logits else "output value"
                                      for head in spec.heads} if layer is not None else None},
        "signatures": signatures,
        "verification_tolerance": {"rtol": tolerance[0], "atol": tolerance[1]},
    }
    assets = staging / "assets"
    assets.mkdir(exist_ok=True)
    (assets / METADATA_ASSET).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def read_metadata(path) -> dict:
    """The ``assets/kerasfg_export.json`` description of an exported version."""
    return json.loads((pathlib.Path(path) / "assets" / METADATA_ASSET).read_text(encoding="utf-8"))


def expected_outputs(model, spec, pre, signature, inputs, layer=None, class_names=None):
    """The outputs ``signature`` must return for ``inputs`` (numpy, by signature input name), computed by
    calling the Keras model eagerly; the reference that verification compares the SavedModel against."""
    sigs = _Signatures(model, spec, pre, {}, layer)
    if IMAGE_BYTES in inputs:
        pixels = _pre.decode_images(tf.constant(inputs[IMAGE_BYTES]), pre)
    else:
        pixels = tf.constant(inputs[spec.image_name], tf.float32)
    extras = {k: tf.constant(v) for k, v in inputs.items() if k in spec.extras}
    if signature == "explain":
        result = sigs.explain_pixels(pixels, extras)
    else:
        result = sigs.head_outputs(_named_outputs(model, model(
            _model_inputs(model, {spec.image_name: tf.cast(pixels, spec.image_dtype), **extras}), training=False)))
    result = {k: v.numpy() for k, v in result.items()}
    for head, names in (class_names or {}).items():
        result[f"{head}_name"] = np.array([names[c].encode() for c in result[f"{head}_class"]], dtype=object)
    return result


def reference_requests(model, spec, pre, images, extras, signatures, layer, class_names):
    """Warmup requests for every signature, each with the Keras model's own outputs as its response."""
    pixels = _pre.decode_images(tf.constant(images), pre).numpy()
    requests = []
    for name in signatures:
        if name == "serve_pixels":
            inputs = {spec.image_name: pixels, **extras}
        else:
            inputs = {IMAGE_BYTES: np.array(images, dtype=object), **extras}
        outputs = expected_outputs(model, spec, pre, name, inputs, layer, class_names)
        requests.append(_warmup.WarmupRequest(name, inputs, outputs))
    return requests
