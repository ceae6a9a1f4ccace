"""TF Serving warmup records: ``assets.extra/tf_serving_warmup_requests``.

The file is a TFRecord file of ``tensorflow.serving.PredictionLog`` protos (at most 1000). TensorFlow Serving
replays each record's ``PredictRequest`` when it loads a version (``--enable_model_warmup``, on by default),
so the first user request does not pay for graph initialization. kerasfg also stores each request's
expected ``PredictResponse`` (the Keras model's outputs at export time); the server ignores it, and
``verify-export`` compares the SavedModel's answers with it.
"""

from __future__ import annotations

import dataclasses
import pathlib

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving refuses warmup files with more records


@dataclasses.dataclass
class WarmupRequest:
    """One warmup record: the signature, its inputs and (optionally) the expected outputs."""

    signature_name: str
    inputs: dict  # name -> numpy array (object arrays of bytes for DT_STRING)
    outputs: dict | None = None

    def to_proto(self, model_name="model") -> prediction_log_pb2.PredictionLog:
        log = prediction_log_pb2.PredictionLog()
        request = log.predict_log.request
        request.model_spec.name = model_name
        request.model_spec.signature_name = self.signature_name
        for name, value in self.inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        for name, value in (self.outputs or {}).items():
            log.predict_log.response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return log

    @classmethod
    def from_proto(cls, log: prediction_log_pb2.PredictionLog) -> WarmupRequest:
        if not log.HasField("predict_log"):
            raise ValueError(f"warmup record holds a {log.WhichOneof('log_type')!r}, expected predict_log")
        request, response = log.predict_log.request, log.predict_log.response
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()} or None
        return cls(request.model_spec.signature_name or "serving_default", inputs, outputs)


def write_warmup(path, requests, model_name="model"):
    """Write ``requests`` (WarmupRequest) as a TFRecord file of PredictionLog protos, atomically."""
    requests = [requests] if isinstance(requests, WarmupRequest) else list(requests)
    wrong = sorted({type(r).__name__ for r in requests if not isinstance(r, WarmupRequest)})
    if wrong:
        raise ValueError(f"write_warmup takes WarmupRequest objects, got {wrong}")
    if not 0 < len(requests) <= MAX_RECORDS:
        raise ValueError(f"TF Serving accepts 1..{MAX_RECORDS} warmup records, got {len(requests)}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tf.io.TFRecordWriter(str(partial)) as writer:
        for request in requests:
            writer.write(request.to_proto(model_name).SerializeToString())
    partial.replace(path)
    return path


def read_warmup(path) -> list[WarmupRequest]:
    """Parse a warmup file back into WarmupRequests."""
    requests = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        requests.append(WarmupRequest.from_proto(log))
    return requests

