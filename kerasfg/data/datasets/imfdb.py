"""IMFDB (Indian Movie Face Database, Setty et al. 2013): 34,512 tightly cropped faces of 100 actors::

    root/<Actor>/<Movie>/images/<image>.jpg
    root/<Actor>/<Movie>/<Movie>.txt          one whitespace-separated annotation line per image

In the annotation lines the image name is field 2 and the expression field 11 (0-based, as the IMFDB paper's
code reads them, ``line.split()[2]`` / ``[11]``; ``name_field``/``expression_field`` change them). Expressions
NEUTRAL, ANGER, HAPPINESS, SADNESS, SURPRISE, FEAR, DISGUST map to :data:`kerasfg.data.EXPRESSIONS`.
Reported skips, as in the paper's cleaning: lines with a missing or unknown expression, malformed lines,
annotated images that are missing, images with no annotation line, and every image of a movie folder without
an annotation file. The paper kept 30,091 images of 98 actors.

Labels: ``identity`` (actors, sorted) and ``expression``. Protocol: a random 70/20/10 split of images
(identities are the label, so they are shared by the parts): the default here, ``by="image"`` with a seed.
Defaults: 112x112 RGB.
"""

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

CODES = {"NEUTRAL": "neutral", "ANGER": "angry", "HAPPINESS": "happy", "SADNESS": "sad",
         "SURPRISE": "surprise", "FEAR": "fear", "DISGUST": "disgust"}
EXPECTED = "root/<actor>/<movie>/images/*.jpg with root/<actor>/<movie>/<movie>.txt annotation files"


def read_imfdb(root, *, name_field=2, expression_field=11, image_size=(112, 112), channels=3, report=None):
    """Read IMFDB; see the module docstring."""
    root = require_dir(root, EXPECTED)
    movies = sorted(m for a in root.iterdir() if a.is_dir() for m in a.iterdir() if (m / "images").is_dir())
    if not movies:
        raise DatasetLayoutError(f"{root}: no <actor>/<movie>/images folder found; expected {EXPECTED}")
    actors = tuple(sorted({m.parent.name for m in movies}))
    collector = Collector("imfdb", root, [Task("identity", "class", actors),
                                          Task("expression", "class", EXPRESSIONS)], report)
    actor_index, expr_index = index_of(actors), index_of(EXPRESSIONS)
    for movie in movies:
        images = {f.name: f for f in list_files(movie / "images") if is_image_name(f)}
        notes = [f for f in list_files(movie) if f.suffix.lower() == ".txt"]
        if not notes:
            for f in images.values():
                collector.skip(f, f"missing annotation file ({movie.name}.txt in {movie})")
            continue
        note = next((f for f in notes if f.stem == movie.name), notes[0])
        annotated = set()
        for lineno, line in enumerate(note.read_text(errors="replace").splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{note}:{lineno}"
            if len(fields) <= max(name_field, expression_field):
                name = fields[name_field] if len(fields) > name_field else None
                if name in images:
                    annotated.add(name)
                    where = images[name]
                collector.skip(where, f"malformed annotation line: {len(fields)} fields, no expression field")
                continue
            name, code = fields[name_field], fields[expression_field].upper()
            if name not in images:
                collector.skip(where, f"image listed in annotation file not found: {name}")
                continue
            if name in annotated:
                collector.skip(where, f"duplicate annotation line for {name}")
                continue
            annotated.add(name)
            if code not in CODES:
                collector.skip(images[name], f"missing or unknown expression label {code!r}")
                continue
            collector.add(images[name], {"identity": actor_index[movie.parent.name],
                                         "expression": expr_index[CODES[code]]}, subject=movie.parent.name)
        for name in sorted(set(images) - annotated):
            collector.skip(images[name], f"no annotation line for the image in {note.name}")
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "image", "fractions": {"train": 0.7, "val": 0.2, "test": 0.1}})
