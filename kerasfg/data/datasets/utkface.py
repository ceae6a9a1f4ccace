"""UTKFace (Zhang, Song, Qi 2017): 23,708 faces, labels in the file names::

    root/[age]_[gender]_[race]_[date&time].jpg             (UTKFace.tar.gz: 200x200 aligned and cropped)
    root/[age]_[gender]_[race]_[date&time].jpg.chip.jpg    (the "in the wild" crop_part1 naming)

``age`` 0..116 (a ``regression`` task, in years), ``gender`` 0 male / 1 female, ``race`` 0 White, 1 Black,
2 Asian, 3 Indian, 4 Others. A few published files lack a field (e.g. ``39_1_20170116174525125.jpg.chip.jpg``):
they are skipped and reported. There are no subject ids, so splits are per image (seeded 70/10/20).
Defaults: 112x112 RGB.
"""

import re

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    is_image_name,
    list_files,
    require_dir,
)

NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)")
GENDERS = ("male", "female")
RACES = ("white", "black", "asian", "indian", "others")
EXPECTED = "UTKFace images named <age>_<gender>_<race>_<datetime>.jpg[.chip.jpg]"


def read_utkface(root, *, max_age=116, image_size=(112, 112), channels=3, report=None):
    """Read UTKFace; see the module docstring."""
    root = require_dir(root, EXPECTED)
    if (root / "UTKFace").is_dir():
        root = root / "UTKFace"
    files = [f for f in list_files(root, recursive=True) if is_image_name(f)]
    if not any(NAME.match(f.name) for f in files):
        raise DatasetLayoutError(f"{root}: no UTKFace image found; expected {EXPECTED}")
    collector = Collector("utkface", root, [Task("age", "regression"), Task("gender", "class", GENDERS),
                                            Task("race", "class", RACES)], report)
    for f in files:
        m = NAME.match(f.name)
        if m is None:
            collector.skip(f, "file name does not match <age>_<gender>_<race>_<datetime>")
            continue
        age, gender, race = (int(m.group(i)) for i in (1, 2, 3))
        if age > max_age:
            collector.skip(f, f"label out of range: age={age}, expected 0..{max_age}")
            continue
        collector.add(f, {"age": age, "gender": gender, "race": race})
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "image", "fractions": {"train": 0.7, "val": 0.1, "test": 0.2}})
