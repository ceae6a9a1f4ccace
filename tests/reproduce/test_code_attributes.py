"""Table 6.2's pieces: CUB-200-2011's class attributes (`kerasfg.data.datasets.cub`, on files written in the
published layout) and the ``code_attributes`` class tables (`kerasfg.reproduce.code_attributes`), checked
against NumPy's Pearson correlations."""

import json
import pathlib
import types

import keras
import numpy as np
import pytest

from kerasfg import config as config_lib
from kerasfg.codes import OutputCodes
from kerasfg.data.dataset import DatasetLayoutError
from kerasfg.data.datasets.cub import read_class_attributes, readable_attribute
from kerasfg.reproduce import code_attributes, load_grid
from kerasfg.reproduce.class_tables import parse_class_tables
from kerasfg.reproduce.grid import slug


REPO = pathlib.Path(__file__).resolve().parents[2]
TABLE = REPO / "experiments" / "002" / "table-6-2.yaml"
CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross", "004.Groove_billed_Ani",
           "005.Crested_Auklet", "006.Least_Auklet", "007.Parakeet_Auklet"]
ATTRIBUTES = ["has_bill_shape::curved_(up_or_down)", "has_belly_color::red", "has_size::medium_(9_-_16_in)",
              "has_shape::perching-like", "has_tail_shape::rounded_tail"]


def write_cub(root, values, names_at="attributes.txt"):
    """CUB-200-2011's attribute files under ``root`` as the archive has them (attributes.txt next to
    CUB_200_2011/ by default)."""
    folder = root / "CUB_200_2011"
    (folder / "attributes").mkdir(parents=True)
    (folder / "classes.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(CLASSES, start=1)))
    names = root / names_at if names_at == "attributes.txt" else folder / names_at
    names.write_text("".join(f"{i} {name}\n" for i, name in enumerate(ATTRIBUTES, start=1)))
    (folder / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in values))
    return folder


@pytest.fixture
def cub_values():
    return np.random.default_rng(0).uniform(0, 100, (len(CLASSES), len(ATTRIBUTES))).round(4)


@pytest.mark.parametrize("names_at", ["attributes.txt", "attributes/attributes.txt"])
def test_cub_class_attributes_are_read_in_the_published_layout(tmp_path, cub_values, names_at):
    folder = write_cub(tmp_path, cub_values, names_at)
    for root in (folder, tmp_path):  # the CUB_200_2011 folder, or the folder holding it
        attributes = read_class_attributes(root)
        assert attributes.class_names == tuple(CLASSES) and attributes.attribute_names == tuple(ATTRIBUTES)
        np.testing.assert_allclose(attributes.values, cub_values, atol=1e-6)
    order = [CLASSES[3], CLASSES[0]]
    np.testing.assert_allclose(attributes.for_classes(order, "a model"), cub_values[[3, 0]], atol=1e-6)
    with pytest.raises(ValueError, match=r"1 classes of a model have no attributes: \['999.Dodo'\]"):
        attributes.for_classes(["999.Dodo"], "a model")
    assert readable_attribute("has_belly_color::red") == "belly-color red"
    assert readable_attribute("has_shape::perching-like") == "shape perching-like"


def test_bad_cub_files_name_the_file_and_the_line(tmp_path, cub_values):
    folder = write_cub(tmp_path, cub_values)
    matrix = folder / "attributes" / "class_attribute_labels_continuous.txt"
    lines = matrix.read_text().splitlines()
    matrix.write_text("\n".join(lines[:2] + [lines[2] + " 5.0"] + lines[3:]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"line 3 has 6 values; expected one per attribute .* \(5\)"):
        read_class_attributes(folder)
    matrix.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"6 lines; expected one per class of classes.txt \(7\)"):
        read_class_attributes(folder)
    matrix.unlink()
    with pytest.raises(DatasetLayoutError, match="no class attribute matrix found"):
        read_class_attributes(folder)
    (folder / "classes.txt").write_text("1 001.Black_footed_Albatross\n3 003.Sooty_Albatross\n")
    with pytest.raises(DatasetLayoutError, match=r"classes.txt: line 2: expected '2 <class name>'"):
        read_class_attributes(folder)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        read_class_attributes(tmp_path / "nowhere")


def code_run(directory, code, classes):
    """A run directory whose model has an output-code head ``label`` with ``code``, and its class names."""
    directory.mkdir()
    inputs = keras.Input((4,))
    outputs = OutputCodes(code, name="label")(keras.layers.Dense(code.shape[1])(inputs))
    keras.Model(inputs, outputs).save(directory / "model.keras")
    (directory / "class_names.json").write_text(json.dumps({"label": classes}))
    return directory


