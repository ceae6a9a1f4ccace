"""Running a grid: finished cells skipped, a killed cell resumed to the same table, identical cells
sharing a run, a bad dataset stopping before any training, the HParams sessions, and the command."""

import json

import keras
import pytest
import yaml

from kerasfg.cli import main
from kerasfg.data.dataset import DatasetLayoutError
from kerasfg.reproduce import load_grid, run_grid

GRID = {
    "paper": "004",
    "table": "Table 0",
    "title": "Two attention modules, two epochs",
    "metric": {"name": "accuracy (%)", "key": "test.accuracy", "transform": "percent"},
    "base": {"data": {"targets": ["identity"], "shuffle": False},
             "model": {"name": "face_resnet", "options": {"dropout": 0.0}}},
    "axes": {"attention": [{"label": "", "id": "none", "set": {"model.attention": None}},
                           {"label": "SE", "set": {"model.attention": "se"}},
                           {"label": "SE again", "id": "se-again", "set": {"model.attention": "se"}}]},
    "rows": ["attention"],
    "columns": [],
    "scales": {"smoke": {"set": {"train.epochs": 2}}},
    "targets": {"": {"": 50.0}, "SE": {"": 60.0}},
}


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "table-0.yaml"
    path.write_text(yaml.safe_dump(GRID, sort_keys=False))
    return path


class Interrupted(Exception):
    pass


class InterruptInTheSecondCell(keras.callbacks.Callback):
    """Stop the grid at the end of the second cell's first epoch, after its backup (built-in callbacks,
    the backup among them, run before the caller's)."""

    epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        InterruptInTheSecondCell.epochs += 1
        if InterruptInTheSecondCell.epochs == 3:
            raise Interrupted


@pytest.mark.slow
def test_a_killed_grid_run_again_ends_with_the_table_of_an_uninterrupted_one(grid_file, tmp_path):
    uninterrupted = run_grid(load_grid(grid_file), "smoke", out=tmp_path / "once")
    assert uninterrupted.trained == ["none__seed0", "se__seed0"] and uninterrupted.shared == ["se-again__seed0"]

    with pytest.raises(Interrupted):
        run_grid(load_grid(grid_file), "smoke", out=tmp_path / "killed", callbacks=[InterruptInTheSecondCell()])
    directory = tmp_path / "killed" / "004" / "table-0" / "smoke"
    assert (directory / "cells" / "none__seed0" / "result.json").is_file()
    assert not (directory / "cells" / "se__seed0" / "result.json").exists()  # never counted half-done
    assert not (directory / "results.csv").exists()
    assert not (directory / "cells" / "none__seed0" / "checkpoints").exists()  # smoke: train.checkpoints false

    resumed = run_grid(load_grid(grid_file), "smoke", out=tmp_path / "killed")
    assert resumed.skipped == ["none__seed0"] and resumed.trained == ["se__seed0"]
    metrics = json.loads((directory / "cells" / "se__seed0" / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith("epoch_00001") and metrics["epochs_completed"] == 2
    assert (directory / "results.csv").read_text() == (uninterrupted.directory / "results.csv").read_text()
    log = (directory / "cells" / "se__seed0" / "log.txt").read_text()
    # one log per cell, across the interrupted and the resumed run
    assert log.count("epoch 1: accuracy") == 1 and log.count("epoch 2: accuracy") == 1
    assert log.index("epoch 1: accuracy") < log.index("resuming from") < log.index("epoch 2: accuracy")

    again = run_grid(load_grid(grid_file), "smoke", out=tmp_path / "killed")  # nothing left to do
    assert again.trained == [] and len(again.skipped) == 3
    _check_hparams(directory, again)

    # the grid file changes one row: that cell trains again, its old run set aside, the others stay
    old = json.loads((directory / "cells" / "se__seed0" / "fingerprint.json").read_text())["fingerprint"]
    none, _, se_again = GRID["axes"]["attention"]
    se = {"label": "SE", "set": {"model.attention": "se", "model.options.dropout": 0.1}}
    edited = {**GRID, "axes": {"attention": [none, se, se_again]}}
    grid_file.write_text(yaml.safe_dump(edited, sort_keys=False))
    changed = run_grid(load_grid(grid_file), "smoke", out=tmp_path / "killed")
    assert changed.trained == ["se__seed0"] and changed.skipped == ["none__seed0", "se-again__seed0"]
    assert json.loads((directory / "cells" / f"se__seed0.stale-{old}" / "result.json").read_text())["value"] == (
        again.results["se__seed0"]["value"])
    assert changed.results["se__seed0"]["fingerprint"] != old


def _check_hparams(directory, run):
    """Every cell is an HParams session with its labels and value; the experiment lists the axes."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import metadata

    def hparams_values(path):
        for events in path.glob("events.out.tfevents.*"):
            for event in tf.compat.v1.train.summary_iterator(str(events)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                        yield value

    (experiment,) = [metadata.parse_experiment_plugin_data(v.metadata.plugin_data.content)
                     for v in hparams_values(directory / "hparams")]
    assert [h.name for h in experiment.hparam_infos] == ["attention", "seed"]
    assert experiment.metric_infos[0].name.tag == "table_value"
    for cell_id, result in run.results.items():
        (session,) = [metadata.parse_session_start_info_plugin_data(v.metadata.plugin_data.content)
                      for v in hparams_values(directory / "cells" / cell_id / "logs")]
        assert session.hparams["attention"].string_value == result["labels"]["attention"]
        assert session.group_name == cell_id


def test_a_missing_dataset_stops_before_any_training(grid_file, tmp_path):
    grid = load_grid(grid_file)
    grid.base["data"].update(source="dataset", dataset={"name": "fer2013", "root": "fer2013"})
    with pytest.raises(DatasetLayoutError, match=r"nowhere/fer2013: not a FER2013 root; expected fer2013\.csv"):
        run_grid(grid, "full", data_root=tmp_path / "nowhere", out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_the_command_reports_a_malformed_grid_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**GRID, "rows": ["size"]}))
    assert main(["reproduce", str(bad), "--scale", "smoke"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert error.startswith("kerasfg reproduce: error: ") and "rows[0]: 'size' is not an axis" in error
