"""Experiment configs: YAML files parsed into typed dataclasses, overridable from the command line.

A config names everything a run needs (data, model, training, export), so an experiment is data, not
code. Unknown keys and values of the wrong type are rejected with an error that names the dotted key,
the expected form and the value received.

Example:

```python
config = kerasfg.config.load("experiments/quickstart.yaml", overrides=["train.epochs=3"])
```
"""

import copy
import dataclasses
import hashlib
import json
import os
import pathlib
import types
import typing

import yaml

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16", "onednn_bfloat16")
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
SCHEDULES = ("constant", "cosine", "step")
WEIGHT_DECAY_MODES = ("l2", "decoupled")
ORTHOREG_MODES = ("none", "regularizer", "update")
ORTHOREG_COSTS = ("local", "global")
SYNTHETIC_KINDS = ("faces", "digits")
INITIALIZATIONS = ("default", "lsuv")


_MISSING = object()  # a default that no value equals


class ConfigError(ValueError):
    """A config value or key is invalid; the message names the key, what was expected and received."""


@dataclasses.dataclass
class SyntheticConfig:
    """The built-in synthetic faces (see `kerasfg.data.synthetic_faces`).

    Attributes:
        kind: ``"faces"`` (the synthetic faces, every face task) or ``"digits"`` (synthetic digits 0-9, task
            ``label``, MNIST's stand-in: see `kerasfg.data.synthetic_digits`; they take a number as
            ``difficulty`` and ignore the people's settings).
        num_identities: number of people.
        train_images, val_images, test_images: sizes of the three splits, rendered with different
            seeds from the same people.
        image_size: side of the square images.
        difficulty: a number in [0, 1] for every factor, or a mapping with a level per factor
            (``nuisance``, ``identity``, ``expression``, ``gender``, ``age``, ``attributes``), per
            attribute (``eyeglasses``, ...) and ``default``: see `kerasfg.data.synthetic.difficulty_levels`.
        seed: seed of the rendering; identity_seed: seed of the people.
        subject_disjoint: render the validation and test faces from other people (``identity_seed + 1``
            and ``+ 2``) than the training faces: the protocol of the gender, age and attribute tasks,
            whose labels belong to the person. The identity task needs the same people (false).
    """

    kind: str = "faces"
    num_identities: int = 10
    train_images: int = 4000
    val_images: int = 800
    test_images: int = 800
    image_size: int = 64
    difficulty: float | dict = 0.5
    seed: int = 0
    identity_seed: int = 0
    subject_disjoint: bool = False


@dataclasses.dataclass
class DatasetConfig:
    """A face dataset in its published on-disk layout (see `kerasfg.data.load_splits`).

    Attributes:
        name: reader name, e.g. ``"fer2013"``, ``"adience"``, ``"celeba"``, ``"folder"``, ``"manifest"``.
        root: the dataset's root folder (or file, for CSV/JSON forms).
        image_size: ``[height, width]`` to resize to; the reader's default when null.
        channels: 1 (grayscale) or 3 (RGB); the reader's default when null.
        train_split, val_split, test_split: the dataset parts used for training, validation and the
            final test (published protocol parts, or parts of the seeded subject-disjoint split).
        augment: augmentation preset (``"fer"``, ``"flip"``, ``"crop_flip"``, ``"default"``) or null.
        seed: seed of the seeded split, shuffling and augmentation.
        options: further reader and split options (``protocol``, ``fractions``, ``by``, ``fold``,
            ``num_folds``, ``subject``, ``class_names``, ...).
    """

    name: str = ""
    root: str = ""
    image_size: list[int] | None = None
    channels: int | None = None
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    augment: str | None = None
    seed: int = 0
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DataConfig:
    """Where the examples come from and what the model sees.

    Attributes:
        source: ``"synthetic"`` for the built-in synthetic faces, ``"dataset"`` for a face dataset on
            disk.
        synthetic: settings of the synthetic faces.
        dataset: the face dataset, when ``source`` is ``"dataset"``.
        inputs: model inputs: ``"image"`` plus any task used as an extra input (e.g. ``"expression"``).
        targets: tasks the model predicts; each becomes a named model output.
        batch_size: global batch size.
        shuffle: reshuffle the training set every epoch.
    """

    source: str = "synthetic"
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)
    dataset: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    inputs: list[str] = dataclasses.field(default_factory=lambda: ["image"])
    targets: list[str] = dataclasses.field(default_factory=lambda: ["identity"])
    batch_size: int = 64
    shuffle: bool = True


