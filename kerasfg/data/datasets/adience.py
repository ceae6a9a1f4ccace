"""Adience (Eidinger, Enbar, Hassner 2014), as distributed for the age/gender benchmark::

    root/fold_0_data.txt ... fold_4_data.txt    tab-separated, header:
        user_id  original_image  face_id  age  gender  x  y  dx  dy  tilt_ang  fiducial_yaw_angle  fiducial_score
    root/aligned/<user_id>/landmark_aligned_face.<face_id>.<original_image>     (aligned.tar.gz, default)
    root/faces/<user_id>/coarse_tilt_aligned_face.<face_id>.<original_image>    (faces.tar.gz)

``age`` is one of the 8 groups ``(0, 2) (4, 6) (8, 12) (15, 20) (25, 32) (38, 43) (48, 53) (60, 100)``;
a few rows carry other ranges or a single number: a number inside a group's range maps to it, anything else
is skipped and reported. ``gender`` is ``m``/``f``; ``u`` or empty is skipped when the gender task is
asked for (``tasks=("age",)`` keeps those rows for age). The group names follow the thesis (8-13 for (8, 12)).

Protocol: the five folds are subject-exclusive (``user_id``); fold ``k`` is the test set and the other four
train (``fold=k``; the score is the mean over k = 0..4). Defaults: 112x112 RGB.
"""

import csv
import re

from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, require_dir

AGE_GROUPS = ((0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100))
AGE_NAMES = ("0-2", "4-6", "8-13", "15-20", "25-32", "38-43", "48-53", "60+")
GENDERS = ("female", "male")
IMAGE_DIRS = {"aligned": "landmark_aligned_face", "faces": "coarse_tilt_aligned_face"}
COLUMNS = ("user_id", "original_image", "face_id", "age", "gender")
EXPECTED = "fold_0_data.txt ... fold_4_data.txt and aligned/<user_id>/landmark_aligned_face.<face_id>.<image>"


def age_group(text):
    """The index of the age group written as ``(a, b)`` or ``n``, or ``None`` if it matches none."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if len(numbers) == 2 and tuple(numbers) in AGE_GROUPS:
        return AGE_GROUPS.index(tuple(numbers))
    if len(numbers) == 1:
        for k, (low, high) in enumerate(AGE_GROUPS):
            if low <= numbers[0] <= high:
                return k
    return None


def read_adience(root, *, image_dir="aligned", tasks=("age", "gender"), image_size=(112, 112), channels=3,
                 report=None):
    """Read Adience; see the module docstring."""
    root = require_dir(root, EXPECTED)
    if image_dir not in IMAGE_DIRS:
        raise ValueError(f"image_dir must be one of {sorted(IMAGE_DIRS)}, got {image_dir!r}")
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    fold_files = [root / f"fold_{k}_data.txt" for k in range(5)]
    missing = [f.name for f in fold_files if not f.is_file()]
    if missing:
        raise DatasetLayoutError(f"{root}: missing Adience fold files {missing}; expected {EXPECTED}")
    if not (root / image_dir).is_dir():
        raise DatasetLayoutError(f"{root}: no {image_dir}/ image folder; expected {EXPECTED}")
    all_tasks = {"age": Task("age", "class", AGE_NAMES), "gender": Task("gender", "class", GENDERS)}
    unknown = set(tasks) - set(all_tasks)
    if unknown:
        raise ValueError(f"Adience tasks are 'age' and 'gender', got {sorted(unknown)}")
    collector = Collector("adience", root, [all_tasks[t] for t in tasks], report)
    prefix = IMAGE_DIRS[image_dir]
    for k, fold_file in enumerate(fold_files):
        with open(fold_file, newline="") as f:
            rows = csv.reader(f, delimiter="\t")
            header = [h.strip() for h in next(rows, [])]
            if not set(COLUMNS) <= set(header):
                raise DatasetLayoutError(f"{fold_file}: header {header}; expected the columns {COLUMNS}")
            col = {h: i for i, h in enumerate(header)}
            for lineno, row in enumerate(rows, start=2):
                where = f"{fold_file}:{lineno}"
                if len(row) < len(COLUMNS):
                    collector.skip(where, f"malformed row: {len(row)} fields")
                    continue
                user, image, face = (row[col[c]].strip() for c in ("user_id", "original_image", "face_id"))
                path = root / image_dir / user / f"{prefix}.{face}.{image}"
                if not path.is_file():
                    collector.skip(path, f"image listed in {fold_file.name} not found")
                    continue
                labels = {}
                if "age" in tasks:
                    labels["age"] = age_group(row[col["age"]])
                    if labels["age"] is None:
                        collector.skip(path, f"age {row[col['age']]!r} is not one of the 8 Adience groups")
                        continue
                if "gender" in tasks:
                    g = row[col["gender"]].strip().lower()
                    if g not in ("m", "f"):
                        collector.skip(path, f"missing gender label ({g or 'empty'!r})")
                        continue
                    labels["gender"] = GENDERS.index("male" if g == "m" else "female")
                collector.add(path, labels, subject=user, partition=f"fold{k}")
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED)
