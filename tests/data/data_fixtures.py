"""Writers of tiny face-dataset fixtures in the publishers' layouts, for the data tests.

Every image is filled with a grey level that encodes its label (:func:`level`), so a test can check that
images and labels stay paired through decoding, caching, shuffling and batching.
"""

import pathlib

import numpy as np
from PIL import Image


def level(label):
    """The grey level that encodes ``label`` (distinct after JPEG compression and resizing)."""
    return 20 + 30 * int(label)


def label_of(image):
    """Recover the label from an image written with :func:`write_image` (any size, 1 or 3 channels)."""
    return round((float(np.mean(image)) - 20) / 30)


def write_image(path, label=0, size=(32, 32), mode="RGB", fmt=None):
    """Write a flat image whose grey level encodes ``label``; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    value = level(label)
    arr = np.full((size[0], size[1], 3) if mode == "RGB" else size, value, np.uint8)
    Image.fromarray(arr, mode if mode != "RGB" else None).save(path, format=fmt)
    return path


def write_corrupt_jpeg(path):
    """A JPEG cut off half-way (truncated), which decoders reject."""
    path = pathlib.Path(path)
    write_image(path, 1, size=(64, 64), fmt="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_not_an_image(path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not an image\n")
    return path
