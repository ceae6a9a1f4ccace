"""Per-class tables of a grid: a confusion or an accuracy per group summed over folds and seeds, or a code's
attributes.

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

A table has one of three kinds, each an object in `KINDS` that owns its targets, its options, the
post-step that computes its numbers from a finished cell, and its rows beside the paper's:

- ``confusion`` (`kerasfg.reproduce.class_counts.Confusion`): a count matrix of the cells'
  ``metrics.json``, summed over the entry's folds and seeds, each row as a percentage of its real class;
- ``accuracy_by`` (`kerasfg.reproduce.class_counts.AccuracyBy`): the right and total predictions of a
  trained cell's model within each class of another task of its data, summed over the entry's cells;
- ``code_attributes`` (`kerasfg.reproduce.code_attributes.CodeAttributes`): the attributes most and least
  correlated with each bit of the entry's output code (Table 6.2), with its own ``bits``, ``order`` and
  targets.

``targets`` map class names (the data's, e.g. Adience's ``8-13`` where the thesis prints ``8-12``) to
the paper's numbers: a row of percentages for a confusion, a percentage for an accuracy. Each table is
written beside the results table, as ``<table slug>.csv`` and a section of ``results.md``, and into
the reproduction report.

A kind is an object with a ``name`` (its key in the grid file), ``options`` (its own keys and their
defaults), ``scores_output`` (whether ``output:`` applies) and the methods ``parse(key, spec)`` ->
``(targets, options)``, ``check_data(table, cells, data_root)`` (before any training),
``needs_evaluation(table, cell, cell_dir)`` and ``evaluate(table, cell, cell_dir, run_dir, data_root)`` (the
post-step of a finished cell; a kind whose ``needs_evaluation`` is always False has no ``evaluate``),
``summarize(table, directory, cells, results)`` (a summary, or None when no cell has its numbers yet),
``csv_rows(table, summary)`` and ``markdown(table, summary)``.
`ClassTable`'s methods hand each call to its kind.
"""

import csv
import dataclasses
import io
import pathlib

from kerasfg.config import ConfigError, check_mapping
from kerasfg.reproduce.class_counts import AccuracyBy, Confusion
from kerasfg.reproduce.code_attributes import CodeAttributes

KINDS = {kind.name: kind for kind in (Confusion(), AccuracyBy(), CodeAttributes())}
OPTIONS = tuple(dict.fromkeys(name for kind in KINDS.values() for name in kind.options))
KEYS = ("table", "title", "entry", "targets", "output", "note", *OPTIONS, *KINDS)


@dataclasses.dataclass(frozen=True)
class ClassTable:
    """One per-class table of a grid (module docstring).

    Attributes:
        id: its file name without ``.csv`` (a slug of ``table``).
        table, title: what it reproduces.
        row, column: the results table's entry it breaks down.
        kind: its kind, an object of `KINDS` (``kind.name``: ``"confusion"``, ``"accuracy_by"`` or
            ``"code_attributes"``).
        source: the dotted paths of the count matrix (confusion), the grouping tasks (accuracy_by), or
            the folder of the attribute files (code_attributes).
        targets: ``{class name: number or list of numbers}`` (code_attributes: ``{rank: {side: (name, pcc)}}``).
        output: the model output scored (accuracy_by, code_attributes), or None for the cell's only one.
        note: what the reader should know about the targets.
        options: the kind's own settings (code_attributes: ``bits`` and ``order``).
    """

    id: str
    table: str
    title: str
    row: str
    column: str
    kind: object
    source: tuple
    targets: dict
    output: str | None = None
    note: str | None = None
    options: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        return (f"<ClassTable {self.table!r}: {self.kind.name} of ({self.row!r}, {self.column!r}), "
                f"{len(self.targets)} targets>")

    def in_entry(self, cell):
        """Whether ``cell`` is one of the entry the table breaks down (any of its folds and seeds)."""
        return (cell.row, cell.column) == (self.row, self.column)

    def check_data(self, cells, data_root):
        """Check before any training what the table will read besides the cells' runs (its kind's)."""
        self.kind.check_data(self, cells, data_root)

    def needs_evaluation(self, cell, cell_dir):
        """Whether ``cell`` is one of the entry whose post-step (per-group counts, code correlations) is
        still to be run."""
        return self.kind.needs_evaluation(self, cell, cell_dir)

    def evaluate(self, cell, cell_dir, run_dir, data_root="."):
        """The post-step of a finished cell of the entry, written into ``cell_dir``; ``run_dir`` is the
        run evaluated (the cell's, or the one it shares)."""
        self.kind.evaluate(self, cell, cell_dir, run_dir, data_root)

    def summarize(self, directory, cells, results):
        """The table's numbers over the finished cells of its entry (the kind's summary), or None when no
        cell has them yet.

        Raises:
            ValueError: when the cells' counts cannot be added up (different class names).
        """
        return self.kind.summarize(self, directory, cells, results)

    def csv(self, summary):
        """The CSV text of a summary: ours (and the counts they come from) beside the paper's."""
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.kind.csv_rows(self, summary))
        return out.getvalue()

    def markdown(self, summary):
        """Markdown lines of the table: ours beside the paper's, or a line saying no cell has its numbers
        yet."""
        return [f"#### {self.table}: {self.title}", "", *self.kind.markdown(self, summary)]


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
        kinds = [name for name in KINDS if name in spec]
        if len(kinds) != 1:
            raise ConfigError(f"{key}: expected exactly one of {list(KINDS)} (the kind of table), got {kinds}.")
        kind = KINDS[kinds[0]]
        source = [spec[kind.name]] if isinstance(spec[kind.name], str) else spec[kind.name]
        if not isinstance(source, list) or not source or not all(isinstance(s, str) and s for s in source):
            raise ConfigError(f"{key}.{kind.name}: expected a name or a non-empty list of names, got "
                              f"{spec[kind.name]!r}.")
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
        if output is not None and (not kind.scores_output or not isinstance(output, str)):
            scored = " or ".join(name for name, other in KINDS.items() if other.scores_output)
            raise ConfigError(f"{key}.output: an output name, for an {scored} table only; got {output!r}.")
        for name in OPTIONS:
            if name in spec and name not in kind.options:
                owners = " or ".join(other for other, of in KINDS.items() if name in of.options)
                raise ConfigError(f"{key}.{name}: for a {owners} table only.")
        targets, options = kind.parse(key, spec)
        tables.append(ClassTable(slug(spec["table"]), spec["table"], spec["title"], entry["row"], entry["column"],
                                 kind, tuple(source), targets, output, spec.get("note"), options))
    return tables


def write_class_tables(directory, grid, cells, results):
    """Sum each class table of ``grid`` over its finished cells; write ``<table slug>.csv`` (atomically).

    Returns:
        The Markdown lines of every table (for ``results.md``).
    """
    from kerasfg.io_utils import atomic_file

    lines = []
    for table in grid.class_tables:
        summary = table.summarize(directory, cells, results)
        if summary is not None:
            with atomic_file(pathlib.Path(directory) / f"{table.id}.csv") as handle:
                handle.write(table.csv(summary))
        lines += table.markdown(summary)
    return lines
