"""Fit orchestration from a config: data, model, precision, XLA, strategy, callbacks, checkpoints.

`fit` turns an `kerasfg.config.ExperimentConfig` into a finished run directory:

```
runs/<name>/<timestamp>/
  config.yaml      the resolved config (precision and jit_compile as actually used)
  logs/            TensorBoard event files (train/, validation/, and kerasfg's recordings)
  checkpoints/     last.keras and best.keras, written atomically (unless train.checkpoints is false)
  backup/          the newest complete training state; a killed run resumes from it
  model.keras      the final model
  class_names.json class names per target task
  objectives.json  each output's target, loss, weight, metrics (and a standardized target's statistics)
  preprocessing.json how images became pixels (decode, channels, resize); exports and visualize reuse it
  metrics.json     test metrics (and tables: confusion counts, per-attribute accuracies), history,
                   throughput
```

Example:

```python
config = kerasfg.config.load("experiments/quickstart.yaml")
result = kerasfg.training.fit(config, callbacks=[...])
print(result.test_metrics)
```
"""

import dataclasses
import functools
import logging
import pathlib
import statistics
import time

import keras
import tensorflow as tf

from kerasfg import config as config_lib
from kerasfg import distributed, optimization
from kerasfg import precision as precision_lib
from kerasfg.optimization import learning_rate_schedule  # noqa: F401  (part of this module's API)
from kerasfg.checkpoints import Checkpoint, ResumableBackup
from kerasfg.data.preprocessing import PREPROCESSING_FILE, Preprocessing
from kerasfg.distributed import Worker
from kerasfg.distributed.batch_norm import synchronize_batch_norm
from kerasfg.io_utils import atomic_file, write_json

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class DataSplits:
    """The datasets of a run and what the model needs to know about them.

    Attributes:
        train, validation, test: `tf.data.Dataset`s of `(inputs dict, targets dict)` batches.
        input_shape: shape of one image.
        num_classes: number of classes per task (targets and extra inputs); the number of
            attributes of a multilabel task, 1 for a regression task (the width of its output).
        class_names: class names per task (attribute names of a multilabel task; none for a
            regression task).
        train_size: number of training examples.
        preprocessing: how stored images become model pixels (a
            `kerasfg.data.preprocessing.Preprocessing`), recorded in the run directory for the serving
            signatures and `kerasfg visualize`.
        validation_masks: the evidence masks of the validation images per target task (bool
            `(n, h, w)`, in the validation set's order), where they are known (synthetic faces); None
            otherwise.
        steps_per_epoch: training steps per epoch when the datasets are one worker's shard (the
            same on every worker); None otherwise (see `DataSplits.training_steps`).
        tasks: the `kerasfg.data.dataset.Task` of every task (its kind: class, multilabel or
            regression).
        train_labels: the training split's labels of each regression target (for its
            standardization).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    input_shape: tuple
    num_classes: dict
    class_names: dict
    train_size: int
    preprocessing: Preprocessing | None = None
    validation_masks: dict | None = None
    steps_per_epoch: int | None = None
    tasks: dict | None = None
    train_labels: dict | None = None

    def training_steps(self, batch_size):
        """Training steps per epoch: this worker's shard's when sharded, else those of the whole
        training split in batches of ``batch_size``."""
        return self.steps_per_epoch or optimization.steps_per_epoch(self.train_size, batch_size)


@dataclasses.dataclass
class RunResult:
    """What a finished run produced.

    Attributes:
        run_dir: the run directory (None on the workers of a multi-worker run other than the chief,
            which write nothing).
        model: the trained model.
        history: per-epoch logs of this invocation of fit (a resumed run holds the remaining epochs).
        test_metrics: metrics of the model on the test split.
        class_names: class names per task.
        precision, jit_compile: the values actually used.
        train_images_per_second: training throughput (median over steps after the first epoch).
        export: the `kerasfg.export.ExportResult` (path, version, signatures, verification), if
            exported.
    """

    run_dir: pathlib.Path
    model: keras.Model
    history: dict
    test_metrics: dict
    class_names: dict
    precision: str
    jit_compile: bool
    train_images_per_second: float
    export: object | None = None


def fit(config, *, callbacks=(), resume=None, cluster=None):
    """Train the model that ``config`` describes, evaluate it on the test split and save the run.

    Args:
        config: an `ExperimentConfig` (or what `kerasfg.config.as_config` takes: a mapping of sections, a YAML
            file path).
        callbacks: extra Keras callbacks; they run after the built-in ones. kerasfg's recording
            callbacks get a `kerasfg.callbacks.RecordingContext`: the run's ``logs/vis`` folder, the first
            validation batch as their probe, its targets and class names, and on synthetic faces the
            evidence masks of its images; each uses what it was not given itself. Those that only read the
            model make their end-of-training recording while ``fit`` tests, saves and exports the model
            (`kerasfg.callbacks.context.DeferredRecordings`); ``fit`` returns when they are written.
        resume: an earlier run directory of the same config to continue from its newest backup; a
            new run directory is created when None.
        cluster: the `kerasfg.distributed.Cluster` of a ``multi_worker`` run; by default read from
            the ``TF_CONFIG`` environment variable.

    Returns:
        A `RunResult`.
    """
    config = config_lib.as_config(config)
    strategy = make_strategy(config.train.distribute, cluster)  # first: workers start before TensorFlow runs
    chosen = precision_lib.resolve(config.train.precision, config.train.jit_compile)
    precision, jit_compile = chosen.name, chosen.jit_compile
    worker = Worker.of(strategy)  # the chief (or only process) writes the run directory
    resolved = dataclasses.replace(
        config, train=dataclasses.replace(config.train, precision=precision, jit_compile=jit_compile))
    if worker.multi:
        distributed.check_config(config)
    worker.agree("the config", training_identity(resolved))
    run_dir = None
    if worker.is_chief:
        run_dir = pathlib.Path(resume) if resume else new_run_dir(config.runs_dir, config.name)
        if resume and not run_dir.is_dir():
            raise FileNotFoundError(f"resume: run directory {run_dir} does not exist.")
        config_lib.save(resolved, run_dir / "config.yaml")
        logger.info("run directory %s (precision %s, jit_compile %s)", run_dir, precision, jit_compile)

    keras.utils.set_random_seed(config.train.seed)
    data = build_datasets(config.data, run_dir=run_dir, shard=worker.shard)
    if worker.is_chief:
        data.preprocessing.write(run_dir / PREPROCESSING_FILE)  # read by `kerasfg export RUN_DIR`, visualize
    with chosen.build_scope(), strategy.scope():
        model, objectives = build_compiled_model(config, data, jit_compile)
    if worker.is_chief:
        objectives.write(run_dir)

    meter = Throughput(config.data.batch_size)
    backup = ResumableBackup(run_dir / "backup" if run_dir else None, worker=worker if worker.multi else None)
    built_in = [backup, meter, *optimization.training_callbacks(model, config.train)]
    from kerasfg.callbacks.context import DeferredRecordings, hand_context

    deferred = DeferredRecordings()  # the recordings of the end of training, made while the model is tested
    if worker.is_chief:
        hand_context(callbacks, run_dir / "logs" / "vis", data.validation, data.class_names, data.validation_masks,
                     deferred)
        built_in = [keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")),
                    *([Checkpoint(run_dir / "checkpoints")] if config.train.checkpoints else []), *built_in]
    if config.train.early_stopping_patience is not None:
        built_in.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.train.early_stopping_patience,
            restore_best_weights=True))
    start = time.perf_counter()
    with chosen.training_scope():  # the test metrics and the export below run in float32
        history = worker.fit(model, objectives.arrange(data.train), validation=objectives.arrange(data.validation),
                             epochs=config.train.epochs, steps_per_epoch=data.training_steps(config.data.batch_size),
                             callbacks=worker.callbacks([*built_in, *callbacks]), verbose=config.train.verbose,
                             backup=backup)
    # Nothing in the block changes the model. The deferred recordings start when the export's check begins to wait
    # for its fresh process: the export's own trace then has the cores to itself.
    with deferred.running(when_started=worker.is_chief and config.export.enabled):
        test = objectives.arrange(data.test)
        test_metrics = worker.evaluate(model, test)
        test_tables = worker.evaluate_tables(objectives, model, test)
        result = RunResult(
            run_dir=run_dir, model=model, history={k: [float(v) for v in values]
                                                   for k, values in history.history.items()},
            test_metrics=test_metrics, class_names=data.class_names, precision=precision,
            jit_compile=jit_compile, train_images_per_second=meter.images_per_second())
        if worker.is_chief:
            _save_run(result, config, data, backup, test_tables, fit_seconds=time.perf_counter() - start,
                      while_verifying=deferred.start)
    worker.wait_for_chief()
    return result


def _save_run(result, config, data, backup, test_tables, fit_seconds, while_verifying=None):
    """Write the final model, class names, export and metrics of a finished run (``while_verifying``: see
    `kerasfg.export.export_saved_model`)."""
    run_dir, model = result.run_dir, result.model
    with atomic_file(run_dir / "model.keras", mode=None) as temp:
        model.save(temp)
    target_names = {task: list(data.class_names[task]) for task in config.data.targets
                    if task in data.class_names}
    write_json(run_dir / "class_names.json", target_names)  # read by `kerasfg export RUN_DIR`
    if config.export.enabled:
        from kerasfg.export import export_saved_model

        result.export = export_saved_model(model, config.export.base_path, class_names=target_names,
                                           preprocessing=data.preprocessing, while_verifying=while_verifying)
    write_json(run_dir / "metrics.json", {
        "test": result.test_metrics,
        **({"test_tables": test_tables} if test_tables else {}),
        "history": result.history,
        "epochs_completed": backup.initial_epoch + len(result.history.get("loss", [])),
        "resumed_from": str(backup.resumed_from) if backup.resumed_from else None,
        "precision": result.precision,
        "jit_compile": result.jit_compile,
        "train_images_per_second": result.train_images_per_second,
        "fit_seconds": fit_seconds,
        "export_path": str(result.export.path) if result.export else None,
    })


def new_run_dir(runs_dir, name):
    """Create and return a fresh ``<runs_dir>/<name>/<timestamp>`` directory."""
    base = pathlib.Path(runs_dir) / name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", *(f"-{i}" for i in range(1, 100))):
        candidate = base / f"{stamp}{suffix}"
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a new run directory under {base}.")


def build_datasets(data_config, run_dir=None, shard=None):
    """Build the train, validation and test datasets that ``data_config`` describes.

    Args:
        data_config: a `DataConfig`.
        run_dir: where a dataset on disk writes its report of skipped files.
        shard: a `kerasfg.distributed.InputShard`: build only this worker's part of each split, in
            per-replica batches of the global batch size (see `kerasfg.distributed.sharding`).

    Returns:
        A `DataSplits`.
    """
    tasks = [*data_config.targets, *(name for name in data_config.inputs if name != "image")]
    if shard is not None:
        try:
            shard.replica_batch_size(data_config.batch_size)
        except ValueError as error:
            raise config_lib.ConfigError(f"data.batch_size: {error}") from None
    if data_config.source == "dataset":
        splits = _dataset_splits(data_config, tasks, run_dir, shard)
    else:
        splits = _synthetic_splits(data_config, tasks, shard)
    if list(data_config.inputs) == ["image"]:  # a single-input model takes the image tensor itself
        for role in ("train", "validation", "test"):
            setattr(splits, role, getattr(splits, role).map(lambda x, y: (x["image"], y)))
    return splits


def _synthetic_splits(data_config, tasks, shard):
    from kerasfg.data.synthetic import synthetic_faces
    from kerasfg.data.synthetic_digits import synthetic_digits

    synthetic = data_config.synthetic
    if synthetic.kind == "digits":
        def render(count, seed, identity_seed):  # digits have no people
            return synthetic_digits(count, image_size=synthetic.image_size, difficulty=synthetic.difficulty,
                                    seed=seed)
    else:
        render = functools.partial(
            synthetic_faces, num_identities=synthetic.num_identities, image_size=synthetic.image_size,
            difficulty=synthetic.difficulty)
    # Different image seeds for the three splits; the same people in all of them, or other people in
    # the validation and test splits when they must be subject-disjoint.
    train, validation, test = (
        render(count, seed=synthetic.seed * 3 + offset,
               identity_seed=synthetic.identity_seed + (offset if synthetic.subject_disjoint else 0))
        for offset, count in enumerate((synthetic.train_images, synthetic.val_images, synthetic.test_images)))
    _check_tasks(tasks, train.tasks, f"the synthetic {synthetic.kind}")
    known = {task: train.tasks[task] for task in tasks}

    def as_dataset(faces, training):
        return faces.as_dataset(inputs=data_config.inputs, targets=data_config.targets,
                                batch_size=data_config.batch_size,
                                shuffle=training and data_config.shuffle, seed=synthetic.seed,
                                shard=shard, training=training)

    return DataSplits(
        train=as_dataset(train, True), validation=as_dataset(validation, False),
        test=as_dataset(test, False), input_shape=train.images.shape[1:],
        num_classes={task: train.num_classes.get(task, 1) for task in tasks},
        class_names={task: train.class_names[task] for task in tasks if task in train.class_names},
        train_size=len(train),
        # Rendered at the model's size; other sizes are resized as kerasfg's pipeline resizes files.
        preprocessing=Preprocessing.pipeline(train.images.shape[1:3], train.images.shape[-1],
                                             origin=f"the synthetic {synthetic.kind}"),
        validation_masks={task: validation.masks[task] for task in data_config.targets
                          if task in validation.masks},
        tasks=known, train_labels=_regression_labels(train.labels, known),
        steps_per_epoch=shard and shard.steps_per_epoch(None, range(len(train)), data_config.batch_size))


def _dataset_splits(data_config, tasks, run_dir, shard):
    from kerasfg.data import load_splits

    spec = data_config.dataset
    roles = {"train": spec.train_split, "validation": spec.val_split, "test": spec.test_split}
    optional = {key: value for key, value in (("image_size", spec.image_size), ("channels", spec.channels))
                if value is not None}
    parts = load_splits(spec.name, spec.root, tuple(dict.fromkeys(roles.values())), seed=spec.seed,
                        run_dir=run_dir, **optional, **spec.options)
    train = parts[spec.train_split]
    _check_tasks(tasks, train.tasks, f"dataset {spec.name!r}")
    known = {task: train.tasks[task] for task in tasks}

    def as_dataset(part, training):
        return part.as_dataset(data_config.batch_size, training=training, inputs=data_config.inputs,
                               targets=data_config.targets, shuffle=training and data_config.shuffle,
                               augment=spec.augment if training else None, seed=spec.seed, shard=shard)

    return DataSplits(
        train=as_dataset(train, True), validation=as_dataset(parts[spec.val_split], False),
        test=as_dataset(parts[spec.test_split], False), input_shape=train.input_shape,
        num_classes={task: train.num_classes.get(task, 1) for task in tasks},
        class_names={task: tuple(train.class_names[task]) for task in tasks
                     if task in train.class_names},
        train_size=len(train), preprocessing=train.preprocessing,
        tasks=known, train_labels=_regression_labels(train.labels, known),
        steps_per_epoch=shard and shard.steps_per_epoch(train.source, train.source_index,
                                                        data_config.batch_size))


def _regression_labels(labels, tasks):
    return {name: labels[name] for name, task in tasks.items() if task.kind == "regression"}


def _check_tasks(tasks, available, source):
    unknown = [task for task in tasks if task not in available]
    if unknown:
        raise config_lib.ConfigError(
            f"data.targets / data.inputs: unknown task(s) {unknown}; {source} has {sorted(available)}.")


def build_model(config, data):
    """Build the model of ``config`` for the tasks and image shape of ``data``.

    A model that predicts one task (`kerasfg.models.registry.RegisteredModel.single_task`) gets
    that task's number of classes as an int; the others a dict ``{task: classes}``, one output per
    target. Extra inputs (``data.inputs`` besides the image) go to builders that take
    ``extra_inputs``; other builders must make those inputs themselves.

    Raises:
        ConfigError: when the model's inputs are not the ones ``data.inputs`` feeds, or a
            single-task model gets several targets.
    """
    from kerasfg.models.registry import build_model as build_registered
    from kerasfg.models.registry import registered_model

    try:
        registered = registered_model(config.model.name)
    except ValueError as error:
        raise config_lib.ConfigError(f"model.name: {error}") from error
    targets = {task: data.num_classes[task] for task in config.data.targets}
    if registered.single_task:
        if len(targets) != 1:
            raise config_lib.ConfigError(
                f"data.targets: model {config.model.name!r} predicts one task; got {list(targets)}.")
        targets = next(iter(targets.values()))
    extra_inputs = {name: data.num_classes[name] for name in config.data.inputs if name != "image"}
    options = dict(config.model.options)
    if extra_inputs and registered.accepts("extra_inputs"):
        options["extra_inputs"] = extra_inputs
    if options.get("output_codes"):  # data-based codes whose class similarity comes from the training data
        from kerasfg.codes import resolve_similarities

        options["output_codes"] = resolve_similarities(options["output_codes"], data.train, data.num_classes)
    model = build_registered(
        config.model.name, input_shape=data.input_shape, num_classes=targets,
        attention=config.model.attention, activation=config.model.activation, **options)
    fed = sorted(config.data.inputs)
    taken = sorted(tensor.name for tensor in model.inputs)
    if len(fed) > 1 and taken != fed:
        raise config_lib.ConfigError(f"data.inputs: model {config.model.name!r} takes the inputs "
                                     f"{taken}; the config feeds {fed}.")
    return model


def build_compiled_model(config, data, jit_compile):
    """The model of ``config``, ready to train on ``data``, and its objectives.

    Builds it, synchronizes its batch normalization (``train.sync_batch_norm``), loads
    ``train.initial_weights``, freezes ``train.freeze``, attaches weight decay and
    OrthoReg, resolves the objectives and compiles. Call it inside the strategy's scope.

    Returns:
        ``(model, objectives)``: the compiled model and its `kerasfg.objectives.Objectives`.
    """
    from kerasfg import objectives as objectives_lib
    from kerasfg.fine_tuning import freeze_layers, load_initial_weights
    from kerasfg.models.registry import registered_model

    model = build_model(config, data)
    if config.train.sync_batch_norm:
        synchronize_batch_norm(model)
    objectives = objectives_lib.from_config(config, model, data, registered_model(config.model.name))
    if config.train.init == "lsuv":
        from kerasfg.initialization import lsuv_initialize

        lsuv_initialize(model, next(iter(data.train))[0])
    if config.train.initial_weights:
        load_initial_weights(model, config.train.initial_weights, config.train.skip_mismatch)
    if config.train.freeze:
        freeze_layers(model, config.train.freeze)
    optimization.attach_regularizers(model, config.train)
    compile_model(model, config.train, jit_compile,
                  data.training_steps(config.data.batch_size), objectives)
    return model, objectives


def compile_model(model, train_config, jit_compile, steps_per_epoch=1, objectives=None):
    """Compile with the optimizer of ``train_config`` and the losses and metrics of ``objectives``.

    Args:
        model: the model.
        train_config: a `TrainConfig`.
        jit_compile: whether to compile the steps with XLA.
        steps_per_epoch: training steps per epoch, to place the learning-rate schedule's decays.
        objectives: the model's `kerasfg.objectives.Objectives`; None for softmax cross-entropy
            and accuracy on every output (weighed by ``train_config.loss_weights``).
    """
    if objectives is None:
        from kerasfg import objectives as objectives_lib

        objectives = objectives_lib.classification(model, train_config.loss_weights)
    model.compile(optimizer=optimization.build_optimizer(train_config, steps_per_epoch),
                  jit_compile=jit_compile, run_eagerly=train_config.run_eagerly,
                  **objectives.compile_arguments())


def resolve_precision(precision):
    """The precision ``"auto"`` stands for on this machine (`kerasfg.precision.resolve_precision`)."""
    return precision_lib.resolve_precision(precision)


def resolve_jit_compile(jit_compile, strategy=None):
    """Resolve ``"auto"`` (`kerasfg.precision.resolve_jit_compile`): XLA on GPUs, not on CPUs.

    XLA inside MirroredStrategy replicas works on GPUs as well, so ``strategy`` changes nothing.
    """
    del strategy
    return precision_lib.resolve_jit_compile(jit_compile)


def make_strategy(distribute, cluster=None):
    """The `tf.distribute.Strategy` of ``distribute`` (the config's ``train.distribute``).

    ``"mirrored"``: a `tf.distribute.MirroredStrategy` over all local devices; ``"multi_worker"``: a
    `tf.distribute.MultiWorkerMirroredStrategy` over the workers of ``cluster`` (a
    `kerasfg.distributed.Cluster`; by default from ``TF_CONFIG``), once they have all connected;
    otherwise the default strategy.
    """
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi_worker":
        cluster = cluster or distributed.Cluster.from_environment()
        if cluster is None:
            raise config_lib.ConfigError(
                "train.distribute: 'multi_worker' needs the workers' addresses and this worker's index: "
                "run kerasfg train CONFIG --workers HOST:PORT,HOST:PORT --worker-index N, or set TF_CONFIG.")
        return distributed.multi_worker_strategy(cluster)
    return tf.distribute.get_strategy()


def training_identity(config):
    """What must be equal on every worker of a run: the data, model and training sections of
    ``config`` (without the progress output), as YAML."""
    import yaml

    sections = config.to_dict()
    sections["train"].pop("verbose")
    return yaml.safe_dump({key: sections[key] for key in ("data", "model", "train")}, sort_keys=True)


class Throughput(keras.callbacks.Callback):
    """Measure training images per second from the duration of each training step.

    Steps of the first epoch are left out (they include tracing and compilation), unless there is
    only one epoch.

    Args:
        batch_size: global batch size.
    """

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.step_seconds = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self.step_seconds[epoch] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_seconds[self._epoch].append(time.perf_counter() - self._start)

    def images_per_second(self):
        """Median training throughput, or 0.0 before any step."""
        epochs = sorted(self.step_seconds)
        steps = [s for e in (epochs[1:] or epochs) for s in self.step_seconds[e]]
        return self.batch_size / statistics.median(steps) if steps else 0.0
