"""Face data for kerasfg: dataset readers, splits, alignment, augmentation and tf.data pipelines.

The entry point is :func:`load_dataset`, which returns a :class:`FaceDataset`::

    ds = kerasfg.data.load_dataset("fer2013", "~/data/fer2013", split="train")
    train = ds.as_dataset(batch_size=64, training=True, augment="fer", tasks="expression")
    ds.num_classes      # {"expression": 7}
    print(ds.report.summary())  # read / used / skipped, each skipped path with its reason

Face detection and alignment live in :mod:`kerasfg.data.align` (imported on use: it needs the ``align``
extra).
"""

from kerasfg.data.augment import AugmentConfig, augment_batch, augmentation_layers
from kerasfg.data.dataset import EXPRESSIONS, DatasetLayoutError, FaceDataset, Task
from kerasfg.data.datasets import READERS
from kerasfg.data.loading import load_dataset, load_splits
from kerasfg.data.report import DataReport
from kerasfg.data.splits import group_split, kfold, leave_one_subject_out, split_dataset

# --- synthetic faces (added by the lead when merging) ---


__all__ = [
    "EXPRESSIONS", "READERS", "AugmentConfig", "DataReport", "DatasetLayoutError", "FaceDataset", "Task",
    "augment_batch", "augmentation_layers", "group_split", "kfold", "leave_one_subject_out", "load_dataset",
    "load_splits",
    "split_dataset",
]
