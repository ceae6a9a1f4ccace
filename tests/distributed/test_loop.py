"""The multi-worker training loop, run in one process: it must train, evaluate, call callbacks and
resume as `keras.Model.fit` does (the two-process tests in test_multi_worker.py check the rest)."""

import json
import pathlib
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.checkpoints import ResumableBackup
from kerasfg.distributed import TrainingLoop, Worker

SIZE, BATCH = 48, 8


def small_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.05, 18)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(shuffle, size=SIZE):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(size, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 1).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(size, seed=3, reshuffle_each_iteration=True)
    return ds.batch(BATCH)


def assert_same_weights(a, b, atol=1e-6):
    for ours, theirs in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=atol)


class Calls(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch", epoch, sorted(logs)))


@pytest.mark.slow
def test_the_loop_trains_and_reports_as_fit_does():
    reference = small_model()
    fitted = reference.fit(data(False), validation_data=data(False, 20), epochs=3, verbose=0,
                           callbacks=[expected := Calls()])
    model = small_model()
    history = TrainingLoop(model, Worker.single()).fit(
        data(False), validation=data(False, 20), epochs=3, steps_per_epoch=SIZE // BATCH, verbose=0,
        callbacks=[seen := Calls()])
    assert_same_weights(model, reference)  # batch-norm moving averages included
    assert history.history.keys() == fitted.history.keys()
    for key, values in fitted.history.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-5)
    assert seen.calls == expected.calls
    assert int(model.optimizer.iterations.numpy()) == 3 * SIZE // BATCH


def test_evaluate_counts_every_example_once():
    model = small_model()
    test = data(False, 21)  # a last batch of 5
    expected = model.evaluate(test, return_dict=True, verbose=0)
    got = TrainingLoop(model, Worker.single()).evaluate(test)
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), rtol=1e-6)


@pytest.mark.slow
def test_a_resumed_run_reads_the_data_of_an_uninterrupted_one(tmp_path):
    """With reshuffling, epoch k reads the k-th shuffle even when training restarts before it."""
    uninterrupted = small_model()
    TrainingLoop(uninterrupted, Worker.single()).fit(data(True), epochs=3, steps_per_epoch=SIZE // BATCH,
                                                     verbose=0)
    first = small_model()
    backup = ResumableBackup(tmp_path / "backup")
    TrainingLoop(first, Worker.single()).fit(data(True), epochs=2, steps_per_epoch=SIZE // BATCH,
                                             callbacks=[backup], verbose=0, backup=backup)
    assert json.loads((tmp_path / "backup" / "epoch_00002" / "commit.json").read_text()) == {
        "epoch": 2, "acknowledged": 1}
    resumed = small_model()
    backup = ResumableBackup(tmp_path / "backup")
    history = TrainingLoop(resumed, Worker.single()).fit(
        data(True), epochs=3, steps_per_epoch=SIZE // BATCH, callbacks=[backup], verbose=0, backup=backup)
    assert backup.initial_epoch == 2 and len(history.history["loss"]) == 1
    assert_same_weights(resumed, uninterrupted)


def test_early_stopping_stops_the_loop():
    model = small_model()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = TrainingLoop(model, Worker.single()).fit(data(False), epochs=5, steps_per_epoch=SIZE // BATCH,
                                                       callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) == 2 and model.stop_training


@pytest.mark.parametrize("writer", ["TensorBoard", "ModelCheckpoint", "CSVLogger"])
def test_other_workers_than_the_chief_drop_callbacks_that_write(writer, tmp_path):
    strategy = tf.distribute.get_strategy()
    made = {"TensorBoard": lambda: keras.callbacks.TensorBoard(tmp_path),
            "ModelCheckpoint": lambda: keras.callbacks.ModelCheckpoint(tmp_path / "m.keras"),
            "CSVLogger": lambda: keras.callbacks.CSVLogger(tmp_path / "log.csv")}[writer]()
    stop = keras.callbacks.EarlyStopping()
    assert Worker(strategy, 0, 2).callbacks([made, stop]) == [made, stop]
    assert Worker(strategy, 1, 2).callbacks([made, stop]) == [stop]


@pytest.mark.slow
def test_a_worker_with_two_devices_gives_each_a_batch_per_step(checkout_python, tmp_path):
    """Two logical CPUs under MirroredStrategy stand in for a worker with two GPUs: the loop feeds each
    replica its own per-replica batch at every step, as Keras's fit splits the global batches; at the
    end of an epoch the replicas' own batch-norm moving averages become their mean; evaluation splits
    its batches between the replicas and counts every example once."""
    code = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np, sys
        sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})
        from test_loop import BATCH, SIZE, data, small_model
        from kerasfg.distributed import TrainingLoop, Worker
        strategy = tf.distribute.MirroredStrategy()
        with strategy.scope():
            reference, model = small_model(), small_model()
        reference.fit(data(False), epochs=2, verbose=0)
        per_replica = data(False).unbatch().batch(BATCH // 2, drop_remainder=True)  # as a shard yields them
        worker = Worker.single(strategy)
        loop = TrainingLoop(model, worker)
        loop.fit(per_replica, epochs=2, steps_per_epoch=SIZE // BATCH, verbose=0)
        trainable = max(float(np.abs(a - b).max()) for a, b in zip(
            [v.numpy() for v in model.trainable_variables], [v.numpy() for v in reference.trainable_variables]))
        replica_means = [np.mean([c.numpy() for c in strategy.experimental_local_results(v.value)], axis=0)
                         for v in reference.non_trainable_variables]
        moving = max(float(np.abs(a - v.numpy()).max()) for a, v in zip(replica_means, model.non_trainable_variables))
        plain = small_model()
        plain.set_weights(model.get_weights())
        expected = plain.evaluate(data(False, 21), return_dict=True, verbose=0)
        got = loop.evaluate(data(False, 21))
        print(worker.replicas, trainable, moving, max(abs(got[k] - expected[k]) for k in expected))
        """)
    done = checkout_python("-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    replicas, trainable, moving, metrics = done.stdout.split()
    assert replicas == "2" and float(trainable) < 1e-6 and float(moving) < 1e-6 and float(metrics) < 1e-6
