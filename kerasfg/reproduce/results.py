"""The results table of a grid: our mean and standard deviation over seeds (and the grid's ``repeats``, such as
cross-validation folds) beside the paper's number.

``results.csv`` has one line per table row and, per table column, our mean, the standard deviation
over seeds (sample, n - 1; 0 for one seed), the number of finished seeds, the paper's value and the
difference (ours - paper). ``results.md`` is the same table for reading, with where the numbers come
from. Both are written atomically; cells that have not finished are left out (a row or column without
any is empty).
"""

import csv
import io
import statistics

from kerasfg.io_utils import atomic_file
from kerasfg.reproduce.class_tables import write_class_tables

SCALE_NOTES = {
    "smoke": "Smoke scale: tiny synthetic stand-ins, one step an epoch. These numbers show that every "
             "cell builds, trains and is measured; they are not results.",
    "synthetic": "Synthetic scale: the comparison on synthetic faces, not on the paper's data; compare "
                 "the ordering of the rows, not the numbers, with the paper's.",
    "full": "Full scale: the paper's setting on your copy of its data.",
}


def summarize(grid, cells, results):
    """``{(row, column): {"mean", "std", "n", "paper", "difference"}}`` over the finished seeds."""
    values = {}
    for cell in cells:
        if cell.id in results:
            values.setdefault((cell.row, cell.column), []).append(results[cell.id]["value"])
    table = {}
    for row in grid.row_labels():
        for column in grid.column_labels():
            ours = values.get((row, column), [])
            target = grid.targets.get(row, {}).get(column)
            paper = target.value if target is not None else None
            mean = statistics.fmean(ours) if ours else None
            table[row, column] = {
                "mean": mean, "std": statistics.stdev(ours) if len(ours) > 1 else 0.0 if ours else None,
                "n": len(ours), "paper": paper,
                "difference": mean - paper if mean is not None and paper is not None else None}
    return table


def _number(value, digits=4):
    return "" if value is None else f"{value:.{digits}f}"


def results_csv(grid, table):
    """The CSV text of the table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = grid.column_labels()
    writer.writerow([" + ".join(grid.rows), *(f"{column} {part}" for column in columns
                                             for part in ("mean", "std", "n", "paper", "difference"))])
    for row in grid.row_labels():
        line = [row]
        for column in columns:
            entry = table[row, column]
            line += [_number(entry["mean"]), _number(entry["std"]), entry["n"], _number(entry["paper"]),
                     _number(entry["difference"])]
        writer.writerow(line)
    return out.getvalue()


def results_markdown(grid, table, scale, seeds, metric_line=None):
    """The Markdown text of the table, with its provenance (``metric_line``: what was measured, the
    grid's metric by default)."""
    columns = grid.column_labels()
    lines = [f"# {grid.table}: {grid.title}", ""]
    if grid.source:
        lines.append(f"Paper: `{grid.source}`. ")
    if grid.notes:
        lines.append(f"Targets: `{grid.notes}`{', ' + grid.provenance if grid.provenance else ''}. ")
    if metric_line is None:
        keys = " or ".join(f"`{key}`" for key in grid.metric["key"])
        repeats = f", averaged over the {', '.join(grid.repeats)} axis too" if grid.repeats else ""
        metric_line = (f"Metric: {grid.metric['name']} ({keys}, {grid.metric['transform']}). "
                       f"Scale: {scale}, seeds {seeds}{repeats}.")
    lines += [metric_line, "", SCALE_NOTES[scale], ""]
    header = [" + ".join(grid.rows) or "row"]
    for column in columns:
        header += [f"{column} ours" if column else "ours", f"{column} paper" if column else "paper", "Δ"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for row in grid.row_labels():
        cells = [row]
        for column in columns:
            entry = table[row, column]
            ours = "" if entry["mean"] is None else f"{entry['mean']:.2f} ± {entry['std']:.2f} (n={entry['n']})"
            paper = _number(entry["paper"], 2) or "–"
            difference = "" if entry["difference"] is None else f"{entry['difference']:+.2f}"
            cells += [ours, paper, difference]
        lines.append("| " + " | ".join(cells) + " |")
    tagged = [(row, column, target) for row, values in grid.targets.items() for column, target in values.items()
              if target.tag or target.note]
    if tagged:
        lines += ["", "Targets with their own provenance:", ""]
        lines += [" ".join(part for part in (f"- {row} / {column}: {target.value}",
                                             target.tag and f"[{target.tag}]", target.note) if part)
                  for row, column, target in tagged]
    return "\n".join(lines) + "\n"


def write_results(directory, grid, cells, results, scale):
    """Write ``results.csv`` and ``results.md`` into the grid ``directory`` (atomically), and the grid's
    class tables (`kerasfg.reproduce.class_tables.write_class_tables`)."""
    table = summarize(grid, cells, results)
    with atomic_file(directory / "results.csv") as handle:
        handle.write(results_csv(grid, table))
    text = results_markdown(grid, table, scale, sorted({cell.seed for cell in cells}))
    class_tables = write_class_tables(directory, grid, cells, results)
    with atomic_file(directory / "results.md") as handle:
        handle.write(text + ("\n" + "\n".join(class_tables) if class_tables else ""))
    return table
