"""Two worker processes on 127.0.0.1 train one model from a config, as ``kerasfg train --workers`` does.

The workers train the same tiny model for three epochs of four steps (global batch 16, 8 per worker,
batch norm synchronized), with two recording callbacks; they evaluate 33 examples (16 and 17, so worker 1
runs one batch more). The first run's workers must end with
identical weights, equal within ``ATOL``/``RTOL`` to a single process trained with the same global
batch and seed, and the chief alone writes the run directory, the recordings and the export. A second
pair of runs kills worker 1 in the middle of the second epoch, leaves a backup that not every worker
acknowledged, relaunches both workers with the command line and must end with the first run's weights.

Every worker is a subprocess on free ports chosen here, with a timeout after which the test stops it.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import yaml

from kerasfg import config as config_lib
from kerasfg import training

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 420  # seconds a launch may take before the test stops its workers (a safety stop, not a budget)
# Two replicas with synchronized batch norm compute what one process computes, up to the order of
# float32 sums (all-reduces, batch statistics): after 12 SGD steps about 1e-6. (Adam would amplify
# such differences where a gradient is near 0; a wrong batch, learning rate or batch statistic
# moves weights by 1e-3 or more.)
ATOL, RTOL = 2e-5, 1e-4

CONFIG = {
    "name": "tiny",
    "data": {"inputs": ["image", "expression"], "targets": ["identity"], "batch_size": 16, "shuffle": False,
             "synthetic": {"num_identities": 4, "train_images": 64, "val_images": 33, "test_images": 33,
                           "image_size": 32, "difficulty": 0.0}},
    "model": {"options": {"widths": [16, 32], "blocks": [1, 1], "hidden_units": 16, "dropout": 0.0}},
    "train": {"epochs": 3, "precision": "float32", "jit_compile": False, "verbose": 0,
              "distribute": "multi_worker", "sync_batch_norm": True,
              "optimizer": {"name": "sgd", "learning_rate": 0.05, "schedule": "cosine",
                            "options": {"momentum": 0.9}}},
    # A table metric: its counts are summed over the workers' parts of the test set.
    "objectives": {"identity": {"metrics": ["accuracy", "confusion"]}},
}

WORKER = textwrap.dedent("""
    import os, sys
    import keras, numpy as np
    from kerasfg import config as config_lib, training
    from kerasfg.callbacks import ConfusionMatrix, GradCAM
    from kerasfg.data.synthetic import synthetic_faces
    from kerasfg.distributed import Cluster

    config_path, workers, index, weights, kill_at, *overrides = sys.argv[1:]

    class KillMidEpoch(keras.callbacks.Callback):  # dies like a killed process: no clean-up
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if f"{self.epoch}:{batch}" == kill_at:
                os._exit(17)

    faces = synthetic_faces(12, num_identities=4, image_size=32, difficulty=0.0, seed=5)
    held_out = ({"image": faces.images.astype("float32"), "expression": faces.labels["expression"]},
                {"identity": faces.labels["identity"]})
    recordings = [GradCAM(), ConfusionMatrix(validation_data=held_out)]  # the chief's alone
    result = training.fit(config_lib.load(config_path, overrides), callbacks=[KillMidEpoch(), *recordings],
                          cluster=Cluster.parse(workers, int(index)))
    np.savez(weights, *result.model.get_weights())
    """)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ",".join(f"127.0.0.1:{port}" for port in ports)


def start(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(workers):
    """Wait for every worker; stop them all if any outlives TIMEOUT. Returns [(status, stderr)]."""
    done = []
    try:
        for worker in workers:
            _, stderr = worker.communicate(timeout=TIMEOUT)
            done.append((worker.returncode, stderr))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    return done


def weights_of(path):
    with np.load(path) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]


def assert_close(ours, reference):
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=RTOL)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The first two-worker run, and a single process trained meanwhile (with the same global batch)."""
    root = tmp_path_factory.mktemp("multi_worker")
    config_path = root / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    workers = free_ports(2)
    launched = [start(["-c", WORKER, str(config_path), workers, str(index), str(root / f"weights{index}.npz"),
                       "-", f"runs_dir={root / f'runs{index}'}", "export.enabled=true",
                       f"export.base_path={root / f'saved{index}' / 'tiny'}"], cwd=root) for index in (0, 1)]
    try:
        single = training.fit(config_lib.load(config_path, ["train.distribute=none",
                                                            f"runs_dir={root / 'single'}"]))
    finally:
        statuses = finish(launched)
    for status, stderr in statuses:
        assert status == 0, stderr[-3000:]
    return root, single


