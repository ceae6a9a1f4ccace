"""The reproduction page: claims judged on finished cells (difference against its standard error over
seeds), the page's sections, and ``kerasfg reproduce --report``."""

import dataclasses
import json
import math
import statistics

import pytest
import yaml

from kerasfg.cli import main
from kerasfg.config import ConfigError
from kerasfg.reproduce import load_grid
from kerasfg.reproduce.grid import Comparison
from kerasfg.reproduce.report import claim_verdict, judge, report_markdown
from kerasfg.reproduce.results import grid_directory, summarize

GRID = {
    "paper": "001",
    "table": "Table 9",
    "title": "Attention on two datasets",
    "source": "001_paper.txt",
    "notes": "NOTES-001.md",
    "provenance": "9, Table 9 [report]",
    "metric": {"name": "accuracy (%)", "key": "test.accuracy", "transform": "percent"},
    "base": {"data": {"targets": ["expression"]}, "model": {"name": "face_resnet"}},
    "axes": {"attention": [{"label": "", "id": "none", "set": {"model.attention": None}},
                           {"label": "SE", "set": {"model.attention": "se"}},
                           {"label": "CBAM", "set": {"model.attention": "cbam"}}],
             "dataset": [{"label": "A", "set": {"data.batch_size": 4}}, {"label": "B", "set": {"data.batch_size": 8}}]},
    "rows": ["attention"],
    "columns": ["dataset"],
    "seeds": [0, 1, 2],
    "targets": {"": {"A": 60.0, "B": 70.0}, "SE": {"A": 65.0, "B": 69.0}, "CBAM": {"A": 66.0}},
    "claims": [
        {"statement": "SE helps", "compare": [{"better": "SE", "than": ""}],
         "caveat": "the synthetic expressions are global"},
        {"statement": "CBAM helps", "compare": [{"better": "CBAM", "than": ""}]},
        {"statement": "B is easier than A with SE", "compare": [{"better": "B", "than": "A", "in": "SE"}]},
    ],
}
# {(row id, column): values over seeds 0, 1, 2}; CBAM on B never ran, CBAM on A ran one seed
VALUES = {("none", "A"): [60.0, 62.0, 61.0], ("none", "B"): [70.0, 71.0, 72.0],
          ("se", "A"): [66.0, 67.0, 68.0], ("se", "B"): [69.0, 71.0, 73.0], ("cbam", "A"): [63.0]}


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "table-9.yaml"
    path.write_text(yaml.safe_dump(GRID, sort_keys=False))
    return load_grid(path)


def write_results(grid, out):
    directory = grid_directory(grid, "synthetic", out)
    for (row, column), values in VALUES.items():
        for seed, value in enumerate(values):
            cell = directory / "cells" / f"{row}__{column.lower()}__seed{seed}"
            cell.mkdir(parents=True)
            (cell / "result.json").write_text(json.dumps({"value": value, "test": {"accuracy": value / 100}}))
    (directory / "cells" / "cbam__b__seed0").mkdir()  # unfinished: no result.json


def se(a, b):
    return math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))


@pytest.fixture
def table(grid, tmp_path):
    write_results(grid, tmp_path / "runs")
    from kerasfg.reproduce.results import finished_results

    cells = grid.cells("synthetic")
    return summarize(grid, cells, finished_results(grid_directory(grid, "synthetic", tmp_path / "runs"), cells))


def test_a_comparison_is_judged_by_its_difference_against_twice_its_standard_error(grid, table):
    se_helps, cbam_helps, b_easier = grid.claims
    a, b = judge(se_helps.compare[0], table)
    # A: 67 - 61 = +6 over se ~0.82: reproduces; B: 71 - 71 = 0: within the spread
    assert (a.better, a.than) == (("SE", "A"), ("", "A"))
    assert a.difference == pytest.approx(6.0) and a.se == pytest.approx(se(VALUES["se", "A"], VALUES["none", "A"]))
    assert (a.verdict, a.n, a.paper) == ("reproduces", (3, 3), 5.0)
    assert b.difference == pytest.approx(0.0) and b.verdict == "within the spread" and b.paper == -1.0
    assert claim_verdict([a, b]) == "partly reproduces"
    cbam, unrun = judge(cbam_helps.compare[0], table)
    assert (cbam.verdict, cbam.se, cbam.n, cbam.difference) == ("one seed", None, (1, 3), pytest.approx(2.0))
    assert (unrun.verdict, unrun.n, unrun.difference, unrun.paper) == ("not run", (0, 3), None, None)
    assert claim_verdict([cbam, unrun]) == "inconclusive"
    (easier,) = judge(b_easier.compare[0], table)  # two columns, compared in the SE row
    assert (easier.better, easier.than, easier.verdict) == (("SE", "B"), ("SE", "A"), "reproduces")
    assert easier.difference == pytest.approx(4.0) and easier.se == pytest.approx(math.sqrt(5 / 3))


