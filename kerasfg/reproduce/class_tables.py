"""Per-class tables of a grid: a confusion matrix, or an accuracy per group, summed over folds and seeds.

Some tables of a paper break one entry of its results table down by class: Table 3.7 of the thesis is
the age confusion of the attention model of Table 3.6, summed over the five folds; Table 3.10(a) is
the gender accuracy of that model within each age group. A grid lists them under ``class_tables``::

    class_tables:
      - table: Table 3.7
        title: Adience age confusion (%) of the attention model (rows real, columns predicted)
        entry: {row: VGG16-Faces + Attention, column: Age}    # the results table's entry it breaks down
        confusion: [test_tables.age.confusion, test_tables.age_group.confusion]
        targets: {0-2: [64.2, 34.8, 0.6, 0.1, 0.1, 0.0, 0.1, 0.1], ...}
      - table: Table 3.10(a)
        title: Gender accuracy (%) per age group of the attention model
        entry: {row: VGG16-Faces + Attention, column: Gender}
        accuracy_by: [age_group, age]
        output: gender
        targets: {0-2: 84.6, 4-6: 82.2, ...}

A table has one of three kinds:

- ``confusion``: the dotted path(s) of a count matrix in the cells' ``metrics.json`` (the first found;
  the ``confusion`` table metric of `kerasfg.objectives` writes ``{"class_names", "values"}``). The
  counts of every finished cell of the entry (its folds and seeds) are added up and each row is shown
  as a percentage of its real class.
- ``accuracy_by``: a task of the data (or a list: the first the cell's data has as classes). After a
  cell of the entry has trained, its saved model is run on its test split, read again with this task's
  labels too (a dataset option ``tasks`` gets it added), and the right and the total predictions of
  ``output`` (the model's output whose target it is; the cell's only trained output by default) are
  counted within each of its classes into ``<cell>/accuracy_by.json``. The counts of the finished
  cells are added up: the accuracy per group over all of them.

- ``code_attributes``: the attributes most and least correlated with each bit of the entry's output code
  (Table 6.2), in `kerasfg.reproduce.code_attributes`, with its own ``bits``, ``order`` and targets.

``targets`` map class names (the data's, e.g. Adience's ``8-13`` where the thesis prints ``8-12``) to
the paper's numbers: a row of percentages for a confusion, a percentage for an accuracy. Each table is
written beside the results table, as ``<table slug>.csv`` and a section of ``results.md``, and into
the reproduction report.
"""

import csv
import dataclasses
import io
import json
import logging
import pathlib

import numpy as np

from kerasfg.config import ConfigError, check_mapping
from kerasfg.reproduce import code_attributes

logger = logging.getLogger(__name__)

KINDS = ("confusion", "accuracy_by", "code_attributes")
KEYS = ("table", "title", "entry", "targets", "output", "note", "bits", "order", *KINDS)
ACCURACY_BY_FILE = "accuracy_by.json"


@dataclasses.dataclass(frozen=True)
class ClassTable:
    """One per-class table of a grid (module docstring).

    Attributes:
        id: its file name without ``.csv`` (a slug of ``table``).
        table, title: what it reproduces.
        row, column: the results table's entry it breaks down.
        kind: ``"confusion"``, ``"accuracy_by"`` or ``"code_attributes"``.
        source: the dotted paths of the count matrix (confusion), the grouping tasks (accuracy_by), or
            the folder of the attribute files (code_attributes).
        output: the model output scored (accuracy_by, code_attributes), or None for the cell's only one.
        targets: ``{class name: number or list of numbers}`` (code_attributes: ``{rank: {side: (name, pcc)}}``).
        note: what the reader should know about the targets.
        bits, order: the bits a code_attributes table shows (`kerasfg.reproduce.code_attributes`).
    """

    id: str
    table: str
    title: str
    row: str
    column: str
    kind: str
    source: tuple
    targets: dict
    output: str | None = None
    note: str | None = None
    bits: int = 6
    order: str = "code"


