"""Checkpoint callbacks that write atomically: a killed run never leaves a file that looks complete."""

import json
import logging
import math
import pathlib
import re
import shutil

import keras

from kerasfg.io_utils import TEMP_PREFIX, atomic_directory, atomic_file, write_json
from kerasfg.vis.introspect import set_initial_epoch

logger = logging.getLogger(__name__)


class Checkpoint(keras.callbacks.Callback):
    """Save the model as ``last.keras`` after every epoch and as ``best.keras`` when it improves.

    Both files are written to a temporary sibling and renamed into place, so a reader (or a killed
    run) never sees a half-written checkpoint.

    Args:
        directory: folder of the checkpoints.
        monitor: the logged quantity that decides ``best.keras``, e.g. ``"val_loss"``.
        mode: ``"min"`` or ``"max"``: whether a lower or higher ``monitor`` is better.
    """

    def __init__(self, directory, monitor="val_loss", mode="min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self.directory = pathlib.Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        self._save(self.directory / "last.keras")
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if (value < self.best) if self.mode == "min" else (value > self.best):
            self.best = float(value)
            self._save(self.directory / "best.keras")
            logger.info("epoch %d: %s improved to %.5f, saved best.keras", epoch + 1, self.monitor,
                        value)

    def _save(self, path):
        with atomic_file(path, mode=None) as temp:
            self.model.save(temp)


class ResumableBackup(keras.callbacks.Callback):
    """Back up the full training state each epoch and resume from it when training restarts.

    Unlike `keras.callbacks.BackupAndRestore`, which rewrites its weight file in place and keeps no
    optimizer state, each backup here is a directory ``epoch_NNNNN`` holding the whole model
    (weights and optimizer state) and ``state.json`` (the epoch and the number of workers), written
    under a temporary name and renamed into place, and then a commit marker ``commit.json``. A
    restart loads the newest committed backup, so a run killed at any point, even during a write,
    resumes exactly where its last finished epoch left it.

    With several workers (``worker``), the chief writes the backup, then every worker acknowledges
    that it finished the epoch holding the chief's weights (`kerasfg.distributed.Worker.acknowledge`),
    and only then does the chief write the commit marker, with the number of workers that
    acknowledged. A backup is complete when its marker counts all the workers that trained it: one
    written while a worker failed is never resumed from. A resumed chief hands its state to the other
    workers (see `kerasfg.distributed`).

    Args:
        directory: folder of the backups; None on a worker that writes nothing (not the chief).
        keep: number of committed backups to keep.
        worker: this process's `kerasfg.distributed.Worker` when several workers train; None for a
            single process.

    Attributes:
        resumed_from: the backup directory training resumed from, or None.
        initial_epoch: the number of epochs that were done when training (re)started.
    """

    COMMIT = "commit.json"
    _PATTERN = re.compile(r"^epoch_(\d{5})$")

    def __init__(self, directory, keep=2, worker=None):
        super().__init__()
        self.directory = None if directory is None else pathlib.Path(directory)
        self.keep = keep
        self.worker = worker
        self.resumed_from = None
        self.initial_epoch = 0

    @property
    def writes(self):
        """Whether this process writes and reads the backups (the chief, or a single process)."""
        return self.directory is not None and (self.worker is None or self.worker.is_chief)

    def latest(self):
        """The newest committed backup directory, or None."""
        committed = self._committed()
        return committed[-1] if committed else None

    def _committed(self):
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if self._PATTERN.match(p.name) and is_committed(p))

    def on_train_begin(self, logs=None):
        latest = self.latest() if self.writes else None
        if latest is None:
            return
        optimizer = self.model.optimizer
        if not optimizer.built:  # its slot variables must exist before they can be loaded
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(latest / "model.keras")
        state = json.loads((latest / "state.json").read_text())
        self.initial_epoch = state["epoch"]
        set_initial_epoch(self.model, state["epoch"])  # fit() starts from it, as with BackupAndRestore
        self.resumed_from = latest
        logger.info("resuming from %s (epoch %d done by %d worker(s))", latest, state["epoch"],
                    state.get("workers", 1))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        workers = 1 if self.worker is None else self.worker.count
        path = self.directory / f"epoch_{done:05d}" if self.writes else None
        if path is not None:
            with atomic_directory(path, overwrite=True) as temp:
                self.model.save(temp / "model.keras")
                (temp / "state.json").write_text(json.dumps({"epoch": done, "workers": workers}))
        acknowledged = 1 if self.worker is None else self.worker.acknowledge(
            [*self.model.weights, *self.model.optimizer.variables], done)
        if path is not None:
            write_json(path / self.COMMIT, {"epoch": done, "acknowledged": acknowledged})
            self._prune()

    def _prune(self):
        committed = self._committed()
        newest = committed[-1].name
        for old in self.directory.iterdir():
            if self._PATTERN.match(old.name) and old not in committed[-self.keep:] and old.name < newest:
                shutil.rmtree(old)
        for stale in self.directory.glob(f"{TEMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)


def is_committed(backup):
    """Whether the backup directory ``backup`` is complete: its commit marker names its epoch and
    counts every worker that trained it."""
    try:
        state = json.loads((backup / "state.json").read_text())
        commit = json.loads((backup / ResumableBackup.COMMIT).read_text())
    except (OSError, ValueError):
        return False
    return commit.get("epoch") == state.get("epoch") and commit.get("acknowledged") == state.get("workers")
