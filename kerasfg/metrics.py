"""Streaming Keras metrics the papers report that Keras does not have in the form they need.

Each is a `keras.metrics.Metric` that accumulates over batches and is exact over the whole
evaluation set (not a mean of per-batch values):

- `AttributeAccuracy`: accuracy of each of K binary attributes, and their mean (CelebA's "average
  accuracy"), skipping missing labels (a negative or NaN target);
- `AttributeAUC`: area under the ROC curve of each attribute (multi-label outputs) or each class
  (one-vs-rest, softmax outputs), averaged, skipping missing labels;
- `ScaledMeanAbsoluteError`: the mean absolute error in the target's own units when the model
  learns a standardized target;
- `PearsonCorrelation`: Pearson's r between targets and predictions over the whole set;
- `ConfusionCounts`: the K x K matrix of counts (rows: true class, columns: predicted class).

`kerasfg.objectives` picks them by name for each model output; they can also be passed to
``model.compile(metrics=...)`` directly.
"""

import keras
from keras import ops


def _present(y_true):
    """0/1 mask of the labels that are given: a negative or NaN target marks a missing label."""
    return ops.cast(ops.greater_equal(y_true, 0.0), "float32")


@keras.saving.register_keras_serializable(package="kerasfg")
class AttributeAccuracy(keras.metrics.Metric):
    """Accuracy of each of K binary attributes; with ``average=True`` their mean.

    A prediction is positive where the output exceeds 0 (``from_logits=True``) or 0.5. Missing
    labels (negative or NaN targets) are not counted. The mean is over the attributes that have
    at least one label, each attribute weighing the same however many labels it has.

    Args:
        num_attributes: K.
        from_logits: whether the outputs are logits rather than probabilities.
        average: True: the mean attribute accuracy (a scalar); False: the K accuracies.
        name, dtype: metric name and dtype.

    Example:

    >>> metric = AttributeAccuracy(2)
    >>> metric.update_state([[1, 0], [1, -1]], [[0.9, 0.8], [0.2, 0.7]])
    >>> float(metric.result())  # attribute 0: 1/2, attribute 1: 0/1
    0.25
    """

    def __init__(self, num_attributes, from_logits=False, average=True,
                 name="mean_attribute_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_attributes = num_attributes
        self.from_logits = from_logits
        self.average = average
        self.correct = self.add_variable((num_attributes,), initializer="zeros", name="correct")
        self.count = self.add_variable((num_attributes,), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
        present = _present(y_true)
        if sample_weight is not None:
            present = present * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        predicted = ops.cast(ops.greater(y_pred, 0.0 if self.from_logits else 0.5), "float32")
        hits = ops.cast(ops.equal(predicted, ops.where(present > 0, y_true, -1.0)), "float32")
        self.correct.assign_add(ops.sum(hits * present, axis=0))
        self.count.assign_add(ops.sum(present, axis=0))

    def result(self):
        accuracy = self.correct / ops.maximum(self.count, 1.0)
        if not self.average:
            return accuracy
        labelled = ops.cast(self.count > 0, "float32")
        return ops.sum(accuracy * labelled) / ops.maximum(ops.sum(labelled), 1.0)

    def reset_state(self):
        for variable in (self.correct, self.count):
            variable.assign(ops.zeros_like(variable))

    def get_config(self):
        return {**super().get_config(), "num_attributes": self.num_attributes,
                "from_logits": self.from_logits, "average": self.average}


@keras.saving.register_keras_serializable(package="kerasfg")
class AttributeAUC(keras.metrics.AUC):
    """ROC AUC per attribute (or per class, one-vs-rest), averaged over them.

    Multi-label targets ``(batch, K)`` of 0/1, with missing labels (negative or NaN) left out; or,
    with ``sparse=True``, integer class labels ``(batch,)`` against K class scores, each class
    scored one-vs-rest on its softmax probability. Keras's `keras.metrics.AUC` (interpolated over
    ``num_thresholds`` thresholds) does the counting.

    Args:
        num_labels: K.
        sparse: integer class labels and softmax outputs instead of multi-label targets.
        from_logits: whether the outputs are logits (a sigmoid, or for ``sparse`` a softmax, is
            applied first).
        num_thresholds: thresholds of the ROC curve.
        name, dtype: metric name and dtype.
    """

    def __init__(self, num_labels, sparse=False, from_logits=False, num_thresholds=200, name="auc",
                 dtype=None):
        super().__init__(num_thresholds=num_thresholds, multi_label=True, num_labels=num_labels,
                         name=name, dtype=dtype)
        self.sparse = sparse
        self.logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        if self.sparse:
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            y_true = ops.one_hot(labels, self.num_labels, dtype="float32")
            scores = ops.softmax(y_pred, axis=-1) if self.logits else y_pred
            weights = ops.ones_like(y_true)
        else:
            y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
            weights = _present(y_true)
            y_true = ops.where(weights > 0, y_true, 0.0)
            scores = ops.sigmoid(y_pred) if self.logits else y_pred
        if sample_weight is not None:
            weights = weights * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        super().update_state(y_true, scores, sample_weight=weights)

    def get_config(self):
        config = super().get_config()
        for key in ("thresholds", "curve", "summation_method", "multi_label", "label_weights"):
            config.pop(key, None)
        return {**config, "sparse": self.sparse, "from_logits": self.logits}


@keras.saving.register_keras_serializable(package="kerasfg")
class ScaledMeanAbsoluteError(keras.metrics.Metric):
    """Mean absolute error times ``scale``: in the target's units when the model learns
    ``(target - mean) / scale``.

    Args:
        scale: the standard deviation the target was divided by (1.0 for a raw target).
        name, dtype: metric name and dtype.
    """

    def __init__(self, scale=1.0, name="mae", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.scale = float(scale)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
        y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        weights = (ops.ones_like(y_true) if sample_weight is None
                   else ops.reshape(ops.cast(sample_weight, "float32"), (-1,)))
        self.total.assign_add(ops.sum(weights * ops.abs(y_true - y_pred)))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return self.scale * self.total / ops.maximum(self.count, 1e-12)

    def reset_state(self):
        for variable in (self.total, self.count):
            variable.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerasfg")
class PearsonCorrelation(keras.metrics.Metric):
    """Pearson's correlation coefficient between targets and predictions over the whole set.

    Accumulates the count, sums, sums of squares and the sum of products in float64, so that the
    result is the correlation of all examples seen (Keras's own `keras.metrics.PearsonCorrelation`
    averages per-batch correlations). r is invariant to standardizing either side.

    Args:
        name, dtype: metric name and dtype.
    """

    _SUMS = ("n", "x", "y", "xx", "yy", "xy")

    def __init__(self, name="pearson", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.sums = {key: self.add_variable((), initializer="zeros", dtype="float64",
                                            name=f"sum_{key}") for key in self._SUMS}

    def update_state(self, y_true, y_pred, sample_weight=None):
        x = ops.reshape(ops.cast(y_true, "float64"), (-1,))
        y = ops.reshape(ops.cast(y_pred, "float64"), (-1,))
        w = (ops.ones_like(x) if sample_weight is None
             else ops.reshape(ops.cast(sample_weight, "float64"), (-1,)))
        terms = {"n": w, "x": w * x, "y": w * y, "xx": w * x * x, "yy": w * y * y, "xy": w * x * y}
        for key, value in terms.items():
            self.sums[key].assign_add(ops.sum(value))

    def result(self):
        s = self.sums
        covariance = s["n"] * s["xy"] - s["x"] * s["y"]
        spread = ops.sqrt(ops.maximum(s["n"] * s["xx"] - s["x"] ** 2, 0.0)
                          * ops.maximum(s["n"] * s["yy"] - s["y"] ** 2, 0.0))
        return ops.cast(ops.where(spread > 0, covariance / ops.maximum(spread, 1e-300), 0.0),
                        "float32")

    def reset_state(self):
        for variable in self.sums.values():
            variable.assign(ops.zeros((), "float64"))


@keras.saving.register_keras_serializable(package="kerasfg")
class ConfusionCounts(keras.metrics.Metric):
    """The confusion matrix of a classifier: ``counts[i, j]`` examples of class i predicted as j.

    Args:
        num_classes: K.
        name, dtype: metric name and dtype.
    """

    def __init__(self, num_classes, name="confusion", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = num_classes
        self.counts = self.add_variable((num_classes, num_classes), initializer="zeros",
                                        name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        weights = (ops.ones_like(labels, dtype="float32") if sample_weight is None
                   else ops.reshape(ops.cast(sample_weight, "float32"), (-1,)))
        k = self.num_classes
        cells = ops.bincount(labels * k + predicted, weights=weights, minlength=k * k)
        self.counts.assign_add(ops.reshape(ops.cast(cells[:k * k], "float32"), (k, k)))

    def result(self):
        return self.counts

    def reset_state(self):
        self.counts.assign(ops.zeros_like(self.counts))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
