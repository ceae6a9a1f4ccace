"""Class tables of counts summed over an entry's cells: a confusion, or an accuracy per group.

Two kinds of `kerasfg.reproduce.class_tables`; each owns its targets, its counts and its rows:

- `Confusion` (``confusion:``): the dotted path(s) of a count matrix in the cells' ``metrics.json`` (the
  first found; the ``confusion`` table metric of `kerasfg.objectives` writes ``{"class_names",
  "values"}``). The counts of every finished cell of the entry (its folds and seeds) are added up and
  each row is shown as a percentage of its real class. Targets are rows of percentages.
- `AccuracyBy` (``accuracy_by:``): a task of the data (or a list: the first the cell's data has as
  classes). After a cell of the entry has trained, its saved model is run on its test split, read again
  with this task's labels too (a dataset option ``tasks`` gets it added), and the right and the total
  predictions of ``output`` (the model's output whose target it is; the cell's only trained output by
  default) are counted within each of its classes into ``<cell>/accuracy_by.json``. The counts of the
  finished cells are added up: the accuracy per group over all of them. Targets are percentages.
"""

import json
import logging
import pathlib

import numpy as np

from kerasfg.config import ConfigError, get_key

logger = logging.getLogger(__name__)

ACCURACY_BY_FILE = "accuracy_by.json"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value, digits=1):
    return "" if value is None or np.isnan(value) else f"{value:.{digits}f}"


class _Counts:
    """What both kinds share: ``{class name: target}`` targets, and counts of every finished cell of the
    entry added up and shown as percentages. Subclasses say how a target, a cell's counts and the rows
    look."""

    options = {}

    def parse(self, key, spec):
        """``(targets, options)`` of a table's ``spec`` (``key``: ``class_tables[i]``, for messages)."""
        targets = spec.get("targets") or {}
        if not isinstance(targets, dict):
            raise ConfigError(f"{key}.targets: expected a mapping of class names to numbers, got {targets!r}.")
        return {str(name): self.parse_target(f"{key}.targets.{name}", value) for name, value in targets.items()}, {}

    def check_data(self, table, cells, data_root):
        """Nothing to check before training: the counts come from the cells' own runs."""

    def needs_evaluation(self, table, cell, cell_dir):
        return False

    def summarize(self, table, directory, cells, results):
        """``(class names, summed counts, number of cells)`` over the finished cells of the entry, or None.

        Raises:
            ValueError: when the cells' class names differ (they cannot be added up).
        """
        names, total, n = None, None, 0
        for cell in cells:
            if cell.id not in results or not table.in_entry(cell):
                continue
            counts = self.read_counts(table, pathlib.Path(directory) / "cells" / cell.id, results[cell.id])
            if counts is None:
                continue
            if names is not None and list(counts[0]) != list(names):
                raise ValueError(f"{table.table}: cell {cell.id} has the classes {counts[0]}, the others {names}; "
                                 f"their counts cannot be added up.")
            names, total, n = counts[0], counts[1] if total is None else total + counts[1], n + 1
        return None if names is None else (list(names), total, n)

    def markdown(self, table, summary):
        """Markdown lines below the table's heading: ours beside the paper's."""
        if summary is None:
            return [f"No finished cell of {table.row} / {table.column} has its counts yet.", ""]
        names, counts, n = summary
        lines = [f"{table.row} / {table.column}, summed over {n} finished cell{'s' * (n != 1)} (folds and seeds; "
                 f"{int(np.sum(self.examples(counts)))} test examples); ours / paper, {self.shown}."
                 + (f" {table.note}" if table.note else ""), ""]
        return lines + self.markdown_rows(table, names, counts, self.percentages(counts)) + [""]


