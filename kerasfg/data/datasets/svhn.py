"""SVHN, the Street View House Numbers (Netzer et al. 2011), cropped digits ("format 2") as distributed::

    root/train_32x32.mat   # 73,257 digits
    root/test_32x32.mat    # 26,032 digits
    root/extra_32x32.mat   # 531,131 easier digits (optional)

Each file is a MATLAB v5 file (read with ``scipy.io.loadmat``) holding ``X``, uint8 ``[32, 32, 3, N]``, and
``y``, ``[N, 1]`` with the digits 1..10, where 10 stands for the digit 0. Task: ``label``, the digit (class
names ``"0"`` .. ``"9"``). Protocol: ``split="train"`` / ``"test"``; ``extra="train"`` (default) adds the
extra digits to the training part, the 604,388 training images of the ABN paper (``"separate"``: a part of
their own, ``"extra"``; ``"skip"``: not read, which saves about 1.6 GB of memory). A file that cannot be read
is skipped and reported as one item (its digits are missing); digits with a label outside 1..10 are skipped
one by one. Defaults: 32x32 RGB, kept in memory.
"""

import numpy as np

from kerasfg.data import pipeline
from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, load_mat, require_dir

DIGITS = tuple(str(d) for d in range(10))
EXTRA_CHOICES = ("train", "separate", "skip")
EXPECTED = ("train_32x32.mat and test_32x32.mat (SVHN's cropped digits, format 2), optionally "
            "extra_32x32.mat")


def read_svhn(root, *, extra="train", image_size=(32, 32), channels=3, report=None):
    """Read SVHN's cropped digits; see the module docstring.

    Args:
        root: the folder with the ``*_32x32.mat`` files.
        extra: what to do with ``extra_32x32.mat`` when it is there: ``"train"`` (add it to the training
            part), ``"separate"`` (a part named ``"extra"``) or ``"skip"``.
        image_size, channels: as every reader.
    """
    if extra not in EXTRA_CHOICES:
        raise ValueError(f"extra must be one of {list(EXTRA_CHOICES)}, got {extra!r}")
    root = require_dir(root, EXPECTED)
    missing = [name for name in ("train_32x32.mat", "test_32x32.mat") if not (root / name).is_file()]
    if missing:
        raise DatasetLayoutError(f"{root}: missing {', '.join(missing)}; expected {EXPECTED}")
    parts = [("train", "train"), ("test", "test")]
    extra_path = root / "extra_32x32.mat"
    if extra != "skip" and extra_path.is_file():
        parts.append(("extra", "train" if extra == "train" else "extra"))
    collector = Collector("svhn", root, [Task("label", "class", DIGITS)], report)
    if extra != "skip" and not extra_path.is_file():
        collector.report.note(f"{extra_path} not found: training on train_32x32.mat alone")
    images = []
    for name, partition in parts:
        path = root / f"{name}_32x32.mat"
        try:
            x, y = _load(path)
        except ValueError as error:
            collector.skip(path, f"unreadable file, its digits are missing: {error}")
            continue
        digits = np.where(y == 10, 0, y)  # SVHN writes the digit 0 as 10
        kept = [k for k in range(len(y)) if _add(collector, f"{path}:{k}", y[k], digits[k], partition)]
        images.append(np.ascontiguousarray(x[..., kept].transpose(3, 0, 1, 2)))
    array = np.concatenate(images) if images else np.zeros((0, 32, 32, 3), np.uint8)
    return collector.build(image_size=image_size, channels=channels, source=pipeline.ArraySource(array),
                           default_split={"by": "image", "fractions": {"train": 0.8, "test": 0.2}},
                           expected=EXPECTED, info={"extra": extra})


def _load(path):
    """``X`` as uint8 ``[32, 32, 3, N]`` and ``y`` as int64 ``[N]`` from one SVHN file.

    Raises:
        ValueError: the file is not a MATLAB file with such ``X`` and ``y``.
    """
    data = load_mat(path, variable_names=("X", "y"))
    if "X" not in data or "y" not in data:
        raise ValueError(f"no {' or '.join(k for k in ('X', 'y') if k not in data)} variable")
    x, y = np.asarray(data["X"]), np.asarray(data["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise ValueError(f"X of shape {x.shape} and y of {len(y)} labels, expected X [32, 32, 3, N] and N labels")
    if x.dtype != np.uint8:
        raise ValueError(f"X of dtype {x.dtype}, expected uint8")
    return x, y.astype(np.int64)


def _add(collector, where, stored, digit, partition):
    if not 1 <= stored <= 10:
        collector.skip(where, f"label out of range: y={stored}, expected 1..10 (10 for the digit 0)")
        return False
    return collector.add(where, {"label": int(digit)}, partition=partition)


__all__ = ["read_svhn"]
