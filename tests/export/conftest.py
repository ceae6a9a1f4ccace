"""Shared fixtures: a small two-input face model, exported once per session and served by the stand-in."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from kerasfg.export import config, savedmodel

IMAGE = 32
IDENTITIES = ["ada", "grace", "alan"]
GENDERS = ["female", "male"]


def build_face_model(seed=1):
    """Image (0..255 pixels, rescaled inside) + int32 expression id -> identity softmax and gender sigmoid."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((IMAGE, IMAGE, 3), name="image")
    expression = keras.Input((), dtype="int32", name="expression")
    x = layers.Rescaling(1 / 255.0, name="rescale")(image)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(12, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    e = layers.Embedding(7, 4, name="expression_embedding")(expression)
    x = layers.Concatenate(name="merge")([x, e])
    outputs = {
        "identity": layers.Dense(len(IDENTITIES), activation="softmax", name="identity")(x),
        "gender": layers.Dense(1, activation="sigmoid", name="gender")(x),
    }
    model = keras.Model({"image": image, "expression": expression}, outputs, name="face")
    # Non-trivial BatchNorm statistics, so that training=True/False would differ.
    bn = model.get_layer("bn1")
    bn.moving_mean.assign(np.linspace(-0.1, 0.1, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 8).astype("float32"))
    return model


def encode_png(pixels):
    return bytes(tf.io.encode_png(np.asarray(pixels, np.uint8)).numpy())


def random_faces(count, size=IMAGE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, size, size, 3)).astype(np.uint8)


@pytest.fixture(scope="session")
def face_model():
    return build_face_model()


@pytest.fixture(scope="session")
def exported(face_model, tmp_path_factory):
    """The face model exported once with class names and the Grad-CAM explain signature (verified)."""
    base = tmp_path_factory.mktemp("saved_models") / "facecls"
    result = savedmodel.export_saved_model(
        face_model, base, class_names={"identity": IDENTITIES, "gender": GENDERS}, explain="gradcam",
        sample_inputs={"expression": [2, 5]})
    return result


@pytest.fixture(scope="session")
def loaded(exported):
    return tf.saved_model.load(str(exported.path))


@pytest.fixture(scope="session")
def standin(exported, tmp_path_factory):
    """The loopback TF Serving stand-in (tests/export/serving_standin.py) serving the export as `facecls`
    with a `stable` label."""
    from serving_standin import ServingStandin  # tests/export is on sys.path (pytest rootdir-relative imports)

    path = tmp_path_factory.mktemp("serving") / "models.config"
    config.write_models_config(path, [config.ModelServerEntry(
        "facecls", str(pathlib.Path(exported.path).parent), versions=[1], labels={"stable": 1})])
    with ServingStandin(path) as server:
        yield server
