"""The experiment-grid schema: loading, validation errors that name the key, cells at each scale, and
the results table."""

import pathlib
import statistics

import pytest
import yaml

from kerasfg.config import ConfigError
from kerasfg.reproduce import load_grid
from kerasfg.reproduce.results import results_csv, results_markdown, summarize

REPO = pathlib.Path(__file__).resolve().parents[2]

GRID = {
    "paper": "004",
    "table": "Table 9.9",
    "title": "A tiny grid",
    "notes": "NOTES-004.md",
    "provenance": "test [derived]",
    "metric": {"name": "accuracy (%)", "key": "test.accuracy", "transform": "percent"},
    "base": {"data": {"targets": ["identity"]}, "model": {"name": "face_resnet"},
             "train": {"epochs": 3}},
    "axes": {
        "attention": [{"label": "", "id": "none", "set": {"model.attention": None}},
                      {"label": "SE", "set": {"model.attention": "se"}, "synthetic": {"train.epochs": 9}}],
        "width": [{"label": "narrow", "set": {"model.options.hidden_units": 8}},
                  {"label": "wide", "set": {"model.options.hidden_units": 32}}],
    },
    "rows": ["attention"],
    "columns": ["width"],
    "seeds": [0, 1],
    "scales": {"synthetic": {"seeds": [5], "only": {"width": ["wide"]}, "set": {"data.batch_size": 4}}},
    "targets": {"": {"narrow": 50.0, "wide": None}, "SE": {"wide": {"value": 61.5, "tag": "report"}}},
}


def write(tmp_path, grid, name="grid.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def test_cells_combine_base_axes_seeds_and_the_scale_in_order(tmp_path):
    grid = load_grid(write(tmp_path, GRID))
    assert grid.id == "grid" and grid.row_labels() == ["", "SE"] and grid.column_labels() == ["narrow", "wide"]
    full = grid.cells("full")
    assert [c.id for c in full] == [f"{a}__{w}__seed{s}" for a in ("none", "se") for w in ("narrow", "wide")
                                    for s in (0, 1)]
    se_wide = full[-1]
    assert (se_wide.row, se_wide.column, se_wide.seed) == ("SE", "wide", 1)
    assert se_wide.config.model.attention == "se" and se_wide.config.model.options == {"hidden_units": 32}
    assert se_wide.config.train.seed == 1 and se_wide.config.train.epochs == 3
    synthetic = grid.cells("synthetic")  # only the wide column, seed 5, the axis value's own block
    assert [c.id for c in synthetic] == ["none__wide__seed5", "se__wide__seed5"]
    assert [c.config.train.epochs for c in synthetic] == [3, 9]
    assert synthetic[0].config.data.batch_size == 4
    smoke = grid.cells("smoke")[0].config
    assert (smoke.data.source, smoke.train.epochs, smoke.train.run_eagerly) == ("synthetic", 1, True)
    assert smoke.model.options == {"hidden_units": 8, "widths": [16, 32], "blocks": [1, 1]}  # the smallest form
    assert grid.targets["SE"]["wide"].value == 61.5 and grid.targets["SE"]["wide"].tag == "report"


def test_identical_cells_share_one_fingerprint():
    grid = load_grid(REPO / "experiments" / "001" / "table-3-3.yaml")
    smoke = grid.cells("smoke")
    # 8 backbones x 4 attention modules x 3 datasets; the datasets are one stand-in at smoke scale and
    # ResNet-50/101/152 one ResNet-10 at their smallest: 2 VGGs + 2 ResNets, times 4 attention modules.
    assert len(smoke) == 96 and len({cell.fingerprint for cell in smoke}) == 16
    full = grid.cells("full", data_root="/data")
    assert len({cell.fingerprint for cell in full}) == len(full) == 288
    assert full[0].config.data.dataset.root == "/data/ck+"


@pytest.mark.parametrize("change, message", [
    ({"table": None}, r"table: missing"),
    ({"colour": 1}, r"colour: unknown key"),
    ({"rows": ["size"]}, r"rows\[0\]: 'size' is not an axis; the axes are \['attention', 'width'\]"),
    ({"columns": ["attention"]}, r"columns: axis 'attention' is also in rows"),
    ({"columns": []}, r"rows: axis 'width' is in neither rows nor columns"),
    ({"axes": {"attention": [], "width": GRID["axes"]["width"]}}, r"axes\.attention: expected a non-empty list"),
    ({"axes": {**GRID["axes"], "width": [{"label": "a"}, {"label": "a"}]}},
     r"axes\.width\[1\]\.label: 'a' \(id 'a'\) appears twice"),
    ({"axes": {**GRID["axes"], "width": [{"label": "a", "sett": {}}]}}, r"axes\.width\[0\]\.sett: unknown key"),
    ({"metric": {"name": "x", "key": "test.accuracy", "transform": "log"}}, r"metric\.transform: expected one of"),
    ({"metric": {"name": "x"}}, r"metric\.key: expected a dotted path"),
    ({"targets": {"CBAM": {"narrow": 1.0}}}, r"targets\.CBAM: 'CBAM' is not a row of the grid; its rows are "
                                             r"\['', 'SE'\]"),
    ({"targets": {"SE": {"narow": 1.0}}}, r"targets\.SE\.narow: 'narow' is not a column"),
    ({"targets": {"SE": {"wide": "61%"}}}, r"targets\.SE\.wide: expected a number or null, got '61%'"),
    ({"seeds": [0, 0]}, r"seeds: seeds repeat"),
    ({"scales": {"tiny": {}}}, r"scales\.tiny: unknown scale; expected one of \['smoke', 'synthetic', 'full'\]"),
    ({"scales": {"synthetic": {"only": {"width": ["medium"]}}}}, r"scales\.synthetic\.only\.width: expected a "
                                                                r"non-empty list of its labels \['narrow', 'wide'\]"),
    ({"base": {"train": {"epochs": 0}}}, r"cell none__narrow__seed0: train\.epochs: expected a positive integer"),
    ({"axes": {**GRID["axes"], "width": [{"label": "narrow", "set": {"model.optoins.x": 1}}, {"label": "wide"}]}},
     r"cell none__narrow__seed0: model\.optoins: unknown key"),
])
def test_a_malformed_grid_names_the_file_and_the_key(tmp_path, change, message):
    grid = {**GRID, **change}
    grid = {key: value for key, value in grid.items() if value is not None}
    with pytest.raises(ConfigError, match=r"grid\.yaml: " + message):
        load_grid(write(tmp_path, grid))


def test_a_missing_grid_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"grid file .*nowhere\.yaml does not exist"):
        load_grid(tmp_path / "nowhere.yaml")


