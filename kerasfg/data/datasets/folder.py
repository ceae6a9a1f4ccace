"""Generic folder-per-class reader.

Layout (``image_dataset_from_directory`` style)::

    root/<class>/<image>                  # no published split
    root/{train,val,test}/<class>/<image> # a published split (also: training, valid, validation, testing)

Class names are the folder names, sorted (or given). Every file inside a class folder is an item: one whose
extension is not an image's is skipped as "not an image file", one that does not decode is skipped at
validation. Files directly in ``root`` (a README) are not items and are ignored.
"""

import pathlib

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    is_image_name,
    list_files,
    require_dir,
)

SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}
EXPECTED = "root/<class>/<image files>, or root/{train,val,test}/<class>/<image files>"


def class_folders(root):
    """The split folders (``{split: path}``) under ``root``, or ``{None: root}`` when there are none."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise DatasetLayoutError(f"{root}: has no sub-folders; expected {EXPECTED}")
    splits = {SPLIT_FOLDERS[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_FOLDERS}
    if splits and len(splits) != len(subdirs):
        other = [p.name for p in subdirs if p.name.lower() not in SPLIT_FOLDERS]
        raise DatasetLayoutError(f"{root}: mixes split folders {sorted(splits)} with other folders {other}; "
                                 f"expected {EXPECTED}")
    return splits or {None: root}


def collect_folder(root, name, task, class_names=None, aliases=None, report=None):
    """Walk a folder-per-class tree into a :class:`Collector` (shared by the FER2013 folder reader).

    ``aliases`` maps lower-case folder names to class names (``{"anger": "angry"}``); class folders whose
    name maps to no class are a layout error naming the expected classes.
    """
    root = require_dir(root, EXPECTED)
    splits = class_folders(root)
    folders = {s: sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
               for s, d in splits.items()}
    if class_names is None:
        class_names = sorted({p.name for ps in folders.values() for p in ps})
    collector = Collector(name, root, [Task(task, "class", tuple(class_names))], report)
    for split, dirs in folders.items():
        if not dirs:
            raise DatasetLayoutError(f"{splits[split]}: has no class folders; expected {EXPECTED}")
        add_class_folders(collector, dirs, task, aliases, partition=split)
    return collector


def add_class_folders(collector, folders, task, aliases=None, partition=None, recursive=True):
    """Add every file of each class folder to ``collector``, labelled with the folder's class.

    Files whose extension is not an image's are skipped as "not an image file"; a folder whose name is not
    a class of ``task`` (or an alias of one) is a layout error naming the expected classes.
    """
    class_names = collector.tasks[task].class_names
    lookup = {n.lower(): i for i, n in enumerate(class_names)}
    for alias, target in (aliases or {}).items():
        lookup[alias.lower()] = class_names.index(target)
    for d in folders:
        if d.name.lower() not in lookup:
            raise DatasetLayoutError(f"{d}: class folder {d.name!r} is not one of the expected classes "
                                     f"{list(class_names)[:20]}")
        label = lookup[d.name.lower()]
        for f in list_files(d, recursive=recursive):
            if not is_image_name(f):
                collector.skip(f, f"not an image file (extension {pathlib.Path(f).suffix or 'none'!r})")
                continue
            collector.add(f, {task: label}, partition=partition)


def read_folder(root, *, task="label", class_names=None, image_size=(112, 112), channels=3, report=None):
    """Read a folder-per-class dataset; see the module docstring for the layout.

    Args:
        root: the dataset folder.
        task: the name of the label in the labels dict.
        class_names: the classes in label order; default: the sorted folder names.
        image_size: ``(height, width)`` to resize to, or ``None``.
        channels: 1 (grayscale) or 3 (RGB).
    """
    collector = collect_folder(root, "folder", task, class_names, report=report)
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED)
