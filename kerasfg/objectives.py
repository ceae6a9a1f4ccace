"""Objectives: what each output of a model learns, from the config.

An objective maps every output of a model to its **target** (the data task it predicts), its
**loss** (a registered name) and that loss's **weight** in the total, and its **metrics**: scalar
ones, compiled into the model and logged every epoch, and table ones (confusion counts,
per-attribute accuracies), computed on the test split once training ends.

```yaml
objectives:
  perception_logits: {weight: 1.0, metrics: [accuracy, top5]}
  attention_logits: {weight: 0.5}
  attention_map: {loss: none}        # an output that is not trained
```

Every registered model declares a default objective (`kerasfg.models.register_model`), so a
config without this section trains any of them; the section overrides it field by field. An output
whose layer is a registered head (`register_head_objective`, e.g. a DEX age head) takes that head's
default next. A field that none of them sets follows the target's kind:

========== ======================================== ===========================================
kind       loss                                     metrics
========== ======================================== ===========================================
class      ``softmax_cross_entropy``                ``accuracy``
multilabel ``sigmoid_cross_entropy`` (missing       ``mean_attribute_accuracy``,
           labels, negative or NaN, masked out)     ``per_attribute_accuracy`` (table)
regression ``mse_standardized`` (the target minus   ``mae`` (in the target's units),
           its training mean, over its training     ``pearson``
           standard deviation)
========== ======================================== ===========================================

Whether an output gives probabilities or logits is read from its layer's activation (softmax or
sigmoid: probabilities; anything else: logits), unless ``options: {from_logits: ...}`` says.

The losses and metrics are registries that other modules extend:

```python
@kerasfg.objectives.register_loss("dex", kinds=("regression",), output_width=None)
def dex(info, **options):
    return DexLoss(info.width, **options)
```

A config whose output has no target, a target the data does not provide, a loss or metric that
does not fit the target's kind, or an output of the wrong width fails before training with a
`kerasfg.config.ConfigError` that names the dotted key.
"""

import dataclasses
import json
import logging
import pathlib

import keras
import numpy as np

from kerasfg import metrics as metrics_lib
from kerasfg.config import ConfigError, ObjectiveConfig
from kerasfg.losses import MaskedBinaryCrossentropy, NegativeLogLikelihood

logger = logging.getLogger(__name__)

KINDS = ("class", "multilabel", "regression")
NO_LOSS = "none"
DEFAULT_LOSSES = {"class": "softmax_cross_entropy", "multilabel": "sigmoid_cross_entropy",
                  "regression": "mse_standardized"}
DEFAULT_METRICS = {"class": ["accuracy"],
                   "multilabel": ["mean_attribute_accuracy", "per_attribute_accuracy"],
                   "regression": ["mae", "pearson"]}
RECORD_FILE = "objectives.json"
_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")


# === What an objective knows ===


@dataclasses.dataclass(frozen=True)
class TargetTask:
    """A task the data provides.

    Attributes:
        name: the task's name (``"identity"``, ``"attributes"``, ``"age"``).
        kind: ``"class"``, ``"multilabel"`` or ``"regression"``.
        class_names: names of the classes (attributes, for multilabel); empty for regression.
        train_labels: the training split's labels, for the statistics of a standardized target.
    """

    name: str
    kind: str = "class"
    class_names: tuple = ()
    train_labels: object = None


@dataclasses.dataclass(frozen=True)
class Standardization:
    """A regression target learned as ``(value - mean) / std`` (statistics of the training split)."""

    mean: float
    std: float


@dataclasses.dataclass(frozen=True)
class OutputInfo:
    """What a loss or metric factory knows about the output it serves.

    Attributes:
        output: the model output's name.
        target: its `TargetTask`, or None for an output that is not trained.
        width: the output's last dimension.
        activation: the activation of the output's layer (``"softmax"``, ``"linear"``...), or None
            where the layer has none.
        standardization: the target's `Standardization`, or None.
        layer: the output's layer (the layer named after it), or None: a head's settings (e.g. a
            DEX head's age range) for its loss and metrics.
    """

    output: str
    target: TargetTask | None = None
    width: int | None = None
    activation: str | None = None
    standardization: Standardization | None = None
    layer: object = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def kind(self):
        return self.target.kind if self.target else "class"

    @property
    def from_logits(self):
        """Whether the output gives logits (any activation but softmax and sigmoid)."""
        return self.activation not in _PROBABILITY_ACTIVATIONS


