"""``load_dataset``: one call from a dataset name and root to a validated, split :class:`FaceDataset`."""

import inspect
import logging
import pathlib

from kerasfg.data import splits as splits_lib

log = logging.getLogger(__name__)

_DEFAULT = object()


def load_dataset(name, root, split=None, *, image_size=_DEFAULT, channels=None, tasks=None, validate=True,
                 seed=0, fractions=None, by=None, fold=None, num_folds=None, subject=None, run_dir=None,
                 resize_method="bilinear", antialias=True, stratify=None, **options):
    """Read a face dataset from its distributed layout and return one split of it.

    Args:
        name: a reader name: ``fer2013`` (CSV or folders), ``fer2013_csv``, ``fer2013_folders``, ``ck+``,
            ``jaffe``, ``fei``, ``imfdb``, ``adience``, ``iog``, ``utkface``, ``celeba``, ``morph``, ``cifar10``,
            ``cifar100``, ``svhn``, ``mnist``, ``imagenet``, ``compcars``, ``folder``, ``manifest``, ``tfrecord``
            (shards written by ``prepare-faces`` / ``write_tfrecords``).
        root: the dataset's root folder (or file, for CSV/JSON forms). Nothing is downloaded.
        split: ``None``/``"all"``, or a part: ``"train"``, ``"val"``, ``"test"`` (see
            :func:`kerasfg.data.splits.split_dataset` for how protocol, seeded, k-fold and
            leave-one-subject-out parts are chosen).
        image_size: ``(height, width)``; the reader's default (48x48 for FER2013/CK+/JAFFE, 112x112 for the
            others) when not given; ``None`` keeps stored sizes.
        channels: 1 (grayscale) or 3 (RGB); the reader's default when ``None``.
        resize_method, antialias: ``tf.image.resize`` settings for resizing to ``image_size`` (export the
            model with the same, see ``FaceDataset.preprocessing``).
        tasks: keep only these label tasks (a name or a list).
        validate: decode every image once up front and skip (and report) those that fail. With
            ``validate=False`` a bad file raises inside the pipeline instead.
        seed, fractions, by, fold, num_folds, subject, stratify: the split; see ``split_dataset``.
        run_dir: also write the report there (``data_report_<name>.json`` and ``..._skipped.tsv``).
        **options: reader options (``protocol=`` for FER2013, ``labels_file=`` for FEI, ``image_dir=`` for
            Adience, ``class_names=`` for folder/manifest, ...).

    Returns:
        A :class:`~kerasfg.data.FaceDataset`; ``.report`` accounts for every item read.
    """
    if isinstance(split, (list, tuple)):
        raise TypeError("split must be one part name; use load_splits() for several parts")
    return load_splits(name, root, (split,), image_size=image_size, channels=channels, tasks=tasks,
                       validate=validate, seed=seed, fractions=fractions, by=by, fold=fold,
                       num_folds=num_folds, subject=subject, run_dir=run_dir, resize_method=resize_method,
                       antialias=antialias, stratify=stratify, **options)[split]


def load_splits(name, root, splits=("train", "test"), *, image_size=_DEFAULT, channels=None, tasks=None,
                validate=True, seed=0, fractions=None, by=None, fold=None, num_folds=None, subject=None,
                run_dir=None, resize_method="bilinear", antialias=True, stratify=None, **options):
    """Like :func:`load_dataset`, for several parts at once: ``{part: FaceDataset}``.

    The dataset is read and validated once; the parts share one report. This is what a training run
    wants (``load_splits("fer2013", root, ("train", "test"))``), rather than one validation pass per part.
    """
    from kerasfg.data.datasets import READERS

    key = name.lower()
    if key not in READERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(READERS)}")
    reader = READERS[key]
    params = inspect.signature(reader).parameters
    unknown = [k for k in options if k not in params or k == "tasks"]
    if unknown:
        accepted = [p for p in params if p not in ("root", "report", "image_size", "channels", "tasks")]
        raise TypeError(f"{name} reader got unknown options {unknown}; it accepts {accepted}")
    if image_size is not _DEFAULT:
        options["image_size"] = image_size
    if channels is not None:
        options["channels"] = channels
    if tasks is not None and "tasks" in params:
        options["tasks"] = tasks  # the reader then keeps items that lack the other tasks' labels
    ds = reader(pathlib.Path(root).expanduser(), **options)
    ds.resize_method, ds.antialias = resize_method, bool(antialias)
    if tasks is not None:
        ds = ds.with_tasks(tasks)
    wants_parts = any(s not in (None, "all") for s in splits)
    if wants_parts and fold is None and subject is None and fractions is None and stratify is None:
        folds = splits_lib.published_folds(ds)
        if folds is not None:
            fold = 0
            ds.report.note(f"{ds.name}: k-fold protocol ({len(folds)} folds); using fold=0 as test")
    if validate:  # the whole set, so that the report's "used" counts usable items, whatever the split
        ds = ds.validate()
    ds.report.check()
    parts = {}
    for split in splits:
        part = splits_lib.split_dataset(ds, split, seed=seed, fractions=fractions, by=by, fold=fold,
                                        num_folds=num_folds, subject=subject, stratify=stratify)
        if part is not ds:
            ds.report.note(f"split {split!r}: {len(part)} of the {len(ds)} used items")
        parts[split] = part
    if run_dir is not None:
        ds.report.write(run_dir)
    ds.report.log(log)
    return parts
