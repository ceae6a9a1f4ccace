"""The evaluation of ``002_c1e3dd09777d292a.txt`` chapter 2, on predictions held in NumPy arrays.

- **Binary** (Tables 2.2, 2.3): pain is PSPI >= 1; a regression output is thresholded at 1 (``[0, 1)`` no
  pain, ``[1, inf)`` pain) for the accuracy, and ranked as it is for the AUC. Scores come **unbalanced**
  (all test frames) and **skew-normalized** (Jeni et al.): the no-pain test frames randomly undersampled to
  the number of pain frames, ``repeats`` seeded draws, mean and standard deviation reported.
- **Continuous** (Table 2.4): MAE, MSE, Pearson's correlation and the intraclass correlation, after merging
  the PSPI levels as Zhao et al. do (`merge_pain_levels`: 0-3 kept, 4 and 5 become 4, 6 and above 5).
  The ICC form is not stated in the thesis; ICC(3,1) (Shrout and Fleiss: two-way, consistency, single
  rater, the ground truth and the prediction as the two raters) is the default, as Kaltwang et al. report
  it; ICC(1,1) and ICC(2,1) are available.
- **Per subject** (Table 2.5): correct and total no-pain and pain frames of each subject.
- **Classification** (Table 2.6): accuracy per fold and its mean.

The AUC is the Mann-Whitney statistic with tied scores counted half, the area under the ROC curve.
Streaming versions for training logs live in `kerasfg.metrics`; these functions score whole protocols.
"""

import dataclasses

import numpy as np

ICC_FORMS = ("1,1", "2,1", "3,1")


def merge_pain_levels(pspi):
    """Zhao et al.'s pain levels: PSPI 0-3 kept, 4 and 5 merged into 4, 6 and above into 5."""
    pspi = np.asarray(pspi, np.float64)
    return np.where(pspi >= 6, 5.0, np.where(pspi >= 4, 4.0, pspi)).astype(np.float32)


def roc_auc(positive, scores):
    """Area under the ROC curve of ``scores`` for the bool labels ``positive`` (NaN if a class is absent)."""
    positive = np.asarray(positive, bool)
    scores = np.asarray(scores, np.float64)
    _check_same_length(positive, scores)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), np.float64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    stops = np.r_[starts[1:], len(scores)]
    for start, stop in zip(starts, stops):  # ties share their average rank
        ranks[order[start:stop]] = (start + stop + 1) / 2.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy(positive, scores, threshold=1.0):
    """Share of items whose ``scores >= threshold`` agrees with ``positive``."""
    positive = np.asarray(positive, bool)
    scores = np.asarray(scores, np.float64)
    _check_same_length(positive, scores)
    return float(np.mean((scores >= threshold) == positive)) if len(scores) else float("nan")


def pearson(y_true, y_pred):
    """Pearson's correlation coefficient (NaN when either side is constant)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    _check_same_length(y_true, y_pred)
    a, b = y_true - y_true.mean(), y_pred - y_pred.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def icc(y_true, y_pred, form="3,1"):
    """The intraclass correlation of the two "raters" ground truth and prediction over ``n`` frames.

    Args:
        y_true, y_pred: ``(n,)`` ratings of the same frames.
        form: see `intraclass_correlation`.
    """
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    _check_same_length(y_true, y_pred)
    return intraclass_correlation(np.stack([y_true, y_pred], axis=1), form)


def intraclass_correlation(ratings, form="3,1"):
    """Shrout and Fleiss's (1979) intraclass correlation of ``(n targets, k raters)`` ratings.

    Args:
        ratings: ``(n, k)``, n >= 2 and k >= 2.
        form: ``"3,1"`` (two-way mixed, consistency), ``"2,1"`` (two-way random, absolute agreement) or
            ``"1,1"`` (one-way random), each for a single rater.
    """
    if form not in ICC_FORMS:
        raise ValueError(f"form must be one of {ICC_FORMS}; received {form!r}.")
    ratings = np.asarray(ratings, np.float64)
    if ratings.ndim != 2 or min(ratings.shape) < 2:
        raise ValueError(f"ratings must be (targets, raters) with at least 2 of each; received {ratings.shape}.")
    n, k = ratings.shape
    grand = ratings.mean()
    ss_rows = k * ((ratings.mean(axis=1) - grand) ** 2).sum()
    ss_columns = n * ((ratings.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((ratings - grand) ** 2).sum()
    ms_rows = ss_rows / (n - 1)
    ms_columns = ss_columns / (k - 1)
    ms_error = (ss_total - ss_rows - ss_columns) / ((n - 1) * (k - 1))
    if form == "1,1":
        ms_within = (ss_total - ss_rows) / (n * (k - 1))
        return float((ms_rows - ms_within) / (ms_rows + (k - 1) * ms_within))
    if form == "2,1":
        return float((ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error + k * (ms_columns - ms_error) / n))
    return float((ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error))


def skew_normalized_draws(positive, repeats=10, seed=0):
    """``repeats`` index arrays, each with every positive item and as many negatives drawn at random.

    The skew normalization of Jeni et al. for the test frames: no-pain frames undersampled to the number
    of pain frames; draw ``r`` uses seed ``(seed, r)``.
    """
    positive = np.asarray(positive, bool)
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    count = min(len(pos), len(neg))
    draws = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        draws.append(np.sort(np.concatenate([rng.choice(pos, count, replace=False) if len(pos) > count else pos,
                                             rng.choice(neg, count, replace=False)])))
    return draws


@dataclasses.dataclass(frozen=True)
class BinaryScores:
    """Accuracy and AUC, unbalanced and skew-normalized (mean and std over the draws); Table 2.2's row."""

    accuracy: float
    auc: float
    normalized_accuracy: float
    normalized_auc: float
    normalized_accuracy_std: float
    normalized_auc_std: float
    pain_frames: int
    no_pain_frames: int

    def as_dict(self):
        return dataclasses.asdict(self)