# === Registries ===


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """A registered loss: ``build(info, **options)`` returns a `keras.losses.Loss`.

    Attributes:
        kinds: the target kinds it learns.
        standardize_target: the output learns the target standardized with the training split's
            statistics.
        output_width: ``"classes"``: the output has one unit per class (per attribute; one for a
            regression target); None: any width (e.g. DEX's age bins for an age in years).
    """

    name: str
    build: object
    kinds: tuple
    standardize_target: bool = False
    output_width: str | None = "classes"


@dataclasses.dataclass(frozen=True)
class MetricEntry:
    """A registered metric: ``build(info, **options)`` returns a `keras.metrics.Metric`.

    Attributes:
        kinds: the target kinds it measures.
        table: its result is not a scalar (a vector per class, a matrix): it is computed on the test
            split after training and stored in ``metrics.json`` under ``test_tables``.
    """

    name: str
    build: object
    kinds: tuple
    table: bool = False


_LOSSES = {}
_METRICS = {}
_HEADS = {}


def register_loss(name, *, kinds, standardize_target=False, output_width="classes"):
    """Decorator that registers a loss factory ``factory(info, **options)`` under ``name``.

    Args:
        name: the name configs use (``objectives.<output>.loss``).
        kinds: target kinds it learns (a subset of ``KINDS``).
        standardize_target: feed the output's target standardized (see `LossEntry`).
        output_width: ``"classes"`` or None (see `LossEntry`).
    """
    return _registrar(_LOSSES, "loss", name, kinds,
                      lambda build: LossEntry(name, build, tuple(kinds), standardize_target,
                                              output_width))


def register_metric(name, *, kinds, table=False):
    """Decorator that registers a metric factory ``factory(info, **options)`` under ``name``.

    Args:
        name: the name configs use (``objectives.<output>.metrics``).
        kinds: target kinds it measures.
        table: whether its result is a table rather than a scalar (see `MetricEntry`).
    """
    return _registrar(_METRICS, "metric", name, kinds,
                      lambda build: MetricEntry(name, build, tuple(kinds), table))


def register_head_objective(layer_class, objective):
    """Give outputs made by layers of ``layer_class`` a default objective.

    It applies below the model's default and the config, above the rules of the target's kind: a
    head that needs its own loss (DEX's expectation over age bins, an output-code head's
    probabilities) trains with it on any model it replaces a classifier of.

    Args:
        layer_class: the head's layer class.
        objective: ``{"loss": ..., "metrics": [...], "options": {...}}`` (any of them).
    """
    _HEADS[layer_class] = dict(objective)


def _registrar(registry, what, name, kinds, entry):
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"register_{what}({name!r}): kinds must be among {KINDS}; received {unknown}.")

    def decorator(build):
        if name in registry:
            raise ValueError(f"A {what} named {name!r} is already registered.")
        registry[name] = entry(build)
        return build

    return decorator


def available_losses():
    """Names of the registered losses."""
    return sorted(_LOSSES)


def available_metrics():
    """Names of the registered metrics."""
    return sorted(_METRICS)


def build_loss(name, info=None, **options):
    """The `keras.losses.Loss` of registered loss ``name`` for an output (``info``, may be None).

    Example: ``build_loss("softmax_cross_entropy", from_logits=True)``.
    """
    if name not in _LOSSES:
        raise ValueError(f"Unknown loss {name!r}; expected one of {available_losses()}.")
    return _LOSSES[name].build(info, **options)


def build_metric(name, info=None, **options):
    """The `keras.metrics.Metric` of registered metric ``name`` (a class output when ``info`` is
    None)."""
    if name not in _METRICS:
        raise ValueError(f"Unknown metric {name!r}; expected one of {available_metrics()}.")
    return _METRICS[name].build(info or OutputInfo("output"), **options)


