"""CompCars (Yang et al., CVPR 2015), the web-nature images and their classification split::

    root/data/image/<make id>/<model id>/<year>/<image>.jpg
    root/data/train_test_split/classification/train.txt   # "78/1/2014/3ac218c0c6c378.jpg" per line,
    root/data/train_test_split/classification/test.txt    #  relative to data/image/
    root/data/misc/make_model_name.mat                    # make_names, model_names (optional: class names)

``root`` may also be the ``data`` folder itself. Tasks: ``model`` (the car models of the split) and ``make``
(their makers), indexed in the order of their numeric ids; the class names come from ``make_model_name.mat``
when it is there (otherwise the ids). Protocol: the published split, ``split="train"`` / ``"test"``. Images
are used whole: the bounding boxes of ``data/label/`` are not applied. Lines that are not
``make/model/year/file``, listed images that are missing, and files that are not images are skipped and
reported; corrupt images are skipped when the images are validated. Defaults: 224x224 RGB (ABN uses 323x224).
"""

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    is_image_name,
    load_mat,
    require_dir,
)

SPLITS = ("train", "test")
EXPECTED = ("data/image/<make>/<model>/<year>/*.jpg with data/train_test_split/classification/{train,test}.txt "
            "(optionally data/misc/make_model_name.mat)")


def read_compcars(root, *, image_size=(224, 224), channels=3, report=None):
    """Read CompCars' classification split; see the module docstring."""
    root = require_dir(root, EXPECTED)
    data = root / "data" if (root / "data").is_dir() else root
    images = data / "image"
    lists = {split: data / "train_test_split" / "classification" / f"{split}.txt" for split in SPLITS}
    missing = [str(p) for p in (images, *lists.values()) if not p.exists()]
    if missing:
        raise DatasetLayoutError(f"{root}: missing {', '.join(missing)}; expected {EXPECTED}")
    entries = []  # (where, relative path, make id, model id, split)
    for split, path in lists.items():
        for line_number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                entries.append((f"{path}:{line_number}", line.strip(), split))
    parsed = [(where, rel, split, _ids(rel)) for where, rel, split in entries]
    makes = sorted({ids[0] for *_, ids in parsed if ids})
    models = sorted({ids[1] for *_, ids in parsed if ids})
    make_names, model_names = _names(data / "misc" / "make_model_name.mat")
    tasks = [Task("model", "class", _class_names(models, model_names)),
             Task("make", "class", _class_names(makes, make_names))]
    collector = Collector("compcars", root, tasks, report)
    make_index, model_index = {m: i for i, m in enumerate(makes)}, {m: i for i, m in enumerate(models)}
    for where, rel, split, ids in parsed:
        if ids is None:
            collector.skip(where, f"malformed line {rel!r}: expected <make>/<model>/<year>/<image>.jpg")
            continue
        path = images / rel
        if not is_image_name(path):
            collector.skip(where, f"not an image file (extension {path.suffix or 'none'!r})")
            continue
        if not path.is_file():
            collector.skip(path, f"image listed in {split}.txt not found")
            continue
        collector.add(path, {"model": model_index[ids[1]], "make": make_index[ids[0]]}, partition=split)
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "image", "fractions": {"train": 0.7, "test": 0.3}})


def _ids(relative):
    """``(make id, model id)`` of a split-file line ``make/model/year/file``, or ``None``."""
    parts = relative.split("/")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def _names(path):
    """``(make names, model names)`` by 1-based id from ``make_model_name.mat``, or two empty dicts."""
    if not path.is_file():
        return {}, {}
    try:
        mat = load_mat(path, squeeze_me=True)
        return tuple({i + 1: _text(v) for i, v in enumerate(mat[key].reshape(-1))}
                     for key in ("make_names", "model_names"))
    except (KeyError, ValueError) as error:
        raise DatasetLayoutError(f"{path}: not CompCars' make_model_name.mat with make_names and model_names "
                                 f"({error}); expected {EXPECTED}") from error


def _text(value):
    """A MATLAB cell entry as a string ('' for an empty cell)."""
    return "" if getattr(value, "size", 1) == 0 else str(value).strip()


def _class_names(ids, names):
    """One unique class name per id: its name (with the id when names repeat or are empty), else the id."""
    chosen = [names.get(i) or str(i) for i in ids]
    repeated = {n for n in chosen if chosen.count(n) > 1}
    return tuple(f"{n} ({i})" if n in repeated else n for n, i in zip(chosen, ids))


__all__ = ["read_compcars"]
