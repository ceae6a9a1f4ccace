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
import pathlib
import statistics

from kerasfg.config import ConfigError, check_mapping, read_yaml

REQUIRED = ("paper", "table", "title", "derived", "targets")
OPTIONAL = ("source", "notes", "provenance", "description", "claims")
DERIVED_KEYS = ("from", "compute", "baseline", "average")
COMPUTATIONS = ("accuracy_per_million_parameters",)


@dataclasses.dataclass
class DerivedTable:
    """A loaded derived table (module docstring).

    Attributes:
        path: its file.
        paper, table, title, source, notes, provenance, description: what it reproduces.
        grid: the source `kerasfg.reproduce.Grid`.
        compute: the computation's name (`COMPUTATIONS`).
        baseline: the row the others are measured against.
        average: the label of the column of row means, or None.
        targets: ``{row: {column: kerasfg.reproduce.grid.Target}}``.
        claims: the table's claims (`kerasfg.reproduce.claims.Claim`).
    """

    path: pathlib.Path
    paper: str
    table: str
    title: str
    grid: object
    compute: str
    baseline: str
    average: str | None
    targets: dict = dataclasses.field(default_factory=dict)
    source: str | None = None
    notes: str | None = None
    provenance: str | None = None
    description: str | None = None
    claims: list = dataclasses.field(default_factory=list)
    metric: dict = dataclasses.field(default_factory=lambda: {
        "name": "accuracy increment (%) per million parameters", "transform": "identity"})
    repeats: list = dataclasses.field(default_factory=list)
    class_tables: list = dataclasses.field(default_factory=list)
    runner: str = "derived"

    @property
    def id(self):
        return self.path.stem

    @property
    def rows(self):
        return self.grid.rows

    def row_labels(self):
        return self.grid.row_labels()

    def column_labels(self):
        return [*self.grid.column_labels(), *([self.average] if self.average else [])]

    def seeds_at(self, scale):
        return self.grid.seeds_at(scale)

    def metric_line(self, scale, seeds):
        """The results' line saying what was measured: the source grid and its seeds."""
        return (f"Computed from the finished cells of `{self.grid.path.as_posix()}` ({self.compute}, baseline "
                f"{self.baseline}). Scale: {scale}, seeds {seeds}.")


def is_derived(data):
    """Whether a table file's mapping is a derived table (it has ``derived:``)."""
    return isinstance(data, dict) and "derived" in data


def load_derived(path, data=None):
    """Load and validate a derived table file and its source grid.

    Raises:
        ConfigError: naming the file and the key of what is wrong.
    """
    from kerasfg.reproduce.claims import parse_claims
    from kerasfg.reproduce.grid import _target, check_header, load_grid

    path = pathlib.Path(path)
    data = read_yaml(path) if data is None else data
    try:
        check_header(data, REQUIRED, OPTIONAL, "a derived table")
        spec = check_mapping("derived", data["derived"], DERIVED_KEYS)
        if not isinstance(spec.get("from"), str) or not spec["from"].endswith(".yaml"):
            raise ConfigError(f"derived.from: expected the source grid file (e.g. table-4-3.yaml, relative to "
                              f"this file), got {spec.get('from')!r}.")
        source = path.parent / spec["from"]
        if not source.is_file():
            raise ConfigError(f"derived.from: {source} does not exist.")
        if spec.get("compute") not in COMPUTATIONS:
            raise ConfigError(f"derived.compute: expected one of {list(COMPUTATIONS)}, got {spec.get('compute')!r}.")
        grid = load_grid(source)
        if grid.runner != "training" or grid.repeats:
            raise ConfigError(f"derived.from: {source.name} must be a grid of training runs without repeats.")
        if spec.get("baseline") not in grid.row_labels():
            raise ConfigError(f"derived.baseline: expected a row of {source.name} {grid.row_labels()}, got "
                              f"{spec.get('baseline')!r}.")
        average = spec.get("average")
        if average is not None and (not isinstance(average, str) or average in grid.column_labels()):
            raise ConfigError(f"derived.average: expected a new column label, got {average!r}.")
        table = DerivedTable(path, data["paper"], data["table"], data["title"], grid, spec["compute"],
                             spec["baseline"], average,
                             **{key: data.get(key) for key in ("source", "notes", "provenance", "description")})
        check_mapping("targets", data["targets"])
        for row, values in data["targets"].items():
            if row not in table.row_labels():
                raise ConfigError(f"targets.{row}: not a row; the rows are {table.row_labels()}.")
            for column in check_mapping(f"targets.{row}", values):
                if column not in table.column_labels():
                    raise ConfigError(f"targets.{row}.{column}: not a column; the columns are "
                                      f"{table.column_labels()}.")
            table.targets[row] = {column: _target(f"targets.{row}.{column}", value) for column, value in values.items()}
        table.claims = parse_claims(data.get("claims") or [], table.row_labels(), table.column_labels(), "identity")
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return table


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
    from kerasfg.reproduce.report import finished_results

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
    from kerasfg.reproduce.runner import grid_directory

    summary, entries, values, parameters, seeds = summarize_derived(table, scale, out)
    directory = grid_directory(table, scale, out)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_file(directory / "results.csv") as handle:
        handle.write(results_csv(table, summary))
    text = results_markdown(table, summary, scale, seeds, table.metric_line(scale, seeds))
    with atomic_file(directory / "results.md") as handle:
        handle.write(text + "\n" + "\n".join(parameter_lines(table, parameters)))
    return directory, entries, values
