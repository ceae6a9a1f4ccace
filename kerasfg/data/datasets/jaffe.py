"""JAFFE (Lyons et al. 1998): 213 grayscale 256x256 TIFF images of 10 Japanese women, distributed as one folder::

    root/KA.AN1.39.tiff  KA.AN2.40.tiff ... YM.SU3.60.tiff   (also root/jaffe/...)

The name is ``<subject>.<expression><take>.<image number>.tiff``; expressions AN angry, DI disgust, FE fear,
HA happy, NE neutral, SA sad, SU surprise (the shared 7-class space :data:`kerasfg.data.EXPRESSIONS`).
Subjects: KA, KL, KM, KR, MK, NA, NM, TM, UY, YM. Image files whose name does not follow the pattern are
skipped and reported; other files (README) are ignored. No published split: subject-disjoint by default
(the FER paper used a random 80/20 split of images: ``by="image"``). TIFF is decoded with Pillow.
Defaults: 48x48 grayscale.
"""

import re

from kerasfg.data.labels import EXPRESSIONS
from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    index_of,
    is_image_name,
    list_files,
    require_dir,
)

CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad",
         "SU": "surprise"}
PATTERN = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.(tiff?|png|jpe?g|bmp)$", re.IGNORECASE)
EXPECTED = "JAFFE images named <subject>.<expression><n>.<number>.tiff (e.g. KA.AN1.39.tiff)"


def read_jaffe(root, *, image_size=(48, 48), channels=1, report=None):
    """Read JAFFE; see the module docstring."""
    root = require_dir(root, EXPECTED)
    if (root / "jaffe").is_dir():
        root = root / "jaffe"
    files = [f for f in list_files(root) if is_image_name(f)]
    if not any(PATTERN.match(f.name) for f in files):
        raise DatasetLayoutError(f"{root}: no JAFFE image found; expected {EXPECTED}")
    lookup = index_of(EXPRESSIONS)
    collector = Collector("jaffe", root, [Task("expression", "class", EXPRESSIONS)], report)
    for f in files:
        m = PATTERN.match(f.name)
        if m is None:
            collector.skip(f, "file name does not follow <subject>.<expression><n>.<number>.tiff")
            continue
        code = m.group(2).upper()
        if code not in CODES:
            collector.skip(f, f"label out of range: expression code {code!r}, expected one of {sorted(CODES)}")
            continue
        collector.add(f, {"expression": lookup[CODES[code]]}, subject=m.group(1).upper())
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "subject", "fractions": {"train": 0.8, "test": 0.2}})
