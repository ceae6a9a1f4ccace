"""This process's part in a training run, and the few collective agreements the workers make.

A `Worker` knows its index among the workers and runs the agreements that keep a multi-worker run
honest, each a small all-reduce that every worker joins at the same point of the program:

- `Worker.agree`: every worker trains from the same config (a digest compared with the chief's);
- `Worker.broadcast`: the chief's values (a resumed state) replace every worker's;
- `Worker.average`: per-worker statistics (batch-norm moving averages) become their mean;
- `Worker.acknowledge`: at the end of an epoch, every worker reports that it finished the epoch with
  the chief's weights; the chief commits a backup only after all of them did.

For a single process (`Worker.single`), every agreement is trivially true and costs nothing.
"""

import hashlib
import logging

import keras
import numpy as np
import tensorflow as tf

from kerasfg.distributed.failures import LOST_WORKER_ERRORS, WorkerLost, WorkersDisagree, describe
from kerasfg.distributed.sharding import InputShard

logger = logging.getLogger(__name__)


class Worker:
    """One process of a training run.

    Args:
        strategy: the `tf.distribute.Strategy` of the run.
        index: this worker's index (0 is the chief, which writes the run directory).
        count: the number of workers.

    Attributes:
        strategy, index, count: as given.
        replicas: replicas (devices) on this worker.
    """

    def __init__(self, strategy, index=0, count=1):
        self.strategy = strategy
        self.index = index
        self.count = count
        self.replicas = max(1, strategy.num_replicas_in_sync // count)
        self._reductions = {}  # chief_only -> compiled all-reduce
        self._means = {}  # ids of the variables -> compiled mean over the replicas
        self._training_loop = None

    @classmethod
    def single(cls, strategy=None):
        """The only process of a run (under any single-host strategy)."""
        return cls(strategy or tf.distribute.get_strategy())

    @classmethod
    def of(cls, strategy):
        """The `Worker` of this process under ``strategy``: one of several under a
        `tf.distribute.MultiWorkerMirroredStrategy`, the only one otherwise."""
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return cls.single(strategy)
        resolver = strategy.cluster_resolver
        count = sum(len(resolver.cluster_spec().job_tasks(job)) for job in ("chief", "worker")
                    if job in resolver.cluster_spec().jobs)
        index = resolver.task_id + (1 if resolver.task_type == "worker" and
                                    "chief" in resolver.cluster_spec().jobs else 0)
        return cls(strategy, index, count)

    @property
    def is_chief(self):
        """Whether this worker writes the run directory (worker 0, or the only process)."""
        return self.index == 0

    @property
    def multi(self):
        """Whether several workers train together."""
        return self.count > 1

    @property
    def _needs_loop(self):
        """Whether `keras.Model.fit` cannot drive the strategy (keras-team/keras#20585)."""
        return isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)

    @property
    def shard(self):
        """The `InputShard` of this worker's data, or None for a single process."""
        return InputShard(self.index, self.count, self.replicas) if self.multi else None

    def __repr__(self):
        return f"Worker({self.index} of {self.count}, {self.replicas} replica(s))"

    # === Training ===

    def fit(self, model, train, *, validation, epochs, steps_per_epoch, callbacks, verbose, backup=None):
        """Train ``model``: `TrainingLoop.fit` under a multi-worker strategy, `keras.Model.fit` otherwise.

        Args:
            model: the compiled model.
            train, validation: this worker's datasets (the training set shuffles itself).
            epochs: number of epochs.
            steps_per_epoch: training steps per epoch (used on several workers).
            callbacks: the callbacks this worker runs (see `callbacks`).
            verbose: Keras progress output; other workers than the chief print none.
            backup: the run's `kerasfg.checkpoints.ResumableBackup`, if any.

        Returns:
            The `keras.callbacks.History`.
        """
        if not self._needs_loop:
            return model.fit(train, validation_data=validation, epochs=epochs, shuffle=False,
                             callbacks=callbacks, verbose=verbose)
        return self._loop(model).fit(train, validation=validation, epochs=epochs,
                                     steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                                     verbose=verbose if self.is_chief else 0, backup=backup)

    def evaluate(self, model, data):
        """``{metric: float}`` of ``model`` on ``data`` (all workers' parts together): `TrainingLoop.evaluate`
        under a multi-worker strategy, `keras.Model.evaluate` otherwise."""
        if not self._needs_loop:
            return {name: float(value) for name, value in
                    model.evaluate(data, return_dict=True, verbose=0).items()}
        return self._loop(model).evaluate(data)

    def evaluate_tables(self, objectives, model, data):
        """The table metrics (`kerasfg.objectives.Objectives.evaluate_tables`) of ``model`` on ``data``,
        all workers' parts together.

        On several workers, each predicts its part with a plain compiled forward pass
        (``predict_on_batch`` would gather the outputs across the workers) and the metrics' states,
        counts that add up, are summed over the workers before their results are read.
        """
        if not self._needs_loop:
            return objectives.evaluate_tables(model, data)
        from kerasfg.vis.compiled import RecordingFunction

        def combine(metrics):
            variables = [variable for metric in metrics for variable in metric.variables]
            for variable, total in zip(variables, self.sum([variable.value for variable in variables])):
                variable.assign(total)

        return objectives.evaluate_tables(model, data, predict=RecordingFunction(lambda x: model(x, training=False)),
                                          combine=combine)

    def _loop(self, model):
        from kerasfg.distributed.loop import TrainingLoop

        if self._training_loop is None or self._training_loop.model is not model:
            self._training_loop = TrainingLoop(model, self)
        return self._training_loop

    def callbacks(self, callbacks):
        """The ``callbacks`` this worker runs: all of them on the chief; on the other workers, those
        that write no files (no TensorBoard logs, recordings, checkpoints or CSV logs)."""
        if self.is_chief:
            return list(callbacks)
        from kerasfg.callbacks import TensorBoardRecorder
        from kerasfg.checkpoints import Checkpoint

        writers = (keras.callbacks.TensorBoard, keras.callbacks.ModelCheckpoint, keras.callbacks.CSVLogger,
                   keras.callbacks.BackupAndRestore, TensorBoardRecorder, Checkpoint)
        return [callback for callback in callbacks if not isinstance(callback, writers)]

    # === Collectives ===

    def broadcast(self, values):
        """The chief's ``values`` (a list of tensors or arrays), on every worker."""
        return self._all_reduce(values, chief_only=True)

    def sum(self, values):
        """The sum over all workers of each of ``values`` (a list of tensors or arrays)."""
        return self._all_reduce(values, chief_only=False)

    def _all_reduce(self, values, chief_only):
        values = [tf.convert_to_tensor(v) for v in values]
        if not self.multi:
            return values
        if chief_only not in self._reductions:
            self._reductions[chief_only] = self._all_reduce_function(chief_only)
        return [self.strategy.experimental_local_results(value)[0]
                for value in self._reductions[chief_only](values)]

    def _all_reduce_function(self, chief_only):
        strategy = self.strategy

        def replica_sum(values):
            context = tf.distribute.get_replica_context()
            # Each worker's first replica contributes (the chief's alone when chief_only), so that
            # several replicas per worker do not count a worker's values several times.
            contributes = (tf.equal(context.replica_id_in_sync_group, 0) if chief_only else
                           tf.equal(context.replica_id_in_sync_group % self.replicas, 0))
            mine = [tf.where(contributes, value, tf.zeros_like(value)) for value in values]
            return _packed_all_reduce(context, tf.distribute.ReduceOp.SUM, mine)

        return tf.function(lambda values: strategy.run(replica_sum, args=(values,)), reduce_retracing=True)

    # === Agreements ===

    def agree(self, what, text):
        """Check that every worker holds the same ``text`` (e.g. its resolved config).

        Args:
            what: what ``text`` is, for the error message.
            text: a string.

        Raises:
            WorkersDisagree: on every worker, when any worker's ``text`` differs from the chief's.
        """
        if not self.multi:
            return
        digest = np.frombuffer(hashlib.sha256(text.encode()).digest()[:8], np.int64)
        (chief_digest,) = self.broadcast([digest])
        differs = np.zeros(self.count, np.int64)
        differs[self.index] = int(not np.array_equal(chief_digest.numpy(), digest))
        (differing,) = self.sum([differs])
        if differing.numpy().any():
            raise WorkersDisagree(
                f"{what} of worker(s) {np.flatnonzero(differing.numpy()).tolist()} differs from the "
                f"chief's (worker 0); start every worker with the same {what}.")

    def average(self, variables):
        """Replace each floating-point variable of ``variables`` by its mean over all replicas of all
        workers: per-replica statistics (batch-norm moving averages without ``sync_batch_norm``) are
        updated by each replica on its own copy."""
        variables = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
        if self.strategy.num_replicas_in_sync == 1 or not variables:
            return
        key, strategy = tuple(id(v) for v in variables), self.strategy
        if key not in self._means:
            self._means[key] = tf.function(lambda: strategy.run(lambda: _packed_all_reduce(
                tf.distribute.get_replica_context(), tf.distribute.ReduceOp.MEAN,
                [tf.identity(v.value) for v in variables])))  # a tensor on this replica's device
        for variable, mean in zip(variables, self._means[key]()):
            variable.assign(strategy.experimental_local_results(mean)[0])

    def adopt_chief_state(self, variables):
        """Give every worker the chief's values of ``variables`` (after the chief resumed)."""
        if not self.multi or not variables:
            return
        for variable, value in zip(variables, self.broadcast([v.value for v in variables])):
            variable.assign(value)

    def wait_for_chief(self):
        """Wait until every worker, the chief last, gets here: the end of a run, once the chief has
        written its outputs, so that no worker leaves while the others may still need it."""
        try:
            self.sum([np.int64(0)])
        except LOST_WORKER_ERRORS as error:
            raise WorkerLost(f"worker {self.index} of {self.count}: the chief stopped before it finished "
                             f"writing the run directory ({describe(error)}); see the chief's log.") from error

    def acknowledge(self, variables, epoch):
        """Every worker reports that it finished ``epoch`` holding the chief's ``variables``.

        Each worker compares a fingerprint of its variables (a sum and a sum of squares per
        variable, in float64) with the chief's; they are equal bit for bit when the workers are in
        step. Call it on every worker at the same point; a worker that died makes it raise.

        Returns:
            The number of workers that acknowledged (all of them).

        Raises:
            WorkersDisagree: when a worker's variables differ from the chief's.
            tf.errors.OpError: when a worker cannot be reached.
        """
        if not self.multi:
            return 1
        fingerprint = _fingerprint(variables)
        (chief_fingerprint,) = self.broadcast([fingerprint])
        differs = np.zeros(self.count, np.int64)
        differs[self.index] = int(not np.array_equal(chief_fingerprint.numpy(), fingerprint.numpy()))
        acknowledged, differing = self.sum([np.int64(1), differs])
        if differing.numpy().any():
            raise WorkersDisagree(
                f"after epoch {epoch} the weights of worker(s) {np.flatnonzero(differing.numpy()).tolist()} "
                "differ from the chief's; the workers no longer train the same model.")
        return int(acknowledged.numpy())


def _packed_all_reduce(context, op, values):
    """All-reduce ``values`` in the replica ``context``, one packed all-reduce per dtype."""
    reduced = list(values)
    for dtype in {value.dtype for value in values}:
        positions = [i for i, value in enumerate(values) if value.dtype == dtype]
        for i, value in zip(positions, context.all_reduce(op, [values[i] for i in positions])):
            reduced[i] = value
    return reduced


@tf.function
def _fingerprint_of(values):
    return tf.stack([tf.stack([tf.reduce_sum(v), tf.reduce_sum(tf.square(v))])
                     for v in (tf.cast(value, tf.float64) for value in values)])


def _fingerprint(variables):
    return _fingerprint_of([v.value for v in variables])
