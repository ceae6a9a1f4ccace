"""What `kerasfg.training.fit` hands its recording callbacks: the run's log folder, a fixed probe batch, and a
worker thread for the recordings of the end of training."""

import collections
import contextlib
import dataclasses
import pathlib
import threading

import keras
import numpy as np


class DeferredRecordings:
    """The recordings that run on a worker thread while the trainer goes on: beside the training, and after it.

    A recording that only reads the model does not have to hold up training or what follows it. Two kinds of
    work go to one worker thread, which runs them one at a time, in the order they were handed over:

    - `beside_training`: work that reads only what it is given, not the model, which the training changes. The
      recording callbacks that read the shared probe pass hand over each recording with a snapshot of the
      weights of its step (`kerasfg.callbacks.RecordingCallback`), and those that record when training ends
      trace their compiled functions (deep visualization's ascent, the sanity checks' pass). The worker takes
      it up once `start` is called: `kerasfg.training.fit` calls it when the first training step has run
      (`starter`), so that none of it holds up the training step's own trace. Its steps leave Python's
      interpreter to the worker.
    - `defer`: the recordings of the end of training (the callbacks' last recording, which read the model).
      `running` runs them after the work handed to `beside_training`, while its block runs:
      `kerasfg.training.fit` evaluates, saves and exports the model meanwhile, which only read it. The block
      ends when every recording has been written.

    Only `kerasfg.training.fit` hands one out (`RecordingContext.deferred`); with a plain ``model.fit`` the
    callbacks record in their hooks.

    Example:

    ```python
    deferred = DeferredRecordings()
    ...  # model.fit(callbacks=[..., deferred.starter()]) with a RecordingContext whose deferred is this one
    with deferred.running():
        model.evaluate(test)       # only reads the model
        model.save("model.keras")
    ```
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._work, self._jobs = collections.deque(), []
        self._started = False
        self._thread = None
        self._errors = []

    def defer(self, job):
        """Run ``job`` (a function of no arguments) in the next `running` block."""
        self._jobs.append(job)

    def beside_training(self, job):
        """Run ``job`` (a function of no arguments that does not read the model's weights) on the worker thread,
        from `start` on, while the model trains; its error is raised when the next `running` block ends."""
        with self._lock:
            self._work.append(job)
            self._wake()

    def start(self):
        """Let the worker take up the work handed to `beside_training` (nothing happens when there is none)."""
        with self._lock:
            self._started = True
            self._wake()

    def starter(self):
        """A Keras callback that calls `start` when the first training step of ``fit`` has run."""
        return _Starter(self)

    @contextlib.contextmanager
    def running(self):
        """Run the deferred jobs on the worker thread while the block runs, and wait for them when it ends.

        The deferred jobs run after the work handed to `beside_training`. Every job runs, also when another
        fails; the first error is raised when the block ends (an error of the block itself comes first). The
        block must not change the model's weights.
        """
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            self.beside_training(job)
        self.start()  # also when training ended before its first step
        try:
            yield
        finally:
            self._wait()
            errors, self._errors = self._errors, []
            self._started = False  # a next fit starts the worker after its own first step
        if errors:
            raise errors[0]

    def _wake(self):
        """Start a worker thread when work waits and none runs (with the lock held)."""
        if self._started and self._work and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kerasfg-recordings", daemon=True)
            self._thread.start()

    def _run(self):
        """The worker: the waiting jobs, one at a time, keeping their errors; it ends when none is left."""
        while True:
            with self._lock:
                if not self._work:
                    self._thread = None
                    return
                job = self._work.popleft()
            try:
                job()
            except Exception as error:  # raised in the caller's thread by `running`
                self._errors.append(error)

    def _wait(self):
        """Wait until the worker has done all the work handed to it."""
        while True:
            with self._lock:
                thread = self._thread
            if thread is None:
                return
            thread.join()


class _Starter(keras.callbacks.Callback):
    """Starts a `DeferredRecordings`'s worker when the first training step has run."""

    def __init__(self, deferred):
        super().__init__()
        self.deferred = deferred

    def on_train_batch_end(self, batch, logs=None):
        self.deferred.start()


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