def _logits(info, from_logits):
    if from_logits is not None:
        return bool(from_logits)
    return info.from_logits if info is not None else False


@register_loss("softmax_cross_entropy", kinds=("class",))
def _softmax_cross_entropy(info, from_logits=None, **options):
    """Cross-entropy of the softmax over the classes, on integer labels."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=_logits(info, from_logits),
                                                      **options)


@register_loss("sigmoid_cross_entropy", kinds=("multilabel",))
def _sigmoid_cross_entropy(info, from_logits=None, **options):
    """Binary cross-entropy per attribute, missing labels masked out (`MaskedBinaryCrossentropy`)."""
    return MaskedBinaryCrossentropy(from_logits=_logits(info, from_logits), **options)


@register_loss("mse_standardized", kinds=("regression",), standardize_target=True)
def _mse_standardized(info, **options):
    """Mean squared error on the standardized target (the thesis's pain regression)."""
    _check_linear(info)
    return keras.losses.MeanSquaredError(**options)


@register_loss("mse", kinds=("regression",))
def _mse(info, **options):
    """Mean squared error on the target as it is."""
    _check_linear(info)
    return keras.losses.MeanSquaredError(**options)


@register_loss("nll", kinds=("class",))
def _nll(info, **options):
    """Negative log-likelihood of outputs that are log-probabilities: attend-and-rectify's loss on
    its gated mixture (the masks' diversity penalty is added by the layer itself)."""
    return NegativeLogLikelihood(**options)


def _check_linear(info):
    if info is not None and info.activation in _PROBABILITY_ACTIVATIONS:
        raise ValueError(f"output {info.output!r} ends in a {info.activation}; a regression target "
                         f"needs a linear output (e.g. model.options.classifier_activation: null).")


@register_metric("accuracy", kinds=("class", "multilabel"))
def _accuracy(info, **options):
    """Top-1 accuracy; for multi-label outputs the mean attribute accuracy."""
    if info.kind == "multilabel":
        return metrics_lib.AttributeAccuracy(info.width, from_logits=info.from_logits,
                                             name="accuracy", **options)
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy", **options)


@register_metric("top_k", kinds=("class",))
def _top_k(info, k=5):
    """Top-k accuracy (``k`` option, 5 by default), named ``top{k}_accuracy``."""
    return keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}_accuracy")


@register_metric("top5", kinds=("class",))
def _top5(info):
    """Top-5 accuracy."""
    return _top_k(info, k=5)


@register_metric("mean_attribute_accuracy", kinds=("multilabel",))
def _mean_attribute_accuracy(info):
    """The mean over attributes of each attribute's accuracy."""
    return metrics_lib.AttributeAccuracy(info.width, from_logits=info.from_logits)


@register_metric("per_attribute_accuracy", kinds=("multilabel",), table=True)
def _per_attribute_accuracy(info):
    """The accuracy of every attribute (a table by attribute name)."""
    return metrics_lib.AttributeAccuracy(info.width, from_logits=info.from_logits, average=False,
                                         name="per_attribute_accuracy")


@register_metric("auc", kinds=("class", "multilabel"))
def _auc(info, num_thresholds=200):
    """ROC AUC, averaged over attributes (multi-label) or classes (one-vs-rest)."""
    return metrics_lib.AttributeAUC(info.width, sparse=info.kind == "class",
                                    from_logits=info.from_logits, num_thresholds=num_thresholds)


@register_metric("mae", kinds=("regression",))
def _mae(info):
    """Mean absolute error in the target's own units."""
    scale = info.standardization.std if info.standardization else 1.0
    return metrics_lib.ScaledMeanAbsoluteError(scale)


@register_metric("pearson", kinds=("regression",))
def _pearson(info):
    """Pearson's correlation between the targets and the predictions over the whole set."""
    return metrics_lib.PearsonCorrelation()


@register_metric("confusion", kinds=("class",), table=True)
def _confusion(info):
    """The confusion counts (rows: true class, columns: predicted class)."""
    return metrics_lib.ConfusionCounts(info.width)


# === Resolved objectives ===


