"""A client for TensorFlow Serving: REST (``:8501``) and gRPC (``:8500``) predict requests.

:class:`ServingClient` sends the requests that :mod:`kerasfg.export.protocol` builds. With ``validate=True``
it reads the signature from the server's model metadata and checks every input before sending, so a wrong
dtype or shape fails with an error naming the expected spec.
"""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from kerasfg.export.protocol import (
    GRPC_STATUS_OF_HTTP,
    ServingError,
    parse_predict_response,
    parse_rest_response,
    predict_request,
    rest_body,
    rest_url,
    signatures_from_signature_defs,
    validate_inputs,
)

__all__ = ["ServingClient", "ServingError"]


# === Client ===


class ServingClient:
    """Predict against a TF Serving model over REST (``http://host:8501``) or gRPC (``grpc://host:8500``).

    Example::

        client = ServingClient("http://localhost:8501", "facecls")
        out = client.predict_images([open("face.jpg", "rb").read()], expression=[3])
        out["identity_name"], out["identity_probs"]
    """

    def __init__(self, server, model, *, version=None, label=None, timeout=30.0, validate=True,
                 max_message_bytes=64 << 20):
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        parsed = urllib.parse.urlparse(server if "://" in server else f"grpc://{server}")
        if parsed.scheme not in ("http", "https", "grpc"):
            raise ValueError(f"server must be http(s)://host:port (REST) or grpc://host:port, got {server!r}")
        self.protocol = "grpc" if parsed.scheme == "grpc" else "rest"
        self.server = server.rstrip("/") if self.protocol == "rest" else parsed.netloc
        self.model, self.version, self.label = model, version, label
        self.timeout, self.validate = timeout, validate
        self._max_message_bytes = max_message_bytes
        self._signatures = None
        self._channel = self._stub = None

    # -- transport

    def _grpc_stub(self):
        if self._stub is None:
            import grpc
            from tensorflow_serving.apis import prediction_service_pb2_grpc

            self._channel = grpc.insecure_channel(self.server, options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.max_send_message_length", self._max_message_bytes)])
            self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        return self._stub

    def _grpc_call(self, method, request):
        import grpc

        try:
            return getattr(self._grpc_stub(), method)(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise ServingError(err.code().name, err.details()) from None

    def _http(self, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise ServingError(GRPC_STATUS_OF_HTTP.get(err.code, f"HTTP_{err.code}"), message) from None
        except urllib.error.URLError as err:  # no HTTP answer: refused, unknown host, timeout
            raise ServingError("UNAVAILABLE", f"cannot reach {url}: {err.reason}") from None

    # -- API

    def signatures(self) -> dict:
        """The model's signatures from the server's metadata: ``{name: {"inputs": {...}, "outputs": {...}}}``."""
        if self._signatures is None:
            if self.protocol == "rest":
                meta = self._http(rest_url(self.server, self.model, "metadata", self.version, self.label))
                defs = meta["metadata"]["signature_def"]["signature_def"]
            else:
                from tensorflow_serving.apis import get_model_metadata_pb2

                request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
                request.model_spec.name = self.model
                if self.version is not None:
                    request.model_spec.version.value = int(self.version)
                elif self.label is not None:
                    request.model_spec.version_label = self.label
                response = self._grpc_call("GetModelMetadata", request)
                defs_map = get_model_metadata_pb2.SignatureDefMap()
                response.metadata["signature_def"].Unpack(defs_map)
                defs = dict(defs_map.signature_def)
            self._signatures = signatures_from_signature_defs(defs)
        return self._signatures

    def predict(self, inputs, signature="serving_default", format="instances") -> dict:
        """Run ``signature`` on ``inputs`` (``{name: batch}``); returns ``{output: numpy batch}``."""
        if not isinstance(inputs, dict):
            raise ValueError(f"inputs must be {{input name: batch}}, e.g. {{'image_bytes': [jpeg], 'expression': "
                             f"[3]}}, got {type(inputs).__name__}")
        output_names = None
        if self.validate:
            sigs = self.signatures()
            if signature not in sigs:
                raise ValueError(f"model {self.model!r} has no signature {signature!r}; it has {sorted(sigs)}")
            inputs = validate_inputs(inputs, sigs[signature]["inputs"], signature)
            output_names = sorted(sigs[signature]["outputs"])
        if self.protocol == "rest":
            body = rest_body(inputs, signature, format)
            url = rest_url(self.server, self.model, "predict", self.version, self.label)
            return parse_rest_response(self._http(url, body), output_names)
        request = predict_request(self.model, inputs, signature, self.version, self.label)
        return parse_predict_response(self._grpc_call("Predict", request))

    def predict_images(self, images, signature="serving_default", **extra_inputs) -> dict:
        """Predict from encoded images (a list of bytes or of paths to image files, or one of them) plus extra
        inputs by name."""
        if isinstance(images, (bytes, str, pathlib.Path)):
            images = [images]
        encoded = [image if isinstance(image, bytes) else pathlib.Path(image).read_bytes() for image in images]
        return self.predict({"image_bytes": np.array(encoded, dtype=object), **extra_inputs}, signature)

    def close(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = self._stub = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
