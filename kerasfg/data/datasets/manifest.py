"""Generic manifest: a CSV or JSON list of image paths with label columns.

CSV::

    path,expression,gender,subject,split
    imgs/a.jpg,happy,female,p01,train

JSON: a list of objects with the same keys, or ``{"items": [...]}``. ``root`` is the manifest file, or a
folder holding one ``manifest.csv`` / ``manifest.json``; relative paths are relative to the manifest's folder.

Every column other than the path, ``subject`` and ``split`` columns is a label (or name them with
``label_columns``). A label's classes are ``class_names[column]`` when given, otherwise its sorted distinct
values; integer labels given with ``class_names`` must be in range. ``regression=("age",)`` keeps a column
as a number. Rows with an empty label, a label not in the classes, or a missing image are skipped and
reported. ``split`` values, when present, are the published protocol. Defaults: 112x112 RGB.
"""

import csv
import json
import pathlib

from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, require_dir

EXPECTED = "a manifest CSV/JSON with a path column and label columns (or a folder with manifest.csv/.json)"


def _load_rows(path):
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        rows = data["items"] if isinstance(data, dict) and "items" in data else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DatasetLayoutError(f"{path}: expected a JSON list of objects (or {{'items': [...]}})")
        return [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_manifest(root, *, path_column="path", label_columns=None, subject_column="subject",
                  split_column="split", class_names=None, regression=(), image_size=(112, 112), channels=3,
                  report=None):
    """Read a CSV/JSON manifest; see the module docstring."""
    root = pathlib.Path(root).expanduser()
    if root.is_dir():
        found = [root / n for n in ("manifest.csv", "manifest.json") if (root / n).is_file()]
        if not found:
            raise DatasetLayoutError(f"{root}: no manifest.csv or manifest.json; expected {EXPECTED}")
        root = found[0]
    elif not root.is_file():
        require_dir(root, EXPECTED)
    rows = _load_rows(root)
    if not rows:
        raise DatasetLayoutError(f"{root}: the manifest has no rows; expected {EXPECTED}")
    columns = list(rows[0])
    if path_column not in columns:
        raise DatasetLayoutError(f"{root}: no {path_column!r} column (columns: {columns}); expected {EXPECTED}")
    if label_columns is None:
        label_columns = [c for c in columns if c not in (path_column, subject_column, split_column)]
    missing = [c for c in label_columns if c not in columns]
    if missing or not label_columns:
        raise DatasetLayoutError(f"{root}: label columns {missing or '(none)'} not among {columns}")
    class_names = dict(class_names or {})
    tasks = []
    for c in label_columns:
        if c in regression:
            tasks.append(Task(c, "regression"))
            continue
        if c not in class_names:
            values = {r.get(c, "").strip() for r in rows} - {""}
            numeric = all(v.lstrip("-").isdigit() for v in values)
            class_names[c] = sorted(values, key=int if numeric else str)
        tasks.append(Task(c, "class", tuple(str(n) for n in class_names[c])))
    lookup = {t.name: {n: i for i, n in enumerate(t.class_names)} for t in tasks if t.kind == "class"}
    collector = Collector("manifest", root, tasks, report)
    for lineno, row in enumerate(rows, start=2):
        where = f"{root}:{lineno}"
        path = root.parent / row[path_column]
        labels = {}
        for t in tasks:
            value = (row.get(t.name) or "").strip()
            if not value:
                labels = None
                collector.skip(where, f"missing {t.name} label")
                break
            if t.kind == "regression":
                try:
                    labels[t.name] = int(float(value))
                except ValueError:
                    labels = None
                    collector.skip(where, f"unparsable {t.name} value {value!r}")
                    break
            elif value in lookup[t.name]:
                labels[t.name] = lookup[t.name][value]
            elif value.lstrip("-").isdigit() and 0 <= int(value) < len(t.class_names):
                labels[t.name] = int(value)  # an integer label into the given class_names
            else:
                labels = None
                collector.skip(where, f"label out of range: {t.name}={value!r}, expected one of "
                                      f"{list(t.class_names)[:10]}")
                break
        if labels is None:
            continue
        if not path.is_file():
            collector.skip(path, "image listed in the manifest not found")
            continue
        subject = row.get(subject_column) or None
        partition = row.get(split_column) or None
        collector.add(path, labels, subject=subject, partition=partition)
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED)
