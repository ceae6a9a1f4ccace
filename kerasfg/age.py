"""Age estimation: the DEX head (age as the expectation over age bins), age groups and their metrics.

**DEX** (Rothe, Timofte and Van Gool, "DEX: Deep EXpectation of apparent age from a single image",
ICCV workshops 2015; "Deep expectation of real and apparent age from a single image without facial
landmarks", IJCV 2018): age regression posed as classification into one bin per year, ``min_age`` ..
``max_age`` (0 .. 100 by default: 101 bins), trained with softmax cross-entropy on the bin of the true
age; the predicted age is the expected value ``E[age] = sum_i p_i * age_i``. `DEXHead` is the output
layer (a float32 ``Dense`` with a softmax that knows its bins), `DEXLoss` the cross-entropy on ages in
years, `DEXMeanAbsoluteError` the MAE of the expectation (the MORPH II metric, thesis Eq. 3.3).

**Age groups** (chapter 3 of ``002_c1e3dd09777d292a.txt``): Adience's 8 groups and the Images of Groups'
7, Table 3.2's mapping from the first to the second (Adience's 38-43 and 48-53 both become IoG's
37-65), the 1-off accuracy (a prediction at most one group away counts as right), per-group accuracy
(Table 3.10) and the ensemble of several models' averaged predictions (the five Adience fold models on
IoG, Table 3.8): `cross_dataset_evaluation`.
"""

import keras
import numpy as np
from keras import ops

from kerasfg import objectives

ADIENCE_GROUPS = ("0-2", "4-6", "8-13", "15-20", "25-32", "38-43", "48-53", "60+")
IOG_GROUPS = ("0-2", "3-7", "8-12", "13-19", "20-36", "37-65", "66+")
ADIENCE_TO_IOG = (0, 1, 2, 3, 4, 5, 5, 6)
"""Table 3.2: the IoG group of each Adience group."""


# === DEX ===


def age_bins(min_age=0, max_age=100):
    """The ages ``min_age .. max_age`` of the DEX bins, float32."""
    if not (isinstance(min_age, int) and isinstance(max_age, int)) or not 0 <= min_age < max_age:
        raise ValueError(f"DEX age bins need integer ages 0 <= min_age < max_age; received ({min_age!r}, "
                         f"{max_age!r}).")
    return np.arange(min_age, max_age + 1, dtype=np.float32)


def expected_age(probabilities, min_age=0):
    """``E[age] = sum_i p_i (min_age + i)`` over the last axis of bin probabilities (keras.ops)."""
    probabilities = ops.cast(probabilities, "float32")
    ages = ops.arange(probabilities.shape[-1], dtype="float32") + float(min_age)
    return ops.sum(probabilities * ages, axis=-1)


@keras.saving.register_keras_serializable(package="kerasfg")
class DEXHead(keras.layers.Dense):
    """The DEX output layer: softmax probabilities over the age bins ``min_age .. max_age``, in float32.

    A ``Dense`` layer with one unit per bin; `expected_value` turns its output into ages.

    Args:
        min_age, max_age: the first and last bin (integers, years).
        **kwargs: ``Dense`` arguments other than ``units``/``activation`` (``name``, initializers...).
    """

    def __init__(self, min_age=0, max_age=100, **kwargs):
        bins = age_bins(min_age, max_age)
        units = kwargs.pop("units", len(bins))
        if units != len(bins):
            raise ValueError(f"DEXHead: {units} units for the {len(bins)} bins {min_age}..{max_age}.")
        kwargs.setdefault("activation", "softmax")
        kwargs.setdefault("dtype", "float32")
        super().__init__(len(bins), **kwargs)
        self.min_age = min_age
        self.max_age = max_age

    def expected_value(self, probabilities):
        """Ages from this head's output: ``(batch,)`` float32."""
        return expected_age(probabilities, self.min_age)

    def serving_outputs(self, head, probabilities):
        """The served age: ``{"<head>_years": E[age]}`` (`kerasfg.export` adds it to every signature)."""
        return {f"{head}_years": ops.convert_to_tensor(self.expected_value(probabilities))}

    def export_description(self, head):
        """A ``dex`` entry of ``kerasfg_export.json``: the bins of ``<head>_probs``."""
        return {}, {"dex": {head: {"min_age": self.min_age, "max_age": self.max_age,
                                   "output": f"{head}_years"}}}

    def get_config(self):
        return {**super().get_config(), "min_age": self.min_age, "max_age": self.max_age}


def _bin_of(y_true, min_age, max_age):
    years = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    return ops.cast(ops.clip(ops.round(years) - min_age, 0, max_age - min_age), "int32")


