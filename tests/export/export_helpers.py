"""Helpers shared by the export tests: a small two-input face model and image utilities.

(A module with a unique name rather than conftest.py, so that ``from ... import`` is never ambiguous when
the whole suite, with other conftest.py files, is collected.)
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers

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
