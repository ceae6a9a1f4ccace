"""The bases of kerasfg's recording callbacks: a summary writer, a cadence and a fixed probe set."""

import abc
import pathlib

import keras
import numpy as np

from kerasfg.tensorboard import summary
from kerasfg.vis.batches import take


class TensorBoardRecorder(keras.callbacks.Callback):
    """A callback that writes to TensorBoard event files in ``log_dir``.

    `kerasfg.training.fit` fills in ``log_dir`` (the run's ``logs/vis`` folder) when it is None.

    Args:
        log_dir: folder of the event files.
    """

    def __init__(self, log_dir=None):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    @property
    def writer(self):
        """The summary writer of ``log_dir``, created on first use."""
        if self._writer is None:
            if self.log_dir is None:
                raise ValueError(f"{type(self).__name__} needs a log_dir; pass one, or train with "
                                 "kerasfg.training.fit, which provides it.")
            self._writer = summary.file_writer(pathlib.Path(self.log_dir))
        return self._writer

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class RecordingCallback(TensorBoardRecorder, metaclass=abc.ABCMeta):
    """Record something about the model on a fixed probe set, every few epochs, for TensorBoard.

    Records once before training starts (step 0), then after every ``every_n_epochs``-th epoch
    (step = number of epochs done). Subclasses implement ``record(step)`` and may override
    ``setup()``. The probe images are written once per log directory, under ``probe/images``, for
    kerasfg's TensorBoard plugin to draw heat maps over (see `kerasfg.tensorboard.summary.probe_images`).

    What a subclass reads from the probe through one forward and backward pass (heat maps, layer
    outputs, attention maps, predictions) it names in ``probe_requests()`` and reads with
    ``self.shared_pass(self.probe, count)``: all recording callbacks of a model then share one compiled
    pass per recording (see `kerasfg.callbacks.probe_pass.SharedProbePass`).

    `kerasfg.training.fit` fills in ``log_dir`` (the run's ``logs/vis`` folder), ``probe`` and
    ``probe_targets`` (the first batch of the validation set) and ``class_names`` when they are left
    as None.

    Args:
        probe: a batch of model inputs (an array, or a dict of named inputs), chosen once.
        log_dir: folder of the event files.
        every_n_epochs: recording cadence.
        probe_targets: the probe's targets (an array, or a dict by output name), for callbacks that
            need labels.
        class_names: ``{output name: [class names]}``, for callbacks that name classes.
    """

    def __init__(self, probe=None, log_dir=None, every_n_epochs=1, probe_targets=None, class_names=None):
        super().__init__(log_dir=log_dir)
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be a positive integer, got {every_n_epochs!r}.")
        self.probe = probe
        self.probe_targets = probe_targets
        self.class_names = class_names
        self.every_n_epochs = every_n_epochs

    def set_model(self, model):
        super().set_model(model)
        if model.built:  # every callback asks before the first recording, so the shared pass is built once
            self._request_probe_pass()

    def _request_probe_pass(self):
        requests = self.probe_requests()
        if requests is not None:
            self.shared_pass.request(**requests)

    def probe_requests(self):
        """What this callback reads through `shared_pass`: keyword arguments of
        `kerasfg.callbacks.probe_pass.SharedProbePass.request`, or None (nothing)."""
        return None

    @property
    def shared_pass(self):
        """The `kerasfg.callbacks.probe_pass.SharedProbePass` of the model."""
        from kerasfg.callbacks.probe_pass import SharedProbePass

        return SharedProbePass.of(self.model)

    def on_train_begin(self, logs=None):
        if self.log_dir is None or self.probe is None:
            raise ValueError(f"{type(self).__name__} needs a log_dir and a probe batch; pass them, or "
                             "train with kerasfg.training.fit, which provides both.")
        self._request_probe_pass()
        self.setup()
        step = self._epochs_done()
        if self.shared_pass.claim_probe_images(self.log_dir, self.probe, step):
            summary.probe_images(self.writer, probe_images(self.probe), step)
        self.record(step=step)

    def setup(self):
        """Prepare for recording once ``self.model`` is set (for example, build probe models)."""

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.record(step=epoch + 1)

    @abc.abstractmethod
    def record(self, step):
        """Compute and write this callback's recording at ``step``."""

    def probe_inputs(self, count=None):
        """The first ``count`` probe examples (all by default), in the form the model takes."""
        return take(self.probe, count)

    def _epochs_done(self):
        return int(getattr(self.model, "_initial_epoch", 0) or 0)


def probe_images(inputs):
    """The image part of a batch of model inputs: its ``"image"`` entry, or the array itself."""
    return np.asarray(inputs["image"] if isinstance(inputs, dict) else inputs)


def by_output(model, values):
    """A model's outputs, or targets, as ``{output name: array}``: a dict as it is, an array or a list in
    the order of the model's outputs (see `kerasfg.vis.output_names`)."""
    from kerasfg.vis.introspect import output_names

    if isinstance(values, dict):
        return {name: np.asarray(value) for name, value in values.items()}
    flat = values if isinstance(values, (list, tuple)) else [values]
    return {name: np.asarray(value) for name, value in zip(output_names(model), flat, strict=True)}