@dataclasses.dataclass
class ModelConfig:
    """The network, built by `kerasfg.models.build_model`.

    Attributes:
        name: registered model name.
        attention: attention module name (e.g. ``"cbam"``), or None.
        activation: activation of the backbone.
        options: further keyword arguments of the builder.
    """

    name: str = "face_resnet"
    attention: str | None = "cbam"
    activation: str = "relu"
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OptimizerConfig:
    """The optimizer: any `keras.optimizers` name and its keyword arguments.

    Attributes:
        name: e.g. ``"adam"``, ``"sgd"``, ``"adamw"``.
        learning_rate: initial learning rate.
        schedule: ``"constant"``; ``"cosine"`` (cosine decay to 0 over the whole run); or ``"step"``
            (multiply the rate by ``decay_factor`` at each epoch in ``decay_epochs``, as the papers'
            recipes do, e.g. 150/225 x 0.1, or at the fractions ``decay_fractions`` of the run,
            e.g. [0.5, 0.75]).
        decay_epochs: epochs at which the ``"step"`` schedule decays the rate.
        decay_fractions: fractions of ``train.epochs`` at which it decays (instead of
            ``decay_epochs``), so that a recipe keeps its shape at any number of epochs.
        decay_factor: factor of each ``"step"`` decay (the decay ratio, e.g. 0.2 for WARN).
        weight_decay: weight decay coefficient (0 for none).
        weight_decay_mode: ``"l2"``: added to the gradient of every trainable weight before the
            optimizer's update, as PyTorch's and Torch's SGD ``weight_decay`` that the papers' code
            uses (with momentum it goes through the momentum); ``"decoupled"``: Keras's own
            ``weight_decay`` argument, ``w -= lr * weight_decay * w`` apart from the gradient
            (AdamW's).
        options: further keyword arguments of the optimizer (``momentum``, ``nesterov``, ``beta_1``,
            ``epsilon``, ``clipnorm``, ...).
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    decay_epochs: list[int] = dataclasses.field(default_factory=list)
    decay_fractions: list[float] = dataclasses.field(default_factory=list)
    decay_factor: float = 0.1
    weight_decay: float = 0.0
    weight_decay_mode: str = "l2"
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OrthoRegConfig:
    """OrthoReg, the locally constrained decorrelation of filters (thesis 002, chapter 5).

    Attributes:
        mode: ``"none"``; ``"regularizer"``: ``strength * C(theta)`` added to the loss
            (`kerasfg.regularizers.OrthoReg`); ``"update"``: the thesis's own update after every
            optimizer step, ``W -= beta * lr * (G - diag(G)) F`` (`kerasfg.regularizers.OrthoRegUpdate`).
        strength: gamma, the regularizer's weight.
        beta: the update's weight.
        lam: lambda (10 in the thesis).
        cost: the regularizer's cost: ``"local"`` (Eq. 5.7) or ``"global"`` (Eq. 5.2).
        layers: layer-name patterns (``fnmatch``, e.g. ``"stage3_*"``) of the layers whose kernels
            are decorrelated; null for every convolution, as in the thesis.
        restore_norms: update only: give every filter its norm back after the update.
    """

    mode: str = "none"
    strength: float = 1e-3
    beta: float = 1e-3
    lam: float = 10.0
    cost: str = "local"
    layers: list[str] | None = None
    restore_norms: bool = False


@dataclasses.dataclass
class TrainConfig:
    """How to fit.

    Attributes:
        epochs: number of epochs.
        optimizer: the optimizer.
        loss_weights: weight per output name (1.0 for outputs not listed).
        precision: ``"auto"`` (the fastest for the device that trains as well as float32),
            ``"float32"``, ``"mixed_bfloat16"``, ``"mixed_float16"`` or ``"onednn_bfloat16"`` (a
            float32 model whose training step TensorFlow's oneDNN graph rewrite runs in bfloat16);
            see `kerasfg.precision`.
        jit_compile: ``"auto"`` (XLA on GPUs, where it is faster; not on CPUs, where it is slower),
            true or false.
        distribute: ``"none"``; ``"mirrored"`` (`tf.distribute.MirroredStrategy` over all local
            devices); or ``"multi_worker"`` (synchronous data-parallel training over several
            machines, each started with the workers' addresses and its index: see
            `kerasfg.distributed` and ``docs/distributed.md``).
        sync_batch_norm: under ``"mirrored"`` or ``"multi_worker"``, normalize with the statistics of
            the whole global batch instead of each replica's part (the result then matches a single
            process; costs small all-reduces in every batch-norm layer).
        early_stopping_patience: stop after this many epochs without a better validation loss; None
            disables early stopping.
        seed: seed of weights, dropout and shuffling.
        verbose: Keras progress output (0, 1 or 2).
        orthoreg: OrthoReg on the kernels.
        freeze: layer-name patterns (``fnmatch``, e.g. ``"stage1_*"``) of layers that do not train.
        init: ``"default"`` (each layer's own initializers) or ``"lsuv"``: layer-sequential unit-variance
            initialization (Mishkin and Matas 2015, `kerasfg.initialization.lsuv_initialize`): orthonormal
            kernels, then each layer rescaled until its output has unit variance on a training batch. Done
            before ``initial_weights`` are loaded.
        initial_weights: a ``.keras`` model file whose layers' weights are copied into the layers of
            the same name (fine-tuning), or a ``.weights.h5`` file of the same architecture; null
            to start from the initializers.
        skip_mismatch: leave layers whose weights differ in shape from the file's as initialized
            (e.g. a classifier for other classes) instead of stopping with an error.
        run_eagerly: run the training steps eagerly, without `tf.function` (for debugging, and for
            one-step smoke runs, where tracing would cost more than the step).
        checkpoints: save ``checkpoints/last.keras`` and ``checkpoints/best.keras`` (by validation loss)
            each epoch; false for throwaway runs (the smoke grids), which keep the final ``model.keras``
            and the resumable backup.
    """

    epochs: int = 10
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    loss_weights: dict = dataclasses.field(default_factory=dict)
    precision: str = "auto"
    jit_compile: bool | str = "auto"
    distribute: str = "none"
    sync_batch_norm: bool = False
    early_stopping_patience: int | None = None
    seed: int = 0
    verbose: int = 1
    orthoreg: OrthoRegConfig = dataclasses.field(default_factory=OrthoRegConfig)
    freeze: list[str] = dataclasses.field(default_factory=list)
    init: str = "default"
    initial_weights: str | None = None
    skip_mismatch: bool = False
    run_eagerly: bool = False
    checkpoints: bool = True


@dataclasses.dataclass
class ExportConfig:
    """Export after training.

    Attributes:
        enabled: export a SavedModel for TF Serving when training ends.
        base_path: TF Serving model base path; versions are written below it.
    """

    enabled: bool = False
    base_path: str = "saved_models/model"


@dataclasses.dataclass
class ObjectiveConfig:
    """What one model output learns (see `kerasfg.objectives`).

    A field left null takes the model's default objective, and where that says nothing, the rule
    for the target's kind (class: softmax cross-entropy and accuracy; multilabel: masked sigmoid
    cross-entropy and the mean attribute accuracy; regression: mean squared error on the
    standardized target, MAE and Pearson's r).

    Attributes:
        target: the data task the output predicts (one of ``data.targets``); default: the task of
            the output's name, or the only target of a model that predicts one task.
        loss: a registered loss name (``kerasfg.objectives.available_losses()``), or ``"none"``
            for an output that is not trained (e.g. an attention map).
        weight: the loss's weight in the total (default 1.0, or ``train.loss_weights[output]``).
        metrics: registered metric names (``kerasfg.objectives.available_metrics()``), or
            mappings ``{name: ..., <option>: ...}``.
        options: keyword arguments of the loss (e.g. ``from_logits``), over the default's.
    """

    target: str | None = None
    loss: str | None = None
    weight: float | None = None
    metrics: list[str | dict] | None = None
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ExperimentConfig:
    """A whole run.

    Attributes:
        name: run name; the run directory is ``<runs_dir>/<name>/<timestamp>/``.
        runs_dir: parent folder of all runs.
        data, model, train, export: the sections above.
        objectives: ``{model output: ObjectiveConfig}``; outputs not named take the model's
            default objective.
    """

    name: str = "experiment"
    runs_dir: str = "runs"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    objectives: dict[str, ObjectiveConfig] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        _check_choice("train.precision", self.train.precision, PRECISIONS)
        _check_choice("train.distribute", self.train.distribute, DISTRIBUTIONS)
        _check_choice("train.init", self.train.init, INITIALIZATIONS)
        _check_choice("data.source", self.data.source, ("synthetic", "dataset"))
        if self.data.source == "dataset":
            for key in ("name", "root"):
                if not getattr(self.data.dataset, key):
                    raise ConfigError(f"data.dataset.{key}: expected a non-empty string when data.source is "
                                      f"'dataset', got {getattr(self.data.dataset, key)!r}.")
        self._check_optimizer()
        self._check_orthoreg()
        if self.train.jit_compile not in (True, False, "auto"):
            raise ConfigError(f"train.jit_compile: expected true, false or 'auto', got "
                              f"{self.train.jit_compile!r}.")
        _check_positive("train.epochs", self.train.epochs)
        _check_positive("data.batch_size", self.data.batch_size)
        if not self.data.targets:
            raise ConfigError("data.targets: expected at least one task to predict, got [].")
        if "image" not in self.data.inputs:
            raise ConfigError(f"data.inputs: expected a list containing 'image', got "
                              f"{self.data.inputs!r}.")
        self._check_synthetic()
        uses_identity = "identity" in (*self.data.targets, *self.data.inputs)
        if self.data.source == "synthetic" and self.data.synthetic.subject_disjoint and uses_identity:
            raise ConfigError("data.synthetic.subject_disjoint: the identity task needs the same people in "
                              "training and evaluation; expected false when 'identity' is a target or input, "
                              "got true.")

    def _check_synthetic(self):
        from kerasfg.data.synthetic import difficulty_levels

        synthetic = self.data.synthetic
        _check_choice("data.synthetic.kind", synthetic.kind, SYNTHETIC_KINDS)
        difficulty = synthetic.difficulty
        if synthetic.kind == "digits" and (isinstance(difficulty, bool) or not isinstance(difficulty, (int, float))):
            raise ConfigError(f"data.synthetic.difficulty: the synthetic digits take one number in [0, 1], got "
                              f"{difficulty!r}.")
        try:
            difficulty_levels(difficulty)
        except ValueError as error:
            raise ConfigError(f"data.synthetic.{error}") from error  # "difficulty[...]: expected ..."

    def _check_optimizer(self):
        optimizer = self.train.optimizer
        _check_choice("train.optimizer.schedule", optimizer.schedule, SCHEDULES)
        _check_choice("train.optimizer.weight_decay_mode", optimizer.weight_decay_mode,
                      WEIGHT_DECAY_MODES)
        if optimizer.schedule == "step":
            if not optimizer.decay_epochs and not optimizer.decay_fractions:
                raise ConfigError("train.optimizer.decay_epochs: expected the epochs at which the step "
                                  "schedule decays, e.g. [150, 225] (or decay_fractions, e.g. "
                                  "[0.5, 0.75]), got [].")
            if optimizer.decay_epochs and optimizer.decay_fractions:
                raise ConfigError("train.optimizer.decay_fractions: expected either decay_epochs or "
                                  "decay_fractions, got both.")
        for i, fraction in enumerate(optimizer.decay_fractions):
            if not 0.0 < fraction < 1.0:
                raise ConfigError(f"train.optimizer.decay_fractions[{i}]: expected a fraction of the "
                                  f"run in (0, 1), got {fraction!r}.")
        if optimizer.weight_decay < 0:
            raise ConfigError(f"train.optimizer.weight_decay: expected a number >= 0, got "
                              f"{optimizer.weight_decay!r}.")
        if optimizer.weight_decay and "weight_decay" in optimizer.options:
            raise ConfigError("train.optimizer.options.weight_decay: give the weight decay once, as "
                              "train.optimizer.weight_decay (with weight_decay_mode), got both.")

    def _check_orthoreg(self):
        orthoreg = self.train.orthoreg
        _check_choice("train.orthoreg.mode", orthoreg.mode, ORTHOREG_MODES)
        _check_choice("train.orthoreg.cost", orthoreg.cost, ORTHOREG_COSTS)
        for key in ("strength", "beta", "lam"):
            if getattr(orthoreg, key) < 0:
                raise ConfigError(f"train.orthoreg.{key}: expected a number >= 0, got "
                                  f"{getattr(orthoreg, key)!r}.")

    def to_dict(self):
        """The config as plain dicts and lists, ready for YAML."""
        return dataclasses.asdict(self)


def from_dict(data, cls=ExperimentConfig):
    """Build a config dataclass from nested dicts, checking every key and type.

    Args:
        data: nested dicts (e.g. parsed YAML).
        cls: the dataclass to build.

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: on an unknown key or a value of the wrong type.
    """
    return _build(cls, data if data is not None else {}, prefix="")


def load(path, overrides=()):
    """Load a YAML config file and apply ``key=value`` overrides.

    Args:
        path: the YAML file.
        overrides: strings such as ``"train.epochs=3"`` or ``"model.attention=null"``; the value is
            parsed as YAML.

    Returns:
        An `ExperimentConfig`.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got "
                          f"{type(data).__name__}.")
    return from_dict(apply_overrides(data, overrides))


