import keras
import numpy as np
import pytest
import tensorflow as tf
from vis_models import functional

from kerasfg.vis import faithfulness as fa
from kerasfg.vis.blur import gaussian_blur

SIZE = 4
REGION = np.zeros((SIZE, SIZE), bool)
REGION[1:3, 0:2] = True  # 4 of the 16 pixels
WEIGHT = 0.5


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def region_model(multi=False):
    """logit 0 = WEIGHT * (sum of the image's pixels in REGION), logit 1 = 0, then a softmax: so the
    probability of class 0 is sigmoid(WEIGHT * region sum). The multi-output form adds an unused input and
    a second output ``b`` with the two logits swapped. An identity 1x1 convolution gives the CAM methods
    feature maps to weigh."""
    image = keras.Input((SIZE, SIZE, 1), name="image")
    identity = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="conv")
    flat = keras.layers.Flatten()(identity(image))
    kernel = np.zeros((SIZE * SIZE, 2), "float32")
    kernel[REGION.ravel(), 0] = WEIGHT
    a = keras.layers.Dense(2, use_bias=False, activation="softmax", name="a")
    if not multi:
        model = keras.Model(image, a(flat))
    else:
        extra = keras.Input((1,), name="extra")
        b = keras.layers.Dense(2, use_bias=False, activation="softmax", name="b")
        model = keras.Model({"image": image, "extra": extra}, {"a": a(flat), "b": b(flat)})
        b.set_weights([kernel[:, ::-1].copy()])
    a.set_weights([kernel])
    return model


def images():
    """Two images: ones in the region and zeros elsewhere, then twos in the region and 0.25 elsewhere."""
    first = np.where(REGION, 1.0, 0.0)
    second = np.where(REGION, 2.0, 0.25)
    return np.stack([first, second])[..., None].astype("float32")


def test_pointing_game_on_hand_made_maps():
    masks = np.zeros((4, 8, 8), bool)
    masks[:, 2:4, 2:4] = True
    maps = np.zeros((4, 8, 8), "float32")
    maps[0, 3, 3] = 1  # inside
    maps[1, 3, 5] = 1  # two columns right of the mask: inside with a tolerance of 2
    maps[2, 7, 7] = 1  # far away
    maps[3] = 0  # constant: every pixel is the maximum
    np.testing.assert_allclose(fa.pointing_game(maps, masks, tolerance=0), [1, 0, 0, 4 / 64])
    np.testing.assert_allclose(fa.pointing_game(maps, masks, tolerance=2), [1, 1, 0, 36 / 64])
    np.testing.assert_allclose(fa.mask_share(masks, tolerance=2), 36 / 64)  # the 6x6 grown mask


def test_energy_in_mask_on_hand_made_maps_and_chance_is_the_mask_area():
    masks = np.zeros((3, 4, 4), bool)
    masks[:, 0, :] = True  # a quarter of the image
    maps = np.zeros((3, 4, 4), "float32")
    maps[0, 0, 0], maps[0, 2, 2] = 3, 1  # 3 of 4 inside
    maps[1, 0, 1], maps[1, 3, 3] = 1, -5  # negative mass does not count
    np.testing.assert_allclose(fa.energy_in_mask(maps, masks), [0.75, 1.0, 0.25])  # empty map: chance
    np.testing.assert_allclose(fa.mask_share(masks), [0.25] * 3)
    big = np.zeros((64, 32, 32), bool)
    big[:, :8] = True
    noise = fa.random_maps(big.shape, seed=1)
    assert abs(fa.energy_in_mask(noise, big).mean() - 0.25) < 0.01  # random maps score the area share


def test_dilate_grows_by_a_square_neighbourhood():
    mask = np.zeros((1, 7, 7), bool)
    mask[0, 3, 3] = True
    assert fa.dilate(mask, 1).sum() == 9 and fa.dilate(mask, 2).sum() == 25 and fa.dilate(mask, 0).sum() == 1


