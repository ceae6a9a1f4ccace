"""Columns that read other measures of one run, and cells shared across the grids of one output folder."""

import json

import pytest
import yaml

from kerasfg.config import ConfigError
from kerasfg.reproduce import load_grid, run_grid
from kerasfg.reproduce.runner import read_metric

ONE = {
    "paper": "004",
    "table": "Table A",
    "title": "The plain network",
    "metric": {"name": "accuracy (%)", "key": "test.accuracy", "transform": "percent"},
    "base": {"data": {"targets": ["identity"], "shuffle": False},
             "model": {"name": "face_resnet", "attention": None, "options": {"dropout": 0.0}}},
    "axes": {"attention": [{"label": "", "id": "none", "set": {"model.attention": None}}]},
    "rows": ["attention"],
    "columns": [],
    "targets": {},
}
MEASURES = [{"label": "test", "id": "test"},
            {"label": "val", "id": "val",
             "metric": {"key": ["history.val_accuracy"], "name": "validation accuracy (%)"}}]
TWO = {**ONE, "table": "Table B", "title": "With SE, two measures",
       "axes": {"attention": [*ONE["axes"]["attention"], {"label": "SE", "set": {"model.attention": "se"}}],
                "measure": MEASURES},
       "columns": ["measure"], "targets": {"SE": {"val": 50.0}}}


def write(tmp_path, grid, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def test_an_axis_value_may_read_another_metric_of_the_same_run(tmp_path):
    grid = load_grid(write(tmp_path, TWO, "table-b"))
    cells = {cell.id: cell for cell in grid.cells("smoke")}
    assert cells["se__test__seed0"].metric == {"name": "accuracy (%)", "key": ["test.accuracy"],
                                               "transform": "percent"}
    assert cells["se__val__seed0"].metric == {"name": "validation accuracy (%)", "key": ["history.val_accuracy"],
                                              "transform": "percent"}
    assert cells["se__test__seed0"].fingerprint == cells["se__val__seed0"].fingerprint  # one run for both
    bad = {**TWO, "axes": {**TWO["axes"], "measure": [{"label": "x", "metric": {"transform": "log"}}]}}
    with pytest.raises(ConfigError, match=r"axes\.measure\[0\]\.metric\.transform: expected one of"):
        load_grid(write(tmp_path, bad, "bad"))


def test_a_history_metric_reads_the_final_epoch():
    metrics = {"test": {"accuracy": 0.5}, "history": {"val_accuracy": [0.25, 0.75]}}
    assert read_metric(metrics, {"key": ["history.val_accuracy"], "transform": "percent"}) == 75.0
    with pytest.raises(ConfigError, match=r"its history \['val_accuracy'\]"):
        read_metric(metrics, {"key": ["history.loss"], "transform": "identity"})


@pytest.mark.slow
def test_cells_of_another_grid_under_the_same_out_are_shared_not_trained(tmp_path):
    out = tmp_path / "runs"
    first = run_grid(load_grid(write(tmp_path, ONE, "table-a")), "smoke", out=out)
    assert first.trained == ["none__seed0"]
    second = run_grid(load_grid(write(tmp_path, TWO, "table-b")), "smoke", out=out)
    assert second.trained == ["se__test__seed0"]
    assert second.shared == ["none__test__seed0", "none__val__seed0", "se__val__seed0"]

    metrics = json.loads((first.directory / "cells" / "none__seed0" / "metrics.json").read_text())
    results = second.results
    assert results["none__test__seed0"]["value"] == pytest.approx(100 * metrics["test"]["accuracy"])
    assert results["none__val__seed0"]["value"] == pytest.approx(100 * metrics["history"]["val_accuracy"][-1])
    assert results["none__test__seed0"]["run_dir"] == first.results["none__seed0"]["run_dir"]
    own = json.loads((second.directory / "cells" / "se__test__seed0" / "metrics.json").read_text())
    assert results["se__val__seed0"]["value"] == pytest.approx(100 * own["history"]["val_accuracy"][-1])

    again = run_grid(load_grid(write(tmp_path, TWO, "table-b")), "smoke", out=out)
    assert again.trained == [] and len(again.skipped) == 4
