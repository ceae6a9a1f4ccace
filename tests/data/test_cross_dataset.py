"""``kerasfg cross-dataset``: separate age and gender models, saved, tested as one ensemble on an Images of
Groups fixture in its distributed layout, against a NumPy computation of the same ensemble."""

import json

import keras
import numpy as np
import pytest
from data_fixtures import write_iog

from kerasfg.age import ADIENCE_TO_IOG
from kerasfg.cli import main
from kerasfg.data import load_dataset
from kerasfg.data.preprocessing import Preprocessing

SIZE = (16, 16)


def _save(path, task, classes, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*SIZE, 3), name="image")
    features = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(inputs))
    outputs = keras.layers.Dense(classes, activation="softmax", name=task,
                                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.5))(features)
    keras.Model(inputs, {task: outputs}).save(path)
    return path


def test_an_ensemble_of_separate_age_and_gender_models_on_images_of_groups(tmp_path, capsys):
    root = write_iog(tmp_path / "iog")
    ages = [_save(tmp_path / f"age{k}.keras", "age", 8, k) for k in range(2)]
    genders = [_save(tmp_path / "gender0.keras", "gender", 2, 7)]
    run = tmp_path / "run"  # a run directory stands for its model.keras
    run.mkdir()
    genders[0].rename(run / "model.keras")
    Preprocessing.pipeline(SIZE).write(run / "preprocessing.json")  # what training records: as the .keras files'
    out = tmp_path / "results.json"
    status = main(["cross-dataset", *map(str, ages), str(run), "--root", str(root), "--option", "test_per_group=1",
                   "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out

    faces = load_dataset("iog", root, "test", image_size=SIZE, test_per_group=1)
    images, labels = faces.numpy()
    assert len(images) == 7 and sorted(labels["age"]) == list(range(7))  # one face per IoG group
    age = np.mean([keras.saving.load_model(path)(images.astype("float32"))["age"] for path in ages], axis=0)
    iog_age = age @ np.eye(7)[list(ADIENCE_TO_IOG)]
    gender = np.asarray(keras.saving.load_model(run / "model.keras")(images.astype("float32"))["gender"])
    predicted_age, predicted_gender = iog_age.argmax(1), gender.argmax(1)

    result = json.loads(out.read_text())
    assert result["faces"] == 7 and result["age_groups"] == faces.class_names["age"]
    assert result["preprocessing"]["resize"] == {"size": list(SIZE), "method": "bilinear", "antialias": True}
    assert result["age_accuracy"] == pytest.approx(np.mean(predicted_age == labels["age"]))
    assert result["age_one_off_accuracy"] == pytest.approx(np.mean(np.abs(predicted_age - labels["age"]) <= 1))
    assert result["gender_accuracy"] == pytest.approx(np.mean(predicted_gender == labels["gender"]))
    confusion = np.zeros((7, 7), int)
    np.add.at(confusion, (labels["age"], predicted_age), 1)
    np.testing.assert_array_equal(result["age_confusion"], confusion)
    per_group = [float(predicted_gender[labels["age"] == g][0] == labels["gender"][labels["age"] == g][0])
                 for g in range(7)]
    assert result["gender_accuracy_per_age_group"] == pytest.approx(per_group)
    assert "age from 2 models, gender from 1 model" in printed
    assert f"age accuracy         {100 * result['age_accuracy']:6.1f} %" in printed
    assert "age confusion (% of each true group" in printed


def test_models_of_different_sizes_need_one_image_size(tmp_path, capsys):
    root = write_iog(tmp_path / "iog")
    small = _save(tmp_path / "small.keras", "age", 8, 0)
    inputs = keras.Input((20, 20, 3))
    large = tmp_path / "large.keras"
    keras.Model(inputs, {"age": keras.layers.Dense(8, activation="softmax", name="age")(
        keras.layers.GlobalAveragePooling2D()(inputs))}).save(large)
    assert main(["cross-dataset", str(small), str(large), "--root", str(root)]) == 2
    assert "take images of different sizes or preprocessings" in capsys.readouterr().err
    assert main(["cross-dataset", str(small), "--root", str(root), "--mapping", "0,1,2"]) == 2
    assert "the 'age' output has 8 groups; expected the mapping's 3 source groups" in capsys.readouterr().err
    assert main(["cross-dataset", str(small), "--root", str(root), "--option", "bogus=1"]) == 2
    assert "--option: iog reader got unknown options ['bogus']" in capsys.readouterr().err
