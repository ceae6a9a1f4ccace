"""FEI Face Database (Centro Universitário da FEI): 200 subjects (100 men, 100 women), in the published archives::

    originalimages_part{1..4}/<subject>-<pose>.jpg      1-01.jpg ... 200-14.jpg   (640x480 colour, 14 poses)
    frontalimages_manuallyaligned_part{1,2}/<subject><a|b>.jpg   1a.jpg 1b.jpg ...  (a neutral, b smiling)

``root`` may hold either set, at any depth; other image files are skipped and reported. Labels:
``identity`` (200 classes, the subject numbers) always;
``smile`` (neutral/smiling) for the frontal set; ``gender`` when ``labels_file`` is given, because FEI
publishes no per-image gender file: the paper sorted images by hand into a JSON mapping. ``labels_file`` is a
JSON object ``{"<subject>": "male" | "female"}`` or a CSV with columns ``subject,gender`` (m/f/male/female).
Subjects missing from it are skipped and reported.

Protocol: none is published. The CAM paper (``000_f74c9bd062c0cb9b.txt``) held out 30% of *images*, which
puts every person in both parts; here the default is a subject-disjoint 70/30 split, and ``by="image"``
reproduces the paper (required for the identity task). Defaults: 112x112 RGB.
"""

import csv
import json
import pathlib
import re

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    is_image_name,
    list_files,
    require_dir,
)

ORIGINAL = re.compile(r"^(\d+)-(\d+)\.jpe?g$", re.IGNORECASE)
FRONTAL = re.compile(r"^(\d+)([ab])\.jpe?g$", re.IGNORECASE)
GENDERS = ("female", "male")
EXPECTED = "FEI images <subject>-<pose>.jpg (originalimages_part*) or <subject>a.jpg/<subject>b.jpg (frontal)"


def read_gender_file(path):
    """``{subject id: 0 female | 1 male}`` from a JSON or CSV gender file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"FEI gender labels_file {path} does not exist; expected a JSON "
                                 f"{{subject: gender}} or a CSV with columns subject,gender")
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text())
    else:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and not {"subject", "gender"} <= set(rows[0]):
            raise DatasetLayoutError(f"{path}: columns {list(rows[0])}; expected subject,gender")
        raw = {r["subject"]: r["gender"] for r in rows}
    out = {}
    for subject, gender in raw.items():
        g = str(gender).strip().lower()
        g = {"m": "male", "f": "female"}.get(g, g)
        out[str(int(subject))] = GENDERS.index(g) if g in GENDERS else -1
    return out


def read_fei(root, *, labels_file=None, images="auto", image_size=(112, 112), channels=3, report=None):
    """Read FEI; ``images`` is ``"original"``, ``"frontal"`` or ``"auto"`` (original when present)."""
    root = require_dir(root, EXPECTED)
    files = [f for f in list_files(root, recursive=True) if is_image_name(f)]
    original = [f for f in files if ORIGINAL.match(f.name)]
    frontal = [f for f in files if FRONTAL.match(f.name)]
    if images == "auto":
        images = "original" if original else "frontal"
    chosen, pattern = (original, ORIGINAL) if images == "original" else (frontal, FRONTAL)
    if not chosen:
        raise DatasetLayoutError(f"{root}: no FEI {images} images found; expected {EXPECTED}")
    subjects = sorted({str(int(pattern.match(f.name).group(1))) for f in chosen}, key=int)
    genders = read_gender_file(labels_file) if labels_file is not None else None
    tasks = [Task("identity", "class", tuple(subjects))]
    if images == "frontal":
        tasks.append(Task("smile", "class", ("neutral", "smiling")))
    if genders is not None:
        tasks.append(Task("gender", "class", GENDERS))
    collector = Collector("fei", root, tasks, report)
    for f in files:
        if not (ORIGINAL.match(f.name) or FRONTAL.match(f.name)):
            collector.skip(f, "file name is neither <subject>-<pose>.jpg nor <subject>a|b.jpg")
    index = {s: i for i, s in enumerate(subjects)}
    for f in chosen:
        m = pattern.match(f.name)
        subject = str(int(m.group(1)))
        labels = {"identity": index[subject]}
        if images == "frontal":
            labels["smile"] = int(m.group(2).lower() == "b")
        if genders is not None:
            if subject not in genders:
                collector.skip(f, f"no gender label for subject {subject} in {labels_file}")
                continue
            labels["gender"] = genders[subject]
        collector.add(f, labels, subject=subject)
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "subject", "fractions": {"train": 0.7, "test": 0.3}},
                           info={"images": images})
