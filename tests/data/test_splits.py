"""Splits: published protocol, seeded subject-disjoint, k-fold, leave-one-subject-out."""

import numpy as np
import pytest

from kerasfg.data import (
    FaceDataset,
    group_split,
    kfold,
    leave_one_subject_out,
    split_dataset,
    stratified_split,
)


def subjects_with_uneven_counts(n_subjects=40, seed=0):
    rng = np.random.default_rng(seed)
    return np.repeat([f"s{k:02d}" for k in range(n_subjects)], rng.integers(1, 12, n_subjects))


def toy(subjects, partitions=None):
    n = len(subjects)
    images = np.zeros((n, 4, 4, 1), np.uint8)
    return FaceDataset.from_arrays(images, {"y": np.arange(n) % 3}, {"y": ["a", "b", "c"]},
                                   subjects=subjects, partitions=partitions)


def test_group_split_is_disjoint_complete_and_close_to_fractions():
    groups = subjects_with_uneven_counts()
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    parts = group_split(groups, fractions, seed=3)
    allidx = np.concatenate(list(parts.values()))
    assert sorted(allidx.tolist()) == list(range(len(groups)))  # every item exactly once
    sets = {k: set(groups[v]) for k, v in parts.items()}
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    largest_group = np.unique(groups, return_counts=True)[1].max()
    for name, frac in fractions.items():
        assert abs(len(parts[name]) - frac * len(groups)) <= largest_group


def test_group_split_is_seeded():
    groups = subjects_with_uneven_counts()
    a = group_split(groups, {"train": 0.8, "test": 0.2}, seed=1)
    b = group_split(groups, {"train": 0.8, "test": 0.2}, seed=1)
    c = group_split(groups, {"train": 0.8, "test": 0.2}, seed=2)
    np.testing.assert_array_equal(a["test"], b["test"])
    assert not np.array_equal(a["test"], c["test"])


def test_small_parts_are_never_empty():
    parts = group_split(["a", "b", "c"], {"train": 0.9, "val": 0.05, "test": 0.05}, seed=0)
    assert all(len(v) == 1 for v in parts.values())


def test_kfold_partitions_subjects():
    groups = subjects_with_uneven_counts()
    folds = kfold(groups, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(groups)))
    for i in range(5):
        for j in range(i + 1, 5):
            assert not set(groups[folds[i]]) & set(groups[folds[j]])
    with pytest.raises(ValueError, match="cannot make 5 group-disjoint folds from 3 subjects"):
        kfold(["a", "b", "c"], 5)


def test_leave_one_subject_out():
    groups = np.array(["b", "a", "b", "c"])
    out = list(leave_one_subject_out(groups))
    assert [s for s, _, _ in out] == ["a", "b", "c"]
    _, train, test = out[1]
    assert test.tolist() == [0, 2] and train.tolist() == [1, 3]


def test_split_dataset_protocol_seeded_fold_and_loso():
    subjects = subjects_with_uneven_counts(12)
    partitions = np.where(np.arange(len(subjects)) % 4 == 0, "test", "train")
    ds = toy(subjects, partitions)
    assert len(split_dataset(ds, "test")) == int((partitions == "test").sum())
    with pytest.raises(ValueError, match="no partition 'val'"):
        split_dataset(ds, "val")
    no_protocol = toy(subjects)
    train = split_dataset(no_protocol, "train", seed=5)
    test = split_dataset(no_protocol, "test", seed=5)
    assert not set(train.subjects) & set(test.subjects)
    tr, te = split_dataset(no_protocol, "train", fold=2, num_folds=4), split_dataset(no_protocol, "test", fold=2,
                                                                                       num_folds=4)
    assert len(tr) + len(te) == len(ds) and not set(tr.subjects) & set(te.subjects)
    loso = split_dataset(no_protocol, "test", subject="s03")
    assert set(loso.subjects) == {"s03"}
    by_image = split_dataset(toy(subjects), "train", by="image", fractions={"train": 0.5, "test": 0.5})
    assert abs(len(by_image) - len(subjects) / 2) <= 1


def test_split_needs_subjects_for_subject_disjoint():
    images = np.zeros((10, 4, 4, 1), np.uint8)
    ds = FaceDataset.from_arrays(images, {"y": np.zeros(10, int)}, {"y": ["a"]})
    with pytest.raises(ValueError, match="no subject ids"):
        split_dataset(ds, "train")
    assert len(split_dataset(ds, "train", by="image")) == 7


def test_stratified_split_keeps_class_shares():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    parts = stratified_split(labels, {"train": 0.8, "test": 0.2}, seed=4)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(100))
    np.testing.assert_array_equal(np.bincount(labels[parts["test"]]), [10, 6, 4])
    ds = toy(subjects_with_uneven_counts(12))
    with pytest.raises(ValueError, match="stratify needs by='image'"):
        split_dataset(ds, "train", stratify="y")
    test = split_dataset(ds, "test", by="image", stratify="y", fractions={"train": 0.5, "test": 0.5})
    counts = np.bincount(ds.labels["y"])
    assert np.all(np.abs(np.bincount(test.labels["y"], minlength=3) - counts / 2) <= 0.5)
