"""Train/validation/test splits: the published protocol, seeded subject-disjoint, k-fold, leave-one-subject-out.

The functions on arrays return index arrays; :func:`split_dataset` applies them to a
:class:`~kerasfg.data.FaceDataset`. Splits are by *subject* wherever the dataset names its subjects: a random
per-image split puts the same person in train and test, which inflated the FEI gender results of
``000_f74c9bd062c0cb9b.txt``. Per-image splits exist for the protocols that use them (IMFDB identity, where the
identity is the label) and must be asked for with ``by="image"``.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)


def _groups_and_counts(groups, seed):
    groups = np.asarray(groups).astype(str)
    unique, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    return groups, unique, inverse, counts, order


def group_split(groups, fractions, seed=0):
    """Split items into named parts with no group (subject) in two parts.

    Groups are shuffled with ``seed`` and dealt in turn to the part furthest below its share of *items*, so
    part sizes follow ``fractions`` as closely as whole groups allow. Every part with a positive fraction
    gets at least one group when there are enough groups.

    Args:
        groups: one group id per item (subject ids; item ids for a per-image split).
        fractions: ``{part name: fraction}``, summing to 1.
        seed: the shuffle seed.

    Returns:
        ``{part name: sorted int64 index array}``.
    """
    names = list(fractions)
    frac = np.asarray([fractions[n] for n in names], float)
    if np.any(frac < 0) or not np.isclose(frac.sum(), 1.0):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    groups, unique, inverse, counts, order = _groups_and_counts(groups, seed)
    total = counts.sum()
    assigned = np.zeros(len(names))
    part_of_group = np.empty(len(unique), int)
    # Seed each positive part with one group first, largest fraction first, so small parts are not empty.
    pending = list(order)
    for p in np.argsort(-frac):
        if frac[p] > 0 and pending:
            g = pending.pop(0)
            part_of_group[g] = p
            assigned[p] += counts[g]
    for g in pending:
        deficit = frac * total - assigned
        p = int(np.argmax(np.where(frac > 0, deficit, -np.inf)))
        part_of_group[g] = p
        assigned[p] += counts[g]
    part = part_of_group[inverse]
    return {n: np.flatnonzero(part == i).astype(np.int64) for i, n in enumerate(names)}


def kfold(groups, k, seed=0):
    """``k`` folds with no group in two folds, balanced in items; returns a list of k test index arrays."""
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    n_groups = len(np.unique(np.asarray(groups).astype(str)))
    if n_groups < k:
        raise ValueError(f"cannot make {k} group-disjoint folds from {n_groups} subjects")
    parts = group_split(groups, {f"fold{i}": 1.0 / k for i in range(k)}, seed)
    return [parts[f"fold{i}"] for i in range(k)]


def leave_one_subject_out(subjects):
    """Yield ``(subject, train indices, test indices)`` for each subject, in sorted subject order."""
    subjects = np.asarray(subjects).astype(str)
    for s in np.unique(subjects):
        test = subjects == s
        yield s, np.flatnonzero(~test), np.flatnonzero(test)


def stratified_split(labels, fractions, seed=0):
    """A per-item split that keeps each class's share in every part (``split-folders``' ``ratio`` per class
    folder, which the FER paper's code uses); returns ``{part: sorted index array}``."""
    labels = np.asarray(labels)
    parts = {n: [] for n in fractions}
    for k, c in enumerate(np.unique(labels)):
        idx = np.flatnonzero(labels == c)
        for name, sub in group_split(idx.astype(str), fractions, seed=seed + k).items():
            parts[name].append(idx[sub])
    return {n: np.sort(np.concatenate(v)).astype(np.int64) for n, v in parts.items()}


