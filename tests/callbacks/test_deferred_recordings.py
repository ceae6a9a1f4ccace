"""The recordings of the end of training that `kerasfg.training.fit` makes while it tests and exports the model."""

import threading
import time

import keras
import numpy as np
import pytest

from kerasfg import config as config_lib
from kerasfg import training
from kerasfg.callbacks import DeepVisualization, LayerActivations, SanityChecks
from kerasfg.callbacks.context import DeferredRecordings, RecordingContext


def test_jobs_run_on_a_worker_thread_while_the_block_runs_and_are_done_when_it_ends():
    deferred = DeferredRecordings()
    started, release, threads = threading.Event(), threading.Event(), []

    def job():
        started.set()
        assert release.wait(30)
        threads.append(threading.current_thread())

    deferred.defer(job)
    deferred.defer(lambda: threads.append("second"))
    with deferred.running():
        assert started.wait(30)  # the block and the job run at the same time
        assert threads == []
        release.set()
    assert threads[0] is not threading.main_thread() and threads[1:] == ["second"]
    with deferred.running():  # each job runs once
        pass
    assert len(threads) == 2


def test_jobs_held_for_a_start_run_once_the_block_starts_them_or_ends():
    deferred, ran = DeferredRecordings(), []
    deferred.defer(lambda: ran.append("job"))
    with deferred.running(when_started=True):
        time.sleep(0.2)
        assert ran == []  # held until the block starts them
        deferred.start()
        for _ in range(300):
            if ran:
                break
            time.sleep(0.01)
        assert ran == ["job"]
    deferred.defer(lambda: ran.append("never started by the block"))
    with deferred.running(when_started=True):
        pass
    assert ran == ["job", "never started by the block"]


def test_every_job_runs_and_the_first_error_is_raised_after_the_block():
    deferred, ran = DeferredRecordings(), []
    for job in (lambda: 1 / 0, lambda: ran.append("after the error"), lambda: {}["missing"]):
        deferred.defer(job)
    with pytest.raises(ZeroDivisionError), deferred.running():
        ran.append("block")
    assert sorted(ran) == ["after the error", "block"]

    deferred.defer(lambda: 1 / 0)
    with pytest.raises(ValueError, match="the block's own"), deferred.running():  # the block's error comes first
        raise ValueError("the block's own")


def _model_and_images():
    image = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(image, keras.layers.Dense(3, activation="softmax", name="identity")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.uniform(0, 255, (8, 12, 12, 3)).astype("float32"), rng.integers(0, 3, 8)


def test_a_recording_that_only_reads_the_model_is_deferred_and_one_that_changes_it_is_not(tmp_path, event_recordings):
    model, x, y = _model_and_images()
    deferred = DeferredRecordings()
    deep = DeepVisualization(log_dir=tmp_path / "deep", steps=2, units=[0])
    sanity = SanityChecks(log_dir=tmp_path / "sanity", methods=("saliency",), max_images=2, by="layer")
    in_place = SanityChecks(log_dir=tmp_path / "in_place", methods=("smoothgrad",), max_images=2, by="layer")
    every_epoch = LayerActivations(log_dir=tmp_path / "activations", layers=["conv"])
    callbacks = [deep, sanity, in_place, every_epoch]
    for callback in callbacks:
        callback.set_context(RecordingContext(tmp_path, probe=x[:4], deferred=deferred))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=callbacks)

    # SmoothGrad explains the model itself, randomized in place: recorded in on_train_end
    assert event_recordings.steps(tmp_path / "in_place")["kerasfg/sanity_checks/identity"] == [2]
    assert not (tmp_path / "deep").exists() and not (tmp_path / "sanity").exists()  # not recorded yet
    assert event_recordings.steps(tmp_path / "activations")["kerasfg/activations/conv"] == [0, 1]  # the last: later
    weights = [value.copy() for value in model.get_weights()]
    with deferred.running():
        model.evaluate(x, y, verbose=0)
    assert event_recordings.steps(tmp_path / "deep")["kerasfg/deep_visualization/identity/row3"] == [2]
    assert event_recordings.steps(tmp_path / "sanity")["kerasfg/sanity_checks/identity"] == [2]
    assert event_recordings.steps(tmp_path / "activations")["kerasfg/activations/conv"] == [0, 1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))

    deferred = DeferredRecordings()  # a plain model.fit, without a context: recorded when training ends
    alone = DeepVisualization(x[:4], log_dir=tmp_path / "alone", steps=2, units=[0])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[alone])
    assert event_recordings.steps(tmp_path / "alone")["kerasfg/deep_visualization/identity/row3"] == [1]


@pytest.mark.slow
def test_fit_returns_when_the_deferred_recordings_are_written_and_raises_their_errors(tmp_path, event_recordings,
                                                                                  monkeypatch):
    config = config_lib.from_dict({
        "name": "tiny", "runs_dir": str(tmp_path / "runs"),
        "data": {"inputs": ["image"], "targets": ["identity"], "batch_size": 8,
                 "synthetic": {"num_identities": 3, "train_images": 16, "val_images": 8, "test_images": 8,
                               "image_size": 16}},
        "model": {"options": {"widths": [16], "blocks": [1], "hidden_units": 8, "dropout": 0.0}},
        "train": {"epochs": 1, "precision": "float32", "verbose": 0}})
    result = training.fit(config, callbacks=[DeepVisualization(steps=2, units=[0])])
    steps = event_recordings.steps(result.run_dir / "logs" / "vis")
    assert steps["kerasfg/deep_visualization/identity/row3"] == [1]
    assert (result.run_dir / "metrics.json").is_file()

    def fails(self, step):
        raise RuntimeError("the deep visualization failed")

    monkeypatch.setattr(DeepVisualization, "record", fails)
    with pytest.raises(RuntimeError, match="deep visualization failed"):
        training.fit(config, callbacks=[DeepVisualization(steps=2, units=[0])])
