"""Shared pieces of the dataset readers: root checks, file listing, and the item collector."""

import os
import pathlib

import numpy as np

from kerasfg.data import formats, pipeline
from kerasfg.data.dataset import DatasetLayoutError, FaceDataset, Task
from kerasfg.data.report import DataReport


def require_dir(root, expected):
    """``root`` as a Path, or a :class:`DatasetLayoutError` saying what was expected there."""
    root = pathlib.Path(root).expanduser()
    if not root.exists():
        raise DatasetLayoutError(f"dataset root {root} does not exist; expected {expected}")
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset root {root} is not a folder; expected {expected}")
    return root


def find_first(root, candidates, what, expected):
    """The first of ``candidates`` (paths relative to ``root``) that exists, or a clear error."""
    for rel in candidates:
        p = root / rel
        if p.exists():
            return p
    raise DatasetLayoutError(f"{root}: no {what} found (looked for {', '.join(map(str, candidates))}); "
                             f"expected {expected}")


def is_image_name(path):
    return os.path.splitext(str(path))[1].lower() in formats.IMAGE_EXTENSIONS


def list_files(folder, recursive=False):
    """Regular files under ``folder`` in sorted order, hidden files (``.DS_Store``) and folders excluded."""
    folder = pathlib.Path(folder)
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and not p.name.startswith("."))


class Collector:
    """Gathers items (path, labels, subject, partition) and skips into one report, then builds the dataset.

    ``add`` checks every class label against its task and skips items whose label is out of range, so a
    dataset never holds a label its model cannot represent.
    """

    def __init__(self, name, root, tasks, report=None):
        self.name = name
        self.root = root
        self.tasks = {t.name: t for t in tasks}
        self.report = report or DataReport(name, root)
        self.paths, self.subjects, self.partitions = [], [], []
        self.labels = {t: [] for t in self.tasks}

    def skip(self, path, reason):
        self.report.count_read()
        self.report.skip(path, reason)

    def add(self, path, labels, subject=None, partition=None):
        self.report.count_read()
        for task, t in self.tasks.items():
            if task not in labels or labels[task] is None:
                self.report.skip(path, f"missing {task} label")
                return False
            value = labels[task]
            if t.kind == "class" and not 0 <= int(value) < t.num_classes:
                self.report.skip(path, f"label out of range: {task}={value}, expected 0..{t.num_classes - 1}")
                return False
        self.paths.append(str(path))
        self.subjects.append(subject)
        self.partitions.append(partition)
        for task in self.tasks:
            self.labels[task].append(labels[task])
        return True

    def __len__(self):
        return len(self.paths)

    def build(self, *, image_size, channels, source=None, decoder="auto", default_split=None, info=None,
              expected=None):
        if not self.paths and not self.report.read:
            raise DatasetLayoutError(f"{self.root}: no {self.name} items found; expected {expected}")
        subjects = None if all(s is None for s in self.subjects) else self.subjects
        partitions = None if all(p is None for p in self.partitions) else self.partitions
        labels = {}
        for task, values in self.labels.items():
            kind = self.tasks[task].kind
            dtype = np.int8 if kind == "multilabel" else np.int64
            arr = np.asarray(values, dtype)
            if not len(arr):
                arr = arr.reshape((0, self.tasks[task].num_classes) if kind == "multilabel" else (0,))
            labels[task] = arr
        source = source if source is not None else pipeline.FileSource(self.paths, decoder)
        return FaceDataset(self.name, source, labels, list(self.tasks.values()), subjects=subjects,
                           partitions=partitions, paths=self.paths, image_size=image_size,
                           channels=channels, report=self.report, root=self.root,
                           default_split=default_split, info=info)


def load_mat(path, **options):
    """The variables of a MATLAB v4-v7.2 file (``scipy.io.loadmat``; ``options`` are its keyword arguments).

    Raises:
        ValueError: the file cannot be read as such (truncated, corrupt, HDF5-based v7.3, not MATLAB at all),
            with scipy's reason.
    """
    import struct
    import zlib

    from scipy import io as scipy_io

    try:
        return scipy_io.loadmat(str(path), **options)
    except (scipy_io.matlab.MatReadError, ValueError, TypeError, OSError, IndexError, EOFError,
            NotImplementedError, struct.error, zlib.error) as error:
        raise ValueError(f"not a readable MATLAB file ({type(error).__name__}: {error})") from error


def index_of(names):
    """``{name: index}`` for a sequence of class names."""
    return {n: i for i, n in enumerate(names)}


__all__ = ["Collector", "DatasetLayoutError", "FaceDataset", "Task", "find_first", "index_of",
           "is_image_name", "list_files", "load_mat", "require_dir"]
