"""The client's REST/gRPC request builders, and the client against the loopback TF Serving stand-in."""

import base64
import json
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import IDENTITIES, encode_png, random_faces

from kerasfg.export import protocol
from kerasfg.cli import main as cli_main
from kerasfg.export.protocol import TensorSpec
from kerasfg.export.serving import ServingClient, ServingError


def test_rest_body_row_and_columnar_with_standard_base64():
    payload = b"\xfb\xef\xff\x00"  # standard base64 "++//AA==": TF Serving's {"b64"} is not web-safe
    body = protocol.rest_body({"image_bytes": [payload, b"x"], "expression": np.array([3, 4], np.int32)},
                             signature="serving_default")
    assert body == {"signature_name": "serving_default", "instances": [
        {"image_bytes": {"b64": "++//AA=="}, "expression": 3}, {"image_bytes": {"b64": "eA=="}, "expression": 4}]}
    columnar = protocol.rest_body({"image_bytes": [payload], "expression": [3]}, format="inputs")
    assert columnar == {"inputs": {"image_bytes": [{"b64": "++//AA=="}], "expression": [3]}}
    assert protocol.rest_body({"image": [[1.5]]}) == {"instances": [[1.5]]}
    with pytest.raises(ValueError, match="one batch size"):
        protocol.rest_body({"a": [1, 2], "b": [1]})


def test_rest_urls():
    assert protocol.rest_url("http://h:8501/", "facecls") == "http://h:8501/v1/models/facecls:predict"
    assert protocol.rest_url("http://h:8501", "m", version=2) == "http://h:8501/v1/models/m/versions/2:predict"
    assert protocol.rest_url("http://h:8501", "m", "metadata", label="stable") == \
        "http://h:8501/v1/models/m/labels/stable/metadata"
    with pytest.raises(ValueError):
        protocol.rest_url("http://h", "m", version=1, label="stable")


def test_grpc_predict_request_fields():
    request = protocol.predict_request("facecls", {"image_bytes": [b"jpeg"], "expression": np.array([3], np.int32)},
                                      "explain", label="canary")
    assert (request.model_spec.name, request.model_spec.signature_name) == ("facecls", "explain")
    assert request.model_spec.version_label == "canary" and not request.model_spec.HasField("version")
    assert request.inputs["expression"].dtype == tf.int32.as_datatype_enum
    assert tf.make_ndarray(request.inputs["image_bytes"]).tolist() == [b"jpeg"]  # raw bytes, no base64


def test_validation_names_the_expected_spec():
    specs = {"image_bytes": TensorSpec(object, [-1]), "expression": TensorSpec(np.int32, [-1])}
    ok = protocol.validate_inputs({"image_bytes": [b"a"], "expression": [3]}, specs)
    assert ok["expression"].dtype == np.int32
    with pytest.raises(ValueError, match=r"'expression' expects int32 with shape \(-1,\), got a int64 array"):
        protocol.validate_inputs({"image_bytes": [b"a"], "expression": np.array([3])}, specs)
    with pytest.raises(ValueError, match=r"'expression' expects int32.*do not convert"):
        protocol.validate_inputs({"image_bytes": [b"a"], "expression": [3.5]}, specs)
    with pytest.raises(ValueError, match=r"missing \['expression'\]"):
        protocol.validate_inputs({"image_bytes": [b"a"]}, specs)
    with pytest.raises(ValueError, match=r"'image_bytes' expects string with shape \(-1,\), got shape \(1, 1\)"):
        protocol.validate_inputs({"image_bytes": [[b"a"]], "expression": [3]}, specs)


# === Against the stand-in ===

FACES = random_faces(2, seed=11)
EXPRESSION = np.array([1, 6], np.int32)


@pytest.fixture(scope="module")
def direct(loaded):
    out = loaded.signatures["serving_default"](image_bytes=tf.constant([encode_png(f) for f in FACES]),
                                               expression=tf.constant(EXPRESSION))
    return {k: v.numpy() for k, v in out.items()}


def _check(out, direct):
    np.testing.assert_allclose(np.asarray(out["identity_probs"], np.float32), direct["identity_probs"], rtol=1e-6)
    assert list(out["identity_class"]) == list(direct["identity_class"])
    names = [n.decode() if isinstance(n, bytes) else n for n in out["identity_name"]]
    assert names == [n.decode() for n in direct["identity_name"]] and set(names) <= set(IDENTITIES)


def test_standin_replayed_the_warmup_and_serves_the_label(standin):
    assert standin.models["facecls"].versions[1].warmup_records == 3
    with urllib.request.urlopen(f"{standin.rest_url}/v1/models/facecls/labels/stable") as response:
        status = json.loads(response.read())
    assert status["model_version_status"][0]["version"] == "1"