def pearson(x, y):
    return np.corrcoef(x, y)[0, 1]


@pytest.mark.parametrize("which", [0, 1])
def test_a_code_table_ranks_each_bits_attributes_by_pearson_correlation(tmp_path, cub_values, which):
    write_cub(tmp_path, cub_values)
    table = load_grid(TABLE).class_tables[which]  # (a): bits by their best + PCC; (b): the code's order
    order = [6, 2, 0, 5, 1, 4, 3]  # the model's classes in another order than classes.txt
    code = np.random.default_rng(1).normal(size=(len(CLASSES), 8))
    run = code_run(tmp_path / "run", code, [CLASSES[i] for i in order])
    config = config_lib.from_dict({"data": {"source": "dataset", "dataset": {"name": "folder", "root": "cub-200"}}})
    cell = types.SimpleNamespace(id="cell", row=table.row, column=table.column, seed=0, config=config)
    cell_dir = tmp_path / "grid" / "cells" / "cell"
    cell_dir.mkdir(parents=True)
    assert table.needs_evaluation(cell, cell_dir)
    table.evaluate(cell, cell_dir, run, data_root=tmp_path)
    assert not table.needs_evaluation(cell, cell_dir)
    record = json.loads((cell_dir / "code_attributes.json").read_text())
    values = cub_values[order]
    for bit in record["bits"]:
        pcc = [pearson(code[:, bit["bit"] - 1], values[:, a]) for a in range(len(ATTRIBUTES))]
        assert bit["positive"] == [readable_attribute(ATTRIBUTES[int(np.argmax(pcc))]), pytest.approx(max(pcc))]
        assert bit["negative"] == [readable_attribute(ATTRIBUTES[int(np.argmin(pcc))]), pytest.approx(min(pcc))]
    summary = table.summarize(tmp_path / "grid", [cell], {"cell": {}})
    shown = [int(line.split(",")[1]) for line in table.csv(summary).splitlines()[1:]]
    best = [bit["positive"][1] for bit in record["bits"]]
    assert shown == ([1, 2, 3, 4, 5, 6] if table.options["order"] == "code"
                     else [int(i) + 1 for i in np.argsort(best)[::-1][:6]])
    markdown = "\n".join(table.markdown(summary))
    assert f"its 8-bit code over 7 classes against CUB-200-2011 at {tmp_path / 'CUB_200_2011'}" in markdown
    assert "/ 0.79 |" in markdown or "/ 0.18 |" in markdown  # the paper's PCC of rank 1


def test_the_code_of_a_model_without_that_head_is_refused(tmp_path):
    run = code_run(tmp_path / "run", np.eye(3), ["a", "b", "c"])
    assert code_attributes.read_code(run)[0] == "label"
    with pytest.raises(config_lib.ConfigError, match=r"no output-code head 'age'; its output-code heads are"):
        code_attributes.read_code(run, "age")


@pytest.mark.parametrize("spec, key", [
    ({"bits": 0}, "bits"), ({"order": "random"}, "order"),
    ({"targets": {"1": {"positive": ["red", "high"]}}}, r"targets.1.positive"),
])
def test_a_malformed_code_table_names_its_key(spec, key):
    table = {"table": "Table 6.2", "title": "t", "entry": {"row": "A", "column": ""}, "code_attributes": "CUB",
             **spec}
    with pytest.raises(config_lib.ConfigError, match=key):
        parse_class_tables([table], ["A"], [""], slug)


def test_the_synthetic_stand_in_is_each_identitys_share_of_faces_with_an_attribute():
    from kerasfg.data.synthetic import ATTRIBUTES

    config = config_lib.from_dict({"data": {"source": "synthetic", "synthetic": {
        "num_identities": 5, "train_images": 40, "val_images": 4, "test_images": 4, "image_size": 16}}})
    classes = [f"person_{i:03d}" for i in range(5)]
    names, values, origin = code_attributes.synthetic_identity_attributes(config, "identity", classes)
    assert names == [attribute.name for attribute in ATTRIBUTES] and values.shape == (5, len(ATTRIBUTES))
    assert "stand-in" in origin
    person = [i for i, attribute in enumerate(ATTRIBUTES) if attribute.per == "person"]
    image = [i for i, attribute in enumerate(ATTRIBUTES) if attribute.per == "image"]
    assert person and image
    assert set(np.unique(values[:, person])) <= {0.0, 100.0}  # a person has it on every face, or on none
    assert 0.0 < values[:, image].mean() < 100.0
    with pytest.raises(ValueError, match="are not those of its synthetic data"):
        code_attributes.synthetic_identity_attributes(config, "identity", classes[::-1])
