"""Derived tables (`kerasfg.reproduce.derived`): Table 4.4 computed from Table 4.3's finished cells.

The source cells are written by hand (a ``result.json`` per cell, pointing at one of two small saved
models whose parameter counts are known), so the table is checked against arithmetic done here.
"""

import csv
import json
import pathlib
import statistics

import keras
import pytest

from kerasfg.config import ConfigError
from kerasfg.reproduce import load_grid, run_grid
from kerasfg.reproduce.grid import RESULT_FILE, DerivedTable, grid_directory
from kerasfg.reproduce.report import report_markdown

REPO = pathlib.Path(__file__).resolve().parents[2]
TABLE = REPO / "experiments" / "002" / "table-4-4.yaml"


def saved_model(directory, units):
    """A run directory holding a model.keras of 4 inputs and one Dense layer: 5 * units parameters."""
    directory.mkdir(parents=True)
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(units)(inputs)).save(directory / "model.keras")
    return directory


@pytest.fixture(scope="module")
def finished_source(tmp_path_factory):
    """Table 4.3's synthetic cells (Gender and Age, 3 seeds) finished under ``out``, with known values."""
    out = tmp_path_factory.mktemp("derived")
    table = load_grid(TABLE)
    runs = {"WRN": saved_model(out / "runs" / "wrn", 200_000), "WARN": saved_model(out / "runs" / "warn", 210_000)}
    accuracy = {}
    directory = grid_directory(table.grid, "synthetic", out) / "cells"
    for i, cell in enumerate(table.grid.cells("synthetic")):
        accuracy[cell.row, cell.column, cell.seed] = value = 50.0 + 7 * i % 13 + (5.0 if cell.row == "WARN" else 0)
        (directory / cell.id).mkdir(parents=True)
        (directory / cell.id / RESULT_FILE).write_text(json.dumps(
            {"cell": cell.id, "value": value, "run_dir": str(runs[cell.row]), "row": cell.row,
             "column": cell.column, "seed": cell.seed}))
    return out, table, accuracy


def test_table_4_4_is_a_derived_table_of_table_4_3():
    table = load_grid(TABLE)
    assert isinstance(table, DerivedTable)
    assert table.grid.path == TABLE.parent / "table-4-3.yaml"
    assert table.column_labels() == ["Dogs", "Food", "Cars", "Gender", "Age", "Birds", "Avg"]
    assert table.row_labels() == ["WRN", "WARN"]


def test_the_table_is_computed_from_the_source_cells(finished_source):
    out, table, accuracy = finished_source
    run = run_grid(table, "synthetic", out=out)
    assert run.trained == []
    wrn, warn = 5 * 200_000 / 1e6, 5 * 210_000 / 1e6 - 5 * 200_000 / 1e6  # millions: the network, the addition
    expected = {}
    for seed in (0, 1, 2):
        for column in ("Gender", "Age"):
            expected.setdefault(("WRN", column), []).append(accuracy["WRN", column, seed] / wrn)
            expected.setdefault(("WARN", column), []).append(
                (accuracy["WARN", column, seed] - accuracy["WRN", column, seed]) / warn)
        for row in ("WRN", "WARN"):
            expected.setdefault((row, "Avg"), []).append(
                (expected[row, "Gender"][-1] + expected[row, "Age"][-1]) / 2)
    with open(run.directory / "results.csv", newline="") as handle:
        lines = {line["model"]: line for line in csv.DictReader(handle)}
    for (row, column), values in expected.items():
        assert float(lines[row][f"{column} mean"]) == pytest.approx(statistics.fmean(values), abs=1e-4)
        assert float(lines[row][f"{column} std"]) == pytest.approx(statistics.stdev(values), abs=1e-4)
        assert int(lines[row][f"{column} n"]) == 3
    assert lines["WARN"]["Avg paper"] == "3.4000" and lines["WRN"]["Dogs n"] == "0"
    text = (run.directory / "results.md").read_text()
    assert text.startswith("# Table 4.4: ")
    assert "- WARN: Gender 1,050,000, Age 1,050,000" in text  # 4 * 210,000 weights + 210,000 biases
    report = report_markdown([table], "synthetic", out, "kerasfg reproduce --report r.md")
    assert "### Table 4.4" in report and "Parameters of the source cells' saved models" in report


def test_an_unfinished_source_stops_with_one_line_naming_its_cells(finished_source, tmp_path):
    _, table, _ = finished_source
    with pytest.raises(FileNotFoundError) as error:
        run_grid(table, "synthetic", out=tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert "table-4-3.yaml, whose 12 of 12 cells at synthetic scale" in message
    assert "wrn__gender__seed0" in message and "kerasfg reproduce" in message
    assert "Not run at synthetic scale" in report_markdown([table], "synthetic", tmp_path, "kerasfg reproduce")


@pytest.mark.parametrize("change, key", [
    (("from: table-4-3.yaml", "from: table-9-9.yaml"), "derived.from"),
    (("baseline: WRN", "baseline: ResNet"), "derived.baseline"),
    (("compute: accuracy_per_million_parameters", "compute: flops"), "derived.compute"),
    (("  WRN: {Dogs: 1.3,", "  WRN: {Horses: 1.0, Dogs: 1.3,"), "targets.WRN.Horses"),
])
def test_a_malformed_derived_table_names_its_key(tmp_path, change, key):
    (tmp_path / "table-4-3.yaml").write_text((TABLE.parent / "table-4-3.yaml").read_text())
    path = tmp_path / "table-4-4.yaml"
    text = TABLE.read_text()
    assert change[0] in text
    path.write_text(text.replace(*change))
    with pytest.raises(ConfigError, match=key):
        load_grid(path)
