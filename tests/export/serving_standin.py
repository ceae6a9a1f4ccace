"""TEST FIXTURE: a loopback stand-in for ``tensorflow_model_server`` (not shipped, not a server to deploy).

The real TF Serving binary cannot be installed on our machines (ECOSYSTEM.md e.7), so the client and the
exports are tested against this stand-in, which implements the parts of TF Serving that kerasfg relies on,
with the official ``tensorflow-serving-api`` protos:

* ``models.config`` parsed with ``ModelServerConfig``; version policies (latest N, all, specific) and labels;
* warmup: ``assets.extra/tf_serving_warmup_requests`` replayed at load (a failing record fails the load);
* REST on 127.0.0.1: ``GET /v1/models/<m>[/versions/<v>|/labels/<l>]`` (status), ``.../metadata``,
  ``POST ...:predict`` in row (``instances``) and columnar (``inputs``) format with ``{"b64": ...}`` values;
  errors as HTTP 400/404 ``{"error": ...}``;
* gRPC on 127.0.0.1 with the official ``PredictionServiceServicer``: ``Predict`` and ``GetModelMetadata``;
  a dtype other than the signature's is INVALID_ARGUMENT, as in the real server (no casting).

What it cannot prove: the real server's batching, threading, exact error strings and HTTP parser.
"""

from __future__ import annotations

import base64
import concurrent.futures
import http.server
import json
import pathlib
import re
import threading

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format, text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2


class StandinError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _np_dtype(dt_enum):
    dtype = tf.dtypes.as_dtype(dt_enum)
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)


class _Version:
    def __init__(self, path: pathlib.Path):
        self.path = path
        self.loaded = tf.saved_model.load(str(path))
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        self.signature_defs = {k: v for k, v in saved.meta_graphs[0].signature_def.items()
                               if k != "__saved_model_init_op"}
        self.warmup_records = self._warmup()

    def _warmup(self):
        path = self.path / "assets.extra" / "tf_serving_warmup_requests"
        if not path.exists():
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(str(path)):
            log = prediction_log_pb2.PredictionLog()
            log.ParseFromString(record.numpy())
            request = log.predict_log.request
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            self.run(request.model_spec.signature_name or "serving_default", inputs)
            count += 1
        if count > 1000:
            raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"{count} warmup records > 1000")
        return count

    def run(self, signature, inputs):
        """Run a signature on numpy inputs, checking names and dtypes as the server does."""
        if signature not in self.signature_defs:
            raise StandinError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"Serving signature key \"{signature}\" not found.")
        sig = self.signature_defs[signature]
        missing = sorted(set(sig.inputs) - set(inputs))
        unknown = sorted(set(inputs) - set(sig.inputs))
        if missing or unknown:
            raise StandinError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input size does not match signature: missing {missing}, unexpected {unknown}")
        tensors = {}
        for name, value in inputs.items():
            expected = _np_dtype(sig.inputs[name].dtype)
            if np.asarray(value).dtype != expected:
                raise StandinError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Expects arg {name!r} to be {tf.dtypes.as_dtype(sig.inputs[name].dtype).name}"
                                   f" but {tf.dtypes.as_dtype(np.asarray(value).dtype).name} is provided")
            tensors[name] = tf.constant(value)
        try:
            outputs = self.loaded.signatures[signature](**tensors)
        except tf.errors.InvalidArgumentError as err:
            raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, err.message) from None
        except (TypeError, ValueError) as err:  # the signature's static shape check
            raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from None
        return {k: v.numpy() for k, v in outputs.items()}


class _Model:
    def __init__(self, config: model_server_config_pb2.ModelConfig):
        self.name = config.name
        base = pathlib.Path(config.base_path)
        available = sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())
        policy = config.model_version_policy
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            chosen = available
        elif which == "specific":
            chosen = [v for v in policy.specific.versions if v in available]
        else:
            chosen = available[-(policy.latest.num_versions or 1):]
        self.versions = {v: _Version(base / str(v)) for v in chosen}
        self.labels = dict(config.version_labels)
        for label, version in self.labels.items():
            if version not in self.versions:
                raise StandinError(grpc.StatusCode.FAILED_PRECONDITION,
                                   f"label {label!r} points to version {version}, which is not loaded")

    def version(self, version=None, label=None) -> tuple[int, _Version]:
        if label:
            if label not in self.labels:
                raise StandinError(grpc.StatusCode.NOT_FOUND, f"Unrecognized servable version label: {label}")
            version = self.labels[label]
        if version is None:
            version = max(self.versions)
        if version not in self.versions:
            raise StandinError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: Specific({self.name}, {version})")
        return version, self.versions[version]


class ServingStandin:
    """Loads the models of a ``models.config`` and serves them over REST and gRPC on 127.0.0.1.

    Use as a context manager; ``rest_url`` and ``grpc_target`` say where it listens.
    """

    def __init__(self, models_config_path):
        config = text_format.Parse(pathlib.Path(models_config_path).read_text(),
                                   model_server_config_pb2.ModelServerConfig())
        self.models = {c.name: _Model(c) for c in config.model_config_list.config}
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(self))
        self._grpc = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_Servicer(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self.rest_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self._thread = None

    def __enter__(self):
        self._grpc.start()
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=None)

    def model(self, name) -> _Model:
        if name not in self.models:
            raise StandinError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        return self.models[name]

    def metadata(self, name, version=None, label=None):
        number, loaded = self.model(name).version(version, label)
        return number, loaded.signature_defs


# === gRPC ===


