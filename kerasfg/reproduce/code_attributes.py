"""Class tables of the kind ``code_attributes``: which attributes each output-code bit stands for (Table 6.2).

A grid whose cells train output-code heads (`kerasfg.codes.OutputCodes`) may list, under
``class_tables``, a table of the attributes most and least correlated with the bits of an entry's code::

    class_tables:
      - table: Table 6.2(b)
        title: Top CUB-200 attributes by correlation (PCC) with the bits of the data-dependent code
        entry: {row: Data-dependent code, column: ""}
        code_attributes: CUB_200_2011     # CUB's attribute files, under --data-root (full scale)
        output: label                     # the code head (by default the model's only one)
        bits: 6                           # how many bits the table shows
        order: code                       # which: the first ones (code), or those whose best positive
                                          # correlation is largest, in that order (positive)
        targets: {"1": {positive: [shape perching-like, 0.79], negative: [size medium, -0.73]}, ...}

After a cell of the entry has trained, its code is read from its saved model (the head's config holds
the code matrix) with the class names of its run (``class_names.json``), the classes' attribute values are
looked up, and `kerasfg.codes.attribute_correlations` ranks the attributes of every bit by Pearson
correlation over the classes; the result is kept in ``<cell>/code_attributes.json``. Attribute values:

- on a dataset (full scale): CUB-200-2011's per-class percentages (`kerasfg.data.datasets.cub`) from the
  folder ``code_attributes`` names under ``--data-root``, matched to the model's classes by name;
- on the synthetic faces (smoke and synthetic scales): the stand-in, each identity's share of its
  training images showing each of the synthetic faces' binary attributes (``attributes``), as CUB's
  percentages are each species' share of its images.

The table shows the cell of the lowest finished seed (codes differ between seeds), its bits beside the
paper's, and the mean over every finished cell of the selected bits' best positive and negative PCC.
"""

import json
import logging
import pathlib
import statistics
import zipfile

import numpy as np

from kerasfg.config import ConfigError

logger = logging.getLogger(__name__)

RECORD_FILE = "code_attributes.json"
ORDERS = ("code", "positive")
SIDES = ("positive", "negative")


def parse_targets(key, targets):
    """``{rank: {"positive": (name, pcc), "negative": (name, pcc)}}`` of a table's ``targets``."""
    if not isinstance(targets, dict):
        raise ConfigError(f"{key}: expected a mapping of bit ranks to {{positive: [attribute, pcc], negative: "
                          f"[attribute, pcc]}}, got {targets!r}.")
    parsed = {}
    for rank, sides in targets.items():
        item = f"{key}.{rank}"
        if not isinstance(sides, dict) or set(sides) - set(SIDES):
            raise ConfigError(f"{item}: expected {{positive: [attribute, pcc], negative: [attribute, pcc]}}, "
                              f"got {sides!r}.")
        parsed[str(rank)] = {}
        for side, pair in sides.items():
            if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str)
                    or isinstance(pair[1], bool) or not isinstance(pair[1], (int, float))):
                raise ConfigError(f"{item}.{side}: expected [attribute name, pcc], got {pair!r}.")
            parsed[str(rank)][side] = (pair[0], float(pair[1]))
    return parsed


def check_options(key, options):
    """Check a table's ``bits`` and ``order``."""
    bits, order = options["bits"], options["order"]
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ConfigError(f"{key}.bits: expected a positive number of bits to show, got {bits!r}.")
    if order not in ORDERS:
        raise ConfigError(f"{key}.order: expected one of {list(ORDERS)}, got {order!r}.")


# === The post-step ===


def read_code(run_dir, output=None):
    """``(head name, code matrix)`` of a run's output-code head, read from its saved model's config.

    Raises:
        ConfigError: when the model has no such head (naming the heads it has).
    """
    from kerasfg.visualize import model_file

    path = model_file(run_dir)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    heads = {}

    def visit(node):
        if isinstance(node, dict):
            if node.get("class_name") == "OutputCodes" and isinstance(node.get("config"), dict):
                heads[node["config"]["name"]] = np.asarray(node["config"]["code"], np.float64)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    if output is None and len(heads) == 1:
        output = next(iter(heads))
    if output not in heads:
        raise ConfigError(f"{path}: no output-code head {output!r}; its output-code heads are {sorted(heads)} "
                          f"(name the one to analyse with output:).")
    return output, heads[output]