@keras.saving.register_keras_serializable(package="kerasfg")
class DEXLoss(keras.losses.Loss):
    """Cross-entropy of DEX bin probabilities against ages in years (rounded, clipped to the bins).

    Args:
        min_age, max_age: the bins of the `DEXHead` it trains.
        **kwargs: ``keras.losses.Loss`` arguments.
    """

    def __init__(self, min_age=0, max_age=100, name="dex", **kwargs):
        super().__init__(name=name, **kwargs)
        age_bins(min_age, max_age)
        self.min_age = min_age
        self.max_age = max_age

    def call(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(
            _bin_of(y_true, self.min_age, self.max_age), ops.cast(y_pred, "float32"))

    def get_config(self):
        return {**super().get_config(), "min_age": self.min_age, "max_age": self.max_age}


def _dex_absolute_error(y_true, y_pred, min_age):
    return ops.abs(expected_age(y_pred, min_age) - ops.reshape(ops.cast(y_true, "float32"), (-1,)))


@keras.saving.register_keras_serializable(package="kerasfg")
class DEXMeanAbsoluteError(keras.metrics.MeanMetricWrapper):
    """Mean absolute error, in years, of the DEX expectation ``E[age]`` (thesis Eq. 3.3).

    Args:
        min_age: the first bin of the `DEXHead` it measures.
    """

    def __init__(self, min_age=0, name="mae", dtype=None):
        super().__init__(_dex_absolute_error, name=name, dtype=dtype, min_age=min_age)
        self.min_age = min_age

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "min_age": self.min_age}


# === Age groups ===


def _one_off(y_true, y_pred):
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    true = ops.cast(ops.reshape(y_true, ops.shape(predicted)), "int32")
    return ops.cast(ops.abs(predicted - true) <= 1, "float32")


