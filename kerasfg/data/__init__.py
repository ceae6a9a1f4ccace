"""Face data for kerasfg: dataset readers, splits, alignment, augmentation and tf.data pipelines.

The built-in synthetic faces (:func:`synthetic_faces`) need no download. For real data sets the entry
points are :func:`load_dataset` and :func:`load_splits`, which return :class:`FaceDataset`\\ s::

    parts = kerasfg.data.load_splits("fer2013", "~/data/fer2013", ("train", "test"))
    train = parts["train"].as_dataset(batch_size=64, training=True, augment="fer", tasks="expression")
    parts["train"].num_classes      # {"expression": 7}
    print(parts["train"].report.summary())  # read / used / skipped, each skipped path with its reason

Names are imported on first use, so that ``import kerasfg.data`` (and the ``kerasfg`` command, which
registers ``prepare-faces`` from :mod:`kerasfg.data.prepare`) does not load TensorFlow. Face detection and
alignment live in :mod:`kerasfg.data.align` (they need the ``align`` extra).
"""

import importlib

_EXPORTS = {
    "AugmentConfig": "kerasfg.data.augment",
    "augment_batch": "kerasfg.data.augment",
    "augmentation_layers": "kerasfg.data.augment",
    "CELEBA_ATTRIBUTES": "kerasfg.data.labels",
    "EXPRESSIONS": "kerasfg.data.labels",
    "Task": "kerasfg.data.labels",
    "DatasetLayoutError": "kerasfg.data.dataset",
    "FaceDataset": "kerasfg.data.dataset",
    "READERS": "kerasfg.data.datasets",
    "load_dataset": "kerasfg.data.loading",
    "load_splits": "kerasfg.data.loading",
    "DataReport": "kerasfg.data.report",
    "group_split": "kerasfg.data.splits",
    "kfold": "kerasfg.data.splits",
    "leave_one_subject_out": "kerasfg.data.splits",
    "split_dataset": "kerasfg.data.splits",
    "stratified_split": "kerasfg.data.splits",
    "prepare_faces": "kerasfg.data.prepare",
    "FaceParameters": "kerasfg.data.synthetic",
    "SyntheticFaces": "kerasfg.data.synthetic",
    "render_faces": "kerasfg.data.synthetic",
    "synthetic_faces": "kerasfg.data.synthetic",
}


__all__ = [
    "CELEBA_ATTRIBUTES", "EXPRESSIONS", "READERS", "AugmentConfig", "DataReport", "DatasetLayoutError",
    "FaceDataset", "FaceParameters", "Task", "augment_batch", "augmentation_layers", "group_split", "kfold",
    "leave_one_subject_out", "load_dataset", "SyntheticFaces", "load_splits", "prepare_faces", "render_faces",
    "split_dataset", "stratified_split", "synthetic_faces",
]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS})
