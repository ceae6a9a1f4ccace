"""MORPH-style CSV manifests (MORPH Album 2 as distributed by UNCW, and the CSVs that mimic it)::

    id_num,picture_num,dob,doa,race,gender,facial_hair,age,age_diff,glasses,photo
    000001,0,05/12/1960,01/12/2003,B,M,0,42,0,0,Album2/000001_00M42.JPG

``root`` is the CSV or a folder with one ``*.csv``; ``photo`` paths are relative to the CSV's folder (or to
``image_root``). Labels: ``age`` (years, a regression task), ``gender`` (F/M), ``race`` (A Asian, B Black,
H Hispanic, I Indian, O Other, W White). Column names are parameters for CSVs that name them differently.
``age_range=(16, 77)`` restricts to the thesis's subset; rows outside are skipped and reported.
Protocol: a subject-disjoint (``id_num``) seeded 80/20 train/test split, the thesis's proportions. To use
a published split instead (the 5,474-image, 16-77 subset of Chang et al. that DEX and the thesis use,
Table 3.4), pass ``split_file``: lines ``<photo>,<part>`` (or separated by whitespace) with the ``photo``
column's value and ``train``/``test``; photos the file does not list are skipped and reported.
Defaults: 112x112 RGB.
"""

import csv
import pathlib

from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, require_dir

GENDERS = ("female", "male")
RACES = ("asian", "black", "hispanic", "indian", "other", "white")
EXPECTED = "a MORPH CSV with columns id_num, age, gender, race, photo (paths relative to the CSV)"


def read_morph(root, *, path_column="photo", subject_column="id_num", age_column="age",
               gender_column="gender", race_column="race", image_root=None, age_range=None, split_file=None,
               image_size=(112, 112), channels=3, report=None):
    """Read a MORPH-style CSV; see the module docstring."""
    parts = None if split_file is None else _read_split_file(split_file)
    root = pathlib.Path(root)
    if root.is_dir():
        csvs = sorted(root.glob("*.csv"))
        if len(csvs) != 1:
            raise DatasetLayoutError(f"{root}: found {len(csvs)} CSV files; expected exactly one: {EXPECTED}")
        root = csvs[0]
    elif not root.is_file():
        require_dir(root, EXPECTED)
    base = pathlib.Path(image_root) if image_root else root.parent
    with open(root, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [path_column, subject_column, age_column, gender_column, race_column]
    if not rows or not set(columns) <= set(rows[0]):
        raise DatasetLayoutError(f"{root}: columns {list(rows[0]) if rows else []}; expected {columns}")
    collector = Collector("morph", root, [Task("age", "regression"), Task("gender", "class", GENDERS),
                                          Task("race", "class", RACES)], report)
    race_codes = {r[0].upper(): i for i, r in enumerate(RACES)}
    for lineno, row in enumerate(rows, start=2):
        where = f"{root}:{lineno}"
        path = base / row[path_column]
        try:
            age = int(float(row[age_column]))
        except ValueError:
            collector.skip(where, f"unparsable age {row[age_column]!r}")
            continue
        if age_range is not None and not age_range[0] <= age <= age_range[1]:
            collector.skip(path, f"age {age} outside age_range {tuple(age_range)}")
            continue
        if age < 0:
            collector.skip(path, f"label out of range: age={age}")
            continue
        gender = {"F": 0, "M": 1}.get(row[gender_column].strip().upper()[:1], -1)
        race = race_codes.get(row[race_column].strip().upper()[:1], -1)
        if parts is not None and row[path_column] not in parts:
            collector.skip(path, f"not listed in the split file {split_file}")
            continue
        if not path.is_file():
            collector.skip(path, "image listed in the CSV not found")
            continue
        collector.add(path, {"age": age, "gender": gender, "race": race}, subject=row[subject_column],
                      partition=None if parts is None else parts[row[path_column]])
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "subject", "fractions": {"train": 0.8, "test": 0.2}})


def _read_split_file(path):
    """``{photo: part}`` from lines ``<photo>,<part>`` or ``<photo> <part>``."""
    parts = {}
    for lineno, line in enumerate(pathlib.Path(path).read_text().splitlines(), start=1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetLayoutError(f"{path}:{lineno}: expected '<photo>,<part>', got {line.strip()!r}")
        parts[fields[0]] = fields[1]
    return parts
