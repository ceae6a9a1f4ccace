"""Derived tables: a paper's table computed from the finished cells of another grid, with nothing trained.

Some tables are arithmetic on another table's runs: Table 4.4 of the thesis divides the accuracies of
Table 4.3 by the networks' parameter counts. Such a file names its source grid instead of a grid of
its own::

    paper: "002"
    table: Table 4.4
    title: Accuracy increment (%) per million parameters
    notes: NOTES-002.md
    provenance: "§5 Ch.4, Table 4.4 [thesis]"
    derived:
      from: table-4-3.yaml                    # the source grid, relative to this file
      compute: accuracy_per_million_parameters
      baseline: WRN                           # a row of the source table
      average: Avg                            # optional: a column of each row's mean over the others
    targets: {WRN: {Dogs: 1.3, ..., Avg: 1.2}, WARN: {...}}
    claims: [...]                             # as in a grid file, on this table's rows and columns

Its rows and columns are the source table's (and ``average``); ``kerasfg reproduce`` and
`kerasfg.reproduce.run_grid` compute it from the source grid's finished cells under the same
``--out`` and ``--scale``, and write ``results.md`` and ``results.csv`` beside the paper's numbers in
``<out>/<paper>/<table>/<scale>/`` as for any grid. A source cell that has not finished stops it with
one line naming the source grid, the missing cells and the command that runs them.

`kerasfg.reproduce.load_grid` loads such a file (`kerasfg.reproduce.grid.load_derived` validates it and
its source grid); this module computes and writes the table.

Computations (``compute``):

- ``accuracy_per_million_parameters``: the ``baseline`` row is its accuracy divided by its network's
  parameters in millions; every other row is its gain over the baseline of the same column and seed
  divided by the parameters it adds to the baseline's network, in millions. Parameters are counted on
  each cell's saved model (`kerasfg.models.summary.parameter_summary`: every weight, as Keras counts
  them). Each seed gives one value per entry, and the ``average`` column is a seed's mean over the
  columns the scale runs.
"""

import dataclasses
import functools
import statistics

from kerasfg.reproduce.grid import finished_results, grid_directory

# === The computation ===


@dataclasses.dataclass(frozen=True)
class Entry:
    """One value of a derived table: what `kerasfg.reproduce.results.summarize` reads of a cell."""

    id: str
    row: str
    column: str
    seed: int


def source_results(table, scale, out, strict=True):
    """``(cells, {cell id: result})`` of the source grid at ``scale`` under ``out``.

    Raises:
        FileNotFoundError: (``strict``) naming the source grid and the cells that have not finished.
    """
    cells, results = finished_results(table.grid, scale, out)
    missing = [cell.id for cell in cells if cell.id not in results]
    if strict and missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise FileNotFoundError(
            f"{table.table} is derived from {table.grid.path}, whose {len(missing)} of {len(cells)} cells at "
            f"{scale} scale under {out} have not finished ({shown}); run `kerasfg reproduce "
            f"{table.grid.path} --scale {scale} --out {out}` first.")
    return cells, results


@functools.lru_cache(maxsize=64)
def parameter_count(run_dir):
    """The parameters of the model a run saved (`kerasfg.models.summary.parameter_summary`'s total)."""
    import keras

    from kerasfg.export.cli import load_keras_model
    from kerasfg.models.summary import parameter_summary
    from kerasfg.visualize import model_file

    count = parameter_summary(load_keras_model(model_file(run_dir))).total
    keras.utils.clear_session(free_memory=False)
    return count


def compute(table, cells, results):
    """``(entries, {entry id: {"value": ...}}, parameters)`` of the table from the source's finished cells.

    ``parameters`` is ``{(row, column): parameter count}`` of the networks measured.

    Raises:
        ValueError: when a row's network has no more parameters than the baseline's.
    """
    accuracy, parameters = {}, {}
    for cell in cells:
        if cell.id in results:
            accuracy[cell.row, cell.column, cell.seed] = results[cell.id]["value"]
            parameters[cell.row, cell.column] = parameter_count(results[cell.id]["run_dir"])
    entries, values = [], {}
    columns = table.grid.column_labels()
    for row in table.row_labels():
        for seed in sorted({cell.seed for cell in cells}):
            per_column = {}
            for column in columns:
                if (row, column, seed) not in accuracy or (table.baseline, column, seed) not in accuracy:
                    continue
                if row == table.baseline:
                    per_column[column] = accuracy[row, column, seed] / (parameters[row, column] / 1e6)
                    continue
                added = parameters[row, column] - parameters[table.baseline, column]
                if added <= 0:
                    raise ValueError(f"{table.table}: {row} / {column} has {parameters[row, column]:,} parameters, "
                                     f"no more than {table.baseline}'s {parameters[table.baseline, column]:,}; "
                                     f"its gain per added parameter is undefined.")
                gain = accuracy[row, column, seed] - accuracy[table.baseline, column, seed]
                per_column[column] = gain / (added / 1e6)
            ran = [column for column in columns if any(c.column == column and c.seed == seed for c in cells)]
            if table.average and ran and all(column in per_column for column in ran):
                per_column[table.average] = statistics.fmean(per_column[column] for column in ran)
            for column, value in per_column.items():
                entry = Entry(f"{row}/{column}/{seed}", row, column, seed)
                entries.append(entry)
                values[entry.id] = {"value": value}
    return entries, values, parameters


def summarize_derived(table, scale, out, strict=True):
    """``(summary, entries, values, parameters, seeds)``: the table as
    `kerasfg.reproduce.results.summarize` gives a grid's, what it summarizes (`compute`), and the seeds
    of the source cells."""
    from kerasfg.reproduce.results import summarize

    cells, results = source_results(table, scale, out, strict)
    entries, values, parameters = compute(table, cells, results)
    return summarize(table, entries, values), entries, values, parameters, sorted({cell.seed for cell in cells})


def parameter_lines(table, parameters):
    """Markdown lines listing the parameter counts the table divides by."""
    if not parameters:
        return []
    lines = ["Parameters of the source cells' saved models:", ""]
    for row in table.row_labels():
        counts = [f"{column} {parameters[row, column]:,}" for column in table.grid.column_labels()
                  if (row, column) in parameters]
        if counts:
            lines.append(f"- {row}: {', '.join(counts)}")
    return [*lines, ""]


def write_derived(table, scale, out):
    """Compute ``table`` and write ``results.md`` and ``results.csv`` into its directory (atomically).

    Returns:
        ``(directory, entries, values)`` (`compute`).

    Raises:
        FileNotFoundError: when a cell of the source grid has not finished (one line naming them).
    """
    from kerasfg.io_utils import atomic_file
    from kerasfg.reproduce.results import results_csv, results_markdown

    summary, entries, values, parameters, seeds = summarize_derived(table, scale, out)
    directory = grid_directory(table, scale, out)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_file(directory / "results.csv") as handle:
        handle.write(results_csv(table, summary))
    text = results_markdown(table, summary, scale, seeds, table.metric_line(scale, seeds))
    with atomic_file(directory / "results.md") as handle:
        handle.write(text + "\n" + "\n".join(parameter_lines(table, parameters)))
    return directory, entries, values
