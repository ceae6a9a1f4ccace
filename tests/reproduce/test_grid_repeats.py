"""Grid axes averaged like seeds (``repeats``: cross-validation folds): cells, labels and the results table."""

import pytest
import yaml

from kerasfg.config import ConfigError
from kerasfg.reproduce import load_grid
from kerasfg.reproduce.results import results_markdown, summarize

GRID = {
    "paper": "002", "table": "Table 9.9", "title": "Five folds",
    "metric": {"name": "accuracy (%)", "key": "test.accuracy", "transform": "percent"},
    "base": {"data": {"targets": ["identity"]}, "model": {"name": "face_resnet"}, "train": {"epochs": 1}},
    "axes": {
        "model": [{"label": "plain", "set": {"model.attention": None}},
                  {"label": "SE", "set": {"model.attention": "se"}}],
        "task": [{"label": "Identity"}],
        "fold": [{"label": f"fold {k}", "id": f"fold{k}", "set": {"data.dataset.options": {"fold": k}}}
                 for k in range(3)],
    },
    "rows": ["model"], "columns": ["task"], "repeats": ["fold"], "seeds": [0, 1],
    "targets": {"SE": {"Identity": 60.0}},
}


def test_repeated_axes_are_averaged_with_the_seeds(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(GRID, sort_keys=False))
    grid = load_grid(path)
    assert grid.row_labels() == ["plain", "SE"] and grid.column_labels() == ["Identity"]
    cells = grid.cells("full")
    assert len(cells) == 2 * 3 * 2 and {(c.row, c.column) for c in cells} == {("plain", "Identity"), ("SE", "Identity")}
    assert cells[2].id == "plain__identity__fold1__seed0" and cells[2].config.data.dataset.options == {"fold": 1}
    results = {cell.id: {"value": 50.0 + 2 * i} for i, cell in enumerate(cells)}
    table = summarize(grid, cells, results)
    assert table["plain", "Identity"]["n"] == 6 and table["plain", "Identity"]["mean"] == pytest.approx(55.0)
    assert table["SE", "Identity"]["difference"] == pytest.approx(67.0 - 60.0)
    assert "averaged over the fold axis too" in results_markdown(grid, table, "full", [0, 1])


def test_a_repeated_axis_is_not_a_row_or_column(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({**GRID, "repeats": ["fold", "model"]}, sort_keys=False))
    with pytest.raises(ConfigError, match="repeats: axis 'model' is also in rows or columns"):
        load_grid(path)
