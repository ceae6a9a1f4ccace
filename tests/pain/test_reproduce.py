"""The pain system as the runner of ``kerasfg reproduce`` grids (``runner: pain``): the thesis's table files
resolve at every scale, a metric key names axes so that one run fills several columns, and a grid runs at
smoke scale into its table."""

import json
import pathlib

import pytest
import yaml

from kerasfg.config import ConfigError
from kerasfg.pain.config import PainExperimentConfig
from kerasfg.reproduce import load_grid, run_grid

REPO = pathlib.Path(__file__).resolve().parents[2]
TABLES = sorted((REPO / "experiments" / "002").glob("table-2-*.yaml"))


def test_the_thesis_pain_tables_resolve_to_pain_configs_at_every_scale():
    assert [path.stem for path in TABLES] == ["table-2-2", "table-2-3", "table-2-4", "table-2-5", "table-2-6"]
    for path in TABLES:
        grid = load_grid(path)
        assert grid.runner == "pain"
        for scale in ("smoke", "synthetic", "full"):
            cells = grid.cells(scale, data_root="/data")
            assert all(isinstance(cell.config, PainExperimentConfig) for cell in cells)
            assert all("{" not in key for cell in cells for key in cell.metric["key"])
        full = grid.cells("full", data_root="/data")
        assert {cell.config.data.root for cell in full} <= {"/data/UNBC-McMaster", "/data/CK+"}
        assert {cell.config.cnn.weights for cell in full} == {"/data/vgg_face_matconvnet/data/vgg_face.mat"}
        assert {cell.config.data.source for cell in grid.cells("synthetic")} == {"synthetic"}


def test_a_metric_key_names_axes_and_cells_differing_only_there_share_a_run():
    grid = load_grid(REPO / "experiments" / "002" / "table-2-2.yaml")
    cells = {cell.id: cell for cell in grid.cells("full")}
    crop_cnn_auc = cells["crop__cnn__auc__seed0"]
    assert crop_cnn_auc.metric["key"] == ["cnn.binary.auc"]
    assert cells["crop__lstm_fc6__normalized_accuracy__seed0"].metric["key"] == ["lstm_fc6.binary.normalized_accuracy"]
    fingerprints = {cell.fingerprint for cell in cells.values()}
    assert len(fingerprints) == 4  # one run per input: both models and four scores read from it
    assert cells["front__cnn__auc__seed0"].fingerprint != crop_cnn_auc.fingerprint


def test_a_metric_key_naming_an_unknown_axis_is_a_config_error(tmp_path):
    data = yaml.safe_load((REPO / "experiments" / "002" / "table-2-4.yaml").read_text())
    data["metric"]["key"] = "{model}.continuous.{measure}"
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="'measure', which is not an axis"):
        load_grid(path)
    data["metric"]["key"], data["runner"] = "lstm.continuous.mse", "torch"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"runner: expected one of \['training', 'pain'\], got 'torch'"):
        load_grid(path)


@pytest.mark.slow
def test_a_pain_grid_runs_at_smoke_scale_into_its_table(tmp_path):
    grid = load_grid(REPO / "experiments" / "002" / "table-2-4.yaml")
    run = run_grid(grid, "smoke", out=tmp_path)
    assert len(run.trained) == 1 and len(run.shared) == 7  # one run, eight numbers
    metrics = json.loads((pathlib.Path(run.results[run.trained[0]]["run_dir"]) / "metrics.json").read_text())
    for cell_id, result in run.results.items():
        model, score = cell_id.split("__")[:2]
        assert result["value"] == pytest.approx(metrics[model]["continuous"][score]), cell_id
    results = (run.directory / "results.csv").read_text().splitlines()
    assert results[0].startswith("model,MAE mean,MAE std,MAE n,MAE paper")
    lstm_row = next(line for line in results if line.startswith("Aligned crop + LSTM,"))
    assert f"{metrics['lstm']['continuous']['pcc']:.4f}" in lstm_row and ",0.7800," in lstm_row