def read_yaml(path):
    """The YAML document in the file at ``path`` (config, grid or pain-system files).

    Raises:
        FileNotFoundError: if there is no such file.
        ConfigError: if the file is not UTF-8 text or not valid YAML; the message names the file, the line
            and the column.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start}).") from None
    return parse_yaml(text, str(path))


def parse_yaml(text, source):
    """The YAML document ``text``; a `ConfigError` naming ``source``, the line and the column if it is not
    valid YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{source}: not valid YAML: {where}{problem}.") from None


def as_config(config):
    """``config`` as an `ExperimentConfig`.

    Args:
        config: an `ExperimentConfig`, a mapping of sections (as `from_dict` takes) or the path of a YAML
            config file (as `load` takes).

    Returns:
        An `ExperimentConfig`.

    Raises:
        ConfigError: for anything else, or a mapping or file that is not a valid config.
    """
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, dict):
        return from_dict(config)
    if isinstance(config, (str, os.PathLike)):
        return load(config)
    raise ConfigError(f"config: expected an ExperimentConfig, a mapping of sections or a YAML file path, got "
                      f"{type(config).__name__} {config!r:.80}.")


def apply_overrides(data, overrides):
    """Return a copy of ``data`` with each ``"a.b.c=value"`` override set (value parsed as YAML)."""
    if isinstance(overrides, (str, bytes)):
        raise ConfigError(f"overrides: expected a list of key=value strings, e.g. ['train.epochs=3'], got the "
                          f"string {overrides!r}.")
    data = _deep_copy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected the form key=value, e.g. train.epochs=3.")
        set_keys(data, {key: parse_yaml(raw, f"override {item!r}")})
    return data