def test_a_lower_is_better_metric_turns_the_comparison_around(grid, table):
    (a, b) = judge(grid.claims[0].compare[0], table, better="lower")
    assert a.difference == pytest.approx(6.0) and a.verdict == "reversed"
    assert claim_verdict([a, b]) == "does not reproduce"
    unrun = judge(Comparison("CBAM", "", "rows", ("B",)), table)
    assert [o.verdict for o in unrun] == ["not run"] and claim_verdict(unrun) == "not run"
    held = dataclasses.replace(a, verdict="reproduces")
    assert claim_verdict([held, held]) == "reproduces" and claim_verdict([held, a]) == "partly reproduces"


def test_the_page_has_each_claim_its_comparisons_and_the_table(grid, tmp_path):
    write_results(grid, tmp_path / "runs")
    never_run = load_grid(tmp_path / "table-9.yaml")
    never_run.paper = "003"
    page = report_markdown([grid, never_run], "synthetic", out=tmp_path / "runs", command="kerasfg reproduce x")
    assert page.startswith("# Reproducing the papers\n")
    assert "Generated by `kerasfg reproduce x`" in page
    assert "| 001 | Table 9 | SE helps | partly reproduces |" in page
    assert "| 001 | Table 9 | CBAM helps | inconclusive |" in page
    assert "1 of its 2 comparisons has no finished cells at this scale." in page
    assert "| 003 | Table 9 | SE helps | not run |" in page
    assert "## Paper 001 (`001_paper.txt`)" in page and "13 of 18 cells finished" in page
    spread = se(VALUES["se", "A"], VALUES["none", "A"])
    assert f"| SE vs (none) | A | +6.00 ± {spread:.2f} (n=3, 3) | +5.00 | reproduces |" in page
    assert "| CBAM vs (none) | A | +2.00 (n=1, 3) | +6.00 | one seed |" in page
    assert "Why it may not reproduce here: the synthetic expressions are global" in page
    assert "| SE | 67.00 ± 1.00 (n=3) | 65.00 | +2.00 | 71.00 ± 2.00 (n=3) | 69.00 | +2.00 |" in page
    assert "Not run at the synthetic scale yet" in page


@pytest.mark.parametrize("claims, message", [
    ([{"statement": "x"}], r"claims\[0\]\.compare: expected a non-empty list"),
    ([{"statement": "", "compare": []}], r"claims\[0\]\.statement: expected a non-empty string"),
    ([{"statement": "x", "compare": [{"better": "SE", "than": "A"}]}],
     r"claims\[0\]\.compare\[0\]: 'SE' and 'A' are not two rows nor two columns of the table; its rows are "
     r"\['', 'SE', 'CBAM'\] and its columns \['A', 'B'\]"),
    ([{"statement": "x", "compare": [{"better": "SE", "than": "", "in": ["A", "C"]}]}],
     r"claims\[0\]\.compare\[0\]\.in: expected a non-empty list of the columns \['A', 'B'\]"),
    ([{"statement": "x", "compare": [{"better": "SE", "than": "SE"}]}],
     r"claims\[0\]\.compare\[0\]: expected two different labels better and than, got \[.SE., .SE.\]"),
    ([{"statement": "x", "why": "y", "compare": []}], r"claims\[0\]\.why: unknown key"),
])
def test_a_malformed_claim_names_its_key(tmp_path, claims, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GRID, "claims": claims}))
    with pytest.raises(ConfigError, match=r"bad\.yaml: " + message):
        load_grid(path)


def test_the_metric_says_which_way_is_better(tmp_path):
    path = tmp_path / "error.yaml"
    path.write_text(yaml.safe_dump({**GRID, "metric": {**GRID["metric"], "transform": "error_percent"}}))
    assert load_grid(path).metric["better"] == "lower"
    path.write_text(yaml.safe_dump({**GRID, "metric": {**GRID["metric"], "better": "up"}}))
    with pytest.raises(ConfigError, match=r"metric\.better: expected one of \['higher', 'lower'\]"):
        load_grid(path)


def test_the_command_writes_the_report_without_training(grid, tmp_path, capsys):
    write_results(grid, tmp_path / "runs")
    page = tmp_path / "docs" / "reproduction.md"
    assert main(["reproduce", str(grid.path), "--scale", "synthetic", "--out", str(tmp_path / "runs"),
                 "--report", str(page)]) == 0
    assert "Wrote " in capsys.readouterr().out
    text = page.read_text()
    assert "| 001 | Table 9 | SE helps | partly reproduces |" in text and "--report" in text
    assert not list((tmp_path / "runs").rglob("metrics.json"))  # nothing trained