@keras.saving.register_keras_serializable(package="kerasfg")
class OneOffAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy that also counts a prediction one class away as right (ordered classes: age groups)."""

    def __init__(self, name="one_off_accuracy", dtype=None):
        super().__init__(_one_off, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def map_groups(probabilities, mapping=ADIENCE_TO_IOG, num_groups=None):
    """Sum the probabilities of source groups into target groups: ``(..., target groups)``.

    Args:
        probabilities: ``(..., source groups)``.
        mapping: the target group of each source group (default: Adience -> IoG, Table 3.2).
        num_groups: number of target groups; ``max(mapping) + 1`` by default.
    """
    probabilities = np.asarray(probabilities, np.float64)
    mapping = np.asarray(mapping)
    if probabilities.shape[-1] != len(mapping):
        raise ValueError(f"map_groups: {probabilities.shape[-1]} source groups for a mapping of {len(mapping)}.")
    num_groups = int(mapping.max()) + 1 if num_groups is None else num_groups
    return probabilities @ np.eye(num_groups)[mapping]


def group_accuracies(y_true, predicted, groups, num_groups):
    """Accuracy of ``predicted`` against ``y_true`` within each group (Table 3.10: gender per age group).

    Returns:
        ``(num_groups,)`` float64, NaN for groups without examples.
    """
    y_true, predicted, groups = (np.asarray(a).ravel() for a in (y_true, predicted, groups))
    right = np.bincount(groups, weights=(y_true == predicted).astype(float), minlength=num_groups)
    count = np.bincount(groups, minlength=num_groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, right / count, np.nan)


def model_outputs(model, inputs):
    """``{output name: probabilities}`` of ``model`` on ``inputs`` (a single-output model's one output under
    its name)."""
    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        return outputs
    if isinstance(outputs, (list, tuple)):
        return dict(zip(model.output_names, outputs))
    return {model.output_names[0]: outputs}


def ensemble_predict(models, dataset):
    """The averaged probabilities of several models over a dataset, with the dataset's labels.

    Each output is averaged over the models that have it, so an ensemble may mix models of one task
    (the five Adience age models and the five gender models, trained separately) with multi-task ones.

    Args:
        models: Keras models (e.g. the five Adience fold models of each task).
        dataset: a ``tf.data.Dataset`` of ``(inputs, labels dict)`` batches.

    Returns:
        ``(probabilities, labels)``: ``{output: (examples, classes)}`` averaged over the models that have
        that output, and ``{task: (examples,)}``.

    Raises:
        ValueError: for no models, or models whose outputs of one name have different widths.
    """
    if not models:
        raise ValueError("ensemble_predict needs at least one model.")
    sums, labels = {}, {}
    for inputs, targets in dataset:
        batch = {}
        for model in models:
            for name, values in model_outputs(model, inputs).items():
                batch.setdefault(name, []).append(np.asarray(values, np.float64))
        for name, values in batch.items():
            widths = sorted({value.shape[-1] for value in values})
            if len(widths) > 1:
                raise ValueError(f"the models' {name!r} outputs have different widths {widths}; an ensemble "
                                 f"averages outputs of one label space.")
            sums.setdefault(name, []).append(np.mean(values, axis=0))
        for name, values in targets.items():
            labels.setdefault(name, []).append(np.asarray(values))
    return ({name: np.concatenate(parts) for name, parts in sums.items()},
            {name: np.concatenate(parts) for name, parts in labels.items()})


def cross_dataset_evaluation(models, dataset, *, age="age", gender="gender", mapping=ADIENCE_TO_IOG):
    """Table 3.8 and 3.10(b): an ensemble of age/gender models on a dataset with other age groups.

    The models' averaged age probabilities are mapped to the dataset's groups (`map_groups`) when their
    width is the mapping's (Adience's 8 groups), and taken as they are when it is already the dataset's;
    gender needs no mapping. Gender accuracy per age group uses the dataset's age labels, so it is there
    for gender-only ensembles too.

    Args:
        models: the models (the five Adience fold models of each task), whose outputs ``age`` and
            ``gender`` are probabilities; each output is averaged over the models that have it.
        dataset: ``(inputs, {"age": group, "gender": label})`` batches of the target dataset (IoG's
            test set).
        age, gender: the output and label names; either may be None to skip it.
        mapping: source group -> target group.

    Returns:
        A dict with what the models and labels allow: ``age_accuracy``, ``age_one_off_accuracy``,
        ``age_confusion`` (rows: true groups, columns: predicted; counts), ``gender_accuracy`` and
        ``gender_accuracy_per_age_group``.

    Raises:
        ValueError: when the models have neither output, the dataset lacks the labels of an output they
            have, or the age output fits neither the mapping nor the dataset's groups.
    """
    probabilities, labels = ensemble_predict(models, dataset)
    evaluated = [name for name in (age, gender) if name is not None and name in probabilities]
    if not evaluated:
        raise ValueError(f"the models have neither an {age!r} nor a {gender!r} output; their outputs are "
                         f"{sorted(probabilities)}.")
    missing = [name for name in evaluated if name not in labels]
    if missing:
        raise ValueError(f"the dataset has no {missing[0]!r} labels for the models' {missing[0]!r} output; its "
                         f"labels are {sorted(labels)}.")
    result = {}
    num_groups = int(np.max(mapping)) + 1
    if age in evaluated:
        scores, true = probabilities[age], labels[age].astype(int)
        if scores.shape[1] == len(mapping):
            scores = map_groups(scores, mapping)
        elif scores.shape[1] != num_groups:
            raise ValueError(f"the {age!r} output has {scores.shape[1]} groups; expected the mapping's "
                             f"{len(mapping)} source groups or its {num_groups} target groups.")
        predicted = np.argmax(scores, axis=1)
        result["age_accuracy"] = float(np.mean(predicted == true))
        result["age_one_off_accuracy"] = float(np.mean(np.abs(predicted - true) <= 1))
        result["age_confusion"] = np.bincount(true * num_groups + predicted,
                                              minlength=num_groups * num_groups).reshape(num_groups, num_groups)
    if gender in evaluated:
        scores = probabilities[gender]
        predicted = (scores[:, 0] > 0.5).astype(int) if scores.shape[1] == 1 else np.argmax(scores, axis=1)
        result["gender_accuracy"] = float(np.mean(predicted == labels[gender]))
        if age is not None and age in labels:
            result["gender_accuracy_per_age_group"] = group_accuracies(
                labels[gender], predicted, labels[age].astype(int), num_groups)
    return result


# === Objectives ===


def _dex_head(info):
    layer = getattr(info, "layer", None) if info is not None else None
    if not isinstance(layer, DEXHead):
        name = info.output if info is not None else "the output"
        raise ValueError(f"the dex loss and dex_mae need a DEX head at {name!r}: build the model with "
                         f"dex={{{name!r}: [min_age, max_age]}}.")
    return layer


@objectives.register_loss("dex", kinds=("regression",), output_width=None)
def _dex_loss(info, **options):
    """DEX: cross-entropy of the age bins against the age in years (the head's bins)."""
    head = _dex_head(info)
    return DEXLoss(head.min_age, head.max_age, **options)


@objectives.register_metric("dex_mae", kinds=("regression",))
def _dex_mae(info):
    """Mean absolute error, in years, of a DEX head's expected age."""
    return DEXMeanAbsoluteError(_dex_head(info).min_age)


@objectives.register_metric("one_off_accuracy", kinds=("class",))
def _one_off_accuracy(info):
    """Accuracy that counts a prediction one (age) group away as right."""
    return OneOffAccuracy()


objectives.register_head_objective(DEXHead, {"loss": "dex", "metrics": ["dex_mae"]})