def test_deletion_and_insertion_curves_by_hand():
    model, x = region_model(), images()
    region_map = np.stack([REGION, REGION]).astype("float32")
    inverted = 1 - region_map
    sums = np.array([4.0, 8.0])  # region sums of the two images
    blurred = gaussian_blur(x, 1.0)[..., 0]
    blurred_sums = np.array([b[REGION].sum() for b in blurred])

    kept = fa.perturbation_curves(model, x, region_map, classes=[0, 0], steps=4, blur_sigma=1.0,
                                  deletion_baseline="zeros")
    # Deletion: the first step removes the region (the top 4 pixels) and the probability falls to 1/2.
    np.testing.assert_allclose(kept["deletion"], sigmoid(WEIGHT * np.stack([sums, *[[0, 0]] * 4], 1)), rtol=1e-5)
    # Insertion: from the blurred image, the first step puts the whole region back.
    np.testing.assert_allclose(kept["insertion"][:, 0], sigmoid(WEIGHT * blurred_sums), rtol=1e-5)
    np.testing.assert_allclose(kept["insertion"][:, 1:], sigmoid(WEIGHT * sums)[:, None].repeat(4, 1), rtol=1e-5)

    worst = fa.perturbation_curves(model, x, inverted, classes=[0, 0], steps=4, blur_sigma=1.0,
                                   deletion_baseline="zeros")
    # The region goes last: the probability holds until the last step.
    np.testing.assert_allclose(worst["deletion"][:, :4], sigmoid(WEIGHT * sums)[:, None].repeat(4, 1), rtol=1e-5)
    np.testing.assert_allclose(worst["deletion"][:, 4], 0.5, rtol=1e-5)
    np.testing.assert_allclose(worst["insertion"][:, 3], sigmoid(WEIGHT * blurred_sums), rtol=1e-5)

    good, bad = (fa.area_under_curve(c["deletion"]) for c in (kept, worst))
    assert np.all(good < bad)
    good, bad = (fa.area_under_curve(c["insertion"]) for c in (kept, worst))
    assert np.all(good > bad)
    np.testing.assert_allclose(fa.area_under_curve([[1, 0, 0]]), [0.25])
    np.testing.assert_array_equal(kept["classes"], [0, 0])


def test_curves_score_the_chosen_output_of_a_multi_output_model():
    model, x = region_model(multi=True), images()
    inputs = {"image": x, "extra": np.zeros((2, 1), "float32")}
    region_map = np.stack([REGION, REGION]).astype("float32")
    curves = fa.perturbation_curves(model, inputs, region_map, output="b", steps=2, deletion_baseline="zeros")
    np.testing.assert_array_equal(curves["classes"], [1, 1])  # b predicts class 1 (the swapped logits)
    np.testing.assert_allclose(curves["deletion"][:, 0], sigmoid(WEIGHT * np.array([4.0, 8.0])), rtol=1e-5)
    np.testing.assert_allclose(curves["deletion"][:, 1:], 0.5, rtol=1e-5)
    with pytest.raises(ValueError, match="no output 'c'"):
        fa.perturbation_curves(model, inputs, region_map, output="c")


def saliency(model, inputs, *, output, classes):
    """|d logit / d pixel|, max over channels: an independent saliency for the test."""
    from kerasfg.vis import ModelGraph

    image = tf.convert_to_tensor(inputs["image"] if isinstance(inputs, dict) else inputs)
    with tf.GradientTape() as tape:
        tape.watch(image)
        feed = {**inputs, "image": image} if isinstance(inputs, dict) else image
        logits = ModelGraph(model)(feed, logits=True)[0][output]
        score = tf.gather(logits, classes, axis=1, batch_dims=1)
    return tf.reduce_max(tf.abs(tape.gradient(score, image)), axis=-1).numpy()


def test_table_ranks_a_faithful_map_above_an_unfaithful_one_and_reports_chance():
    model, x = region_model(), images()
    masks = np.stack([REGION, REGION])
    methods = {"saliency": saliency,
               "inverted": lambda model, inputs, output, classes: 1.0 - masks.astype("float32")}
    rows = fa.faithfulness_table(model, x, methods=methods, masks=masks, steps=4, tolerance=0,
                                 deletion_baseline="zeros")
    assert [row["method"] for row in rows] == ["saliency", "inverted", "random"]
    assert all(list(row) == list(fa.COLUMNS) for row in rows)
    by = {row["method"]: row for row in rows}
    assert by["saliency"]["pointing_game"] == 1.0 and by["saliency"]["energy_in_mask"] == 1.0
    assert by["inverted"]["pointing_game"] == 0.0 and by["inverted"]["energy_in_mask"] == 0.0
    assert by["random"]["pointing_game"] == by["random"]["energy_in_mask"] == 0.25  # the mask's area share
    assert by["saliency"]["deletion_auc"] < by["random"]["deletion_auc"] < by["inverted"]["deletion_auc"]
    assert by["saliency"]["insertion_auc"] > by["inverted"]["insertion_auc"]
    no_masks = fa.faithfulness_table(model, x, methods={"saliency": saliency}, steps=2, random_baseline=False)
    assert list(no_masks[0]) == ["method", "deletion_auc", "insertion_auc"]