@dataclasses.dataclass
class OutputObjective:
    """The resolved objective of one output.

    Attributes:
        info: the output as factories see it (`OutputInfo`).
        loss: the registered loss name, or ``"none"``.
        weight: the loss's weight.
        options: the loss's keyword arguments.
        metrics: ``[(metric name, options)]``.
    """

    info: OutputInfo
    loss: str
    weight: float
    options: dict
    metrics: list

    @property
    def trained(self):
        return self.loss != NO_LOSS

    def build_loss(self):
        return build_loss(self.loss, self.info, **self.options)

    def build_metrics(self, table):
        return [build_metric(name, self.info, **options) for name, options in self.metrics
                if _METRICS[name].table == table]


class Objectives:
    """The objectives of every output of a model: compile arguments, targets, tables.

    Build one with `resolve` (or `from_config`). Then:

    ```python
    model.compile(optimizer, **objectives.compile_arguments())
    model.fit(objectives.arrange(train), validation_data=objectives.arrange(validation))
    tables = objectives.evaluate_tables(model, objectives.arrange(test))
    ```

    Attributes:
        model_name: the registered model name, or None.
        outputs: ``{output name: OutputObjective}``, every output of the model.
        dict_output: whether the model's output is a dict.
    """

    def __init__(self, model_name, outputs, dict_output=True):
        self.model_name = model_name
        self.outputs = outputs
        self.dict_output = dict_output

    def _structure(self, values):
        return values if self.dict_output else next(iter(values.values()))

    def compile_arguments(self):
        """``{"loss", "loss_weights", "metrics"}`` for ``model.compile``."""
        trained = {name: o for name, o in self.outputs.items() if o.trained}
        arguments = {
            "loss": {name: o.build_loss() for name, o in trained.items()},
            "loss_weights": {name: o.weight for name, o in trained.items()},
            "metrics": {name: o.build_metrics(table=False) for name, o in self.outputs.items()},
        }
        if not self.dict_output:  # one output, not in a dict
            (name,) = self.outputs
            return {"loss": arguments["loss"].get(name),
                    "loss_weights": [arguments["loss_weights"].get(name, 0.0)],
                    "metrics": arguments["metrics"][name]}
        return arguments

    def arrange(self, dataset):
        """``dataset`` of ``(inputs, {task: labels})`` batches as ``(inputs, {output: target})``.

        Each output gets its target's labels (standardized where its loss asks); an output without
        a target gets zeros, which no loss or metric reads (Keras wants a target for every output).
        """
        import tensorflow as tf

        plan = [(name, o.info.target.name if o.info.target else None, o.info.standardization)
                for name, o in self.outputs.items()]

        def to_outputs(inputs, labels):
            if not isinstance(labels, dict):
                (task,) = {task for _, task, _ in plan if task is not None}
                labels = {task: labels}
            batch = tf.shape(next(iter(labels.values())))[0]
            targets = {}
            for name, task, standardization in plan:
                if task is None:
                    targets[name] = tf.zeros([batch], tf.float32)
                elif standardization is not None:
                    targets[name] = (tf.cast(labels[task], tf.float32) - standardization.mean) / (
                        standardization.std)
                else:
                    targets[name] = labels[task]
            return inputs, self._structure(targets)

        return dataset.map(to_outputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def has_tables(self):
        """Whether any output has a table metric."""
        return any(_METRICS[name].table for o in self.outputs.values() for name, _ in o.metrics)

    def evaluate_tables(self, model, dataset, *, predict=None, combine=None):
        """The table metrics on an arranged ``dataset``: ``{output: {metric: table}}``.

        A vector per class becomes ``{class name: value}``; a matrix ``{"class_names": [...],
        "values": [[...]]}``.

        Args:
            model: the model.
            dataset: batches of ``(inputs, targets)`` from `arrange`.
            predict: the model's outputs on a batch of inputs; ``model.predict_on_batch`` by default.
            combine: called with the list of table metrics once every batch is in, before their
                results are read (a multi-worker run sums their states over the workers:
                `kerasfg.distributed.Worker.evaluate_tables`).
        """
        tables = {name: o.build_metrics(table=True) for name, o in self.outputs.items()}
        tables = {name: metrics for name, metrics in tables.items() if metrics}
        if not tables:
            return {}
        predict = predict or model.predict_on_batch
        for inputs, targets in dataset:
            predictions = predict(inputs)
            if not self.dict_output:
                predictions, targets = {self._only(): predictions}, {self._only(): targets}
            for name, metrics in tables.items():
                for metric in metrics:
                    metric.update_state(targets[name], predictions[name])
        if combine is not None:
            combine([metric for metrics in tables.values() for metric in metrics])
        return {name: {metric.name: _table(np.asarray(metric.result()), self.outputs[name].info)
                       for metric in metrics} for name, metrics in tables.items()}

    def _only(self):
        return next(iter(self.outputs))

    def to_dict(self):
        """A JSON-ready description (what ``objectives.json`` in a run directory holds)."""
        return {"model": self.model_name, "outputs": {name: {
            "target": o.info.target.name if o.info.target else None,
            "kind": o.info.target.kind if o.info.target else None,
            "loss": o.loss, "weight": o.weight, "options": o.options,
            "metrics": [name if not options else {"name": name, **options}
                        for name, options in o.metrics],
            "from_logits": o.info.from_logits,
            "standardization": dataclasses.asdict(o.info.standardization)
            if o.info.standardization else None,
        } for name, o in self.outputs.items()}}

    def write(self, run_dir):
        """Write ``objectives.json`` into ``run_dir`` (atomically)."""
        from kerasfg.io_utils import write_json

        write_json(pathlib.Path(run_dir) / RECORD_FILE, self.to_dict())


def _table(result, info):
    names = list(info.target.class_names) if info.target else []
    if result.ndim == 1 and len(result) == len(names):
        return {name: float(value) for name, value in zip(names, result)}
    if result.ndim == 2 and names:
        whole = np.array_equal(result, np.round(result))  # counts
        return {"class_names": names, "values": (result.astype(int) if whole else result).tolist()}
    return result.tolist()


def destandardize(predictions, run_dir):
    """Predictions of a run's model in their targets' units.

    Outputs trained on a standardized target (``mse_standardized``) predict
    ``(value - mean) / std``; this returns ``prediction * std + mean`` for them, with the training
    split's statistics stored in the run's ``objectives.json``, and leaves the other outputs as
    they are.

    Args:
        predictions: ``{output: array}`` from ``model.predict``.
        run_dir: the run directory.

    Returns:
        A new dict of arrays.
    """
    record = json.loads((pathlib.Path(run_dir) / RECORD_FILE).read_text())
    result = dict(predictions)
    for name, output in record["outputs"].items():
        statistics = output.get("standardization")
        if statistics and name in result:
            result[name] = np.asarray(result[name]) * statistics["std"] + statistics["mean"]
    return result


# === Resolution ===


def model_outputs(model):
    """``{output name: (width, layer)}`` of a model with a dict of outputs or a single one; the
    layer is the one named after the output (kerasfg's naming rule), or None."""
    if isinstance(model.output, dict):
        tensors = dict(model.output)
    elif len(model.outputs) == 1:
        tensors = {model.output_names[0]: model.outputs[0]}
    else:
        raise ValueError(f"objectives need a model with a dict of named outputs or a single output; "
                         f"{model.name} has a list of {len(model.outputs)}.")
    return {name: (tensor.shape[-1], _layer(model, name)) for name, tensor in tensors.items()}


def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def layer_activation(layer):
    """The name of a layer's activation (``"softmax"``, ``"linear"``...), or None without one."""
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) if activation is not None else None


