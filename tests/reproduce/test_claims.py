"""A table's claims: validation, the verdicts on our numbers, and the generated reproduction report."""

import json
import math

import pytest
import yaml

from kerasfg.cli import main
from kerasfg.config import ConfigError
from kerasfg.io_utils import write_json
from kerasfg.reproduce import load_grid
from kerasfg.reproduce.claims import evaluate
from kerasfg.reproduce.results import summarize
from kerasfg.reproduce.grid import grid_directory

GRID = {
    "paper": "003",
    "table": "Table 9",
    "title": "Error of two methods",
    "metric": {"name": "error (%)", "key": "test.accuracy", "transform": "error_percent"},
    "base": {"data": {"targets": ["identity"]}, "model": {"name": "face_resnet", "attention": None}},
    "axes": {"method": [{"label": "plain", "set": {"model.attention": None}},
                        {"label": "ABN", "set": {"model.attention": "se"}}],
             "depth": [{"label": "small", "set": {}}, {"label": "large", "set": {"model.options.dropout": 0.1}}]},
    "rows": ["depth"],
    "columns": ["method"],
    "seeds": [0, 1, 2],
    "targets": {"small": {"plain": 30.0, "ABN": 28.5}},
    "claims": [{"claim": "ABN lowers the error",
                "compare": [{"better": ["small", "ABN"], "worse": ["small", "plain"]},
                            {"better": ["large", "ABN"], "worse": ["large", "plain"]}],
                "caveat": "short runs"}],
}


def write(tmp_path, grid, name="table-9.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


@pytest.mark.parametrize("change, message", [
    ({"claims": [{"claim": "x", "compare": [{"better": ["huge", "ABN"], "worse": ["small", "plain"]}]}]},
     r"claims\[0\]\.compare\[0\]\.better: 'huge' is not a row of the table; its rows are \['small', 'large'\]"),
    ({"claims": [{"claim": "x", "compare": [{"better": ["small"], "worse": ["small", "plain"]}]}]},
     r"claims\[0\]\.compare\[0\]\.better: expected \[row label, column label\]"),
    ({"claims": [{"claim": "x", "direction": "up", "compare": [{"better": ["small", "ABN"],
                                                                "worse": ["small", "plain"]}]}]},
     r"claims\[0\]\.direction: expected one of \['higher', 'lower'\], got 'up'"),
    ({"claims": [{"compare": []}]}, r"claims\[0\]\.claim: expected the claim as a non-empty string"),
])
def test_a_malformed_claim_names_its_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_grid(write(tmp_path, {**GRID, **change}))


def results_for(grid, values):
    """Fake finished results: ``{(row, column): [value per seed]}``."""
    results = {}
    for cell in grid.cells("synthetic"):
        seeds = values.get((cell.row, cell.column))
        if seeds is not None and cell.seed < len(seeds):
            results[cell.id] = {"value": seeds[cell.seed], "test": {}}
    return results


def test_verdicts_follow_the_mean_advantage_and_its_standard_error(tmp_path):
    grid = load_grid(write(tmp_path, GRID))
    (claim,) = grid.claims
    assert claim.direction == "lower"  # an error: lower is better
    values = {("small", "ABN"): [20.0, 22.0, 24.0], ("small", "plain"): [30.0, 31.0, 32.0],
              ("large", "ABN"): [25.0, 29.0, 27.0], ("large", "plain"): [27.0, 28.0, 26.0]}
    table = summarize(grid, grid.cells("synthetic"), results_for(grid, values))
    verdict, (small, large) = evaluate(claim, table)
    assert small.advantage == pytest.approx(31.0 - 22.0)
    assert small.standard_error == pytest.approx(math.sqrt(2.0 ** 2 / 3 + 1.0 ** 2 / 3))
    assert small.paper_advantage == pytest.approx(1.5) and small.verdict == "holds"
    assert large.advantage == pytest.approx(0.0) and large.verdict == "does not hold"
    assert large.paper_advantage is None
    assert verdict == "partly holds"

    values[("large", "ABN")] = [26.5, 27.5, 26.0]  # ahead by 0.33, standard error 0.70
    verdict, (_, large) = evaluate(claim, summarize(grid, grid.cells("synthetic"), results_for(grid, values)))
    assert large.verdict == "holds within noise" and verdict == "holds within noise"

    one_seed = {key: seeds[:1] for key, seeds in values.items() if key[0] == "small"}
    verdict, (small, large) = evaluate(claim, summarize(grid, grid.cells("synthetic"), results_for(grid, one_seed)))
    assert (small.verdict, large.verdict, verdict) == ("holds, one seed", "not run", "holds")


def test_the_report_is_written_from_the_finished_cells(tmp_path, capsys):
    path = write(tmp_path, GRID)
    grid = load_grid(path)
    out = tmp_path / "runs"
    values = {("small", "ABN"): [30.0, 31.0, 32.0], ("small", "plain"): [20.0, 22.0, 24.0]}
    for cell_id, result in results_for(grid, values).items():
        write_json(grid_directory(grid, "synthetic", out) / "cells" / cell_id / "result.json", result)
    report = tmp_path / "docs" / "reproduction.md"
    assert main(["reproduce", str(path), "--scale", "synthetic", "--out", str(out), "--report", str(report)]) == 0
    assert "Report of 1 grids at synthetic scale" in capsys.readouterr().out
    text = report.read_text()
    assert f"Generated by `kerasfg reproduce --report {report} --scale synthetic --out {out} {path}`" in text
    assert "| 003 | Table 9 | ABN lowers the error | does not hold |" in text
    assert ("| small / ABN | small / plain | 31.00 ± 1.00 (n=3) | 22.00 ± 2.00 (n=3) | -9.00 ± 1.29 | +1.50 "
            "| does not hold |") in text
    assert "Why it may not hold here: short runs" in text
    assert "| small | 22.00 ± 2.00 (n=3) / 30.00 | 31.00 ± 1.00 (n=3) / 28.50 |" in text
    assert "6 cells finished" not in text and "3 of 12 cells finished" not in text
    assert "6 of 12 cells finished, seeds [0, 1, 2]" in text
    assert json.loads(json.dumps(text))  # plain text, nothing else written
    assert sorted(p.name for p in report.parent.iterdir()) == ["reproduction.md"]


def test_a_grid_without_finished_cells_is_reported_as_not_run(tmp_path):
    path = write(tmp_path, GRID)
    report = tmp_path / "reproduction.md"
    assert main(["reproduce", str(path), "--scale", "synthetic", "--out", str(tmp_path / "none"),
                 "--report", str(report)]) == 0
    text = report.read_text()
    assert f"Not run at synthetic scale (`kerasfg reproduce {path.as_posix()} --scale synthetic`)." in text
    assert "| 003 | Table 9 | ABN lowers the error | not run |" in text