def class_attributes(table, config, task, class_names, data_root):
    """``(attribute names, (classes, attributes) values, where they come from)`` for the model's classes."""
    if config.data.source == "synthetic":
        return synthetic_identity_attributes(config, task, class_names)
    from kerasfg.data.datasets.cub import read_class_attributes, readable_attribute

    root = pathlib.Path(data_root).expanduser() / table.source[0]
    attributes = read_class_attributes(root)
    values = attributes.for_classes(class_names, f"the model's {task} task")
    return [readable_attribute(name) for name in attributes.attribute_names], values, f"CUB-200-2011 at {root}"


def synthetic_identity_attributes(config, task, class_names):
    """The stand-in: each identity's share (%) of its training faces with each binary attribute."""
    from kerasfg import config as config_lib
    from kerasfg.training import build_datasets

    data = config_lib.from_dict(config.to_dict()).data
    data.targets, data.shuffle, data.batch_size = [task, "attributes"], False, 256
    splits = build_datasets(data)
    labels, attributes = [], []
    for _, targets in splits.train:
        labels.append(np.asarray(targets[task]).reshape(-1))
        attributes.append(np.asarray(targets["attributes"]))
    labels, attributes = np.concatenate(labels).astype(int), np.concatenate(attributes)
    names = list(splits.class_names[task])
    if list(class_names) != names:
        raise ValueError(f"the model's {task} classes {list(class_names)[:3]} ... are not those of its synthetic "
                         f"data {names[:3]} ...")
    counts = np.bincount(labels, minlength=len(names))[:, None]
    sums = np.stack([np.bincount(labels, weights=attributes[:, j], minlength=len(names))
                     for j in range(attributes.shape[1])], axis=1)
    values = 100.0 * sums / np.maximum(counts, 1)
    return list(splits.class_names["attributes"]), values, "the synthetic faces' attributes (stand-in)"


# === The table ===


def shown_bits(table, record):
    """The bits of a record the table shows, in its order."""
    bits = record["bits"]
    if table.options["order"] == "positive":
        bits = sorted(bits, key=lambda bit: -bit["positive"][1])
    return bits[:table.options["bits"]]


def _paper(table, rank, side):
    target = table.targets.get(str(rank), {}).get(side)
    return ("", "") if target is None else target


# === The kind ===


