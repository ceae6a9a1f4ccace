"""TF Serving's wire formats: signature specs, REST JSON bodies and gRPC ``PredictRequest`` messages.

Plain functions, usable with any HTTP or gRPC stack; :class:`kerasfg.export.serving.ServingClient` sends
them. Conventions (TF Serving ``api_rest.md``, ``json_tensor.cc``, ``apis/*.proto``):

* REST: ``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict`` with ``{"signature_name": ...,
  "instances": [...]}`` (row format, one object per example) or ``{"inputs": {...}}`` (columnar). Binary
  values go as ``{"b64": "<standard base64>"}``. Errors come back as ``{"error": "..."}``.
* gRPC: ``PredictionService.Predict(PredictRequest)`` with ``model_spec`` and ``TensorProto`` inputs, whose
  dtype must equal the signature's exactly (TF Serving does not cast).
"""

from __future__ import annotations

import base64
import urllib.parse

import numpy as np

from kerasfg.errors import UserError

_DT = {  # TensorFlow DataType enum names -> numpy dtypes
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32, "DT_INT64": np.int64,
    "DT_UINT8": np.uint8, "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_UINT16": np.uint16,
    "DT_HALF": np.float16, "DT_BOOL": np.bool_, "DT_STRING": np.object_,
}
GRPC_STATUS_OF_HTTP = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 500: "INTERNAL", 503: "UNAVAILABLE"}


class ServingError(UserError, RuntimeError):
    """The server refused a request or cannot be reached; ``code`` is the gRPC status name (INVALID_ARGUMENT,
    NOT_FOUND, UNAVAILABLE, ...)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# === Signature specs ===


def _dtype_name(dtype) -> str:
    return "string" if np.dtype(dtype) == np.object_ else np.dtype(dtype).name


class TensorSpec:
    """dtype and shape (``-1`` for unknown dimensions) of one signature input or output."""

    def __init__(self, dtype, shape):
        self.dtype = np.dtype(dtype)
        self.shape = None if shape is None else tuple(int(d) for d in shape)

    def __repr__(self):
        shape = "unknown rank" if self.shape is None else f"shape {self.shape}"
        return f"{_dtype_name(self.dtype)} with {shape}"

    def matches_shape(self, shape) -> bool:
        return self.shape is None or (len(shape) == len(self.shape) and
                                      all(d == -1 or d == s for d, s in zip(self.shape, shape)))


def signatures_from_signature_defs(signature_defs) -> dict:
    """``{signature: {"inputs": {name: TensorSpec}, "outputs": {...}}}`` from a SignatureDef map, given as
    the JSON of TF Serving's REST metadata or as ``SignatureDef`` protos."""
    result = {}
    for name, sig in signature_defs.items():
        if not isinstance(sig, dict):
            from google.protobuf import json_format

            sig = json_format.MessageToDict(sig)
        entry = {}
        for part in ("inputs", "outputs"):
            entry[part] = {}
            for key, info in sig.get(part, {}).items():
                shape = info.get("tensorShape", info.get("tensor_shape", {}))
                unknown = shape.get("unknownRank", shape.get("unknown_rank", False))
                dims = None if unknown else [int(d.get("size", -1)) for d in shape.get("dim", [])]
                entry[part][key] = TensorSpec(_DT.get(info.get("dtype"), np.object_), dims)
        result[name] = entry
    return result


def validate_inputs(inputs, specs, signature="serving_default") -> dict:
    """Convert ``inputs`` to numpy arrays of the signature's dtypes; raise ValueError naming the expected
    spec for a missing or unknown input, a numpy array of another dtype, a lossy conversion or a bad shape."""
    missing = sorted(set(specs) - set(inputs))
    unknown = sorted(set(inputs) - set(specs))
    expected = ", ".join(f"{n}: {s}" for n, s in sorted(specs.items()))
    if missing or unknown:
        raise ValueError(f"signature {signature!r} takes inputs {{{expected}}}; missing {missing}, "
                         f"unexpected {unknown}")
    arrays = {}
    for name, value in inputs.items():
        spec = specs[name]
        if spec.dtype == np.object_:
            array = np.array(value, dtype=object)
            flat = array.reshape(-1)
            if not all(isinstance(v, (bytes, str)) for v in flat):
                raise ValueError(f"input {name!r} expects {spec} (bytes), got {type(flat[0]).__name__} values")
            array = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v, otypes=[object])(array) \
                if flat.size else array
        elif isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
            array = np.asarray(value)
            if array.dtype != spec.dtype:
                raise ValueError(f"input {name!r} expects {spec}, got a {array.dtype.name} array of shape "
                                 f"{array.shape} (TF Serving does not cast; convert it with .astype)")
        else:
            raw = np.asarray(value)
            if raw.dtype == np.object_ or raw.dtype.kind in "SU":
                raise ValueError(f"input {name!r} expects {spec}, got non-numeric values")
            array = raw.astype(spec.dtype)
            if not np.array_equal(array, raw):
                raise ValueError(f"input {name!r} expects {spec}; the values {raw.tolist()!r} do not convert "
                                 f"to {spec.dtype.name} exactly")
        if not spec.matches_shape(array.shape):
            raise ValueError(f"input {name!r} expects {spec}, got shape {array.shape}")
        arrays[name] = array
    return arrays


