"""FER2013 (Goodfellow et al., ICML 2013 challenge), in both distributed forms.

**CSV** (Kaggle challenge ``fer2013.csv``, also inside ``fer2013.tar.gz``)::

    emotion,pixels,Usage
    0,70 80 82 72 58 ... (2304 = 48x48 grey values, space-separated),Training

``emotion``: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral; ``Usage``: ``Training``
(28,709), ``PublicTest`` (3,589), ``PrivateTest`` (3,589). ``root`` is the CSV or a folder holding
``fer2013.csv`` (or ``fer2013/fer2013.csv``).

**Folders** (Kaggle "msambare/fer2013", the form the FER paper's code uses)::

    root/train/{angry,disgust,fear,happy,neutral,sad,surprise}/*.jpg   # 28,709
    root/test/{...}/*.jpg                                              # 7,178 = PublicTest + PrivateTest

Labels use the shared alphabetical 7-class space :data:`kerasfg.data.EXPRESSIONS` in both forms, so the same
image has the same label whichever form it comes from. Protocols: ``protocol="kaggle"`` (default; the
paper's: train = Training, test = PublicTest + PrivateTest) or ``"icml"`` (train = Training, val = PublicTest,
test = PrivateTest). Defaults: 48x48 grayscale.
"""

import csv
import pathlib
import warnings

import numpy as np

from kerasfg.data import pipeline
from kerasfg.data.labels import EXPRESSIONS
from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task
from kerasfg.data.datasets.folder import collect_folder

FER_CODES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGES = {"kaggle": {"Training": "train", "PublicTest": "test", "PrivateTest": "test"},
          "icml": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}
CSV_EXPECTED = "fer2013.csv with the header emotion,pixels,Usage (or a folder holding it)"
FOLDER_EXPECTED = "root/{train,test}/{angry,disgust,fear,happy,neutral,sad,surprise}/*.jpg"
PIXELS = 48 * 48


def find_csv(root):
    root = pathlib.Path(root)
    if root.is_file():
        return root
    for rel in ("fer2013.csv", "fer2013/fer2013.csv"):
        if (root / rel).is_file():
            return root / rel
    return None


def parse_pixels(text):
    """Space-separated integers -> int64 array; raises ValueError on anything else (5x faster than split)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # NumPy < 2.3 only warns on unparsable text
        return np.fromstring(text, dtype=np.int64, sep=" ")


def read_fer2013(root, *, protocol="kaggle", image_size=(48, 48), channels=1, report=None):
    """FER2013 from the CSV or the folder layout, whichever ``root`` holds (the CSV first)."""
    if find_csv(root) is not None:
        return read_fer2013_csv(root, protocol=protocol, image_size=image_size, channels=channels,
                                report=report)
    root = pathlib.Path(root)
    if root.is_dir() and any((root / s).is_dir() for s in ("train", "test")):
        return read_fer2013_folders(root, image_size=image_size, channels=channels, report=report)
    raise DatasetLayoutError(f"{root}: not a FER2013 root; expected {CSV_EXPECTED}, or {FOLDER_EXPECTED}")


def read_fer2013_csv(root, *, protocol="kaggle", image_size=(48, 48), channels=1, report=None):
    """FER2013 from ``fer2013.csv``; rows with a bad label, pixel count or Usage are skipped and reported."""
    path = find_csv(root)
    if path is None:
        raise DatasetLayoutError(f"{root}: no FER2013 CSV; expected {CSV_EXPECTED}")
    if protocol not in USAGES:
        raise ValueError(f"protocol must be one of {sorted(USAGES)}, got {protocol!r}")
    usage_map = USAGES[protocol]
    code_to_label = [EXPRESSIONS.index(n) for n in FER_CODES]
    collector = Collector("fer2013", path, [Task("expression", "class", EXPRESSIONS)], report)
    images = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if not {"emotion", "pixels"} <= set(header):
            raise DatasetLayoutError(f"{path}: header is {header}; expected {CSV_EXPECTED}")
        col = {h: i for i, h in enumerate(header)}
        for lineno, row in enumerate(reader, start=2):
            where = f"{path}:{lineno}"
            if len(row) != len(header):
                collector.skip(where, f"malformed row: {len(row)} fields, expected {len(header)}")
                continue
            try:
                code = int(row[col["emotion"]])
                pixels = parse_pixels(row[col["pixels"]])
            except (ValueError, DeprecationWarning):
                collector.skip(where, "unparsable row: emotion and pixels must be integers")
                continue
            if pixels.size != PIXELS:
                collector.skip(where, f"wrong pixel count: {pixels.size}, expected {PIXELS} (48x48)")
                continue
            if pixels.min() < 0 or pixels.max() > 255:
                collector.skip(where, "pixel values outside 0..255")
                continue
            usage = row[col["Usage"]].strip() if "Usage" in col else "Training"
            if usage not in usage_map:
                collector.skip(where, f"unknown Usage {usage!r}, expected one of {sorted(usage_map)}")
                continue
            if not 0 <= code < len(FER_CODES):
                collector.skip(where, f"label out of range: emotion={code}, expected 0..{len(FER_CODES) - 1}")
                continue
            if collector.add(where, {"expression": code_to_label[code]}, partition=usage_map[usage]):
                images.append(pixels.astype(np.uint8).reshape(48, 48, 1))
    array = np.stack(images) if images else np.zeros((0, 48, 48, 1), np.uint8)
    return collector.build(image_size=image_size, channels=channels, source=pipeline.ArraySource(array),
                           expected=CSV_EXPECTED, info={"protocol": protocol})


def read_fer2013_folders(root, *, image_size=(48, 48), channels=1, report=None):
    """FER2013 from the Kaggle ``train/`` and ``test/`` class folders."""
    collector = collect_folder(root, "fer2013", "expression", EXPRESSIONS, report=report)
    collector.name = "fer2013"
    return collector.build(image_size=image_size, channels=channels, expected=FOLDER_EXPECTED,
                           info={"protocol": "kaggle"})