@pytest.mark.parametrize("fmt", ["instances", "inputs"])
def test_rest_predict(standin, direct, fmt):
    client = ServingClient(standin.rest_url, "facecls", label="stable")
    out = client.predict({"image_bytes": [encode_png(f) for f in FACES], "expression": EXPRESSION.tolist()},
                         format=fmt)
    _check(out, direct)


def test_grpc_predict_and_metadata(standin, direct):
    with ServingClient(f"grpc://{standin.grpc_target}", "facecls", version=1) as client:
        sigs = client.signatures()
        assert set(sigs) == {"serving_default", "serve_pixels", "explain"}
        assert repr(sigs["serve_pixels"]["inputs"]["image"]) == "float32 with shape (-1, 32, 32, 3)"
        out = client.predict_images([encode_png(f) for f in FACES], expression=EXPRESSION.tolist())
        assert out["identity_name"].dtype == object
        _check(out, direct)
        explained = client.predict_images([encode_png(FACES[0])], "explain", expression=[1])
        assert explained["identity_gradcam"].shape == (1, 32, 32)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_corrupt_image_is_invalid_argument(standin, protocol):
    server = standin.rest_url if protocol == "rest" else f"grpc://{standin.grpc_target}"
    with ServingClient(server, "facecls") as client, pytest.raises(ServingError) as err:
        client.predict_images([b"GIF89a but truncated"], expression=[0])
    assert err.value.code == "INVALID_ARGUMENT"
    assert "image" in err.value.message.lower()


def test_wrong_dtype_is_refused_by_the_client_and_by_the_server(standin):
    inputs = {"image_bytes": [encode_png(FACES[0])], "expression": np.array([1], np.int64)}
    target = f"grpc://{standin.grpc_target}"
    with ServingClient(target, "facecls") as client, \
            pytest.raises(ValueError, match=r"'expression' expects int32 with shape \(-1,\)"):
        client.predict(inputs)
    with ServingClient(target, "facecls", validate=False) as client, \
            pytest.raises(ServingError, match="INVALID_ARGUMENT.*expression.*int32 but int64"):
        client.predict(inputs)


def test_raw_string_where_b64_is_needed_fails_over_rest(standin):
    body = json.dumps({"instances": [{"image_bytes": "not base64 encoded jpeg", "expression": 0}]}).encode()
    request = urllib.request.Request(f"{standin.rest_url}/v1/models/facecls:predict", data=body)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 400 and "error" in json.loads(err.value.read())


def test_unknown_model_and_version_are_not_found(standin):
    with pytest.raises(ServingError, match="NOT_FOUND"):
        ServingClient(standin.rest_url, "nope").signatures()
    with pytest.raises(ServingError, match="NOT_FOUND"):
        ServingClient(f"grpc://{standin.grpc_target}", "facecls", version=9).signatures()


def test_predict_command(standin, direct, tmp_path, capsys):
    paths = []
    for k, face in enumerate(FACES):
        paths.append(tmp_path / f"face{k}.png")
        paths[-1].write_bytes(encode_png(face))
    args = ["predict", "--server", standin.rest_url, "--model", "facecls", *map(str, paths)]
    assert cli_main(args + ["--input", "expression=1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in rows] == [str(p) for p in paths]
    first = direct["identity_name"][0].decode()
    assert rows[0]["identity_name"] == first and rows[0]["identity_class"] == int(direct["identity_class"][0])
    assert cli_main(args) == 2  # the expression input is missing: the client names it
    assert "kerasfg predict: error: signature 'serving_default' takes inputs" in (err := capsys.readouterr().err)
    assert "missing ['expression']" in err


def test_b64_helper_is_standard_alphabet():
    assert base64.b64decode(protocol._to_json(b"\xff\xfe")["b64"]) == b"\xff\xfe"


def test_wrong_forms_name_the_expected_one(tmp_path):
    from kerasfg.export.warmup import write_warmup

    client = ServingClient("http://127.0.0.1:9", "m", validate=False)
    with pytest.raises(ValueError, match=r"inputs must be \{input name: batch\}.*got list"):
        client.predict([b"jpeg"])
    with pytest.raises(ValueError, match=r"write_warmup takes WarmupRequest objects, got \['dict'\]"):
        write_warmup(tmp_path / "w", [{"image_bytes": [b"x"]}])
    # One image path (not a list of paths) is one image; the refused connection names the server.
    path = tmp_path / "face.png"
    path.write_bytes(encode_png(FACES[0]))
    with pytest.raises(ServingError, match=r"UNAVAILABLE: cannot reach http://127.0.0.1:9/v1/models/m:predict"):
        client.predict_images(str(path), expression=[1])
