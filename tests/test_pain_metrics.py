"""The thesis's evaluation, each metric against a hand computation."""

import numpy as np
import pytest

from kerasfg.pain import metrics as M


def test_auc_by_pair_counting_with_ties():
    positive = np.array([1, 0, 1, 0, 0, 1], bool)
    scores = np.array([0.9, 0.1, 0.4, 0.4, 0.8, 0.7])
    # pairs (pos, neg): 0.9 beats 0.1, 0.4, 0.8 -> 3; 0.4 beats 0.1, ties 0.4 (0.5), loses to 0.8 -> 1.5;
    # 0.7 beats 0.1 and 0.4, loses to 0.8 -> 2; total 6.5 of 9
    assert M.roc_auc(positive, scores) == pytest.approx(6.5 / 9)
    assert M.roc_auc(positive, -scores) == pytest.approx(1 - 6.5 / 9)
    assert np.isnan(M.roc_auc(np.ones(3, bool), [1, 2, 3]))


def test_accuracy_thresholds_at_one():
    pspi = np.array([0, 0, 1, 3, 0, 2])
    predicted = np.array([0.2, 1.0, 0.99, 2.5, -0.3, 1.0])
    # >= 1 is pain: [F, T, F, T, F, T] against [F, F, T, T, F, T] -> 4 of 6
    assert M.accuracy(pspi >= 1, predicted) == pytest.approx(4 / 6)
    assert M.accuracy(pspi >= 1, predicted, threshold=0.5) == pytest.approx(5 / 6)


def test_pain_level_merging():
    np.testing.assert_array_equal(M.merge_pain_levels([0, 1, 2, 3, 4, 5, 6, 7, 12, 16]),
                                  [0, 1, 2, 3, 4, 4, 5, 5, 5, 5])


def test_continuous_scores_by_hand():
    y = np.array([0.0, 1.0, 2.0, 4.0])
    p = np.array([0.5, 1.0, 1.0, 3.0])
    scores = M.continuous_scores(y, p)
    assert scores.mae == pytest.approx((0.5 + 0 + 1 + 1) / 4)
    assert scores.mse == pytest.approx((0.25 + 0 + 1 + 1) / 4)
    # Pearson: deviations (-1.75, -0.75, 0.25, 2.25) and (-0.875, -0.375, -0.375, 1.625)
    a = np.array([-1.75, -0.75, 0.25, 2.25])
    b = np.array([-0.875, -0.375, -0.375, 1.625])
    assert scores.pcc == pytest.approx((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    assert scores.icc_form == "3,1"


def test_intraclass_correlations_of_shrout_and_fleiss():
    """Shrout and Fleiss (1979), Table 2: six targets, four judges; ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71."""
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    assert M.intraclass_correlation(ratings, "1,1") == pytest.approx(0.17, abs=0.005)
    assert M.intraclass_correlation(ratings, "2,1") == pytest.approx(0.29, abs=0.005)
    assert M.intraclass_correlation(ratings, "3,1") == pytest.approx(0.71, abs=0.005)
    y = np.array([0.0, 1.0, 3.0, 5.0])
    assert M.icc(y, y) == pytest.approx(1.0)
    assert M.icc(y, y + 2.0, "3,1") == pytest.approx(1.0)  # consistency ignores a constant offset
    assert M.icc(y, y + 2.0, "2,1") < 0.8  # absolute agreement does not
    with pytest.raises(ValueError, match="form must be one of"):
        M.icc(y, y, "2,k")


def test_skew_normalization_draw_counts_and_scores():
    pspi = np.array([0] * 8 + [2, 5])
    draws = M.skew_normalized_draws(pspi >= 1, repeats=4, seed=3)
    assert len(draws) == 4
    for draw in draws:
        assert len(draw) == 4 and (pspi[draw] >= 1).sum() == 2  # every pain frame, as many no-pain frames
    assert len({tuple(d) for d in draws}) > 1  # different draws
    np.testing.assert_array_equal(draws[1], M.skew_normalized_draws(pspi >= 1, repeats=4, seed=3)[1])
    predicted = np.array([0.1] * 7 + [1.2, 1.5, 0.5])
    scores = M.binary_scores(pspi, predicted, repeats=4, seed=3)
    assert scores.accuracy == pytest.approx(8 / 10)  # frame 7 (no pain, 1.2) and frame 9 (pain, 0.5) wrong
    assert scores.pain_frames == 2 and scores.no_pain_frames == 8
    expected = [M.accuracy(pspi[d] >= 1, predicted[d]) for d in draws]
    assert scores.normalized_accuracy == pytest.approx(np.mean(expected))
    assert scores.normalized_accuracy_std == pytest.approx(np.std(expected))


def test_per_subject_counts_and_fold_accuracy():
    subjects = ["b", "a", "a", "b", "a"]
    pspi = [0, 0, 3, 4, 1]
    predicted = [1.5, 0.0, 2.0, 0.5, 1.0]
    rows = M.per_subject_counts(subjects, pspi, predicted)
    assert rows == [
        {"subject": "a", "no_pain_correct": 1, "no_pain_total": 1, "pain_correct": 2, "pain_total": 2},
        {"subject": "b", "no_pain_correct": 0, "no_pain_total": 1, "pain_correct": 0, "pain_total": 1}]
    mean, per_fold = M.fold_accuracy([0, 1, 2, 2, 1], [0, 1, 1, 2, 2], [0, 0, 1, 1, 1])
    assert per_fold == {"0": 1.0, "1": pytest.approx(1 / 3)}
    assert mean == pytest.approx((1 + 1 / 3) / 2)
