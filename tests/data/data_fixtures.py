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


# (left eye, right eye, age code, gender code) per face of each photo; the codes as distributed.
IOG_PHOTOS = {
    "Fam2a": {"1006149518_250f8036fc_1438_9284053@N07.jpg": [((40, 50), (60, 52), 28, 2), ((110, 60), (126, 58), 5, 1)],
              "2010_a1b2c3d4e5_2_111@N01.jpg": [((30, 40), (50, 40), 1, 1), ((90, 45), (104, 47), 75, 2)]},
    "Group2a": {"3333_f00dfeed00_3_222@N02.jpg": [((50, 70), (74, 68), 51, 1), ((120, 30), (134, 31), 16, 2),
                                                  ((20, 90), (32, 90), 10, 1)]},
}


def write_iog(root):
    """The Images of Groups layout: folders of group photos (a bright dot on each eye) and PersonData.txt."""
    for folder, photos in IOG_PHOTOS.items():
        rows = []
        for name, faces in photos.items():
            photo = np.full((120, 160, 3), 40, np.uint8)
            for (lx, ly), (rx, ry), _, _ in faces:  # a bright 3x3 dot on each eye
                photo[ly - 1:ly + 2, lx - 1:lx + 2] = 255
                photo[ry - 1:ry + 2, rx - 1:rx + 2] = 255
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo).save(root / folder / name, quality=98)
            rows.append(name)
            rows += [f"{lx}\t{ly}\t{rx}\t{ry}\t{age}\t{gender}" for (lx, ly), (rx, ry), age, gender in faces]
        (root / folder / "PersonData.txt").write_text("\n".join(rows) + "\n")
    return root
