"""Class tables of a grid (``class_tables``): a confusion summed over folds and seeds, and the accuracy per
group of a trained cell's model (Tables 3.7 and 3.10(a) of the thesis)."""

import csv
import io
import json

import keras
import numpy as np
import pytest
import yaml

from kerasfg.config import ConfigError
from kerasfg.io_utils import write_json
from kerasfg.reproduce import load_grid
from kerasfg.reproduce.report import grid_section
from kerasfg.reproduce.results import write_results
from kerasfg.reproduce.grid import RESULT_FILE, grid_directory

CLASSES = ["young", "adult", "senior"]
GRID = {
    "paper": "002", "table": "Table 9.6", "title": "Age over three folds",
    "metric": {"name": "accuracy (%)", "key": "test.accuracy", "transform": "percent"},
    "base": {"data": {"source": "synthetic", "targets": ["age_group"],
                      "synthetic": {"num_identities": 4, "train_images": 8, "val_images": 8, "test_images": 48,
                                    "image_size": 16}},
             "model": {"name": "face_resnet"}, "train": {"epochs": 1}},
    "axes": {"model": [{"label": "plain", "set": {"model.attention": None}},
                       {"label": "SE", "set": {"model.attention": "se"}}],
             "task": [{"label": "Age", "id": "age"}],
             "fold": [{"label": f"fold {k}", "id": f"fold{k}", "set": {"data.synthetic.seed": k}} for k in range(3)]},
    "rows": ["model"], "columns": ["task"], "repeats": ["fold"], "seeds": [0, 1],
    "targets": {"SE": {"Age": 60.0}},
    "class_tables": [{"table": "Table 9.7", "title": "Age confusion of SE", "entry": {"row": "SE", "column": "Age"},
                      "confusion": ["test_tables.age.confusion", "test_tables.age_group.confusion"],
                      "targets": {"young": [70.0, 30.0, 0.0], "senior": [0.0, 10.0, 90.0]}}],
}


def write_grid(tmp_path, grid=GRID):
    path = tmp_path / "table-9-6.yaml"
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return load_grid(path)


def test_a_confusion_is_summed_over_the_folds_and_seeds_of_its_entry(tmp_path):
    grid = write_grid(tmp_path)
    assert repr(grid.class_tables) == "[<ClassTable 'Table 9.7': confusion of ('SE', 'Age'), 2 targets>]"
    assert repr(grid.class_tables[0].kind) == "<class table kind 'confusion'>"
    out = tmp_path / "out"
    directory = grid_directory(grid, "full", out)
    cells = grid.cells("full")
    rng = np.random.default_rng(0)
    results, entry_counts = {}, []
    for cell in cells[:-1]:  # the last cell (SE, fold 2, seed 1) has not finished
        counts = rng.integers(0, 20, (3, 3))
        run_dir = tmp_path / "runs" / cell.id
        write_json(run_dir / "metrics.json", {"test": {"accuracy": 0.5}, "test_tables": {
            "age_group": {"confusion": {"class_names": CLASSES, "values": counts.tolist()}}}})
        results[cell.id] = {"cell": cell.id, "value": 50.0, "run_dir": str(run_dir)}
        write_json(directory / "cells" / cell.id / RESULT_FILE, results[cell.id])
        if cell.row == "SE":
            entry_counts.append(counts)
    assert len(entry_counts) == 5
    expected = np.sum(entry_counts, axis=0)

    write_results(directory, grid, cells, results, "full")
    rows = list(csv.reader(io.StringIO((directory / "table-9-7.csv").read_text())))
    assert rows[0][:4] == ["real \\ predicted", "young count", "adult count", "senior count"]
    assert [row[0] for row in rows[1:]] == CLASSES
    counts = np.array([[int(v) for v in row[1:4]] for row in rows[1:]])
    np.testing.assert_array_equal(counts, expected)
    percent = np.array([[float(v) for v in row[4:7]] for row in rows[1:]])
    np.testing.assert_allclose(percent, 100 * expected / expected.sum(axis=1, keepdims=True), atol=1e-4)
    assert rows[1][7:] == ["70.0", "30.0", "0.0"] and rows[2][7:] == ["", "", ""]

    young = f"| young | {100 * expected[0, 0] / expected[0].sum():.1f} / 70.0 |"
    markdown = (directory / "results.md").read_text()
    assert "#### Table 9.7: Age confusion of SE" in markdown
    assert "summed over 5 finished cells (folds and seeds" in markdown
    assert young in markdown
    lines, _ = grid_section(grid, "full", out)  # the reproduction report reads the same cells
    assert young in "\n".join(lines)


