"""Every table of ``experiments/`` at ``--scale smoke``: it loads, every cell builds, trains one step with
its objectives and is measured, and the table is written with the paper's numbers beside ours.

One run over all grids under one output folder, as ``benchmarks/bench_reproduce.py`` times it: cells
identical to a cell of an earlier grid (Table 3.1's baselines are Table 3.3's cells without attention)
share its run, so the whole set costs one training per distinct network.
"""

import csv
import json
import math
import pathlib

import pytest

from kerasfg.reproduce import load_grid, run_grid

REPO = pathlib.Path(__file__).resolve().parents[2]
GRIDS = sorted((REPO / "experiments").glob("*/*.yaml"))


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    return {path: run_grid(load_grid(path), "smoke", out=out) for path in GRIDS}


@pytest.mark.slow
def test_every_table_runs_at_smoke_scale_and_writes_its_table(smoke_runs):
    assert len(GRIDS) >= 25
    trained = 0
    for path, run in smoke_runs.items():
        grid = load_grid(path)
        name = path.relative_to(REPO)
        assert len(run.results) == len(run.cells), name
        trained += len(run.trained)
        with open(run.directory / "results.csv", newline="") as handle:
            lines = list(csv.reader(handle))
        assert [line[0] for line in lines[1:]] == grid.row_labels(), name
        header = lines[0]
        seeds = len(grid.seeds_at("smoke"))
        measured = {(cell.row, cell.column) for cell in run.cells}  # a scale's `only` leaves the rest blank
        for line in lines[1:]:
            row = line[0]
            for column in grid.column_labels():
                entry = dict(zip(("mean", "std", "n", "paper"),
                                 line[header.index(f"{column} mean"):header.index(f"{column} mean") + 4]))
                if (row, column) not in measured:
                    assert int(entry["n"] or 0) == 0 and not entry["mean"], (name, row, column, entry)
                    continue
                assert int(entry["n"]) == seeds, (name, row, column)
                assert math.isfinite(float(entry["mean"])), (name, row, column)
                if grid.metric["transform"] in ("percent", "error_percent"):
                    assert 0.0 <= float(entry["mean"]) <= 100.0, (name, row, column, entry)
                target = grid.targets.get(row, {}).get(column)
                expected = target.value if target else None
                paper = float(entry["paper"]) if entry["paper"] else None
                assert paper == (None if expected is None else pytest.approx(expected, abs=5e-5)), (name, row, column)
        assert (run.directory / "results.md").read_text().startswith(f"# {grid.table}: {grid.title}")
    # every distinct network trains once over all tables (a derived table's entries are not cells)
    assert trained < sum(len(run.cells) for path, run in smoke_runs.items()
                         if load_grid(path).runner != "derived") / 3


@pytest.mark.parametrize("path", GRIDS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_synthetic_cell_measures_its_own_run(path):
    """At synthetic scale two cells may read the same number of the same run only when the grid declares
    them the same configuration (rows that name one run twice): a scale's ``set`` that replaces a whole
    mapping (``model.options: {...}``) drops the axis values' keys under it, and rows meant to differ
    would silently train the same network."""
    grid = load_grid(path)
    if grid.runner == "derived":
        pytest.skip("a derived table trains nothing")
    if "synthetic" not in grid.scales:
        pytest.skip("no synthetic scale")
    values = {axis: {value.label: value for value in axis_values} for axis, axis_values in grid.axes.items()}

    def declared(cell):
        return [(values[axis][label].set, values[axis][label].per_scale.get("synthetic"))
                for axis, label in cell.labels.items()]

    first = {}
    for cell in grid.cells("synthetic"):
        other = first.setdefault((cell.fingerprint, json.dumps(cell.metric, sort_keys=True)), cell)
        assert declared(other) == declared(cell), (
            f"{path.name}: cells {other.id} and {cell.id} are declared different but train the same network "
            f"on the same data and read the same metric at synthetic scale")