class _Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, standin: ServingStandin):
        self.standin = standin

    @staticmethod
    def _spec(model_spec):
        version = model_spec.version.value if model_spec.HasField("version") else None
        return model_spec.name, version, model_spec.version_label or None

    def Predict(self, request, context):
        try:
            name, version, label = self._spec(request.model_spec)
            number, loaded = self.standin.model(name).version(version, label)
            signature = request.model_spec.signature_name or "serving_default"
            outputs = loaded.run(signature, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        except StandinError as err:
            context.abort(err.code, err.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = name
        response.model_spec.version.value = number
        response.model_spec.signature_name = signature
        for key, value in outputs.items():
            if not request.output_filter or key in request.output_filter:
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        try:
            name, version, label = self._spec(request.model_spec)
            number, defs = self.standin.metadata(name, version, label)
        except StandinError as err:
            context.abort(err.code, err.message)
        defs_map = get_model_metadata_pb2.SignatureDefMap()
        for key, value in defs.items():
            defs_map.signature_def[key].CopyFrom(value)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = number
        response.metadata["signature_def"].Pack(defs_map)
        return response


# === REST ===

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<rest>/metadata|:predict)?$")
_HTTP = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
         grpc.StatusCode.NOT_FOUND: 404}


def _from_json(value, dtype):
    def convert(v):
        if isinstance(v, list):
            return [convert(x) for x in v]
        if dtype == np.object_:
            if isinstance(v, dict):
                if set(v) != {"b64"}:
                    raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected object {v!r}")
                try:
                    return base64.b64decode(v["b64"], validate=True)  # standard alphabet only
                except ValueError as err:
                    raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"Unable to base64 decode: {err}") \
                        from None
            if isinstance(v, str):
                return v.encode()
            raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"expected a string or {{\"b64\"}}, got {v!r}")
        if isinstance(v, (dict, str)):
            raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"expected a number, got {v!r}")
        return v

    converted = convert(value)
    if dtype == np.object_:
        return np.array(converted, dtype=object)
    raw = np.asarray(converted)
    array = raw.astype(dtype)
    if not np.array_equal(array, raw):
        raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"values {raw.tolist()} are not {dtype.name}")
    return array


def _to_json(name, value):
    if isinstance(value, np.ndarray) and value.dtype == np.object_:
        if name.endswith("_bytes"):
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(value).tolist()
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
    return value.tolist()


def _rest_predict(standin, name, version, label, body):
    _, loaded = standin.model(name).version(version, label)
    signature = body.get("signature_name", "serving_default")
    if signature not in loaded.signature_defs:
        raise StandinError(grpc.StatusCode.FAILED_PRECONDITION, f"Serving signature name: \"{signature}\" not found")
    sig = loaded.signature_defs[signature]
    dtypes = {k: _np_dtype(v.dtype) for k, v in sig.inputs.items()}
    if ("instances" in body) == ("inputs" in body):
        raise StandinError(grpc.StatusCode.INVALID_ARGUMENT,
                           "JSON object: does not have named input(s) 'instances' or 'inputs' (exactly one)")
    if "inputs" in body:
        columns = body["inputs"] if isinstance(body["inputs"], dict) and set(body["inputs"]) <= set(dtypes) \
            else {next(iter(dtypes)): body["inputs"]}
    else:
        instances = body["instances"]
        if len(dtypes) == 1 and not (instances and isinstance(instances[0], dict) and "b64" not in instances[0]):
            columns = {next(iter(dtypes)): instances}
        else:
            columns = {}
            for k, instance in enumerate(instances):
                if not isinstance(instance, dict) or set(instance) != set(dtypes):
                    raise StandinError(grpc.StatusCode.INVALID_ARGUMENT,
                                       f"instance {k} must be an object with the inputs {sorted(dtypes)}")
                for key, value in instance.items():
                    columns.setdefault(key, []).append(value)
    unknown = sorted(set(columns) - set(dtypes))
    if unknown:
        raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown inputs {unknown}")
    outputs = loaded.run(signature, {k: _from_json(v, dtypes[k]) for k, v in columns.items()})
    if "inputs" in body:
        if len(outputs) == 1:
            (value,) = outputs.values()
            return {"outputs": _to_json(next(iter(outputs)), value)}
        return {"outputs": {k: _to_json(k, v) for k, v in outputs.items()}}
    columns = {k: _to_json(k, v) for k, v in outputs.items()}
    batch = len(next(iter(columns.values())))
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{k: v[i] for k, v in columns.items()} for i in range(batch)]}


def _rest_handler(standin):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method):
            match = _PATH.match(self.path)
            if not match:
                return self._reply(404, {"error": f"Malformed request: {method} {self.path}"})
            name, label, rest = match["name"], match["label"], match["rest"]
            version = int(match["version"]) if match["version"] else None
            try:
                if method == "POST" and rest == ":predict":
                    try:
                        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    except ValueError as err:
                        raise StandinError(grpc.StatusCode.INVALID_ARGUMENT, f"JSON Parse error: {err}") from None
                    return self._reply(200, _rest_predict(standin, name, version, label, body))
                if method == "GET" and rest == "/metadata":
                    number, defs = standin.metadata(name, version, label)
                    return self._reply(200, {
                        "model_spec": {"name": name, "signature_name": "", "version": str(number)},
                        "metadata": {"signature_def": {"signature_def": {
                            k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                            for k, v in defs.items()}}}})
                if method == "GET" and rest is None:
                    model = standin.model(name)
                    versions = [model.version(version, label)[0]] if version or label else sorted(model.versions)
                    return self._reply(200, {"model_version_status": [
                        {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                        for v in versions]})
                return self._reply(404, {"error": f"Malformed request: {method} {self.path}"})
            except StandinError as err:
                return self._reply(_HTTP.get(err.code, 500), {"error": err.message})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

    return Handler
