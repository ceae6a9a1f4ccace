"""`fit` and `evaluate` for several workers, built on the model's own `train_step` and `test_step`.

Keras 3.15's `Model.fit` cannot run under `tf.distribute.MultiWorkerMirroredStrategy`
(keras-team/keras#20585: its first step reduces a per-replica batch across workers and its metrics
are reduced along an axis they do not have). This loop keeps everything of `fit` that a model and its
callbacks see and replaces only the driving code, with public Keras API:

- each step runs ``model.train_step`` on every replica (``strategy.run``): the model's own loss,
  loss scaling, regularization, optimizer and metrics; the optimizer sums the gradients of all
  replicas of all workers;
- the logs are the same on every worker: per step, each replica's running metrics averaged over the
  replicas in one all-reduce (what `fit` reports under a single-host strategy); per epoch and for
  validation, ``model.get_metrics_result()`` read across replicas, the metrics of all workers' examples;
- callbacks get the calls and logs `fit` gives them (`keras.callbacks.CallbackList` with `History`
  and the progress bar), so `EarlyStopping`, `TensorBoard` and kerasfg's recording callbacks work
  unchanged;
- at the end of every epoch the workers average their per-worker statistics (batch-norm moving
  averages), so that they all hold the same weights before validation and backups;
- every epoch reads the training set through a new iterator, so the ``k``-th epoch gets the
  ``k``-th shuffle, also when a resumed run starts at epoch ``k``.

Every worker runs this loop with the same data sizes; each collective happens at the same point on
all of them.
"""

import logging

import keras
import tensorflow as tf

from kerasfg.distributed.failures import LOST_WORKER_ERRORS, WorkerLost, describe

logger = logging.getLogger(__name__)

class TrainingLoop:
    """`fit` and `evaluate` of one model on this worker, in step with the other workers.

    Args:
        model: a compiled model built under ``worker.strategy``'s scope.
        worker: this process's `kerasfg.distributed.Worker`.
    """

    def __init__(self, model, worker):
        self.model = model
        self.worker = worker
        self._train_step = None
        self._test_step = None
        self._built = False

    def _build(self, element_spec):
        """Create the optimizer's, loss's and metrics' variables before any step is compiled.

        Every worker creates them at the same point (the strategy gives them the chief's initial
        values), outside compiled steps, by running the loss and metrics once on a batch of zeros
        shaped as ``element_spec``; the metrics are reset afterwards.
        """
        if self._built:
            return
        model = self.model
        zeros = tf.nest.map_structure(lambda spec: tf.zeros([1, *spec.shape[1:]], spec.dtype), element_spec)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(zeros)
        with self.worker.strategy.scope():
            y_pred = model(x, training=False)
            model.compute_loss(x, y, y_pred, sample_weight=sample_weight, training=False)
            model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        model.reset_metrics()
        self._built = True

    def fit(self, train, *, epochs, steps_per_epoch, validation=None, callbacks=(), verbose=1, backup=None):
        """Train the model as `keras.Model.fit` does.

        Args:
            train: this worker's training `tf.data.Dataset` in per-replica batches (see
                `kerasfg.distributed.InputShard`), with at least ``steps_per_epoch * worker.replicas``
                batches.
            epochs: index of the last epoch, as in `fit`.
            steps_per_epoch: training steps per epoch, the same on every worker.
            validation: this worker's part of the validation set, or None.
            callbacks: Keras callbacks; they see what they would see under `fit`.
            verbose: Keras progress output (0, 1 or 2).
            backup: the run's `kerasfg.checkpoints.ResumableBackup`, whose resumed epoch and state
                (loaded by the chief) every worker adopts.

        Returns:
            The `keras.callbacks.History` of the epochs trained.

        Raises:
            WorkerLost: when another worker dies or cannot be reached.
        """
        model, worker = self.model, self.worker
        self._build(train.element_spec)
        if self._train_step is None:
            self._train_step = _step_function(model, worker.strategy, model.train_step)
        train_data = _distribute(worker.strategy, train)
        callbacks = keras.callbacks.CallbackList(
            list(callbacks), add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
            steps=steps_per_epoch, model=model)
        model.stop_training = False
        epoch, step = None, 0
        try:
            callbacks.on_train_begin()
            initial_epoch = _adopt_resumed_state(model, worker, backup)
            for _ in range(initial_epoch):  # each epoch's iterator draws the next shuffle and augmentation
                iter(train_data)            # seeds: a resumed run reads the data of an uninterrupted one
            epoch_logs = None
            for epoch in range(initial_epoch, epochs):
                model.reset_metrics()
                callbacks.on_epoch_begin(epoch)
                iterator = iter(train_data)
                for step in range(steps_per_epoch):
                    callbacks.on_train_batch_begin(step)
                    logs = self._train_step(iterator)
                    callbacks.on_train_batch_end(step, logs)
                    if model.stop_training:  # decided from the logs, which every worker shares
                        break
                epoch_logs = _floats(model.get_metrics_result())  # over all replicas' examples
                worker.average(model.non_trainable_weights)
                if validation is not None:
                    val_logs = self.evaluate(validation, callbacks=callbacks)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                (stopping,) = worker.sum([int(bool(model.stop_training))])
                if int(stopping):
                    model.stop_training = True
                    break
            model.optimizer.finalize_variable_values(model.trainable_weights)
            callbacks.on_train_end(logs=epoch_logs)
        except LOST_WORKER_ERRORS as error:
            where = "before the first epoch" if epoch is None else f"in epoch {epoch + 1}, step {step + 1}"
            raise _lost(worker, where, error) from error
        return model.history

    def evaluate(self, data, callbacks=None):
        """The model's metrics over the data of all workers, as `keras.Model.evaluate` gives them.

        Workers may hold different numbers of batches: each evaluates its own batches without waiting
        for the others (their per-batch logs are their own running metrics), and the result sums the
        metrics of all workers' examples.

        Args:
            data: this worker's part of the dataset.
            callbacks: a `keras.callbacks.CallbackList` to call as `evaluate` does, or None.

        Returns:
            ``{metric name: float}``, the same on every worker.
        """
        model = self.model
        self._build(data.element_spec)
        if self._test_step is None:
            self._test_step = _evaluation_function(model, self.worker, data.element_spec)
        callbacks = callbacks or keras.callbacks.CallbackList(model=model)
        model.reset_metrics()
        callbacks.on_test_begin()
        step = 0
        try:
            for step, batch in enumerate(data):
                callbacks.on_test_batch_begin(step)
                callbacks.on_test_batch_end(step, self._test_step(batch))
            logs = _floats(model.get_metrics_result())  # summed over the workers
        except LOST_WORKER_ERRORS as error:
            raise _lost(self.worker, f"while evaluating, at batch {step + 1}", error) from error
        callbacks.on_test_end(logs)
        return logs


