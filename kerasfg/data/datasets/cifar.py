"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), from the "python version" archives as distributed.

CIFAR-10 (``cifar-10-python.tar.gz``, extracted)::

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5   # 5 x 10,000 training images
    root/cifar-10-batches-py/test_batch                       # 10,000 test images
    root/cifar-10-batches-py/batches.meta                     # label_names (10)

CIFAR-100 (``cifar-100-python.tar.gz``, extracted)::

    root/cifar-100-python/train   # 50,000 images, fine_labels (100) and coarse_labels (20 superclasses)
    root/cifar-100-python/test    # 10,000 images
    root/cifar-100-python/meta    # fine_label_names, coarse_label_names

``root`` may also be the ``cifar-10-batches-py`` / ``cifar-100-python`` folder itself. Each batch is a Python
pickle of a dict with ``data``, a uint8 array ``[N, 3072]`` (the 1,024 red, then green, then blue values of a
32x32 image, row by row) and the labels. Tasks: ``label`` (CIFAR-10's 10 classes; CIFAR-100's 100 fine
classes) and, for CIFAR-100, ``coarse_label`` (the 20 superclasses). Protocol: ``split="train"`` /
``"test"`` (the published parts). A batch file that cannot be unpickled is skipped and reported as one item
(its images are missing), and so is one whose ``data`` is not ``[N, 3072]``; rows with a label out of range or
missing are skipped one by one.
Defaults: 32x32 RGB, kept in memory.
"""

import pickle

import numpy as np

from kerasfg.data import pipeline
from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, require_dir

PIXELS = 32 * 32 * 3
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch", "batches.meta")
CIFAR100_FILES = ("train", "test", "meta")
CIFAR10_EXPECTED = (f"cifar-10-batches-py/ with {', '.join(CIFAR10_FILES)} (the python version of CIFAR-10, "
                    "extracted)")
CIFAR100_EXPECTED = f"cifar-100-python/ with {', '.join(CIFAR100_FILES)} (the python version of CIFAR-100, extracted)"


def read_cifar10(root, *, image_size=(32, 32), channels=3, report=None):
    """Read CIFAR-10; see the module docstring."""
    folder = _folder(root, "cifar-10-batches-py", CIFAR10_FILES, CIFAR10_EXPECTED)
    names = _names(folder / "batches.meta", b"label_names", CIFAR10_EXPECTED)
    batches = [(folder / f"data_batch_{k}", "train") for k in range(1, 6)] + [(folder / "test_batch", "test")]
    return _read(folder, "cifar10", batches, {"label": (b"labels", names)}, image_size, channels, report,
                 CIFAR10_EXPECTED)


def read_cifar100(root, *, image_size=(32, 32), channels=3, report=None):
    """Read CIFAR-100 with its fine (``label``) and coarse (``coarse_label``) labels; see the module docstring."""
    folder = _folder(root, "cifar-100-python", CIFAR100_FILES, CIFAR100_EXPECTED)
    labels = {"label": (b"fine_labels", _names(folder / "meta", b"fine_label_names", CIFAR100_EXPECTED)),
              "coarse_label": (b"coarse_labels", _names(folder / "meta", b"coarse_label_names", CIFAR100_EXPECTED))}
    batches = [(folder / "train", "train"), (folder / "test", "test")]
    return _read(folder, "cifar100", batches, labels, image_size, channels, report, CIFAR100_EXPECTED)


def _folder(root, name, files, expected):
    """The folder holding the batch files: ``root/name`` or ``root`` itself; every file must be there."""
    root = require_dir(root, expected)
    folder = root / name if (root / name).is_dir() else root
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise DatasetLayoutError(f"{folder}: missing {', '.join(missing)}; expected {expected}")
    return folder


def _unpickle(path):
    """The dict in a CIFAR pickle (written by Python 2, so its keys are byte strings).

    Raises:
        ValueError: the file is not such a pickle (truncated, corrupt, or something else).
    """
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, ImportError, IndexError,
            ValueError) as error:
        raise ValueError(f"not a readable pickle ({type(error).__name__}: {error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"the pickle holds a {type(data).__name__}, not a dict")
    return data


def _names(path, key, expected):
    """The class names stored under ``key`` in the meta file at ``path``."""
    try:
        meta = _unpickle(path)
    except ValueError as error:
        raise DatasetLayoutError(f"{path}: {error}; expected {expected}") from error
    if key not in meta:
        raise DatasetLayoutError(f"{path}: no {key.decode()} in the meta file; expected {expected}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[key])


def _read(folder, name, batches, labels, image_size, channels, report, expected):
    """Every batch into one in-memory dataset. ``labels`` maps each task to its pickle key and class names."""
    collector = Collector(name, folder, [Task(task, "class", names) for task, (_, names) in labels.items()],
                          report)
    images = []
    for path, partition in batches:
        try:
            batch = _unpickle(path)
        except ValueError as error:
            collector.skip(path, f"corrupt batch file, its images are missing: {error}")
            continue
        data = np.asarray(batch.get(b"data", ()))
        missing = [key.decode() for key in (b"data", *(k for k, _ in labels.values())) if key not in batch]
        if missing or data.ndim != 2 or data.shape[1] != PIXELS:
            problem = f"no {', '.join(missing)}" if missing else f"data of shape {data.shape}"
            collector.skip(path, f"malformed batch file: {problem}, expected data [N, {PIXELS}] and labels")
            continue
        columns = {task: np.asarray(batch[key]) for task, (key, _) in labels.items()}
        kept = [row for row in range(len(data)) if collector.add(
            f"{path}:{row}", {task: _label(values, row) for task, values in columns.items()},
            partition=partition)]
        # Each row: 1,024 red, then green, then blue values, row by row: channels first, to NHWC.
        images.append(data[kept].astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    array = np.concatenate(images) if images else np.zeros((0, 32, 32, 3), np.uint8)
    return collector.build(image_size=image_size, channels=channels, source=pipeline.ArraySource(array),
                           default_split={"by": "image", "fractions": {"train": 0.8, "test": 0.2}},
                           expected=expected)


def _label(values, row):
    """The label of ``row``, or ``None`` when the batch lists fewer labels than images."""
    return int(values[row]) if row < len(values) else None


__all__ = ["read_cifar10", "read_cifar100"]