def test_two_workers_train_the_model_one_process_trains(uninterrupted):
    root, single = uninterrupted
    chief, other = weights_of(root / "weights0.npz"), weights_of(root / "weights1.npz")
    for a, b in zip(chief, other, strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit
    assert_close(chief, single.model.get_weights())
    (run_dir,) = (root / "runs0" / "tiny").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key, values in single.history.items():  # losses and accuracies of the global batches
        np.testing.assert_allclose(metrics["history"][key], values, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(metrics["test"]["accuracy"], single.test_metrics["accuracy"], atol=1e-6)
    single_tables = json.loads((single.run_dir / "metrics.json").read_text())["test_tables"]
    assert metrics["test_tables"] == single_tables  # the confusion counts of all 33 test examples
    assert np.sum(metrics["test_tables"]["identity"]["confusion"]["values"]) == 33


def test_the_chief_alone_writes_the_run_directory_and_the_export(uninterrupted, event_recordings):
    import tensorflow as tf

    root, _ = uninterrupted
    (run_dir,) = (root / "runs0" / "tiny").iterdir()
    assert {p.name for p in run_dir.iterdir()} == {"config.yaml", "logs", "checkpoints", "backup",
                                                  "model.keras", "class_names.json", "metrics.json",
                                                  "objectives.json", "preprocessing.json"}
    for split in ("train", "validation"):
        assert list((run_dir / "logs" / split).glob("events.out.tfevents.*"))
    recorded = event_recordings.steps(run_dir / "logs" / "vis")  # before training and after every epoch
    assert recorded.get("kerasfg/confusion_matrix/identity") == [0, 1, 2, 3], recorded
    assert [0, 1, 2, 3] in [steps for tag, steps in recorded.items() if "gradcam" in tag.lower()], recorded
    assert sorted(p.name for p in (run_dir / "backup").iterdir()) == ["epoch_00002", "epoch_00003"]
    assert json.loads((run_dir / "backup" / "epoch_00003" / "commit.json").read_text()) == {
        "epoch": 3, "acknowledged": 2}
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["distribute"] == "multi_worker"
    assert not (root / "runs1").exists() and not (root / "saved1").exists()  # worker 1 wrote nothing
    # The export serves the weights the workers trained.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = pathlib.Path(metrics["export_path"])
    assert export.parent == root / "saved0" / "tiny" and (export / "saved_model.pb").is_file()
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    expressions = np.array([0, 1, 2], "int32")
    served = tf.saved_model.load(str(export)).signatures["serve_pixels"](
        image=tf.constant(images), expression=tf.constant(expressions))
    trained = keras.models.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(served["identity_probs"].numpy(),
                               trained({"image": images, "expression": expressions})["identity"], atol=1e-5)


def test_a_killed_worker_set_resumes_from_the_last_complete_backup(uninterrupted, tmp_path):
    root, _ = uninterrupted
    config_path = root / "tiny.yaml"
    workers = free_ports(2)
    runs = [tmp_path / "runs0", tmp_path / "runs1"]
    killed = finish([start(["-c", WORKER, str(config_path), workers, str(index), str(tmp_path / "unused.npz"),
                            "1:1" if index == 1 else "-", f"runs_dir={runs[index]}"], cwd=tmp_path)
                     for index in (0, 1)])
    assert killed[1][0] == 17, killed[1][1][-3000:]
    assert killed[0][0] != 0 and "another worker died or became unreachable in epoch 2" in killed[0][1], \
        killed[0][1][-3000:]
    (run_dir,) = (runs[0] / "tiny").iterdir()
    backups = run_dir / "backup"
    assert sorted(p.name for p in backups.iterdir()) == ["epoch_00001"]
    assert not (run_dir / "metrics.json").exists()
    # What the chief leaves when a worker fails between its write and the commit: never resumed from.
    shutil.copytree(backups / "epoch_00001", backups / "epoch_00002")
    (backups / "epoch_00002" / "state.json").write_text(json.dumps({"epoch": 2, "workers": 2}))
    (backups / "epoch_00002" / "commit.json").unlink()

    workers = free_ports(2)
    relaunched = finish([
        start(["-m", "kerasfg", "train", "--resume", str(run_dir), "--workers", workers, "--worker-index", "0"],
              cwd=tmp_path),
        start(["-m", "kerasfg", "train", str(config_path), "--resume", str(run_dir), "--workers", workers,
               "--worker-index", "1", "--set", f"runs_dir={runs[1]}"], cwd=tmp_path)])
    for status, stderr in relaunched:
        assert status == 0, stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith("epoch_00001") and metrics["epochs_completed"] == 3
    assert len(metrics["history"]["loss"]) == 2
    assert not runs[1].exists()
    resumed = keras.models.load_model(run_dir / "model.keras")
    assert int(resumed.optimizer.iterations.numpy()) == 3 * 4
    assert_close(resumed.get_weights(), weights_of(root / "weights0.npz"))
