"""Sanity checks (Adebayo et al. 2018): the metrics against SciPy, randomization that decorrelates Grad-CAM
but not the edge-detector control, and the model's weights put back."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from vis_models import functional, multi_output

from kerasfg.vis.sanity_checks import (
    CONTROL,
    data_randomization_test,
    edge_map,
    random_values,
    randomization_steps,
    rank_correlation,
    sanity_checks,
    ssim,
    weighted_layers,
)
from kerasfg.vis.introspect import ModelGraph


def test_rank_correlation_is_spearmans_with_ties_at_their_average_rank():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (3, 5, 6)).astype("float32")  # many ties
    b = a + rng.normal(scale=1.5, size=a.shape)
    expected = [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(rank_correlation(a, b), expected, rtol=1e-10)
    np.testing.assert_allclose(rank_correlation(a, a), 1.0)
    np.testing.assert_allclose(rank_correlation(a, np.zeros_like(a)), 0.0)  # a constant map has no ranking


def test_ssim_is_tensorflows_on_maps_scaled_to_the_unit_range():
    rng = np.random.default_rng(1)
    for shape in ((2, 16, 16), (3, 6, 9)):  # a smaller window on small maps
        a = rng.random(shape).astype("float32")
        b = (a + rng.normal(scale=0.4, size=shape)).astype("float32")
        unit = [(m - m.min(axis=(1, 2), keepdims=True)) / np.ptp(m, axis=(1, 2), keepdims=True) for m in (a, b)]
        expected = tf.image.ssim(unit[0][..., None], unit[1][..., None], max_val=1.0, filter_size=min(11, *shape[1:]))
        np.testing.assert_allclose(ssim(a, b), expected, rtol=1e-5)
    np.testing.assert_allclose(ssim(a, 3 * a + 1), 1.0, atol=1e-6)


def test_edge_map_is_the_sobel_magnitude_of_the_gray_image():
    images = np.zeros((1, 6, 6, 3), "float32")
    images[:, :, 3:] = 1.0  # a vertical edge between columns 2 and 3
    edges = edge_map(images)[0]
    assert edges[:, :2].max() == 0 and edges[:, 4:].max() == 0 and edges[:, 2:4].min() > 0


def test_random_values_come_from_the_layers_own_initializers():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3, kernel_initializer="zeros", bias_initializer="ones")
    norm = keras.layers.BatchNormalization()
    keras.Model(inputs, norm(dense(inputs)))
    kernel, bias = random_values(dense, seed=0)
    assert (kernel == 0).all() and (bias == 1).all()
    gamma, beta, mean, variance = random_values(norm, seed=0)
    assert (gamma == 1).all() and (beta == 0).all() and (mean == 0).all() and (variance == 1).all()


@pytest.fixture(scope="module")
def model_and_inputs():
    keras.utils.set_random_seed(3)
    model = functional()
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 1, (6, 12, 12, 3)).astype("float32")
    images[:, 3:9, 3:9] += 2.0  # a bright square: the maps have something to agree on
    return model, images


def test_cascading_randomization_decorrelates_gradcam_but_not_the_control(model_and_inputs):
    model, images = model_and_inputs
    before = [w.copy() for w in model.get_weights()]
    result = sanity_checks(model, images, ["gradcam", "saliency"], seed=0)
    for trained, after in zip(before, model.get_weights()):
        np.testing.assert_array_equal(trained, after)  # put back
    assert result.layers == ["preds", "conv2", "conv1"]  # top down
    cascading = {(row["layer"], row["method"]): row for row in result.rows if row["mode"] == "cascading"}
    for layer in result.layers:
        assert cascading[layer, CONTROL]["rank_correlation"] == pytest.approx(1.0)
        assert cascading[layer, CONTROL]["ssim"] == pytest.approx(1.0, abs=1e-5)
    assert cascading["conv1", "gradcam"]["rank_correlation"] < 0.5  # every layer random: nothing left
    assert cascading["conv1", "saliency"]["rank_correlation"] < 0.5
    assert result.examples["gradcam"].shape == (1 + 3, 12, 12)
    independent = [row for row in result.rows if row["mode"] == "independent"]
    assert len(independent) == 3 * 3  # three layers, two methods and the control
    columns, rows = result.table("cascading")
    assert columns[:3] == ["mode", "layer", "method"] and len(rows) == 3 * 3


def test_a_method_that_ignores_the_model_keeps_its_maps_under_independent_randomization(model_and_inputs):
    model, images = model_and_inputs
    result = sanity_checks(model, images, {"same": lambda model, inputs, **_: edge_map(inputs) + 1},
                           modes=["independent"], control=False, layers=["preds"])
    assert [row["rank_correlation"] for row in result.rows] == pytest.approx([1.0])


def test_one_pass_methods_explain_the_randomized_weights_without_touching_the_model(model_and_inputs, monkeypatch):
    # The same checks computed in place (a callable method explains the model itself) and from the randomized
    # values given to the compiled pass: the same table, and the model's weights are never set.
    from kerasfg.vis.explain import Explainer

    model, images = model_and_inputs
    in_place = sanity_checks(model, images, {"saliency": lambda model, inputs, output, classes: Explainer.of(model)(
        inputs, "saliency", output=output, classes=classes)}, seed=1, control=False)

    def refuses(values):
        raise AssertionError("the model's weights were set")

    monkeypatch.setattr(model, "set_weights", refuses)
    given = sanity_checks(model, images, ["saliency"], seed=1, control=False)
    assert [row["layer"] for row in given.rows] == [row["layer"] for row in in_place.rows]
    np.testing.assert_allclose([row["rank_correlation"] for row in given.rows],
                               [row["rank_correlation"] for row in in_place.rows], atol=1e-5)
    assert min(row["rank_correlation"] for row in given.rows) < 0.9  # the randomization changed the maps


def test_every_weighted_layer_of_nested_and_multi_output_models():
    model = multi_output()
    assert weighted_layers(ModelGraph(model)) == ["conv1", "conv2", "gender", "identity"]
    with pytest.raises(ValueError, match="have no weights to randomize"):
        weighted_layers(ModelGraph(model), ["pool"])
    rng = np.random.default_rng(4)
    inputs = {"image": rng.uniform(0, 1, (2, 12, 12, 3)).astype("float32"),
              "extra": rng.normal(size=(2, 2)).astype("float32")}
    result = sanity_checks(model, inputs, ["gradcam"], output="gender", modes=["cascading"])
    assert [row["layer"] for row in result.rows if row["method"] == "gradcam"] == ["identity", "gender", "conv2",
                                                                                    "conv1"]


def test_stages_are_randomized_together():
    from kerasfg.models import build_model

    model = build_model("face_resnet", input_shape=(16, 16, 3), num_classes={"identity": 3}, widths=(4, 8),
                        blocks=(1, 1), hidden_units=4)
    steps = dict(randomization_steps(ModelGraph(model), by="stage"))
    assert list(steps) == ["head", "stage2_block1_out", "stage1_block1_out"]
    assert steps["head"] == ["identity", "head_fc2", "head_fc1"][::-1]
    assert steps["stage1_block1_out"][0] == "stem_conv" and "stage2_block1_shortcut_conv" in steps["stage2_block1_out"]
    assert sum(len(paths) for paths in steps.values()) == len(weighted_layers(ModelGraph(model)))
    rng = np.random.default_rng(5)
    result = sanity_checks(model, rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32"), ["gradcam"], by="stage",
                           modes=["cascading"])
    assert result.layers == list(steps) and result.examples["gradcam"].shape == (4, 16, 16)


def test_data_randomization_compares_two_models_maps(model_and_inputs):
    model, images = model_and_inputs
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    same = data_randomization_test(model, twin, images, ["gradcam"])
    assert same.rows[0]["rank_correlation"] == pytest.approx(1.0)
    keras.utils.set_random_seed(9)
    other = functional()
    different = data_randomization_test(model, other, images, ["gradcam"])
    assert different.rows[0]["rank_correlation"] < 0.9 and different.examples["gradcam"].shape == (2, 12, 12)