def _head_default(layer):
    for layer_class, objective in _HEADS.items():
        if isinstance(layer, layer_class):
            return objective
    return {}


def resolve(model, tasks, *, registered=None, config=None, loss_weights=None):
    """The `Objectives` of ``model`` for the data's ``tasks``.

    Args:
        model: the built model.
        tasks: ``{task: TargetTask}``, the targets the data provides (``data.targets``).
        registered: the model's `kerasfg.models.registry.RegisteredModel` (its name, default objective
            and single_task); None for a plain classifier (every output learns the task of its name).
        config: ``{output: ObjectiveConfig or mapping}``, the config's ``objectives`` section.
        loss_weights: ``{output: weight}`` (``train.loss_weights``).

    Returns:
        An `Objectives`.

    Raises:
        ConfigError: with the dotted key of what does not fit.
    """
    model_name = registered.name if registered else None
    defaults = (registered.objective if registered else None) or {}
    single_task = bool(registered and registered.single_task)
    config = {name: value if isinstance(value, ObjectiveConfig) else ObjectiveConfig(**(value or {}))
              for name, value in (config or {}).items()}
    loss_weights = dict(loss_weights or {})
    outputs = model_outputs(model)
    names = list(outputs)
    described = f"model {model_name or model.name!r}"
    for name in config:
        if name not in outputs:
            raise ConfigError(f"objectives.{name}: not an output of {described}; its outputs are "
                              f"{names}.")
    unknown = sorted(set(loss_weights) - set(names))
    if unknown:
        raise ConfigError(f"train.loss_weights: {unknown} is not an output of the model; its outputs "
                          f"are {names}.")
    one_task = len(tasks) == 1 and (single_task or len(outputs) == 1)
    resolved = {}
    for name, (width, layer) in outputs.items():
        default = {**_head_default(layer), **defaults.get(name, {})}
        user = config.get(name, ObjectiveConfig())
        resolved[name] = _resolve_output(
            name, width, layer, default, user, tasks, loss_weights.get(name), one_task, described)
    if not any(o.trained for o in resolved.values()):
        raise ConfigError(f"objectives: no output of {described} is trained; give at least one of "
                          f"{names} a target and a loss.")
    return Objectives(model_name, resolved, dict_output=isinstance(model.output, dict))


