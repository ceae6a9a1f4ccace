"""kerasfg.metrics and kerasfg.losses against independent NumPy computations on fixed tensors."""

import numpy as np
import pytest

from kerasfg import metrics
from kerasfg.losses import MaskedBinaryCrossentropy

RNG = np.random.default_rng(7)
LOGITS = RNG.normal(size=(12, 4)).astype("float32") * 2
LABELS = (RNG.random((12, 4)) > 0.5).astype("float32")
LABELS[[0, 3, 3, 8], [1, 0, 2, 3]] = -1.0  # missing labels
LABELS[5, 1] = np.nan


def sigmoid(z):
    return 1 / (1 + np.exp(-z.astype("float64")))


def present():
    return np.nan_to_num(LABELS, nan=-1.0) >= 0


def in_batches(metric, y_true, y_pred, size=5):
    for start in range(0, len(y_true), size):
        metric.update_state(y_true[start:start + size], y_pred[start:start + size])
    return np.asarray(metric.result())


@pytest.mark.parametrize("from_logits", [True, False])
def test_masked_binary_cross_entropy_averages_over_the_labels_present(from_logits):
    p = sigmoid(LOGITS)
    y = np.where(present(), np.nan_to_num(LABELS), 0.0)
    entropy = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    expected = (entropy * present()).sum() / present().sum()
    y_pred = LOGITS if from_logits else p.astype("float32")
    loss = float(MaskedBinaryCrossentropy(from_logits=from_logits)(LABELS, y_pred))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # with nothing missing it is Keras's own binary cross-entropy
    import keras

    full = (RNG.random((6, 4)) > 0.5).astype("float32")
    np.testing.assert_allclose(
        float(MaskedBinaryCrossentropy(from_logits=True)(full, LOGITS[:6])),
        float(keras.losses.BinaryCrossentropy(from_logits=True)(full, LOGITS[:6])), rtol=1e-5)


def test_attribute_accuracy_per_attribute_and_mean_skip_missing_labels():
    hits = (LOGITS > 0) == (np.nan_to_num(LABELS) > 0.5)
    per_attribute = (hits & present()).sum(0) / present().sum(0)
    result = in_batches(metrics.AttributeAccuracy(4, from_logits=True, average=False), LABELS, LOGITS)
    np.testing.assert_allclose(result, per_attribute, rtol=1e-6)
    mean = in_batches(metrics.AttributeAccuracy(4, from_logits=False), LABELS,
                      sigmoid(LOGITS).astype("float32"))
    np.testing.assert_allclose(mean, per_attribute.mean(), rtol=1e-6)


def exact_auc(labels, scores):
    """Mann-Whitney: the probability that a positive outranks a negative (ties count 1/2)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (
        positive[:, None] == negative[None, :]).sum()
    return wins / (len(positive) * len(negative))


def test_auc_matches_the_rank_statistic_per_attribute_and_per_class():
    scores = sigmoid(LOGITS)
    expected = np.mean([exact_auc(np.nan_to_num(LABELS[:, k])[present()[:, k]],
                                  scores[:, k][present()[:, k]]) for k in range(4)])
    result = in_batches(metrics.AttributeAUC(4, from_logits=True, num_thresholds=2000), LABELS,
                        LOGITS)
    np.testing.assert_allclose(result, expected, atol=2e-3)
    classes = RNG.integers(0, 4, 12)
    probabilities = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
    expected = np.mean([exact_auc((classes == k).astype(int), probabilities[:, k]) for k in range(4)])
    result = in_batches(metrics.AttributeAUC(4, sparse=True, from_logits=True, num_thresholds=2000),
                        classes, LOGITS)
    np.testing.assert_allclose(result, expected, atol=2e-3)


def test_scaled_mae_and_pearson_are_exact_over_all_batches():
    truth = RNG.normal(size=(23, 1)).astype("float32")
    predicted = (0.6 * truth + 0.4 * RNG.normal(size=(23, 1))).astype("float32")
    np.testing.assert_allclose(in_batches(metrics.ScaledMeanAbsoluteError(scale=3.5), truth, predicted),
                               3.5 * np.abs(truth - predicted).mean(), rtol=1e-5)
    np.testing.assert_allclose(in_batches(metrics.PearsonCorrelation(), truth, predicted),
                               np.corrcoef(truth[:, 0], predicted[:, 0])[0, 1], rtol=1e-5)
    # invariant to standardizing either side, and 0 (not NaN) for a constant prediction
    np.testing.assert_allclose(in_batches(metrics.PearsonCorrelation(), 5 * truth + 2, predicted),
                               np.corrcoef(truth[:, 0], predicted[:, 0])[0, 1], rtol=1e-5)
    assert float(in_batches(metrics.PearsonCorrelation(), truth, np.ones_like(truth))) == 0.0


def test_confusion_counts():
    labels = RNG.integers(0, 4, 30)
    scores = RNG.normal(size=(30, 4)).astype("float32")
    expected = np.zeros((4, 4))
    np.add.at(expected, (labels, scores.argmax(-1)), 1)
    np.testing.assert_array_equal(in_batches(metrics.ConfusionCounts(4), labels, scores), expected)
