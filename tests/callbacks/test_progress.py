import keras
import numpy as np
import pytest

from kerasfg.callbacks import TrainingProgress


class Capture(keras.callbacks.Callback):
    """Keeps the logs Keras hands to callbacks, to compare with what was recorded."""

    def __init__(self):
        super().__init__()
        self.batches, self.epochs = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))


def two_output_model():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"identity": keras.layers.Dense(3, activation="softmax", name="identity")(hidden),
                                 "expression": keras.layers.Dense(7, activation="softmax", name="expression")(hidden)})
    model.compile("adam", loss="sparse_categorical_crossentropy",
                  metrics={"identity": ["accuracy"], "expression": ["accuracy"]})
    return model


def test_records_every_output_per_batch_and_validation_per_epoch(tmp_path, event_scalars):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = {"identity": rng.integers(0, 3, 32), "expression": rng.integers(0, 7, 32)}
    capture = Capture()
    keras.utils.set_random_seed(0)
    two_output_model().fit(x, y, batch_size=8, epochs=2, validation_data=(x[:8], {k: v[:8] for k, v in y.items()}),
                           verbose=0, callbacks=[capture, TrainingProgress(log_dir=tmp_path, every_n_batches=2)])
    recorded = event_scalars(tmp_path)
    for name in ("loss", "identity_loss", "expression_loss", "identity_accuracy", "expression_accuracy"):
        points = recorded[f"progress/{name}"]
        assert [step for step, _ in points] == [2, 4, 6, 8], name
        expected = [capture.batches[step - 1][name] for step, _ in points]
        np.testing.assert_allclose([value for _, value in points], expected, rtol=1e-6)
    np.testing.assert_allclose([v for _, v in recorded["progress/epoch"]], [0.5, 1.0, 1.5, 2.0])
    val = recorded["progress/val_identity_accuracy"]
    assert [step for step, _ in val] == [4, 8]
    np.testing.assert_allclose([v for _, v in val], [e["val_identity_accuracy"] for e in capture.epochs], rtol=1e-6)


def test_bad_cadence_is_rejected():
    with pytest.raises(ValueError, match="every_n_batches must be a positive integer"):
        TrainingProgress(every_n_batches=0)
