"""ImageNet (ILSVRC 2012 classification), the training folders per synset and the validation set in any of its
published forms::

    root/train/n01440764/n01440764_10026.JPEG ...     # 1,281,167 images, one folder per synset (WordNet ID)
    root/val/n01440764/ILSVRC2012_val_00000293.JPEG   # 50,000: folders per synset (as prepared by most scripts),
    root/val/ILSVRC2012_val_00000001.JPEG ...         # or flat, labelled by one of
        root/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt  (one ILSVRC2012_ID per line)
            and .../data/meta.mat (the synsets: ILSVRC2012_ID -> WNID), from ILSVRC2012_devkit_t12.tar.gz
        root/LOC_val_solution.csv                     ("ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...")

The Kaggle copy's layout (``root/ILSVRC/Data/CLS-LOC/{train,val}`` with ``LOC_val_solution.csv`` and
``LOC_synset_mapping.txt`` in ``root``) is read as well; the devkit files may also sit directly in ``root``.
Task: ``label``, the 1,000 synsets in sorted WordNet-ID order (the order of Keras' and torchvision's folder
readers), with the WordNet ID as class name; ``info["class_descriptions"]`` holds their words when
``LOC_synset_mapping.txt``, ``synset_words.txt`` or ``meta.mat`` is there. Protocol: ``split="train"`` /
``"val"`` (the validation set is the usual test set: set ``test_split: val`` in a config). Validation images
without a ground-truth entry, entries whose image is missing, and files that are not images are skipped and
reported; corrupt images are skipped when the images are validated (decoding all 1.3 million takes a while:
``validate=False`` skips that pass, or write TFRecords once with ``FaceDataset.write_tfrecords``).
Defaults: 224x224 RGB.
"""

import csv
import re

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    is_image_name,
    list_files,
    load_mat,
    require_dir,
)
from kerasfg.data.datasets.folder import add_class_folders

WNID = re.compile(r"n\d{8}")
EXPECTED = ("train/<WordNet ID>/*.JPEG and val/ (folders per WordNet ID, or flat with "
            "ILSVRC2012_validation_ground_truth.txt + meta.mat of the devkit, or LOC_val_solution.csv)")
DEVKIT = ("ILSVRC2012_devkit_t12/data", "ILSVRC2012_devkit_t12", "")
DESCRIPTIONS = ("LOC_synset_mapping.txt", "synset_words.txt")


def read_imagenet(root, *, image_size=(224, 224), channels=3, report=None):
    """Read ILSVRC 2012; see the module docstring."""
    root = require_dir(root, EXPECTED)
    data = root / "ILSVRC" / "Data" / "CLS-LOC"  # the Kaggle copy
    data = data if data.is_dir() else root
    train = data / "train"
    if not train.is_dir():
        raise DatasetLayoutError(f"{root}: no train/ folder (looked in {train}); expected {EXPECTED}")
    folders = sorted(p for p in train.iterdir() if p.is_dir() and not p.name.startswith("."))
    strays = [p.name for p in folders if not WNID.fullmatch(p.name)]
    if not folders or strays:
        found = f"folders that are not WordNet IDs: {strays[:5]}" if strays else "no synset folders"
        raise DatasetLayoutError(f"{train}: {found}; expected {EXPECTED}")
    classes = tuple(p.name for p in folders)
    collector = Collector("imagenet", root, [Task("label", "class", classes)], report)
    add_class_folders(collector, folders, "label", partition="train", recursive=False)
    _add_validation(collector, root, data / "val", classes)
    descriptions = _descriptions(root, classes)
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           default_split={"by": "image", "fractions": {"train": 0.9, "val": 0.1}},
                           info={"class_descriptions": descriptions} if descriptions else None)


def _add_validation(collector, root, val, classes):
    if not val.is_dir():
        collector.report.note(f"{val} not found: the training images only")
        return
    folders = sorted(p for p in val.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders:
        add_class_folders(collector, folders, "label", partition="val", recursive=False)
        return
    truth, source = _ground_truth(root, classes)
    index = {wnid: i for i, wnid in enumerate(classes)}
    listed = set()
    for path in list_files(val):
        if not is_image_name(path):
            collector.skip(path, f"not an image file (extension {path.suffix or 'none'!r})")
            continue
        wnid = truth.get(path.stem)
        if wnid is None:
            collector.skip(path, f"no entry for the image in {source}")
            continue
        listed.add(path.stem)
        if wnid not in index:
            collector.skip(path, f"label out of range: {source} gives {wnid}, which has no folder in train/")
            continue
        collector.add(path, {"label": index[wnid]}, partition="val")
    for stem in sorted(set(truth) - listed):
        collector.skip(val / f"{stem}.JPEG", f"listed in {source} but not found in {val}")


def _ground_truth(root, classes):
    """``{image stem: WordNet ID}`` of the flat validation folder, and the file it comes from."""
    for folder in DEVKIT:
        labels, meta = root / folder / "ILSVRC2012_validation_ground_truth.txt", root / folder / "meta.mat"
        if labels.is_file():
            if not meta.is_file():
                raise DatasetLayoutError(f"{labels.parent}: ILSVRC2012_validation_ground_truth.txt without "
                                         f"meta.mat, which maps its ILSVRC2012_IDs to WordNet IDs; expected {EXPECTED}")
            wnids = _meta_wnids(meta)
            truth = {}
            for line_number, line in enumerate(labels.read_text().split(), start=1):
                truth[f"ILSVRC2012_val_{line_number:08d}"] = wnids.get(int(line), f"ILSVRC2012_ID {line}")
            return truth, labels
    solution = root / "LOC_val_solution.csv"
    if solution.is_file():
        with open(solution, newline="") as f:
            rows = list(csv.reader(f))
        return {row[0]: row[1].split()[0] for row in rows[1:] if len(row) >= 2 and row[1].split()}, solution
    raise DatasetLayoutError(f"{root}: the val/ folder is flat, and neither ILSVRC2012_validation_ground_truth.txt "
                             f"(with meta.mat) nor LOC_val_solution.csv labels it; expected {EXPECTED}")


def _meta_wnids(path):
    """``{ILSVRC2012_ID: WordNet ID}`` of the devkit's ``meta.mat``."""
    return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in _meta_synsets(path)}


def _meta_synsets(path):
    try:
        synsets = load_mat(path, squeeze_me=True)["synsets"]
    except (KeyError, ValueError) as error:
        raise DatasetLayoutError(f"{path}: not the devkit's meta.mat with a synsets table ({error}); "
                                 f"expected {EXPECTED}") from error
    return list(synsets.reshape(-1))


def _descriptions(root, classes):
    """``{WordNet ID: words}`` from a synset mapping file or the devkit's ``meta.mat``, or ``{}``."""
    for name in DESCRIPTIONS:
        path = root / name
        if path.is_file():
            pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())
            words = {pair[0]: pair[1].strip() if len(pair) > 1 else "" for pair in pairs}
            return {wnid: words.get(wnid, "") for wnid in classes}
    for folder in DEVKIT:
        meta = root / folder / "meta.mat"
        if meta.is_file():
            words = {str(s["WNID"]): str(s["words"]) for s in _meta_synsets(meta)}
            return {wnid: words.get(wnid, "") for wnid in classes}
    return {}


__all__ = ["read_imagenet"]