def _step_function(model, strategy, step):
    """A compiled function that runs ``step`` on every replica and returns its logs, averaged over
    the replicas in one packed all-reduce: the running metrics of each replica's part, averaged as
    Keras's `fit` reports per-batch logs under a single-host strategy (for means over equal batches,
    the metrics of the whole global batch). Epoch logs are read exactly, with `get_metrics_result`."""
    if model.jit_compile:
        step = tf.function(step, jit_compile=True, reduce_retracing=True)

    def replica_step(data):
        logs = {name: tf.cast(value, tf.float32) for name, value in step(data).items()}
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, logs)

    @tf.function
    def run(iterator):
        logs = strategy.run(replica_step, args=(next(iterator),))
        return {name: strategy.experimental_local_results(value)[0] for name, value in logs.items()}

    return run


def _evaluation_function(model, worker, element_spec):
    """A compiled ``test_step`` over one local batch (of any size), split over this worker's replicas.

    It runs no collective, so that workers with different numbers of batches do not wait for each
    other, and returns the first local replica's running metrics (for progress display)."""
    strategy, replicas, step = worker.strategy, worker.replicas, model.test_step
    if model.jit_compile:
        step = tf.function(step, jit_compile=True, reduce_retracing=True)

    def run(batch):
        if replicas > 1:  # replica r of this worker takes the r-th part of the batch
            size = tf.shape(tf.nest.flatten(batch)[0])[0]
            batch = strategy.experimental_distribute_values_from_function(
                lambda context: tf.nest.map_structure(
                    lambda t: t[size * (context.replica_id_in_sync_group % replicas) // replicas:
                                size * (context.replica_id_in_sync_group % replicas + 1) // replicas], batch))
        logs = strategy.run(step, args=(batch,))
        return {name: strategy.experimental_local_results(value)[0] for name, value in logs.items()}

    return tf.function(run, input_signature=[element_spec])


def _distribute(strategy, dataset):
    """``dataset`` (this worker's part, in per-replica batches) as a distributed dataset."""
    return strategy.distribute_datasets_from_function(lambda context: dataset)


def _adopt_resumed_state(model, worker, backup):
    """The epoch to start from: the chief's resumed epoch, with its weights and optimizer state."""
    resumed = backup.initial_epoch if backup is not None else 0
    (epoch,) = worker.broadcast([resumed])
    epoch = int(epoch)
    if epoch:
        worker.adopt_chief_state([*model.weights, *model.optimizer.variables])
        if backup is not None:
            backup.initial_epoch = epoch
    return epoch


def _floats(logs):
    return {name: float(value) for name, value in logs.items()}


def _lost(worker, where, error):
    return WorkerLost(
        f"worker {worker.index} of {worker.count}: another worker died or became unreachable {where} "
        f"({describe(error)}). Relaunch every worker with --resume RUN_DIR to continue from the last "
        "complete backup.")