def set_keys(data, values):
    """Set each dotted key of ``values`` (``{"train.epochs": 3}``) in the nested mapping ``data``, in place.

    Missing sections are created; each value is deep-copied.

    Raises:
        ConfigError: a key goes through an entry that is not a section.
    """
    for dotted, value in values.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{dotted}: {part} is not a section (it is {child!r}).")
            node = child
        node[parts[-1]] = copy.deepcopy(value)


def get_key(data, dotted):
    """The value at the dotted key ``dotted`` (``"test_tables.age.confusion"``) of the nested mapping
    ``data``, or None where a part of it is missing or is not a mapping.

    Example:

    >>> get_key({"test": {"accuracy": 0.9}}, "test.accuracy")
    0.9
    """
    node = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def save(config, path):
    """Write ``config`` as YAML to ``path`` (atomically)."""
    from kerasfg.io_utils import atomic_file

    with atomic_file(path) as handle:
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)


def _deep_copy(data):
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def check_mapping(key, value, allowed=None):
    """Checks that a config entry is a mapping whose keys are all known.

    Args:
        key: the dotted key of the entry, for the message (``"claims[0]"``); empty at the top level.
        value: the entry as read from YAML.
        allowed: the keys it may hold; None for any.

    Returns:
        ``value``.

    Raises:
        ConfigError: ``"<key>: expected a mapping, got ..."`` or ``"<key>.<name>: unknown key; expected one of
            [...]"`` (the first unknown key in sorted order).
    """
    if not isinstance(value, dict):
        where = f"{key}: expected a mapping" if key else "expected a mapping at the top level"
        raise ConfigError(f"{where}, got {type(value).__name__} {value!r}.")
    unknown = [] if allowed is None else sorted(set(value) - set(allowed))
    if unknown:
        name = f"{key}.{unknown[0]}" if key else unknown[0]
        raise ConfigError(f"{name}: unknown key; expected one of {sorted(allowed)}.")
    return value


