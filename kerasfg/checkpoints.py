"""Checkpoint callbacks that write atomically: a killed run never leaves a file that looks complete."""

import json
import logging
import math
import pathlib
import re
import shutil

import keras

from kerasfg.io_utils import TEMP_PREFIX, atomic_directory, atomic_file
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
    (weights and optimizer state) and the epoch number, written under a temporary name and renamed
    into place. A restart loads the newest complete backup, so a run killed at any point, even during
    a write, resumes exactly where its last finished epoch left it.

    Args:
        directory: folder of the backups.
        keep: number of backups to keep.

    Attributes:
        resumed_from: the backup directory training resumed from, or None.
        initial_epoch: the number of epochs that were done when training (re)started.
    """

    _PATTERN = re.compile(r"^epoch_(\d{5})$")

    def __init__(self, directory, keep=2):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.keep = keep
        self.resumed_from = None
        self.initial_epoch = 0

    def latest(self):
        """The newest complete backup directory, or None."""
        if not self.directory.is_dir():
            return None
        complete = sorted(p for p in self.directory.iterdir()
                          if self._PATTERN.match(p.name) and (p / "state.json").is_file())
        return complete[-1] if complete else None

    def on_train_begin(self, logs=None):
        latest = self.latest()
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
        logger.info("resuming from %s (epoch %d done)", latest, state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        with atomic_directory(self.directory / f"epoch_{epoch + 1:05d}", overwrite=True) as temp:
            self.model.save(temp / "model.keras")
            (temp / "state.json").write_text(json.dumps({"epoch": epoch + 1}))
        self._prune()

    def _prune(self):
        backups = sorted(p for p in self.directory.iterdir() if self._PATTERN.match(p.name))
        for old in backups[:-self.keep]:
            shutil.rmtree(old)
        for stale in self.directory.glob(f"{TEMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
