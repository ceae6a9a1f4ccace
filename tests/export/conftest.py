"""Shared fixtures: a small two-input face model, exported once per session and served by the stand-in."""

import pathlib

import pytest
import tensorflow as tf
from export_helpers import GENDERS, IDENTITIES, IMAGE, build_face_model

from kerasfg.data.preprocessing import Preprocessing
from kerasfg.export import config, export_saved_model


@pytest.fixture(scope="session")
def face_model():
    return build_face_model()


@pytest.fixture(scope="session")
def exported(face_model, tmp_path_factory):
    """The face model exported once with class names, the Grad-CAM explain signature and the preprocessing
    of kerasfg's training pipeline (verified)."""
    base = tmp_path_factory.mktemp("saved_models") / "facecls"
    result = export_saved_model(
        face_model, base, class_names={"identity": IDENTITIES, "gender": GENDERS}, explain="gradcam",
        sample_inputs={"expression": [2, 5]}, preprocessing=Preprocessing.pipeline((IMAGE, IMAGE)))
    return result


@pytest.fixture(scope="session")
def loaded(exported):
    return tf.saved_model.load(str(exported.path))


@pytest.fixture(scope="session")
def standin(exported, tmp_path_factory):
    """The loopback TF Serving stand-in (tests/export/serving_standin.py) serving the export as `facecls`
    with a `stable` label."""
    from serving_standin import (
        ServingStandin,  # tests/export is on sys.path (pytest rootdir-relative imports)
    )

    path = tmp_path_factory.mktemp("serving") / "models.config"
    config.write_models_config(path, [config.ModelServerEntry(
        "facecls", str(pathlib.Path(exported.path).parent), versions=[1], labels={"stable": 1})])
    with ServingStandin(path) as server:
        yield server