def parse_class_tables(value, rows, columns, slug):
    """The ``class_tables`` of a grid file: a list of `ClassTable`.

    Args:
        value: the ``class_tables`` list of the file.
        rows, columns: the labels of the grid's results table.
        slug: makes a table's file name of its name (`kerasfg.reproduce.grid.slug`).

    Raises:
        ConfigError: naming the key (``class_tables[i].entry``...) and what was expected.
    """
    if not isinstance(value, list):
        raise ConfigError(f"class_tables: expected a list of tables, got {value!r}.")
    tables = []
    for i, spec in enumerate(value):
        key = f"class_tables[{i}]"
        check_mapping(key, spec, KEYS)
        for name in ("table", "title"):
            if not isinstance(spec.get(name), str) or not spec[name]:
                raise ConfigError(f"{key}.{name}: expected a non-empty string, got {spec.get(name)!r}.")
        kinds = [kind for kind in KINDS if kind in spec]
        if len(kinds) != 1:
            raise ConfigError(f"{key}: expected exactly one of {list(KINDS)} (the kind of table), got {kinds}.")
        (kind,) = kinds
        source = [spec[kind]] if isinstance(spec[kind], str) else spec[kind]
        if not isinstance(source, list) or not source or not all(isinstance(s, str) and s for s in source):
            raise ConfigError(f"{key}.{kind}: expected a name or a non-empty list of names, got {spec[kind]!r}.")
        entry = spec.get("entry")
        if not isinstance(entry, dict) or set(entry) != {"row", "column"}:
            raise ConfigError(f"{key}.entry: expected {{row: ..., column: ...}} naming an entry of the results "
                              f"table, got {entry!r}.")
        if entry["row"] not in rows:
            raise ConfigError(f"{key}.entry.row: {entry['row']!r} is not a row of the grid; its rows are {rows}.")
        if entry["column"] not in columns:
            raise ConfigError(f"{key}.entry.column: {entry['column']!r} is not a column of the grid; its columns "
                              f"are {columns}.")
        output = spec.get("output")
        if output is not None and (kind == "confusion" or not isinstance(output, str)):
            raise ConfigError(f"{key}.output: an output name, for an accuracy_by or code_attributes table only; "
                              f"got {output!r}.")
        options = {name: spec[name] for name in ("bits", "order") if name in spec}
        if kind == "code_attributes":
            code_attributes.check_options(key, options.get("bits", 6), options.get("order", "code"))
            targets = code_attributes.parse_targets(f"{key}.targets", spec.get("targets") or {})
        elif options:
            raise ConfigError(f"{key}.{next(iter(options))}: for a code_attributes table only.")
        else:
            targets = _targets(f"{key}.targets", spec.get("targets") or {}, kind)
        tables.append(ClassTable(slug(spec["table"]), spec["table"], spec["title"], entry["row"], entry["column"],
                                 kind, tuple(source), targets, output, spec.get("note"), **options))
    return tables