def split_dataset(ds, split, *, seed=0, fractions=None, by=None, fold=None, num_folds=None, subject=None,
                  stratify=None):
    """Select one part of ``ds``.

    Args:
        ds: a :class:`~kerasfg.data.FaceDataset`.
        split: ``None``/``"all"`` for everything; otherwise a part name (``"train"``, ``"val"``, ``"test"``).
        seed: seed of the subject-disjoint split and folds.
        fractions: ``{part: fraction}`` for a seeded split; the dataset's default when ``None``.
        by: ``"subject"`` or ``"image"`` grouping for a seeded split; the dataset's default when ``None``.
        fold, num_folds: k-fold cross-validation: ``test`` is fold ``fold``, ``train`` the others. Datasets
            with published folds (Adience) use those; others get seeded subject-disjoint folds.
        subject: leave-one-subject-out: ``test`` is that subject's items, ``train`` everyone else's.
        stratify: a class task: a seeded per-image split that keeps each class's share in every part
            (needs ``by="image"``: a subject's images can span classes).

    The published protocol (``ds.partitions``) is used when ``split`` names one of its partitions and no
    ``fractions``/``fold``/``subject`` is given. Otherwise the seeded subject-disjoint split is used.
    """
    if split in (None, "all"):
        return ds
    if subject is not None:
        if ds.subjects is None:
            raise ValueError(f"{ds.name} has no subject ids, so leave-one-subject-out is not possible")
        if str(subject) not in set(ds.subjects.tolist()):
            raise ValueError(f"{ds.name} has no subject {subject!r}")
        _check_part(split, ("train", "test"), "leave-one-subject-out")
        test = ds.subjects == str(subject)
        return ds.subset(test if split == "test" else ~test, name=f"{ds.name}[{split} loso={subject}]")
    if fold is not None:
        _check_part(split, ("train", "test"), "k-fold")
        folds = published_folds(ds)
        if folds is not None and num_folds in (None, len(folds)):
            test = np.isin(ds.partitions, [folds[fold]])
        else:
            k = num_folds or 5
            groups = _groups(ds, by)
            if not 0 <= fold < k:
                raise ValueError(f"fold must be in [0, {k}), got {fold}")
            test = np.zeros(len(ds), bool)
            test[kfold(groups, k, seed)[fold]] = True
        return ds.subset(test if split == "test" else ~test, name=f"{ds.name}[{split} fold={fold}]")
    if fractions is None and split in ds.split_names:
        return ds.subset(ds.partitions == split, name=f"{ds.name}[{split}]")
    if fractions is None and ds.partitions is not None and published_folds(ds) is None:
        raise ValueError(f"{ds.name}: no partition {split!r} in the published protocol "
                         f"(it has {list(ds.split_names)}); pass fractions=... for a seeded split")
    fractions = fractions or ds.default_split["fractions"]
    _check_part(split, tuple(fractions), "the seeded split")
    if stratify is not None:
        if (by or ds.default_split.get("by")) != "image":
            raise ValueError("stratify needs by='image' (a subject-disjoint split cannot also keep every "
                             "class's share exactly)")
        parts = stratified_split(ds.labels[stratify], fractions, seed)
        return ds.subset(parts[split], name=f"{ds.name}[{split}]")
    parts = group_split(_groups(ds, by), fractions, seed)
    return ds.subset(parts[split], name=f"{ds.name}[{split}]")


def published_folds(ds):
    """The names of the published folds (``fold0``...) if the dataset's protocol is k-fold, else ``None``."""
    if ds.partitions is None:
        return None
    names = sorted(p for p in ds.split_names if p.startswith("fold"))
    return names or None


def _groups(ds, by):
    by = by or ds.default_split.get("by", "subject")
    if by == "image":
        return np.arange(len(ds)).astype(str)
    if by != "subject":
        raise ValueError(f"by must be 'subject' or 'image', got {by!r}")
    if ds.subjects is None:
        raise ValueError(f"{ds.name} has no subject ids; split with by='image' (identities may then appear "
                         f"in more than one part)")
    return ds.subjects


def _check_part(split, allowed, what):
    if split not in allowed:
        raise ValueError(f"split {split!r} is not a part of {what}; expected one of {list(allowed)}")
