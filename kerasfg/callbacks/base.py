"""The bases of kerasfg's recording callbacks: a summary writer, a cadence and a fixed probe set.

Every recording callback spells its arguments the same way: the probe first (the only positional
argument), then keyword-only ``log_dir``, ``every_n_epochs``, ``max_images`` (how many probe images it
records), ``layers`` (paths or names of the layers it reads) and ``outputs`` (the outputs it explains), and
its own options. What it is not given, `kerasfg.training.fit` hands it in a
`kerasfg.callbacks.context.RecordingContext`.
"""

import abc
import functools
import pathlib

import keras
import numpy as np

from kerasfg.tensorboard import summary
from kerasfg.vis.batches import take
from kerasfg.vis.introspect import initial_epoch, output_names, output_tensor


class TensorBoardRecorder(keras.callbacks.Callback):
    """A callback that writes to TensorBoard event files in ``log_dir``.

    Args:
        log_dir: folder of the event files; under `kerasfg.training.fit`, the run's ``logs/vis`` folder by
            default.
    """

    def __init__(self, *, log_dir=None):
        super().__init__()
        self._log_dir = log_dir
        self.context = None
        self._writer = None

    def set_context(self, context):
        """Use ``context`` (a `kerasfg.callbacks.context.RecordingContext`) for what this callback was not given."""
        self.context = context

    def _given(self, value, field):
        """``value``, or the context's ``field`` when ``value`` is None."""
        if value is not None or self.context is None:
            return value
        return getattr(self.context, field)

    @property
    def log_dir(self):
        """The folder of the event files: the one given, or the context's."""
        return self._given(self._log_dir, "log_dir")

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
    (step = number of epochs done), and when training ends, after its last epoch, unless that epoch was
    recorded already: every recording is there at the last step, also when training stops early. With
    ``every_n_epochs=None``, only when training ends. Under `kerasfg.training.fit` the recording of the last
    epoch runs while ``fit`` evaluates and exports the model (`kerasfg.callbacks.context.DeferredRecordings`),
    unless the callback changes the model's weights (``changes_weights``). Subclasses implement ``record(step)``
    and may override ``setup()``. The probe images are written once per log directory, under ``probe/images``, for
    kerasfg's TensorBoard plugin to draw heat maps over (see `kerasfg.tensorboard.summary.probe_images`).

    What a subclass reads from the probe through one forward and backward pass (heat maps, layer
    outputs, attention maps, predictions) it names in ``probe_requests()`` and reads with
    ``self.shared_pass(self.probe, count)``: all recording callbacks of a model then share one compiled
    pass per recording (see `kerasfg.callbacks.probe_pass.SharedProbePass`).

    Args:
        probe: a batch of model inputs (an array, or a dict of named inputs), chosen once; under
            `kerasfg.training.fit`, the first validation batch by default.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs and when training ends; None:
            only when training ends.
        max_images: at most this many probe images are recorded (all when None).

    Attributes:
        probe: the probe given, or the context's (`kerasfg.callbacks.context.RecordingContext`).
        class_names: the class names given (``{task: [names]}``), or the context's, or None.
        changes_weights: whether ``record`` changes the model's weights, even for a while (class attribute):
            such a recording is never deferred.
    """

    changes_weights = False

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, max_images=None):
        super().__init__(log_dir=log_dir)
        if every_n_epochs is not None and (not isinstance(every_n_epochs, int) or every_n_epochs < 1):
            raise ValueError(f"every_n_epochs must be a positive integer or None, got {every_n_epochs!r}.")
        if max_images is not None and (not isinstance(max_images, int) or max_images < 1):
            raise ValueError(f"max_images must be a positive integer or None, got {max_images!r}.")
        self._probe = probe
        self._class_names = None  # set by the callbacks that take class_names
        self.every_n_epochs = every_n_epochs
        self.max_images = max_images
        self._first_epoch = self._epochs_done = self._last_recorded = None

    @property
    def probe(self):
        return self._given(self._probe, "probe")

    @property
    def class_names(self):
        return self._given(self._class_names, "class_names")

    def _of_probe(self, value, field):
        """``value``, or the context's ``field`` (the probe's targets or masks) when the probe is the context's."""
        return value if self._probe is not None else self._given(value, field)

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

    @property
    def model_inputs(self):
        """The model's `kerasfg.vis.introspect.ModelInputs` (which input is the image)."""
        return self.shared_pass.explainer.inputs

    def on_train_begin(self, logs=None):
        if self.log_dir is None or self.probe is None:
            raise ValueError(f"{type(self).__name__} needs a log_dir and a probe batch; pass them, or "
                             "train with kerasfg.training.fit, which provides both.")
        self._request_probe_pass()
        self.setup()
        self._first_epoch = self._epochs_done = step = initial_epoch(self.model)
        self._last_recorded = None
        if self.every_n_epochs is not None:
            if self.shared_pass.claim_probe_images(self.log_dir, self.probe, step):
                summary.probe_images(self.writer, self.model_inputs.image(self.probe), step)
            self._record(step)

    def setup(self):
        """Prepare for recording once ``self.model`` is set (for example, build probe models)."""

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        last = (self.params or {}).get("epochs") == epoch + 1
        if last and self._deferred is not None:  # on_train_end defers it
            return
        if self.every_n_epochs is not None and (epoch + 1) % self.every_n_epochs == 0:
            self._record(epoch + 1)

    def on_train_end(self, logs=None):
        if self._epochs_done not in (self._first_epoch, self._last_recorded):
            if self._deferred is not None:  # recorded while kerasfg.training.fit evaluates and exports
                self._deferred.defer(functools.partial(self._record_and_close, self._epochs_done))
                return
            self._record(self._epochs_done)
        super().on_train_end(logs)

    @property
    def _deferred(self):
        """The context's `kerasfg.callbacks.context.DeferredRecordings` this callback hands its last recording
        to, or None (recorded in the hook)."""
        if self.changes_weights or self.context is None:
            return None
        return self.context.deferred

    def _record_and_close(self, step):
        self._record(step)
        super().on_train_end()

    def _record(self, step):
        self.record(step=step)
        self._last_recorded = step

    @abc.abstractmethod
    def record(self, step):
        """Compute and write this callback's recording at ``step``."""

    def probe_inputs(self, count=None):
        """The first ``count`` probe examples (``max_images`` by default), in the form the model takes."""
        return take(self.probe, count or self.max_images)

    def probe_images(self, count=None):
        """The image input of the first ``count`` probe examples (``max_images`` by default)."""
        return self.model_inputs.image(self.probe_inputs(count))

    def chosen_outputs(self, outputs):
        """The names of ``outputs``, checked against the model's; every output with class scores (2-D) when
        None."""
        names = output_names(self.model)
        if outputs is None:
            return [name for name in names if len(output_tensor(self.model, name).shape) == 2]
        unknown = [name for name in outputs if name not in names]
        if unknown:
            raise ValueError(f"{type(self).__name__}: model '{self.model.name}' has no output {unknown[0]!r}; its "
                             f"outputs are {names}.")
        return list(outputs)


def by_output(model, values):
    """A model's outputs, or targets, as ``{output name: array}``: a dict as it is, an array or a list in
    the order of the model's outputs (see `kerasfg.vis.output_names`)."""
    if isinstance(values, dict):
        return {name: np.asarray(value) for name, value in values.items()}
    flat = values if isinstance(values, (list, tuple)) else [values]
    return {name: np.asarray(value) for name, value in zip(output_names(model), flat, strict=True)}