def fingerprint(described, defaults):
    """A short hash of what a config sets differently from the defaults.

    Only the entries that differ count, so a field added to a config class with a default that keeps the
    old behaviour leaves every fingerprint as it was. (A changed default, like a changed builder, is not
    seen: the hash describes the config, not the code.)

    Args:
        described: the config as nested dicts (``config.to_dict()``, less what does not change the result).
        defaults: the same for the config class's defaults (``type(config)().to_dict()``, same entries left
            out).

    Returns:
        16 hexadecimal digits.
    """
    changed = _differences(described, defaults)
    return hashlib.sha256(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _differences(data, defaults):
    changed = {}
    for key, value in data.items():
        default = defaults.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(default, dict):
            inner = _differences(value, default)
            if inner:
                changed[key] = inner
        elif value != default:
            changed[key] = value
    return changed


def _build(cls, data, prefix):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_mapping(prefix.rstrip("."), data, fields)
    hints = typing.get_type_hints(cls)
    kwargs = {name: _convert(hints[name], value, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {error}") from error


def _convert(hint, value, key):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        options = [option for option in options if option is not type(None)]
        if len(options) == 1:  # an optional value: an error inside it names the nested key
            try:
                return _convert(options[0], value, key)
            except ConfigError as error:
                if str(error).startswith(f"{key}:"):
                    raise ConfigError(f"{key}: expected {_describe(hint)}, got {value!r}.") from None
                raise
        for option in options:
            try:
                return _convert(option, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_describe(hint)}, got {value!r}.")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}.")
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected {_describe(hint)}, got {value!r}.")
        return [_convert(item_type, item, f"{key}[{i}]") for i, item in enumerate(value)]
    if hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}.")
        return value
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}.")
        converted = {}
        for name, item in value.items():
            if not isinstance(name, key_type):
                raise ConfigError(f"{key}: expected keys of type {key_type.__name__}, got "
                                  f"{type(name).__name__} {name!r}.")
            converted[name] = _convert(value_type, {} if item is None else item, f"{key}.{name}")
        return converted
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (hint is int and isinstance(value, bool)) or not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {_describe(hint)}, got {type(value).__name__} {value!r}.")
    return value


_PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "booleans", dict: "mappings"}


def _describe(hint):
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        items = (typing.get_args(item) if typing.get_origin(item) in (typing.Union, types.UnionType)
                 else (item,))
        return "a list of " + " or ".join(_PLURALS.get(i, _describe(i)) for i in items)
    if hint is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            dict: "a mapping"}.get(hint, getattr(hint, "__name__", str(hint)))


def _check_choice(key, value, choices):
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}.")


def _check_positive(key, value):
    if value < 1:
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}.")