def _targets(key, targets, kind):
    if not isinstance(targets, dict):
        raise ConfigError(f"{key}: expected a mapping of class names to numbers, got {targets!r}.")
    parsed = {}
    for name, value in targets.items():
        values = value if isinstance(value, list) else [value]
        if (kind == "accuracy_by") == isinstance(value, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            expected = "a row of percentages" if kind == "confusion" else "a percentage"
            raise ConfigError(f"{key}.{name}: expected {expected}, got {value!r}.")
        parsed[str(name)] = [float(v) for v in values] if kind == "confusion" else float(value)
    if kind == "confusion" and len({len(row) for row in parsed.values()}) > 1:
        raise ConfigError(f"{key}: the rows have different lengths.")
    return parsed


# === Counts of the cells ===


def entry_cells(table, cells, results):
    """The finished cells of ``table``'s entry (every fold and seed), with their results."""
    return [(cell, results[cell.id]) for cell in cells
            if cell.id in results and (cell.row, cell.column) == (table.row, table.column)]


def read_counts(table, cell_dir, result):
    """``(class names, counts)`` of one finished cell, or None where it has none (yet).

    A confusion's counts are ``(classes, classes)``; an accuracy's are ``(groups, 2)``: right, total.
    """
    if table.kind == "accuracy_by":
        path = pathlib.Path(cell_dir) / ACCURACY_BY_FILE
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        return record["group_names"], np.stack([record["right"], record["total"]], axis=1)
    metrics_file = pathlib.Path(result["run_dir"]) / "metrics.json"
    if not metrics_file.is_file():
        return None
    metrics = json.loads(metrics_file.read_text())
    for key in table.source:
        node = metrics
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "values" in node:
            return node.get("class_names") or [str(i) for i in range(len(node["values"]))], np.asarray(node["values"])
    return None


def summed_counts(table, directory, cells, results):
    """``(class names, summed counts, number of cells)`` over the finished cells of the entry, or None
    (a code_attributes table: `kerasfg.reproduce.code_attributes.summary`).

    Raises:
        ValueError: when the cells' class names differ (they cannot be added up).
    """
    if table.kind == "code_attributes":
        return code_attributes.summary(table, directory, cells, results)
    names, total, n = None, None, 0
    for cell, result in entry_cells(table, cells, results):
        counts = read_counts(table, pathlib.Path(directory) / "cells" / cell.id, result)
        if counts is None:
            continue
        if names is not None and list(counts[0]) != list(names):
            raise ValueError(f"{table.table}: cell {cell.id} has the classes {counts[0]}, the others {names}; "
                             f"their counts cannot be added up.")
        names, total, n = counts[0], counts[1] if total is None else total + counts[1], n + 1
    return None if names is None else (list(names), total, n)


def percentages(table, counts):
    """A confusion's rows as percentages of their real class (``(classes, classes)``), or an accuracy's
    per group (``(groups,)``); NaN where a class has no examples."""
    counts = np.asarray(counts, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if table.kind == "confusion":
            return 100.0 * counts / counts.sum(axis=1, keepdims=True)
        return 100.0 * counts[:, 0] / counts[:, 1]


# === The post-step: accuracy per group of a trained cell ===


def needs_evaluation(table, cell, cell_dir):
    """Whether ``cell`` is one of ``table``'s entry whose per-group counts (or code correlations) are
    still to be computed."""
    if table.kind == "code_attributes":
        return code_attributes.needs_evaluation(table, cell, cell_dir)
    return (table.kind == "accuracy_by" and (cell.row, cell.column) == (table.row, table.column)
            and not (pathlib.Path(cell_dir) / ACCURACY_BY_FILE).is_file())


def evaluate(table, cell, cell_dir, run_dir, data_root="."):
    """The post-step of a cell of ``table``'s entry: its per-group counts (`evaluate_accuracy_by`) or
    its code's attribute correlations (`kerasfg.reproduce.code_attributes.evaluate`)."""
    if table.kind == "code_attributes":
        return code_attributes.evaluate(table, cell, cell_dir, run_dir, data_root)
    return evaluate_accuracy_by(table, cell, cell_dir, run_dir)


def evaluate_accuracy_by(table, cell, cell_dir, run_dir):
    """Count the right and total predictions of the cell's model within each group (``accuracy_by``)
    on its test split, into ``<cell_dir>/accuracy_by.json`` (written atomically).

    Args:
        table: an ``accuracy_by`` `ClassTable`.
        cell: the `kerasfg.reproduce.grid.Cell` (its config says which data to read).
        cell_dir: where the counts go.
        run_dir: the run whose ``model.keras`` is evaluated (the cell's, or the one it shares).

    Raises:
        ConfigError: when the data has none of the grouping tasks as classes, or the model has no output
            for the table's target.
    """
    from kerasfg.age import ensemble_predict
    from kerasfg.export.cli import load_keras_model
    from kerasfg.io_utils import write_json
    from kerasfg.objectives import RECORD_FILE
    from kerasfg.visualize import model_file

    run_dir = pathlib.Path(run_dir)
    record = json.loads((run_dir / RECORD_FILE).read_text())["outputs"]
    output = table.output or _only_trained(record, table)
    if output not in record or not record[output].get("target"):
        raise ConfigError(f"{table.table}: output {output!r} is not a trained output of {run_dir}; its outputs "
                          f"are {sorted(record)}.")
    task = record[output]["target"]
    by, test, group_names = _grouped_test_split(table, cell.config, task)
    model = load_keras_model(model_file(run_dir))
    probabilities, labels = ensemble_predict([model], test)
    scores = probabilities[output]
    predicted = (scores[:, 0] > 0.5).astype(int) if scores.shape[1] == 1 else np.argmax(scores, axis=1)
    groups = labels[by].astype(int)
    right = np.bincount(groups, weights=(predicted == labels[task].astype(int)).astype(float),
                         minlength=len(group_names))
    total = np.bincount(groups, minlength=len(group_names))
    write_json(pathlib.Path(cell_dir) / ACCURACY_BY_FILE, {
        "table": table.table, "output": output, "task": task, "by": by, "run_dir": str(run_dir),
        "group_names": list(group_names), "right": right.astype(int).tolist(), "total": total.tolist()})
    logger.info("%s: cell %s, %s accuracy by %s: %s", table.table, cell.id, task, by,
                ", ".join(f"{name} {r}/{t}" for name, r, t in zip(group_names, right.astype(int), total)))


def _only_trained(record, table):
    trained = [name for name, output in record.items() if output.get("target") and output.get("loss") != "none"]
    if len(trained) != 1:
        raise ConfigError(f"{table.table}: the model has the trained outputs {trained}; name the one scored "
                          f"with output:.")
    return trained[0]


def _grouped_test_split(table, config, task):
    """``(grouping task, test split with both labels, its group names)``: the first of the table's tasks
    the cell's data has as classes."""
    from kerasfg import config as config_lib
    from kerasfg.training import build_datasets

    tried = []
    for by in table.source:
        data = config_lib.from_dict(config.to_dict()).data
        data.targets = [task, by]
        options = data.dataset.options
        if "tasks" in options:
            options["tasks"] = list(dict.fromkeys([*options["tasks"], by]))
        try:
            splits = build_datasets(data)
        except (ConfigError, ValueError) as error:
            tried.append(f"{by} ({error})")
            continue
        if splits.tasks[by].kind != "class":
            tried.append(f"{by} (a {splits.tasks[by].kind} task, not classes)")
            continue
        return by, splits.test, list(splits.class_names[by])
    raise ConfigError(f"{table.table}: accuracy_by: the data has none of {list(table.source)} as classes: "
                      f"{'; '.join(tried)}.")


# === Writing ===


def _number(value, digits=1):
    return "" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def table_csv(table, summed):
    """The CSV text of a summed table: the counts and our percentages (and the paper's)."""
    if table.kind == "code_attributes":
        return code_attributes.table_csv(table, summed)
    names, counts, _ = summed
    ours = percentages(table, counts)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if table.kind == "confusion":
        writer.writerow(["real \\ predicted", *(f"{name} count" for name in names),
                         *(f"{name} %" for name in names), *(f"{name} paper %" for name in names)])
        for name, row, percent in zip(names, counts, ours):
            paper = table.targets.get(name, [None] * len(names))
            writer.writerow([name, *(int(v) for v in row), *(_number(v, 4) for v in percent),
                             *("" if v is None else v for v in paper)])
    else:
        writer.writerow(["group", "right", "total", "accuracy %", "paper %"])
        for name, (right, total), percent in zip(names, counts, ours):
            paper = table.targets.get(name)
            writer.writerow([name, int(right), int(total), _number(percent, 4), "" if paper is None else paper])
    return out.getvalue()


def table_markdown(table, summed):
    """Markdown lines of a table: ours beside the paper's, or a line saying no cell has its counts yet."""
    if table.kind == "code_attributes":
        return code_attributes.table_markdown(table, summed)
    lines = [f"#### {table.table}: {table.title}", ""]
    if summed is None:
        return lines + [f"No finished cell of {table.row} / {table.column} has its counts yet.", ""]
    names, counts, n = summed
    ours = percentages(table, counts)
    what = "rows: real class, columns: predicted; % of the row" if table.kind == "confusion" else "% right"
    lines += [f"{table.row} / {table.column}, summed over {n} finished cell{'s' * (n != 1)} (folds and seeds; "
              f"{int(np.sum(counts if table.kind == 'confusion' else counts[:, 1]))} test examples); "
              f"ours / paper, {what}." + (f" {table.note}" if table.note else ""), ""]
    if table.kind == "confusion":
        lines += ["| real \\ predicted | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        for name, row in zip(names, ours):
            paper = table.targets.get(name)
            lines.append(f"| {name} | " + " | ".join(
                _number(v) + (f" / {paper[j]:.1f}" if paper and j < len(paper) else "")
                for j, v in enumerate(row)) + " |")
    else:
        lines += ["| | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1),
                  "| ours | " + " | ".join(_number(v) for v in ours) + " |",
                  "| paper | " + " | ".join(_number(table.targets.get(name)) or "–" for name in names) + " |",
                  "| examples | " + " | ".join(str(int(t)) for t in counts[:, 1]) + " |"]
    return lines + [""]


def write_class_tables(directory, grid, cells, results):
    """Sum each class table of ``grid`` over its finished cells; write ``<table slug>.csv`` (atomically).

    Returns:
        The Markdown lines of every table (for ``results.md``).
    """
    from kerasfg.io_utils import atomic_file

    lines = []
    for table in grid.class_tables:
        summed = summed_counts(table, directory, cells, results)
        if summed is not None:
            with atomic_file(pathlib.Path(directory) / f"{table.id}.csv") as handle:
                handle.write(table_csv(table, summed))
        lines += table_markdown(table, summed)
    return lines