def test_explain_methods_by_name_beat_the_random_reference():
    model, x = region_model(), images()
    masks = np.stack([REGION, REGION])
    rows = fa.faithfulness_table(model, x, methods=["saliency", "gradcam"], masks=masks, steps=4,
                                 deletion_baseline="zeros")
    by = {row["method"]: row for row in rows}
    for method in ("saliency", "gradcam"):
        assert by[method]["energy_in_mask"] > by["random"]["energy_in_mask"] + 0.4, method
        assert by[method]["deletion_auc"] < by["random"]["deletion_auc"], method
    assert by["saliency"]["energy_in_mask"] == pytest.approx(1.0)  # the gradient is WEIGHT on the region, 0 off it
    assert by["gradcam"]["energy_in_mask"] == pytest.approx((1.0 + 8 / 11) / 2)  # the region's share of the image


def test_applicable_methods_leave_out_cam_without_a_pooling_head():
    from kerasfg.vis import Explainer
    from kerasfg.vis.explain import METHODS

    names, reasons = fa.applicable_methods(Explainer(region_model()))
    assert list(reasons) == ["cam"] and "GlobalAveragePooling2D" in reasons["cam"]
    assert names == [name for name in METHODS if name != "cam"]


def test_bad_maps_and_masks_are_named():
    with pytest.raises(ValueError, match=r"maps and masks must both have shape"):
        fa.pointing_game(np.zeros((2, 4, 4)), np.zeros((2, 4, 5), bool))
    with pytest.raises(ValueError, match="deletion_baseline"):
        fa.perturbation_curves(region_model(), images(), np.zeros((2, 4, 4)), deletion_baseline="grey")
    with pytest.raises(ValueError, match=r"one map \(n, h, w\) per image \(2 images\)"):
        fa.perturbation_curves(region_model(), images(), np.zeros((3, 4, 4)))


def test_curves_match_a_step_by_step_reference(monkeypatch):
    monkeypatch.setattr(fa, "CHUNK_IMAGES", 7)  # the perturbed images run in several calls
    keras.utils.set_random_seed(1)
    model, rng = functional(), np.random.default_rng(2)
    x = rng.uniform(0, 3, (3, 12, 12, 3)).astype("float32")
    maps = rng.random((3, 12, 12)).astype("float32")  # no ties: the ranking is the descending order
    steps, classes = 5, np.array([0, 3, 4])
    curves = fa.perturbation_curves(model, x, maps, classes=classes, steps=steps, deletion_baseline="blur",
                                    blur_sigma=1.5)
    blurred = gaussian_blur(x, 1.5)
    rank = maps.reshape(3, -1).argsort(axis=1)[:, ::-1].argsort(axis=1).reshape(3, 12, 12, 1)
    for k in range(steps + 1):
        chosen = rank < round(k / steps * 144)
        for name, batch in (("deletion", np.where(chosen, blurred, x)), ("insertion", np.where(chosen, x, blurred))):
            expected = model.predict(batch, verbose=0)[np.arange(3), classes]
            np.testing.assert_allclose(curves[name][:, k], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("multi", [False, True])
def test_table_rows_equal_the_scores_of_each_method_alone(multi, monkeypatch):
    monkeypatch.setattr(fa, "CHUNK_IMAGES", 5)
    model, x = region_model(multi), images()
    inputs = {"image": x, "extra": np.zeros((2, 1), "float32")} if multi else x
    masks = np.stack([REGION, ~REGION])
    methods = {"saliency": saliency, "gradcam": "gradcam",
               "inverted": lambda model, inputs, output, classes: 1.0 - masks.astype("float32")}
    options = dict(steps=3, deletion_baseline="blur", blur_sigma=1.0, seed=4, tolerance=1)
    rows = fa.faithfulness_table(model, inputs, methods=methods, masks=masks, output="a" if multi else None,
                                 **options)  # explains the predicted classes, 0 and 0
    from kerasfg.vis import Explainer

    explainer = Explainer(model)
    alone = {"saliency": saliency(model, inputs, output="a", classes=[0, 0]),
             "gradcam": explainer(inputs, "gradcam", output="a", classes=[0, 0]),
             "inverted": 1.0 - masks.astype("float32"), "random": fa.random_maps((2, SIZE, SIZE), seed=5)}
    assert [row["method"] for row in rows] == list(alone)
    for row, maps in zip(rows, alone.values()):
        scores = fa.faithfulness_scores(model, inputs, maps, masks=masks, output="a" if multi else None,
                                        classes=[0, 0], **options)
        for column in ("deletion_auc", "insertion_auc") + (("pointing_game", "energy_in_mask")
                                                          if row["method"] != "random" else ()):
            assert row[column] == pytest.approx(float(np.mean(scores[column])), abs=1e-6), (row["method"], column)