def _resolve_output(name, width, layer, default, user, tasks, loss_weight, one_task, described):
    key = f"objectives.{name}"
    activation = layer_activation(layer)
    loss = user.loss or default.get("loss")
    target_name = user.target or default.get("target")
    if target_name is None and loss == NO_LOSS:  # not trained, not measured
        return OutputObjective(OutputInfo(name, None, width, activation, layer=layer), NO_LOSS, 0.0,
                               {}, [])
    if target_name is None:
        if name in tasks:
            target_name = name
        elif one_task:
            (target_name,) = tasks
    if target_name is None:
        raise ConfigError(
            f"{key}.target: output {name!r} of {described} is mapped to no target; expected one of "
            f"data.targets {sorted(tasks)} (set {key}.target, add the task to data.targets, or "
            f"set {key}.loss: none to leave the output untrained).")
    if target_name not in tasks:
        raise ConfigError(f"{key}.target: {target_name!r} is not a target the data provides; "
                          f"data.targets has {sorted(tasks)}.")
    target = tasks[target_name]
    loss = loss or DEFAULT_LOSSES[target.kind]
    entry = _LOSSES.get(loss) if loss != NO_LOSS else None
    if loss != NO_LOSS:
        if entry is None:
            raise ConfigError(f"{key}.loss: unknown loss {loss!r}; expected one of "
                              f"{available_losses()} or 'none'.")
        _check_kind(f"{key}.loss", f"loss {loss!r}", entry.kinds, target)
    if entry is None or entry.output_width == "classes":
        _check_width(key, name, width, target, described)
    standardization = (_standardization(f"{key}.target", target)
                       if entry is not None and entry.standardize_target else None)
    info = OutputInfo(name, target, width, activation, standardization, layer)
    metrics = _metrics(f"{key}.metrics", user.metrics if user.metrics is not None
                       else default.get("metrics", DEFAULT_METRICS[target.kind]), target)
    weight = next(w for w in (user.weight, loss_weight, default.get("weight"), 1.0) if w is not None)
    options = {**default.get("options", {}), **user.options}
    objective = OutputObjective(info, loss, float(weight) if loss != NO_LOSS else 0.0, options,
                                metrics)
    _check_builds(key, objective)
    return objective