def binary_scores(pspi_true, predictions, *, threshold=1.0, repeats=10, seed=0):
    """Table 2.2's four numbers for one set of test frames.

    Args:
        pspi_true: ``(n,)`` ground-truth PSPI (pain: >= 1).
        predictions: ``(n,)`` predicted PSPI (regression, in PSPI units) or pain scores.
        threshold: the decision threshold of the accuracy (1 in the thesis).
        repeats, seed: the skew-normalized draws (`skew_normalized_draws`).
    """
    positive = np.asarray(pspi_true, np.float64) >= 1.0
    scores = np.asarray(predictions, np.float64)
    draws = skew_normalized_draws(positive, repeats, seed)
    accuracies = [accuracy(positive[d], scores[d], threshold) for d in draws]
    aucs = [roc_auc(positive[d], scores[d]) for d in draws]
    return BinaryScores(
        accuracy=accuracy(positive, scores, threshold), auc=roc_auc(positive, scores),
        normalized_accuracy=float(np.mean(accuracies)), normalized_auc=float(np.mean(aucs)),
        normalized_accuracy_std=float(np.std(accuracies)), normalized_auc_std=float(np.std(aucs)),
        pain_frames=int(positive.sum()), no_pain_frames=int((~positive).sum()))


@dataclasses.dataclass(frozen=True)
class ContinuousScores:
    """MAE, MSE, PCC and ICC on the merged pain levels; Table 2.4's row."""

    mae: float
    mse: float
    pcc: float
    icc: float
    icc_form: str

    def as_dict(self):
        return dataclasses.asdict(self)


def continuous_scores(levels_true, predictions, *, icc_form="3,1"):
    """Table 2.4's numbers.

    Args:
        levels_true: ``(n,)`` ground truth on the merged pain levels (`merge_pain_levels`).
        predictions: ``(n,)`` predictions on the same scale.
        icc_form: see `icc`.
    """
    y_true, y_pred = np.asarray(levels_true, np.float64), np.asarray(predictions, np.float64)
    _check_same_length(y_true, y_pred)
    error = y_pred - y_true
    return ContinuousScores(mae=float(np.abs(error).mean()), mse=float((error**2).mean()),
                            pcc=pearson(y_true, y_pred), icc=icc(y_true, y_pred, icc_form), icc_form=icc_form)


def per_subject_counts(subjects, pspi_true, predictions, *, threshold=1.0):
    """Table 2.5: per subject, the correctly classified and the total no-pain and pain frames.

    Returns:
        A list of dicts ``{"subject", "no_pain_correct", "no_pain_total", "pain_correct", "pain_total"}``
        in sorted subject order.
    """
    subjects = np.asarray(subjects).astype(str)
    positive = np.asarray(pspi_true, np.float64) >= 1.0
    predicted = np.asarray(predictions, np.float64) >= threshold
    _check_same_length(subjects, positive)
    _check_same_length(subjects, predicted)
    rows = []
    for subject in np.unique(subjects):
        mine = subjects == subject
        rows.append({
            "subject": str(subject),
            "no_pain_correct": int((mine & ~positive & ~predicted).sum()),
            "no_pain_total": int((mine & ~positive).sum()),
            "pain_correct": int((mine & positive & predicted).sum()),
            "pain_total": int((mine & positive).sum()),
        })
    return rows


def fold_accuracy(labels, predicted, folds):
    """Table 2.6: classification accuracy of each fold and their mean.

    Args:
        labels, predicted: ``(n,)`` class indices.
        folds: ``(n,)`` the fold of each item.

    Returns:
        ``(mean accuracy over the folds, {fold: accuracy})``.
    """
    labels, predicted, folds = (np.asarray(a) for a in (labels, predicted, folds))
    _check_same_length(labels, predicted)
    _check_same_length(labels, folds)
    per_fold = {str(f): float(np.mean(labels[folds == f] == predicted[folds == f])) for f in np.unique(folds)}
    return float(np.mean(list(per_fold.values()))), per_fold


def _check_same_length(a, b):
    if len(a) != len(b):
        raise ValueError(f"Expected arrays of the same length; received {len(a)} and {len(b)}.")