def test_smoke_needs_synthetic_tasks(tmp_path):
    grid = load_grid(write(tmp_path, {**GRID, "base": {**GRID["base"], "data": {"targets": ["label"]}}}))
    with pytest.raises(ConfigError, match=r"cell none__narrow__seed0: data\.targets: \['label'\] are not tasks of "
                                          r"the synthetic faces .*set them in the grid's scales\.smoke\.set"):
        grid.cells("smoke")


def test_the_synthetic_scale_needs_synthetic_faces(tmp_path):
    base = {**GRID["base"], "data": {"source": "dataset", "targets": ["expression"],
                                     "dataset": {"name": "jaffe", "root": "jaffe"}}}
    grid = load_grid(write(tmp_path, {**GRID, "base": base}))
    with pytest.raises(ConfigError, match=r"cell none__wide__seed5: data\.source: the synthetic scale runs on the "
                                          r"synthetic faces; set data\.source: synthetic"):
        grid.cells("synthetic")


def test_results_are_the_mean_and_spread_over_seeds_beside_the_paper(tmp_path):
    grid = load_grid(write(tmp_path, GRID))
    cells = grid.cells("full")
    values = {"none__narrow__seed0": 40.0, "none__narrow__seed1": 45.0, "se__wide__seed0": 70.0,
              "se__wide__seed1": 60.0, "se__narrow__seed0": 55.0}  # se__narrow__seed1 unfinished
    results = {cell: {"value": value} for cell, value in values.items()}
    table = summarize(grid, cells, results)
    assert table["", "narrow"] == {"mean": 42.5, "std": statistics.stdev([40, 45]), "n": 2, "paper": 50.0,
                                   "difference": -7.5}
    assert table["SE", "narrow"]["n"] == 1 and table["SE", "narrow"]["std"] == 0.0
    assert table["", "wide"] == {"mean": None, "std": None, "n": 0, "paper": None, "difference": None}
    assert table["SE", "wide"]["difference"] == pytest.approx(3.5)
    lines = results_csv(grid, table).splitlines()
    assert lines[0] == ("attention,narrow mean,narrow std,narrow n,narrow paper,narrow difference,"
                        "wide mean,wide std,wide n,wide paper,wide difference")
    assert lines[1] == f",42.5000,{statistics.stdev([40, 45]):.4f},2,50.0000,-7.5000,,,0,,"
    markdown = results_markdown(grid, table, "full", [0, 1])
    assert "| SE | 55.00 ± 0.00 (n=1) | – |  | 65.00 ± 7.07 (n=2) | 61.50 | +3.50 |" in markdown
    assert "- SE / wide: 61.5 [report]" in markdown


def test_every_grid_in_experiments_loads_and_resolves_at_every_scale():
    grids = sorted((REPO / "experiments").glob("*/*.yaml"))
    assert grids
    for path in grids:
        grid = load_grid(path)
        assert grid.paper == path.parent.name, path
        source = grid.grid if grid.runner == "derived" else grid  # a derived table's cells are its source's
        for scale in ("smoke", "synthetic", "full"):
            assert source.cells(scale), (path, scale)
