"""An export of a model with an output-code head and a DEX head: the code in the assets, class names and the
expected age served, checked by the Keras-free verification process and by calling the SavedModel."""

import json

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import encode_png, random_faces

from kerasfg import codes
from kerasfg.export import export_saved_model, read_metadata
from kerasfg.models import build_model

NAMES = ["ada", "grace", "alan", "edsger"]


@pytest.mark.slow
def test_served_model_returns_class_names_and_ages_and_ships_its_code(tmp_path):
    code = codes.make_code("dense_random", 4, 6, candidates=20)
    model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 4}, attention=None,
                        widths=(8, 16), blocks=(1, 1), output_codes={"identity": code}, dex={"age": [10, 40]})
    result = export_saved_model(model, tmp_path / "coded", class_names={"identity": NAMES})
    report = result.verification
    assert report.ok, report.summary()
    assert "no keras/kerasfg in the loading process" in [check.name for check in report.checks]

    meta = read_metadata(result.path)
    assert meta["output_codes"]["identity"]["bits"] == 6 and meta["dex"]["age"]["min_age"] == 10
    served_code = np.loadtxt(result.path / "assets" / meta["output_codes"]["identity"]["asset"], delimiter=",")
    np.testing.assert_allclose(served_code, code, rtol=1e-7)
    assert json.loads(json.dumps(meta["dex"]))["age"]["output"] == "age_years"

    faces = random_faces(3)
    serve = tf.saved_model.load(str(result.path)).signatures["serving_default"]
    outputs = serve(image_bytes=tf.constant([encode_png(face) for face in faces]))
    assert set(outputs) == {"identity_probs", "identity_class", "identity_name", "age_probs", "age_class",
                            "age_years"}
    expected = model(faces.astype("float32"))
    classes = np.argmax(expected["identity"], axis=1)
    assert [name.decode() for name in outputs["identity_name"].numpy()] == [NAMES[c] for c in classes]
    ages = np.asarray(expected["age"]) @ np.arange(10, 41)
    np.testing.assert_allclose(outputs["age_years"], ages, rtol=1e-4)
