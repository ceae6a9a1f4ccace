"""MNIST (LeCun et al. 1998), the four idx files as distributed, gzipped or not::

    root/train-images-idx3-ubyte[.gz]   # 60,000 training digits, uint8 [N, 28, 28]
    root/train-labels-idx1-ubyte[.gz]   # their labels, uint8 0..9
    root/t10k-images-idx3-ubyte[.gz]    # 10,000 test digits
    root/t10k-labels-idx1-ubyte[.gz]

(``train-images.idx3-ubyte``, with a dot, as some mirrors spell it, is read too.) An idx file is a
big-endian header, the magic number ``0x00000800 | type << 8 | dimensions`` (type ``0x08``: unsigned bytes)
and one 32-bit size per dimension, followed by the values in row-major order. Task: ``label``, the digit
(class names ``"0"`` .. ``"9"``). Protocol: ``split="train"`` / ``"test"``. A part whose files cannot be
read (truncated, another magic number, image and label counts that differ) is skipped and reported as one
item (its digits are missing); labels outside 0..9 are skipped one by one. Defaults: 28x28 grayscale,
kept in memory.
"""

import gzip
import zlib

import numpy as np

from kerasfg.data import pipeline
from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, require_dir
from kerasfg.data.datasets.svhn import DIGITS

PARTS = (("train", "train"), ("t10k", "test"))
EXPECTED = ("MNIST's idx files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte (each may end in .gz)")
_UNSIGNED_BYTE = 0x08


def read_mnist(root, *, image_size=(28, 28), channels=1, report=None):
    """Read MNIST's idx files; see the module docstring.

    Args:
        root: the folder with the four idx files.
        image_size, channels: as every reader (28x28 grayscale by default).
        report: a `kerasfg.data.report.DataReport` to add to, or None for a new one.

    Returns:
        A `FaceDataset` with the task ``label`` and the parts ``train`` and ``test``.

    Raises:
        DatasetLayoutError: ``root`` is not a folder, or one of the four files is not there.

    Example:

    ```python
    mnist = kerasfg.data.load_splits("mnist", "~/data/mnist", ("train", "test"))
    ```
    """
    root = require_dir(root, EXPECTED)
    files = {(prefix, kind): _find(root, prefix, kind) for prefix, _ in PARTS for kind in ("images", "labels")}
    missing = [name for name, path in files.items() if path is None]
    if missing:
        names = ", ".join(f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte[.gz]" for prefix, kind in missing)
        raise DatasetLayoutError(f"{root}: missing {names}; expected {EXPECTED}")
    collector = Collector("mnist", root, [Task("label", "class", DIGITS)], report)
    images = []
    for prefix, partition in PARTS:
        image_path, label_path = files[prefix, "images"], files[prefix, "labels"]
        try:
            x, y = read_idx(image_path, ndim=3), read_idx(label_path, ndim=1)
            if len(x) != len(y):
                raise ValueError(f"{len(x)} images in {image_path.name} but {len(y)} labels in {label_path.name}")
        except ValueError as error:
            collector.skip(image_path, f"unreadable part, its digits are missing: {error}")
            continue
        kept = [k for k in range(len(y)) if collector.add(f"{image_path}:{k}", {"label": int(y[k])},
                                                          partition=partition)]
        images.append(x[kept])
    array = np.concatenate(images) if images else np.zeros((0, 28, 28), np.uint8)
    return collector.build(image_size=image_size, channels=channels, source=pipeline.ArraySource(array[..., None]),
                           default_split={"by": "image", "fractions": {"train": 0.8, "test": 0.2}},
                           expected=EXPECTED)


def read_idx(path, ndim):
    """The unsigned-byte array of ``ndim`` dimensions in the idx file ``path`` (gzipped when it ends in .gz).

    Raises:
        ValueError: the file is not such an idx file (not gzip when named so, another magic number, fewer
            bytes than its header announces), with what was found.
    """
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"not a readable {'gzip ' if path.suffix == '.gz' else ''}file ({error})") from error
    magic = _UNSIGNED_BYTE << 8 | ndim
    if len(data) < 4 + 4 * ndim or int.from_bytes(data[:4], "big") != magic:
        found = f"0x{int.from_bytes(data[:4], 'big'):08x}" if len(data) >= 4 else f"{len(data)} bytes"
        raise ValueError(f"not an idx file of {ndim}-d unsigned bytes: magic number {found}, expected 0x{magic:08x}")
    shape = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{body.size} values after the header, expected {int(np.prod(shape))} for shape {shape}")
    return body.reshape(shape)


def _find(root, prefix, kind):
    """The path of one of the four files under its published names, or None."""
    rank = 3 if kind == "images" else 1
    for name in (f"{prefix}-{kind}-idx{rank}-ubyte", f"{prefix}-{kind}.idx{rank}-ubyte"):
        for candidate in (root / name, root / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


__all__ = ["read_idx", "read_mnist"]