# === REST ===


def rest_url(server, model, verb="predict", version=None, label=None) -> str:
    """``http://host:8501/v1/models/<model>[/versions/<v>|/labels/<l>][:<verb>]``; verb None for status."""
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    url = f"{server.rstrip('/')}/v1/models/{urllib.parse.quote(model)}"
    if version is not None:
        url += f"/versions/{int(version)}"
    elif label is not None:
        url += f"/labels/{urllib.parse.quote(label)}"
    if verb == "metadata":
        return url + "/metadata"
    return url + (f":{verb}" if verb else "")


def _to_json(value):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}  # standard alphabet, as json_tensor.cc wants
    if isinstance(value, np.ndarray):
        if value.dtype == np.object_:
            return [_to_json(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def rest_body(inputs, signature=None, format="instances") -> dict:
    """The JSON body of a REST predict request.

    Args:
        inputs: ``{input name: batch}``; ``bytes`` values (or object arrays of bytes) are sent as
            ``{"b64": ...}``.
        signature: the signature name; default the server's ``serving_default``.
        format: ``"instances"`` (row format: one object per example; every input must have the same batch
            size) or ``"inputs"`` (columnar).
    """
    body = {} if signature is None else {"signature_name": signature}
    if format == "inputs":
        body["inputs"] = {name: _to_json(value) for name, value in inputs.items()}
        return body
    if format != "instances":
        raise ValueError(f"format must be 'instances' or 'inputs', got {format!r}")
    columns = {name: _to_json(value) for name, value in inputs.items()}
    sizes = {name: len(column) for name, column in columns.items() if isinstance(column, list)}
    if len(sizes) != len(columns) or len(set(sizes.values())) != 1:
        raise ValueError(f"row format needs batched inputs of one batch size, got sizes {sizes} for "
                         f"{sorted(columns)}; use format='inputs'")
    (batch,) = set(sizes.values())
    if len(columns) == 1:
        (column,) = columns.values()
        body["instances"] = column
    else:
        body["instances"] = [{name: column[k] for name, column in columns.items()} for k in range(batch)]
    return body


def _from_json(values):
    """JSON output values to numpy ({"b64"} objects become bytes)."""
    def convert(v):
        if isinstance(v, dict) and set(v) == {"b64"}:
            return base64.b64decode(v["b64"])
        if isinstance(v, list):
            return [convert(x) for x in v]
        return v

    converted = convert(values)
    flat = np.asarray(converted, dtype=object).reshape(-1)
    if flat.size and all(isinstance(x, (str, bytes)) for x in flat):
        return np.asarray(converted, dtype=object)
    return np.asarray(converted)


def parse_rest_response(body, output_names=None) -> dict:
    """``{output: numpy batch}`` from a REST predict response (row or columnar)."""
    if "error" in body:
        raise ServingError("INVALID_ARGUMENT", body["error"])
    if "outputs" in body:
        outputs = body["outputs"]
        if not isinstance(outputs, dict):  # a single unnamed output
            name = output_names[0] if output_names and len(output_names) == 1 else "output"
            outputs = {name: outputs}
        return {name: _from_json(value) for name, value in outputs.items()}
    predictions = body["predictions"]
    if predictions and isinstance(predictions[0], dict):
        return {name: _from_json([p[name] for p in predictions]) for name in predictions[0]}
    name = output_names[0] if output_names and len(output_names) == 1 else "output"
    return {name: _from_json(predictions)}


# === gRPC ===


def predict_request(model, inputs, signature="serving_default", version=None, label=None):
    """A ``tensorflow.serving.PredictRequest``; ``inputs`` are numpy arrays (or lists) by input name. Arrays
    keep their dtype: pass them through :func:`validate_inputs` first to match the signature."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    elif label is not None:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], bytes):
            value = np.array(value, dtype=object)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def parse_predict_response(response) -> dict:
    import tensorflow as tf

    return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}
