"""What `kerasfg.training.fit` hands its recording callbacks: the run's log folder, a fixed probe batch, and a
worker thread for the recordings of the end of training."""

import contextlib
import dataclasses
import pathlib
import threading

import numpy as np


class DeferredRecordings:
    """The end-of-training recordings that can run while the trainer goes on with work that only reads the model.

    A recording that only reads the model (every kerasfg recording callback, and the sanity checks of the
    methods computed from one pass, which randomize values given to a compiled function rather than the model)
    does not have to hold up what follows training: `kerasfg.training.fit` evaluates, saves and exports the
    model meanwhile. The callbacks defer their last recording here
    (`kerasfg.callbacks.RecordingCallback.on_train_end`), and `running` runs the deferred recordings on one
    worker thread, in the order they were deferred, while its block runs; the compiled functions of the
    recordings (deep visualization's ascent, the faithfulness curves) are traced and compute while the trainer
    saves and waits for its checks. With an export, the trainer holds them (``running(when_started=True)``)
    until the export's check starts a fresh process and waits for it (`start`): on two cores, recordings that ran
    beside the export's trace slowed it by about 1 s, and work beside the training slows its steps by more than
    the work costs. The block ends when the recordings have been written.

    Only `kerasfg.training.fit` hands one out (`RecordingContext.deferred`); with a plain ``model.fit`` the
    callbacks record when training ends, before ``fit`` returns.

    Example:

    ```python
    deferred = DeferredRecordings()
    ...  # model.fit(callbacks=[...]) with a RecordingContext whose deferred is this one
    with deferred.running():
        model.evaluate(test)       # only reads the model
        model.save("model.keras")
    ```
    """

    def __init__(self):
        self._jobs = []
        self._go = None
        self._errors = []

    def defer(self, job):
        """Run ``job`` (a function of no arguments) in the next `running` block."""
        self._jobs.append(job)

    @contextlib.contextmanager
    def running(self, *, when_started=False):
        """Run the deferred jobs on a worker thread while the block runs, and wait for them when it ends.

        With ``when_started``, the jobs start once the block calls `start` (for example when it begins to wait
        for another process) or ends. Every job runs, also when another fails; the first job's error is raised
        when the block ends (an error of the block itself comes first). The block must not change the model's
        weights.
        """
        jobs, self._jobs = self._jobs, []
        self._go = go = threading.Event()
        if not when_started:
            go.set()
        thread = self._worker(jobs, go) if jobs else None
        try:
            yield
        finally:
            go.set()
            if thread is not None:
                thread.join()
            errors, self._errors, self._go = self._errors, [], None
        if errors:
            raise errors[0]

    def start(self):
        """Start the deferred jobs of the `running` block (``when_started``) now."""
        if self._go is not None:
            self._go.set()

    def _worker(self, jobs, go):
        """A started thread that waits for the event ``go``, then runs ``jobs``, keeping their errors."""
        def work():
            go.wait()
            for job in jobs:
                try:
                    job()
                except Exception as error:  # raised in the caller's thread by `running`
                    self._errors.append(error)

        thread = threading.Thread(target=work, name="kerasfg-deferred-recordings", daemon=True)
        thread.start()
        return thread


@dataclasses.dataclass
class RecordingContext:
    """The run a recording callback records in, as `kerasfg.training.fit` knows it.

    A callback uses what it was not given itself: its own ``log_dir``, ``probe`` and so on win over the
    context's (see `kerasfg.callbacks.RecordingCallback`).

    Attributes:
        log_dir: the folder of the run's recordings (``<run>/logs/vis``).
        probe: a batch of model inputs chosen once (the first validation batch), an array or a dict of arrays.
        probe_targets: the probe's targets, ``{output name: array}``.
        class_names: ``{task: [class names]}``.
        masks: ``{task: bool (n, h, w)}``, the evidence masks of the probe images where they are known (the
            synthetic faces), or None.
        deferred: the `DeferredRecordings` that the callbacks which only read the model hand their
            end-of-training recording to, or None: they record when training ends.
    """

    log_dir: pathlib.Path
    probe: object = None
    probe_targets: dict | None = None
    class_names: dict | None = None
    masks: dict | None = None
    deferred: DeferredRecordings | None = None

    @classmethod
    def from_validation(cls, log_dir, validation, class_names=None, validation_masks=None, deferred=None):
        """The context of a run: its first validation batch as the probe, with the masks of those images.

        Args:
            log_dir: the folder of the recordings.
            validation: a `tf.data.Dataset` of ``(inputs, targets)`` batches.
            class_names: ``{task: [class names]}``.
            validation_masks: ``{task: bool (n, h, w)}`` of the validation set, in its order, or None.
            deferred: the `DeferredRecordings` of the run, or None.
        """
        inputs, targets = (_to_numpy(part) for part in next(iter(validation)))
        count = len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs)
        masks = None if not validation_masks else {task: np.asarray(value)[:count]
                                                    for task, value in validation_masks.items()}
        names = None if class_names is None else {task: list(value) for task, value in class_names.items()}
        return cls(pathlib.Path(log_dir), inputs, targets, names, masks, deferred)


def hand_context(callbacks, log_dir, validation, class_names=None, validation_masks=None, deferred=None):
    """Give kerasfg's recording callbacks among ``callbacks`` the `RecordingContext` of a run (built only when
    there is one); other callbacks are left alone. Arguments as for `RecordingContext.from_validation`."""
    from kerasfg.callbacks.base import TensorBoardRecorder

    recorders = [callback for callback in callbacks if isinstance(callback, TensorBoardRecorder)]
    if recorders:
        context = RecordingContext.from_validation(log_dir, validation, class_names, validation_masks, deferred)
        for callback in recorders:
            callback.set_context(context)


def _to_numpy(batch):
    return {name: np.asarray(value) for name, value in batch.items()} if isinstance(batch, dict) \
        else np.asarray(batch)