class CodeAttributes:
    """The ``code_attributes`` kind of `kerasfg.reproduce.class_tables` (module docstring): a cell's code
    correlated with its classes' attributes after it has trained, shown for the lowest finished seed."""

    name = "code_attributes"
    options = {"bits": 6, "order": "code"}
    scores_output = True

    def __repr__(self):
        return f"<class table kind {self.name!r}>"

    def parse(self, key, spec):
        """``(targets, options)`` of a table's ``spec`` (``key``: ``class_tables[i]``, for messages)."""
        options = {name: spec.get(name, default) for name, default in self.options.items()}
        check_options(key, options)
        return parse_targets(f"{key}.targets", spec.get("targets") or {}), options

    def check_data(self, table, cells, data_root):
        """Read the attribute files once before any training when a cell of the entry runs on a dataset
        (full scale), so that a missing or malformed CUB folder stops the grid early.

        Raises:
            DatasetLayoutError: naming the folder and the layout expected.
        """
        from kerasfg.data.datasets.cub import read_class_attributes

        if any(table.in_entry(cell) and cell.config.data.source == "dataset" for cell in cells):
            read_class_attributes(pathlib.Path(data_root).expanduser() / table.source[0])

    def needs_evaluation(self, table, cell, cell_dir):
        """Whether ``cell`` is one of the entry's and its correlations are still to be computed."""
        return table.in_entry(cell) and not (pathlib.Path(cell_dir) / RECORD_FILE).is_file()

    def evaluate(self, table, cell, cell_dir, run_dir, data_root="."):
        """Correlate the code of the cell's run with its classes' attributes, into
        ``<cell_dir>/code_attributes.json`` (written atomically): every bit's best positive and negative
        attribute and their PCC (`kerasfg.codes.attribute_correlations`)."""
        from kerasfg.codes import attribute_correlations
        from kerasfg.io_utils import write_json

        output, code = read_code(run_dir, table.output)
        class_names = json.loads((pathlib.Path(run_dir) / "class_names.json").read_text())[output]
        names, values, origin = class_attributes(table, cell.config, output, class_names, data_root)
        bits = attribute_correlations(code, values, names, top=1)
        write_json(pathlib.Path(cell_dir) / RECORD_FILE, {
            "table": table.table, "output": output, "run_dir": str(run_dir), "attributes": origin,
            "classes": len(class_names), "code_bits": int(code.shape[1]),
            "bits": [{"bit": row["bit"] + 1, **{side: list(row[side][0]) for side in SIDES}} for row in bits]})
        logger.info("%s: cell %s, %d bits of %s correlated with %d attributes of %s", table.table, cell.id,
                    code.shape[1], output, len(names), origin)

    def summarize(self, table, directory, cells, results):
        """``(record of the lowest finished seed, [mean PCC of the shown bits per cell, per side], cells)``,
        or None when no cell of the entry has its record yet."""
        records = []
        for cell in sorted(cells, key=lambda cell: cell.seed):
            path = pathlib.Path(directory) / "cells" / cell.id / RECORD_FILE
            if cell.id in results and table.in_entry(cell) and path.is_file():
                records.append((cell, json.loads(path.read_text())))
        if not records:
            return None
        means = {side: [statistics.fmean(bit[side][1] for bit in shown_bits(table, record))
                        for _, record in records] for side in SIDES}
        return records[0], means, len(records)

    def csv_rows(self, table, summary):
        (cell, record), _, _ = summary
        yield ["rank", "bit", "+ attribute", "+ pcc", "paper + attribute", "paper + pcc",
               "- attribute", "- pcc", "paper - attribute", "paper - pcc"]
        for rank, bit in enumerate(shown_bits(table, record), start=1):
            yield [rank, bit["bit"], bit["positive"][0], f"{bit['positive'][1]:.4f}",
                   *_paper(table, rank, "positive"), bit["negative"][0], f"{bit['negative'][1]:.4f}",
                   *_paper(table, rank, "negative")]

    def markdown(self, table, summary):
        """Markdown lines below the table's heading: the shown bits' attributes beside the paper's."""
        if summary is None:
            return [f"No finished cell of {table.row or 'the table'} has its code's correlations yet.", ""]
        (cell, record), means, n = summary
        shown = shown_bits(table, record)
        order = "the first bits of the code" if table.options["order"] == "code" else "the bits with the largest + PCC"
        lines = [f"{table.row}: cell {cell.id}, its {record['code_bits']}-bit code over {record['classes']} classes "
                 f"against {record['attributes']}; {order}. Ours / paper." + (f" {table.note}" if table.note else ""),
                 ""]
        lines += ["| | " + " | ".join(str(rank) for rank in range(1, len(shown) + 1)) + " |",
                  "|" + "---|" * (len(shown) + 1)]
        for side, sign in (("positive", "+"), ("negative", "−")):
            names, pccs = [], []
            for rank, bit in enumerate(shown, start=1):
                paper = table.targets.get(str(rank), {}).get(side)
                names.append(f"bit {bit['bit']}: {bit[side][0]}" + (f" / {paper[0]}" if paper else ""))
                pccs.append(f"{bit[side][1]:.2f}" + (f" / {paper[1]:.2f}" if paper else ""))
            lines += [f"| {sign} attribute | " + " | ".join(names) + " |", "| PCC | " + " | ".join(pccs) + " |"]
        paper = {side: [pair[side][1] for pair in table.targets.values() if side in pair] for side in SIDES}
        lines += ["", "Mean PCC of the shown bits' " + "; ".join(
            f"{sign} attributes: {statistics.fmean(means[side]):.2f}"
            + (f" ± {statistics.stdev(means[side]):.2f}" if n > 1 else "") + f" over {n} cell{'s' * (n != 1)}"
            + (f" (paper {statistics.fmean(paper[side]):.2f})" if paper[side] else "")
            for side, sign in (("positive", "+"), ("negative", "−"))) + ".", ""]
        return lines