def _check_kind(key, what, kinds, target):
    if target.kind not in kinds:
        raise ConfigError(f"{key}: {what} needs a {' or '.join(kinds)} target; {target.name!r} is a "
                          f"{target.kind} task.")


def _check_width(key, name, width, target, described):
    expected = 1 if target.kind == "regression" else len(target.class_names)
    if width is not None and width != expected:
        unit = "attributes" if target.kind == "multilabel" else "classes"
        what = ("a regression target needs 1" if target.kind == "regression"
                else f"target {target.name!r} has {expected} {unit}")
        raise ConfigError(f"{key}.target: output {name!r} of {described} has {width} units; {what}.")


def _standardization(key, target):
    values = np.asarray(target.train_labels if target.train_labels is not None else [], np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ConfigError(f"{key}: the standardization of {target.name!r} needs its training labels; "
                          f"none were given.")
    std = float(values.std())
    if std == 0.0:
        raise ConfigError(f"{key}: every training label of {target.name!r} is {values[0]:g}; a "
                          f"standardized target needs some spread.")
    return Standardization(float(values.mean()), std)


def _metrics(key, specs, target):
    parsed = []
    for i, spec in enumerate(specs):
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
            options = dict(spec)
            name = options.pop("name")
        else:
            raise ConfigError(f"{key}[{i}]: expected a metric name or a mapping with a name, e.g. "
                              f"{{name: top_k, k: 3}}; got {spec!r}.")
        if name not in _METRICS:
            raise ConfigError(f"{key}[{i}]: unknown metric {name!r}; expected one of "
                              f"{available_metrics()}.")
        _check_kind(f"{key}[{i}]", f"metric {name!r}", _METRICS[name].kinds, target)
        parsed.append((name, options))
    return parsed


def _check_builds(key, objective):
    """Build the loss and metrics once, so that bad options fail now, naming their key."""
    try:
        if objective.trained:
            objective.build_loss()
    except TypeError as error:  # an option the loss does not take
        raise ConfigError(f"{key}.options: {error}") from error
    except ValueError as error:  # the loss does not fit the output
        raise ConfigError(f"{key}.loss: {error}") from error
    for i, (name, options) in enumerate(objective.metrics):
        try:
            build_metric(name, objective.info, **options)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{key}.metrics[{i}]: {error}") from error


def from_config(config, model, data, registered=None):
    """The `Objectives` of a run: ``config``'s model and objectives, ``data``'s targets.

    Args:
        config: an `ExperimentConfig`.
        model: the built model.
        data: the run's `kerasfg.training.DataSplits`.
        registered: the `kerasfg.models.registry.RegisteredModel` of ``config.model.name`` (the caller
            looks it up: this module does not import the model registry, whose heads register
            objectives here).
    """
    return resolve(model, data_tasks(data, config.data.targets), registered=registered,
                   config=config.objectives, loss_weights=config.train.loss_weights)


def data_tasks(data, targets):
    """``{task: TargetTask}`` of the ``targets`` of a `kerasfg.training.DataSplits`."""
    known = data.tasks or {}
    train_labels = data.train_labels or {}
    return {task: TargetTask(task, known[task].kind if task in known else "class",
                             tuple(data.class_names.get(task, ())), train_labels.get(task))
            for task in targets}


def classification_objective(model, loss_weights=None):
    """``compile`` arguments for a model whose outputs all classify the task of their name.

    Softmax cross-entropy (integer labels; from logits where an output is not a softmax) and
    accuracy for every output, each loss weighed by ``loss_weights`` (1.0 for outputs it does not
    name):

        model.compile(optimizer="adam", **classification_objective(model, {"expression": 0.5}))

    Raises:
        ValueError: if ``loss_weights`` names an output the model does not have.
    """
    return classification(model, loss_weights).compile_arguments()


def classification(model, loss_weights=None):
    """The `Objectives` of a model whose every output classifies the task of its name.

    Raises:
        ValueError: if ``loss_weights`` names an output the model does not have.
    """
    tasks = {name: TargetTask(name, "class", tuple(str(i) for i in range(width or 1)))
             for name, (width, _) in model_outputs(model).items()}
    return resolve(model, tasks, loss_weights=loss_weights)
