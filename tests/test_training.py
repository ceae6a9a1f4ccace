import json
import pathlib
import textwrap

import keras
import numpy as np
import pytest
import yaml

from kerasfg import config as config_lib
from kerasfg import training
from kerasfg.checkpoints import ResumableBackup
from kerasfg.data.preprocessing import Preprocessing

REPO = pathlib.Path(__file__).resolve().parents[1]


def tiny_config(tmp_path, **train):
    return config_lib.from_dict({
        "name": "tiny",
        "runs_dir": str(tmp_path / "runs"),
        "data": {
            "inputs": ["image", "expression"], "targets": ["identity"], "batch_size": 16,
            "shuffle": False,
            "synthetic": {"num_identities": 4, "train_images": 64, "val_images": 32,
                          "test_images": 32, "image_size": 32, "difficulty": 0.0},
        },
        "model": {"options": {"widths": [16, 32], "blocks": [1, 1], "hidden_units": 16,
                              "dropout": 0.0}},
        "train": {"epochs": 3, "precision": "float32", "verbose": 0, **train},
    })


@pytest.mark.slow
def test_fit_writes_a_complete_run_directory(tmp_path):
    result = training.fit(tiny_config(tmp_path))
    run = result.run_dir
    assert run.parent == tmp_path / "runs" / "tiny"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "logs", "checkpoints", "backup", "model.keras",
                                              "class_names.json", "metrics.json", "objectives.json",
                                              "preprocessing.json"}
    objectives = json.loads((run / "objectives.json").read_text())["outputs"]
    assert objectives["identity"]["loss"] == "softmax_cross_entropy"
    assert objectives["identity"]["from_logits"] is False  # face_resnet's outputs are softmax
    # Synthetic faces are rendered at the model's size; other sizes are resized as the file pipeline does.
    assert Preprocessing.read(run / "preprocessing.json") == Preprocessing.pipeline((32, 32))
    assert json.loads((run / "class_names.json").read_text()) == {
        "identity": ["person_000", "person_001", "person_002", "person_003"]}
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"last.keras", "best.keras"}
    assert list((run / "logs" / "train").glob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3 and metrics["resumed_from"] is None
    assert metrics["test"] == result.test_metrics and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["train_images_per_second"] > 0
    losses = result.history["loss"]
    assert losses[-1] < losses[0]  # it learns
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["precision"] == "float32" and saved["train"]["jit_compile"] is False
    reloaded = keras.models.load_model(run / "model.keras")
    batch = {"image": np.zeros((2, 32, 32, 3), "float32"), "expression": np.array([0, 3], "int32")}
    np.testing.assert_allclose(reloaded(batch)["identity"], result.model(batch)["identity"],
                               atol=1e-6)


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped_and_ends_like_an_uninterrupted_one(tmp_path, checkout_python):
    config = tiny_config(tmp_path)
    uninterrupted = training.fit(config)

    runs = tmp_path / "killed"
    killed = checkout_python("-c", textwrap.dedent(f"""
        import os, keras
        from kerasfg import config as config_lib, training

        class KillAfterSecondEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    os._exit(17)  # no clean-up, like a killed process

        config = config_lib.from_dict({config.to_dict()!r})
        config.runs_dir = {str(runs)!r}
        training.fit(config, callbacks=[KillAfterSecondEpoch()])
        """), cwd=tmp_path)
    assert killed.returncode == 17, killed.stderr[-2000:]
    (run_dir,) = (runs / "tiny").iterdir()
    assert not (run_dir / "metrics.json").exists()
    backups = run_dir / "backup"
    # A backup that was being written when the process died, and a directory without its state
    # file, must never be picked up.
    half_written = backups / ".tmp-epoch_00003-x"
    half_written.mkdir()
    (half_written / "model.keras").write_bytes(b"half")
    (backups / "epoch_00009").mkdir()
    assert ResumableBackup(backups).latest().name == "epoch_00002"

    config.runs_dir = str(runs)
    resumed = training.fit(config, resume=run_dir)
    assert len(resumed.history["loss"]) == 1  # only the third epoch was left
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3
    assert metrics["resumed_from"].endswith("epoch_00002")
    steps_per_epoch = 64 // 16
    assert int(resumed.model.optimizer.iterations.numpy()) == 3 * steps_per_epoch
    for ours, reference in zip(resumed.model.get_weights(), uninterrupted.model.get_weights()):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_mirrored_strategy_trains_over_two_logical_cpus(tmp_path, checkout_python):
    config = tiny_config(tmp_path, epochs=1, distribute="mirrored")
    done = checkout_python("-c", textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from kerasfg import config as config_lib, training
        result = training.fit(config_lib.from_dict({config.to_dict()!r}))
        print("replicas", result.model.distribute_strategy.num_replicas_in_sync)
        print("accuracy", result.test_metrics["accuracy"])
        """), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replicas 2" in done.stdout


@pytest.mark.slow
def test_mixed_float16_trains_with_float32_outputs(tmp_path):
    result = training.fit(tiny_config(tmp_path, epochs=1, precision="mixed_float16"))
    assert result.precision == "mixed_float16"
    assert result.model.get_layer("stage1_block1_1_conv").compute_dtype == "float16"
    assert result.model.get_layer("identity").compute_dtype == "float32"
    assert np.isfinite(result.history["loss"]).all()
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_auto_precision_and_jit_follow_the_device(monkeypatch):
    import tensorflow as tf

    from kerasfg import precision

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: True)
    assert training.resolve_precision("auto") == "onednn_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: False)
    assert training.resolve_precision("auto") == "float32"
    assert training.resolve_precision("mixed_float16") == "mixed_float16"
    assert training.resolve_jit_compile("auto") is False
    assert training.resolve_jit_compile(True) is True
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [gpu] if kind in (None, "GPU") else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"compute_capability": (8, 0)})
    assert training.resolve_jit_compile("auto") is True
    assert training.resolve_precision("auto") == "mixed_bfloat16"


@pytest.mark.slow
def test_onednn_bfloat16_run_keeps_a_float32_model_and_exports_float32(tmp_path):
    import tensorflow as tf

    from kerasfg import precision

    config = tiny_config(tmp_path, epochs=1, precision="onednn_bfloat16")
    config.export.enabled = True
    config.export.base_path = str(tmp_path / "export")
    result = training.fit(config)
    assert result.precision == "onednn_bfloat16"
    assert json.loads((result.run_dir / "metrics.json").read_text())["precision"] == "onednn_bfloat16"
    assert {w.dtype for w in result.model.weights} == {"float32"}
    assert {layer.compute_dtype for layer in result.model.layers} == {"float32"}
    assert np.isfinite(result.history["loss"]).all()
    # The rewrite was scoped to the training: the option is unset again for what follows.
    assert precision.REWRITE_OPTION not in tf.config.optimizer.get_experimental_options()
    loaded = keras.models.load_model(result.run_dir / "model.keras")
    assert {w.dtype for w in loaded.weights} == {"float32"}
    assert result.export.verification.ok, result.export.verification.summary()
    served = tf.saved_model.load(str(result.export.path)).signatures["serve_pixels"]
    assert {spec.dtype for spec in served.structured_outputs.values()} <= {tf.float32, tf.int64,
                                                                             tf.int32, tf.string}
    assert served.structured_outputs["identity_probs"].dtype == tf.float32


def test_unknown_tasks_and_loss_weights_are_config_errors(tmp_path):
    config = tiny_config(tmp_path)
    config.data.targets = ["identity", "mood"]
    with pytest.raises(config_lib.ConfigError, match=r"unknown task\(s\) \['mood'\]"):
        training.build_datasets(config.data)
    config = tiny_config(tmp_path, loss_weights={"expression": 2.0})
    data = training.build_datasets(config.data)
    model = training.build_model(config, data)
    with pytest.raises(config_lib.ConfigError, match=r"train\.loss_weights: \['expression'\] is not an "
                                                     r"output of the model; its outputs are \['identity'\]"):
        training.compile_model(model, config.train, jit_compile=False)


def test_synthetic_attributes_and_age_as_targets_with_other_people_for_evaluation(tmp_path, monkeypatch):
    """Attribute, age and gender targets come with their kinds; subject_disjoint draws the validation and
    test faces from other people (the next two identity seeds)."""
    from kerasfg.data import synthetic

    seeds, render = [], synthetic.synthetic_faces

    def recording(*args, identity_seed=0, **kwargs):
        seeds.append(identity_seed)
        return render(*args, identity_seed=identity_seed, **kwargs)

    monkeypatch.setattr(synthetic, "synthetic_faces", recording)
    config = config_lib.from_dict({
        "runs_dir": str(tmp_path), "data": {
            "synthetic": {"num_identities": 6, "train_images": 8, "val_images": 4, "test_images": 4,
                          "image_size": 16, "identity_seed": 3, "subject_disjoint": True,
                          "difficulty": {"nuisance": 0.2, "attributes": 0.9}},
            "inputs": ["image", "eyeglasses"], "targets": ["attributes", "age", "gender"], "batch_size": 4}})
    data = training.build_datasets(config.data)
    assert seeds == [3, 4, 5]
    assert data.num_classes == {"attributes": 23, "age": 1, "gender": 2, "eyeglasses": 2}
    assert set(data.train_labels) == {"age"} and data.train_labels["age"].shape == (8,)
    assert {task: t.kind for task, t in data.tasks.items()} == {
        "attributes": "multilabel", "age": "regression", "gender": "class", "eyeglasses": "class"}
    features, targets = next(iter(data.train))
    assert targets["attributes"].dtype.name == "float32" and tuple(targets["attributes"].shape) == (4, 23)
    assert targets["age"].dtype.name == "int32" and features["eyeglasses"].dtype.name == "int32"
    assert data.validation_masks["attributes"].shape == (4, 16, 16)


def test_learning_rate_schedules_follow_the_config(tmp_path):
    config = tiny_config(tmp_path, optimizer={"learning_rate": 0.1, "schedule": "step",
                                              "decay_epochs": [2, 3], "decay_factor": 0.5})
    schedule = training.learning_rate_schedule(config.train, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 19, 21, 29, 31)]
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-6)
    config = tiny_config(tmp_path, epochs=4, optimizer={"learning_rate": 0.1, "schedule": "cosine"})
    schedule = training.learning_rate_schedule(config.train, steps_per_epoch=10)
    np.testing.assert_allclose([float(schedule(0)), float(schedule(20)), float(schedule(40))],
                               [0.1, 0.05, 0.0], atol=1e-6)
    assert training.learning_rate_schedule(tiny_config(tmp_path).train, 10) == 1e-3
    with pytest.raises(config_lib.ConfigError, match="decay_epochs: expected the epochs"):
        tiny_config(tmp_path, optimizer={"schedule": "step"})


# Training from image files, and serving the pixels training saw: tests/export/test_parity.py.
