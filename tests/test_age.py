"""DEX (expectation, loss, MAE) by hand, age groups, the Adience -> IoG mapping and the ensemble evaluation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg import age


def test_dex_expectation_and_mae_by_hand():
    probabilities = np.zeros((3, 61), "float32")  # bins 16..76
    probabilities[0, [4, 14]] = [0.2, 0.8]  # ages 20 and 30: E = 0.2 * 20 + 0.8 * 30 = 28
    probabilities[1, 0] = 1.0  # 16
    probabilities[2, [10, 11, 12]] = [0.25, 0.5, 0.25]  # 26, 27, 28: E = 27
    np.testing.assert_allclose(age.expected_age(probabilities, min_age=16), [28, 16, 27], rtol=1e-6)
    metric = age.DEXMeanAbsoluteError(min_age=16)
    metric.update_state(np.array([25.0, 18.0, 27.0]), probabilities)
    assert float(metric.result()) == pytest.approx((3 + 2 + 0) / 3)


def test_dex_loss_is_the_cross_entropy_of_the_true_age_bin():
    probabilities = np.full((2, 5), 0.1, "float32")  # bins 10..14
    probabilities[0, 2], probabilities[1, 4] = 0.6, 0.6
    # 12.4 rounds to bin 2; 30 is clipped to the last bin (14).
    loss = age.DEXLoss(10, 14)(np.array([12.4, 30.0]), probabilities)
    assert float(loss) == pytest.approx(-np.log(0.6))


def test_dex_head_knows_its_bins_and_round_trips(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, age.DEXHead(16, 77, name="age")(inputs))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    probabilities = np.asarray(model(x))
    assert probabilities.shape == (3, 62) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    head = model.get_layer("age")
    np.testing.assert_allclose(head.expected_value(probabilities), probabilities @ np.arange(16, 78), rtol=1e-5)
    model.save(tmp_path / "dex.keras")
    loaded = keras.saving.load_model(tmp_path / "dex.keras")
    assert (loaded.get_layer("age").min_age, loaded.get_layer("age").max_age) == (16, 77)
    np.testing.assert_array_equal(loaded(x), probabilities)


def test_one_off_accuracy():
    metric = age.OneOffAccuracy()
    predictions = np.eye(8)[[0, 2, 5, 7]]
    metric.update_state(np.array([1, 4, 5, 5]), predictions)
    assert float(metric.result()) == pytest.approx(0.5)  # 0 vs 1 and 5 vs 5 are within one group


def test_adience_groups_map_onto_iog_groups_as_table_3_2():
    assert len(age.ADIENCE_TO_IOG) == len(age.ADIENCE_GROUPS) and max(age.ADIENCE_TO_IOG) + 1 == len(age.IOG_GROUPS)
    mapped = dict(zip(age.ADIENCE_GROUPS, (age.IOG_GROUPS[i] for i in age.ADIENCE_TO_IOG)))
    assert mapped == {"0-2": "0-2", "4-6": "3-7", "8-13": "8-12", "15-20": "13-19", "25-32": "20-36",
                      "38-43": "37-65", "48-53": "37-65", "60+": "66+"}
    probabilities = np.array([[0.0, 0, 0, 0, 0.2, 0.3, 0.35, 0.15]])
    np.testing.assert_allclose(age.map_groups(probabilities), [[0, 0, 0, 0, 0.2, 0.65, 0.15]])


def test_group_accuracies():
    accuracy = age.group_accuracies([0, 1, 1, 0, 1], [0, 1, 0, 0, 0], [0, 0, 1, 1, 2], 4)
    np.testing.assert_allclose(accuracy[:3], [1.0, 0.5, 0.0]) and np.isnan(accuracy[3])


def _fixed_model(age_probabilities, gender_probabilities):
    """A model that outputs the given probabilities for the example ids it is fed."""
    ids = keras.Input((), dtype="int32")
    age_table = keras.layers.Embedding(len(age_probabilities), 8, trainable=False)
    gender_table = keras.layers.Embedding(len(gender_probabilities), 2, trainable=False)
    model = keras.Model(ids, {"age": age_table(ids), "gender": gender_table(ids)})
    age_table.set_weights([np.asarray(age_probabilities, "float32")])
    gender_table.set_weights([np.asarray(gender_probabilities, "float32")])
    return model


def test_cross_dataset_evaluation_averages_the_models_then_maps_the_groups():
    rng = np.random.default_rng(1)
    n = 40
    models = [_fixed_model(rng.dirichlet(np.ones(8), n), rng.dirichlet(np.ones(2), n)) for _ in range(5)]
    iog_age, gender = rng.integers(0, 7, n), rng.integers(0, 2, n)
    data = tf.data.Dataset.from_tensor_slices((np.arange(n, dtype="int32"), {"age": iog_age, "gender": gender}))
    result = age.cross_dataset_evaluation(models, data.batch(16))
    mean_age = np.mean([np.asarray(m(np.arange(n))["age"]) for m in models], axis=0)
    mean_gender = np.mean([np.asarray(m(np.arange(n))["gender"]) for m in models], axis=0)
    iog = np.stack([mean_age[:, [0]].sum(1), mean_age[:, [1]].sum(1), mean_age[:, [2]].sum(1),
                    mean_age[:, [3]].sum(1), mean_age[:, [4]].sum(1), mean_age[:, [5, 6]].sum(1),
                    mean_age[:, [7]].sum(1)], axis=1)
    predicted = iog.argmax(1)
    assert result["age_accuracy"] == pytest.approx(np.mean(predicted == iog_age))
    assert result["age_one_off_accuracy"] == pytest.approx(np.mean(np.abs(predicted - iog_age) <= 1))
    assert result["age_confusion"].sum() == n and result["age_confusion"][iog_age[0], predicted[0]] >= 1
    assert result["gender_accuracy"] == pytest.approx(np.mean(mean_gender.argmax(1) == gender))
    per_group = result["gender_accuracy_per_age_group"]
    for g in range(7):
        members = iog_age == g
        if members.any():
            assert per_group[g] == pytest.approx(np.mean(mean_gender[members].argmax(1) == gender[members]))
