"""The pain system's models: the frame CNN on the VGG-Face trunk with the face normalization layer, and the
LSTM over feature windows; round trips, outputs, feature extraction and the normalization by hand."""

import keras
import numpy as np
import pytest

from kerasfg.data.registration import global_contrast_normalize
from kerasfg.layers import FaceNormalization
from kerasfg.models import build_model
from kerasfg.models.frame_cnn import feature_extractor

NARROW = {"filters": (4, 4, 8, 8, 8), "fc_units": 16}


def test_face_normalization_equals_the_numpy_function(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:7, 1:6] = True
    layer = FaceNormalization(scale=3.0)
    layer.adapt(frames, mask=mask, batch_size=4)
    out = np.asarray(layer(frames[:2].astype("float32")))
    np.testing.assert_allclose(out, global_contrast_normalize(frames[:2], frames.mean(0), scale=3.0, mask=mask),
                               rtol=1e-4, atol=1e-4)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "normalization.keras")
    loaded = keras.saving.load_model(tmp_path / "normalization.keras")
    np.testing.assert_allclose(np.asarray(loaded(frames[:2].astype("float32"))), out, rtol=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        layer.adapt(np.zeros((2, 4, 4, 3), np.uint8))


def test_frame_cnn_regression_and_classification(tmp_path):
    model = build_model("pain_cnn", input_shape=(32, 32, 3), num_classes=1, **NARROW)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["image", "face_normalization", "conv1_1"]
    assert "fc6_relu" in names and "fc7_relu" in names and list(model.output) == ["pspi"]
    assert model.get_layer("pspi").activation.__name__ == "linear"
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    features = feature_extractor(model, "fc6")(x)
    assert tuple(features.shape) == (3, 16)
    classifier = build_model("pain_cnn", input_shape=(32, 32, 3), num_classes=7, task="classification", **NARROW)
    probabilities = np.asarray(classifier(x)["expression"])
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(x)["pspi"]), np.asarray(model(x)["pspi"]), rtol=1e-5)
    with pytest.raises(ValueError, match="predicts one value"):
        build_model("pain_cnn", input_shape=(32, 32, 3), num_classes=3, **NARROW)
    with pytest.raises(ValueError, match="no layer 'fc6_relu'"):
        feature_extractor(build_model("vgg16", input_shape=(32, 32, 3), num_classes=2, fc_units=8))


def test_temporal_lstm_reads_the_last_state_of_the_window():
    model = build_model("temporal_lstm", input_shape=(6, 5), num_classes=1, units=4)
    assert [layer.name for layer in model.layers] == ["features", "feature_standardization", "lstm", "pspi"]
    rng = np.random.default_rng(2)
    model.get_layer("feature_standardization").adapt(rng.normal(3.0, 2.0, (40, 6, 5)).astype("float32"))
    x = rng.normal(size=(2, 6, 5)).astype("float32")
    # many-to-one: the output is the Dense of the LSTM's last hidden state (Eq. 2.4-2.9)
    lstm = keras.Model(model.input, model.get_layer("lstm").output)
    kernel, bias = model.get_layer("pspi").get_weights()
    np.testing.assert_allclose(np.asarray(model(x)["pspi"]), np.asarray(lstm(x)) @ kernel + bias, rtol=1e-5)
    sequences = keras.Model(model.input, keras.layers.LSTM(4, return_sequences=True, name="copy")(
        model.get_layer("feature_standardization").output))
    sequences.get_layer("copy").set_weights(model.get_layer("lstm").get_weights())
    np.testing.assert_allclose(np.asarray(sequences(x))[:, -1], np.asarray(lstm(x)), rtol=1e-5)
    stacked = build_model("temporal_lstm", input_shape=(10, 8), num_classes=7, task="classification", units=4,
                          num_layers=2, dropout=0.2, standardize=False)
    assert [layer.name for layer in stacked.layers] == ["features", "lstm1", "lstm2", "lstm_dropout", "expression"]
    with pytest.raises(ValueError, match="no attention"):
        build_model("temporal_lstm", input_shape=(6, 5), num_classes=1, attention="se")