class Confusion(_Counts):
    """``confusion:`` a count matrix summed over the entry's cells, each row in % of its real class."""

    name = "confusion"
    scores_output = False
    shown = "rows: real class, columns: predicted; % of the row"

    def parse(self, key, spec):
        targets, options = super().parse(key, spec)
        if len({len(row) for row in targets.values()}) > 1:
            raise ConfigError(f"{key}.targets: the rows have different lengths.")
        return targets, options

    def parse_target(self, key, value):
        if not isinstance(value, list) or not all(_is_number(v) for v in value):
            raise ConfigError(f"{key}: expected a row of percentages, got {value!r}.")
        return [float(v) for v in value]

    def read_counts(self, table, cell_dir, result):
        """``(class names, (classes, classes) counts)`` from a cell's ``metrics.json``, or None."""
        metrics_file = pathlib.Path(result["run_dir"]) / "metrics.json"
        if not metrics_file.is_file():
            return None
        metrics = json.loads(metrics_file.read_text())
        for key in table.source:
            node = get_key(metrics, key)
            if isinstance(node, dict) and "values" in node:
                names = node.get("class_names") or [str(i) for i in range(len(node["values"]))]
                return names, np.asarray(node["values"])
        return None

    def percentages(self, counts):
        """Each row as a percentage of its real class; NaN where a class has no examples."""
        counts = np.asarray(counts, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * counts / counts.sum(axis=1, keepdims=True)

    def examples(self, counts):
        return counts

    def csv_rows(self, table, summary):
        names, counts, _ = summary
        yield ["real \\ predicted", *(f"{name} count" for name in names), *(f"{name} %" for name in names),
               *(f"{name} paper %" for name in names)]
        for name, row, percent in zip(names, counts, self.percentages(counts)):
            paper = table.targets.get(name, [None] * len(names))
            yield [name, *(int(v) for v in row), *(_number(v, 4) for v in percent),
                   *("" if v is None else v for v in paper)]

    def markdown_rows(self, table, names, counts, ours):
        lines = ["| real \\ predicted | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        for name, row in zip(names, ours):
            paper = table.targets.get(name)
            lines.append(f"| {name} | " + " | ".join(
                _number(v) + (f" / {paper[j]:.1f}" if paper and j < len(paper) else "")
                for j, v in enumerate(row)) + " |")
        return lines


class AccuracyBy(_Counts):
    """``accuracy_by:`` the right and total predictions per group, counted after a cell has trained."""

    name = "accuracy_by"
    scores_output = True
    shown = "% right"

    def parse_target(self, key, value):
        if isinstance(value, list) or not _is_number(value):
            raise ConfigError(f"{key}: expected a percentage, got {value!r}.")
        return float(value)

    def needs_evaluation(self, table, cell, cell_dir):
        """Whether ``cell`` is one of the entry's and its per-group counts are still to be computed."""
        return table.in_entry(cell) and not (pathlib.Path(cell_dir) / ACCURACY_BY_FILE).is_file()

    def evaluate(self, table, cell, cell_dir, run_dir, data_root="."):
        """Count the right and total predictions of the cell's model within each group on its test split,
        into ``<cell_dir>/accuracy_by.json`` (written atomically).

        Args:
            table: an ``accuracy_by`` `kerasfg.reproduce.class_tables.ClassTable`.
            cell: the `kerasfg.reproduce.grid.Cell` (its config says which data to read).
            cell_dir: where the counts go.
            run_dir: the run whose ``model.keras`` is evaluated (the cell's, or the one it shares).
            data_root: unused (the cell's config names its data).

        Raises:
            ConfigError: when the data has none of the grouping tasks as classes, or the model has no
                output for the table's target.
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
            raise ConfigError(f"{table.table}: output {output!r} is not a trained output of {run_dir}; its "
                              f"outputs are {sorted(record)}.")
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

    def read_counts(self, table, cell_dir, result):
        """``(group names, (groups, 2) counts: right, total)`` from ``<cell_dir>/accuracy_by.json``, or None."""
        path = pathlib.Path(cell_dir) / ACCURACY_BY_FILE
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        return record["group_names"], np.stack([record["right"], record["total"]], axis=1)

    def percentages(self, counts):
        """The accuracy (%) of each group; NaN where a group has no examples."""
        counts = np.asarray(counts, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * counts[:, 0] / counts[:, 1]

    def examples(self, counts):
        return counts[:, 1]

    def csv_rows(self, table, summary):
        names, counts, _ = summary
        yield ["group", "right", "total", "accuracy %", "paper %"]
        for name, (right, total), percent in zip(names, counts, self.percentages(counts)):
            paper = table.targets.get(name)
            yield [name, int(right), int(total), _number(percent, 4), "" if paper is None else paper]

    def markdown_rows(self, table, names, counts, ours):
        return ["| | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1),
                "| ours | " + " | ".join(_number(v) for v in ours) + " |",
                "| paper | " + " | ".join(_number(table.targets.get(name)) or "–" for name in names) + " |",
                "| examples | " + " | ".join(str(int(t)) for t in counts[:, 1]) + " |"]


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
