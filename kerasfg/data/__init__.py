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

Face video (the pain system of ``002_c1e3dd09777d292a.txt``): :class:`FaceVideo` holds sequences in order with
landmarks (:func:`read_unbc`, :func:`read_ckplus_sequences`, the synthetic :func:`synthetic_face_video`), and
:mod:`kerasfg.data.registration` aligns and frontalizes them (:func:`register_video`).
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
    "FaceVideo": "kerasfg.data.video",
    "synthetic_face_video": "kerasfg.data.face_video",
    "read_unbc": "kerasfg.data.datasets.unbc",
    "read_ckplus_sequences": "kerasfg.data.datasets.ckplus",
    "ckplus_folds": "kerasfg.data.datasets.ckplus",
    "Registration": "kerasfg.data.registration",
    "register_video": "kerasfg.data.registration",
    "generalized_procrustes": "kerasfg.data.registration",
}


__all__ = [
    "CELEBA_ATTRIBUTES", "EXPRESSIONS", "READERS", "AugmentConfig", "DataReport", "DatasetLayoutError",
    "FaceDataset", "FaceParameters", "FaceVideo", "Registration", "SyntheticFaces", "Task", "augment_batch",
    "augmentation_layers", "ckplus_folds", "generalized_procrustes", "group_split", "kfold",
    "leave_one_subject_out", "load_dataset", "load_splits", "prepare_faces", "read_ckplus_sequences", "read_unbc",
    "register_video", "render_faces", "split_dataset", "stratified_split", "synthetic_face_video",
    "synthetic_faces",
]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS})