@pytest.fixture
def always_male(tmp_path):
    """A run directory whose model answers "male" (class 1) for every face, and its objectives record."""
    inputs = keras.Input((None, None, 3))
    features = keras.layers.GlobalAveragePooling2D()(inputs)
    gender = keras.layers.Dense(2, activation="softmax", name="gender", kernel_initializer="zeros",
                                bias_initializer=keras.initializers.Constant([0.0, 5.0]))(features)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    keras.Model(inputs, {"gender": gender}).save(run_dir / "model.keras")
    write_json(run_dir / "objectives.json", {"model": None, "outputs": {
        "gender": {"target": "gender", "kind": "class", "loss": "softmax_cross_entropy"}}})
    return run_dir


def gender_grid(tmp_path, accuracy_by):
    grid = {**GRID, "axes": {"model": [{"label": "SE", "set": {"model.attention": "se"}}],
                             "task": [{"label": "Gender", "set": {"data.targets": ["gender"]}}]},
            "repeats": [], "seeds": [0], "targets": {},
            "scales": {"smoke": {"set": {"data.synthetic.test_images": 48}}},
            "class_tables": [{"table": "Table 9.10", "title": "Gender per age group",
                              "entry": {"row": "SE", "column": "Gender"}, "accuracy_by": accuracy_by}]}
    return write_grid(tmp_path, grid)


def test_the_accuracy_per_group_of_a_trained_cell_counts_its_test_faces_by_group(tmp_path, always_male):
    from kerasfg.training import build_datasets

    grid = gender_grid(tmp_path, ["age", "age_group"])  # the synthetic faces' age is years: age_group is used
    (cell,) = grid.cells("smoke")
    cell_dir = tmp_path / "grid" / "cells" / cell.id
    grid.class_tables[0].evaluate(cell, cell_dir, always_male)
    record = json.loads((cell_dir / "accuracy_by.json").read_text())
    assert (record["output"], record["task"], record["by"]) == ("gender", "gender", "age_group")

    data = cell.config.data  # the labels of the same test faces, counted here by hand
    data.targets = ["gender", "age_group"]
    labels = [y for _, y in build_datasets(data).test]
    groups = np.concatenate([np.asarray(y["age_group"]) for y in labels])
    male = np.concatenate([np.asarray(y["gender"]) for y in labels]) == 1
    assert len(groups) == 48
    assert record["total"] == np.bincount(groups, minlength=3).tolist()
    assert record["right"] == np.bincount(groups[male], minlength=3).tolist()

    names, counts, n = grid.class_tables[0].summarize(tmp_path / "grid", [cell],
                                                      {cell.id: {"run_dir": str(always_male)}})
    assert n == 1 and names == record["group_names"] and counts[:, 1].sum() == 48


def test_a_grouping_task_the_data_lacks_is_named(tmp_path, always_male):
    grid = gender_grid(tmp_path, "dress_size")
    (cell,) = grid.cells("smoke")
    with pytest.raises(ConfigError, match=r"Table 9.10: accuracy_by: the data has none of \['dress_size'\]"):
        grid.class_tables[0].evaluate(cell, tmp_path / "cell", always_male)


@pytest.mark.parametrize("change, message", [
    ({"entry": {"row": "VGG", "column": "Age"}}, r"class_tables\[0\].entry.row: 'VGG' is not a row"),
    ({"accuracy_by": "age"},
     r"class_tables\[0\]: expected exactly one of \['confusion', 'accuracy_by', 'code_attributes'\]"),
    ({"targets": {"young": 70.0}}, r"class_tables\[0\].targets.young: expected a row of percentages"),
    ({"colour": "red"}, r"class_tables\[0\].colour: unknown key"),
])
def test_a_malformed_class_table_is_named(tmp_path, change, message):
    table = {**GRID["class_tables"][0], **change}
    with pytest.raises(ConfigError, match=message):
        write_grid(tmp_path, {**GRID, "class_tables": [table]})
