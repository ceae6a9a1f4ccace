"""Backups: a backup is resumed from only when its commit marker counts every worker that trained it."""

import json

import keras
import numpy as np
import pytest

from kerasfg.checkpoints import ResumableBackup, is_committed


class FakeWorker:
    """Stands in for `kerasfg.distributed.Worker` in the backup's commit protocol."""

    def __init__(self, index=0, count=2, fails_at=None):
        self.index, self.count, self.fails_at = index, count, fails_at
        self.acknowledged = []

    @property
    def is_chief(self):
        return self.index == 0

    def acknowledge(self, variables, epoch):
        if epoch == self.fails_at:
            raise RuntimeError("worker 1 is gone")
        self.acknowledged.append(epoch)
        return self.count


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def backup_epochs(backup, model, epochs):
    backup.set_model(model)
    for epoch in epochs:
        backup.on_epoch_end(epoch)


def test_the_chief_commits_after_every_worker_acknowledged(tmp_path, model):
    worker = FakeWorker()
    backup = ResumableBackup(tmp_path, worker=worker)
    backup_epochs(backup, model, [0, 1])
    assert worker.acknowledged == [1, 2]
    assert json.loads((tmp_path / "epoch_00002" / "state.json").read_text()) == {"epoch": 2, "workers": 2}
    assert json.loads((tmp_path / "epoch_00002" / "commit.json").read_text()) == {"epoch": 2, "acknowledged": 2}
    assert backup.latest().name == "epoch_00002"


def test_a_backup_that_a_worker_did_not_acknowledge_is_never_resumed_from(tmp_path, model):
    backup = ResumableBackup(tmp_path, worker=FakeWorker(fails_at=3))
    backup_epochs(backup, model, [0, 1])
    with pytest.raises(RuntimeError, match="worker 1 is gone"):
        backup.on_epoch_end(2)
    assert (tmp_path / "epoch_00003" / "model.keras").is_file()  # the chief wrote its part ...
    assert not (tmp_path / "epoch_00003" / "commit.json").exists()  # ... but never committed it
    assert backup.latest().name == "epoch_00002"
    resumed = ResumableBackup(tmp_path)
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.initial_epoch == 2 and resumed.resumed_from.name == "epoch_00002"


@pytest.mark.parametrize("commit", [None, {"epoch": 3, "acknowledged": 1}, {"epoch": 2, "acknowledged": 2},
                                    "{truncated"])
def test_only_a_marker_that_counts_every_worker_of_its_epoch_commits(tmp_path, model, commit):
    backup = ResumableBackup(tmp_path, worker=FakeWorker())
    backup_epochs(backup, model, [0, 1, 2])
    marker = tmp_path / "epoch_00003" / "commit.json"
    if commit is None:
        marker.unlink()
    else:
        marker.write_text(commit if isinstance(commit, str) else json.dumps(commit))
    assert not is_committed(tmp_path / "epoch_00003")
    assert backup.latest().name == "epoch_00002"


def test_a_worker_that_is_not_the_chief_writes_nothing(tmp_path, model):
    worker = FakeWorker(index=1)
    backup = ResumableBackup(None, worker=worker)
    backup_epochs(backup, model, [0, 1])
    backup.on_train_begin()
    assert worker.acknowledged == [1, 2] and backup.latest() is None and backup.initial_epoch == 0
    assert not any(tmp_path.iterdir())


def test_old_and_abandoned_backups_are_pruned(tmp_path, model):
    backup = ResumableBackup(tmp_path, keep=2)
    backup_epochs(backup, model, [0])
    (tmp_path / "epoch_00001" / "commit.json").unlink()  # abandoned when a worker failed
    backup_epochs(backup, model, [1, 2, 3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_00003", "epoch_00004"]
    restored = keras.models.clone_model(model)
    restored.compile(optimizer="adam", loss="mse")
    check = ResumableBackup(tmp_path)
    check.set_model(restored)
    check.on_train_begin()
    for ours, theirs in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
