"""Deep visualization: the ascent raises the target, each regularizer does what it says (against NumPy
and SciPy), and the presets are the thesis's Table 2.1."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from vis_models import BUILDERS, functional

from kerasfg.vis.deep_visualization import (
    PRESETS,
    DeepVisSettings,
    DeepVisualizer,
    deep_visualization,
    percentile,
    regularize,
)
from kerasfg.vis.blur import gaussian_blur

PLAIN = DeepVisSettings(learning_rate=1.0, steps=8)  # no regularizer


@pytest.fixture(autouse=True)
def _seeded_weights():
    """The same initial weights in every run: a ReLU network with random weights may have dead units."""
    keras.utils.set_random_seed(0)


def _logits(model, images):
    """Independent class scores of `functional()`: its features times the Dense kernel, plus the bias."""
    features = keras.Model(model.input, model.get_layer("gap").output)(images)
    dense = model.get_layer("preds")
    return np.asarray(features) @ dense.kernel.numpy() + dense.bias.numpy()


@pytest.mark.parametrize("kind", BUILDERS)
def test_ascent_raises_class_scores_and_filters_of_every_kind_of_model(kind):
    model = BUILDERS[kind]()
    output = "identity" if kind == "multi_output" else None
    for target in ({"output": output}, {"layer": "conv2", "spatial": "mean"}):
        start = DeepVisualizer(model, settings=dataclasses.replace(PLAIN, learning_rate=0.0, steps=1),
                               input_range=None, **target)
        ascent = DeepVisualizer(model, settings=PLAIN, input_range=None, **target)
        _, before = start([0, 2, 2], seed=3)
        images, after = ascent([0, 2, 2], seed=3)
        assert images.shape == (3, 12, 12, 3)
        assert (after > before + 1e-3).all(), (target, before, after)
        assert not np.allclose(images[1], images[2])  # the same unit twice: two samples from different noise


def test_activations_are_the_pre_softmax_score_and_the_centre_unit():
    model = functional()
    images, scores = deep_visualization(model, [1, 4], settings=PLAIN, input_range=None, seed=1)
    np.testing.assert_allclose(scores, _logits(model, images)[[0, 1], [1, 4]], rtol=1e-4, atol=1e-5)
    images, values = deep_visualization(model, [3], layer="conv2", settings=PLAIN, input_range=None)
    conv2 = keras.Model(model.input, model.get_layer("conv2").output)(images)
    np.testing.assert_allclose(values, conv2[:, 1, 1, 3], rtol=1e-4, atol=1e-5)  # the centre of the 3x3 map


def test_final_activations_are_those_of_the_returned_images_and_the_model_is_traced_once(monkeypatch):
    model = functional()
    settings = DeepVisSettings(learning_rate=300.0, steps=4, l2_decay=0.1, blur_every=2, blur_std=1.0,
                               norm_percentile=20)  # the last step blurs, clips and moves the images
    visualizer = DeepVisualizer(model, settings=settings, input_range=(0, 255))
    traced = []
    activations = visualizer.activations
    monkeypatch.setattr(visualizer, "activations", lambda *args: traced.append(1) or activations(*args))
    images, scores = visualizer([1, 4, 4], seed=5)
    assert len(traced) == 1
    np.testing.assert_allclose(scores, _logits(model, images)[[0, 1, 2], [1, 4, 4]], rtol=1e-4, atol=1e-4)
    before, _ = deep_visualization(model, [1, 4, 4], settings=dataclasses.replace(settings, steps=3), seed=5)
    assert not np.allclose(images, before, atol=1e-2)  # the last update counts


def test_images_stay_in_the_input_range_and_start_from_seeded_noise():
    model = functional()
    settings = DeepVisSettings(learning_rate=0.0, steps=1)
    a, _ = deep_visualization(model, [0, 1], settings=settings, input_range=(0, 255), seed=7)
    b, _ = deep_visualization(model, [0, 1], settings=settings, input_range=(0, 255), seed=7)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 127.5) < 2 and 8 < a.std() < 12  # N(centre, 10) on 0..255
    big, _ = deep_visualization(model, [0], settings=DeepVisSettings(learning_rate=1e6, steps=2), input_range=(0, 1))
    assert big.min() >= 0 and big.max() <= 1 and {0.0, 1.0} <= set(np.unique(big))
    zeros, _ = deep_visualization(model, [0], settings=dataclasses.replace(settings, start="zeros"),
                                  input_range=(-1, 3))
    np.testing.assert_array_equal(zeros, np.ones_like(zeros))


def test_l2_decay_shrinks_towards_the_centre_every_step():
    model = functional()
    settings = DeepVisSettings(learning_rate=0.0, steps=5, l2_decay=0.3)
    start, _ = deep_visualization(model, [0], settings=dataclasses.replace(settings, l2_decay=0.0),
                                  input_range=(0, 255))
    decayed, _ = deep_visualization(model, [0], settings=settings, input_range=(0, 255))
    np.testing.assert_allclose(decayed - 127.5, (start - 127.5) * 0.7 ** 5, rtol=1e-4, atol=1e-3)


def test_blur_is_a_gaussian_filter_and_smooths():
    images = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    blurred = gaussian_blur(tf.constant(images), 1.0).numpy()
    expected = ndimage.gaussian_filter(images, sigma=(0, 1.0, 1.0, 0), mode="reflect", truncate=4.0)
    np.testing.assert_allclose(blurred, expected, rtol=1e-4, atol=1e-5)

    def roughness(x):
        return np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean()

    assert roughness(blurred) < 0.5 * roughness(images)
    step = DeepVisSettings(blur_every=3, blur_std=1.0)
    for number, blurs in ((1, False), (2, False), (3, True), (6, True)):  # every third step, counting from 1
        out = regularize(tf.constant(images), tf.zeros_like(images), tf.constant(number), step).numpy()
        np.testing.assert_allclose(out, expected if blurs else images, rtol=1e-4, atol=1e-5)


def test_percentiles_interpolate_like_numpy():
    values = np.random.default_rng(1).normal(size=(3, 37)).astype("float32")
    for q in (0, 10, 33.3, 50, 90, 100):
        np.testing.assert_allclose(percentile(tf.constant(values), q)[:, 0], np.percentile(values, q, axis=1),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field,share,per_pixel", [("value_percentile", 0.3, False), ("norm_percentile", 0.5, True),
                                                   ("contribution_percentile", 0.25, True),
                                                   ("abs_contribution_percentile", 0.9, True)])
def test_percentile_clipping_zeros_the_expected_share(field, share, per_pixel):
    rng = np.random.default_rng(2)
    image = rng.normal(size=(2, 10, 10, 3)).astype("float32")
    gradient = rng.normal(size=image.shape).astype("float32")
    settings = DeepVisSettings(**{field: share * 100})
    out = regularize(tf.constant(image), tf.constant(gradient), tf.constant(1), settings).numpy()
    zeroed = out == 0
    kept = ~zeroed
    np.testing.assert_array_equal(out[kept], image[kept])  # clipping only zeroes
    if per_pixel:
        assert (zeroed.all(-1) == zeroed.any(-1)).all()  # whole pixels
        scores = {"norm_percentile": np.linalg.norm(image, axis=-1),
                  "contribution_percentile": (image * gradient).sum(-1),
                  "abs_contribution_percentile": np.abs((image * gradient).sum(-1))}[field]
        for n in range(2):  # exactly the pixels with the lowest scores
            threshold = np.percentile(scores[n], share * 100)
            np.testing.assert_array_equal(zeroed[n, ..., 0], scores[n] < threshold)
        zeroed = zeroed[..., 0]
    else:
        for n in range(2):
            np.testing.assert_array_equal(zeroed[n], np.abs(image[n]) < np.percentile(np.abs(image[n]), 30))
    assert abs(zeroed.mean() - share) <= 1 / zeroed[0].size + 1e-9


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_runs_in_the_compiled_loop(name):
    settings = dataclasses.replace(PRESETS[name], learning_rate=1000.0, steps=4, value_percentile=10,
                                   contribution_percentile=10)
    images, scores = deep_visualization(functional(), [0, 3], settings=settings, input_range=(0, 255), seed=2)
    assert images.shape == (2, 12, 12, 3) and np.isfinite(images).all() and np.isfinite(scores).all()
    assert (images == 127.5).any()  # clipped pixels are set to the centre of the input range


def test_settings_ascended_together_reach_the_images_of_each_alone_from_one_trace():
    model = functional()
    every = [dataclasses.replace(PRESETS["row1"], steps=2, learning_rate=0.2),
             DeepVisSettings(learning_rate=300.0, steps=4, step="raw", l2_decay=0.1, blur_every=2, blur_std=1.0),
             DeepVisSettings(steps=3, jitter=2, start="zeros", abs_contribution_percentile=50),
             dataclasses.replace(PRESETS["row2"], steps=1)]
    visualizer = DeepVisualizer(model, input_range=(0, 255))
    together = visualizer.ascend_each([0, 3], every, seed=3)
    for settings, ascent in zip(every, together):
        alone = DeepVisualizer(model, settings=settings, input_range=(0, 255)).ascend([0, 3], seed=3)
        np.testing.assert_allclose(ascent.images, alone.images, atol=0.05)
        np.testing.assert_allclose(ascent.activations, alone.activations, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(ascent.start_activations, alone.start_activations, rtol=1e-3, atol=1e-4)
    assert not np.allclose(together[0].images, together[3].images)
    visualizer.ascend_each([1], every[2:], seed=0)  # other units, settings and batch size: no new trace
    assert visualizer._ascend.function.experimental_get_tracing_count() == 1


def test_presets_are_the_rows_of_table_2_1():
    table = {"row1": (0, 4, 0.5, 50, 0), "row2": (0.3, 0, 0, 20, 0), "row3": (0.0001, 4, 1.0, 0, 0),
             "row4": (0, 4, 0.5, 0, 90)}
    for name, row in table.items():
        preset = PRESETS[name]
        assert (preset.l2_decay, preset.blur_every, preset.blur_std, preset.norm_percentile,
                preset.abs_contribution_percentile) == row
        assert preset.value_percentile == preset.contribution_percentile == 0


def test_bad_settings_and_units_are_named():
    with pytest.raises(ValueError, match="l2_decay must be in"):
        DeepVisSettings(l2_decay=2)
    with pytest.raises(ValueError, match="norm_percentile must be in"):
        DeepVisSettings(norm_percentile=120)
    model = functional()
    with pytest.raises(ValueError, match="Unknown deep visualization preset 'row9'"):
        DeepVisualizer(model, settings="row9")
    with pytest.raises(ValueError, match="indices below 5, the units of 'preds'"):
        DeepVisualizer(model)([5])
    with pytest.raises(ValueError, match="not both"):
        DeepVisualizer(model, layer="conv2", output="preds")


def test_mixed_precision_models():
    keras.config.set_dtype_policy("mixed_bfloat16")  # the conftest restores float32
    images, scores = deep_visualization(functional(), [0, 1], settings=PRESETS["row1"], seed=4)
    assert images.dtype == scores.dtype == np.float32 and np.isfinite(images).all() and np.isfinite(scores).all()


def test_other_inputs_are_zeros_of_their_shape_and_dtype():
    image, code = keras.Input((8, 8, 3), name="image"), keras.Input((), dtype="int32", name="code")
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(image))
    joined = keras.layers.Concatenate()([features, keras.layers.Embedding(4, 2)(code)])
    model = keras.Model({"image": image, "code": code}, keras.layers.Dense(3, name="scores")(joined))
    images, scores = deep_visualization(model, [0, 2], settings=PLAIN, input_range=None)
    expected = model({"image": images, "code": np.zeros(2, "int32")})
    np.testing.assert_allclose(scores, np.asarray(expected)[[0, 1], [0, 2]], rtol=1e-5, atol=1e-6)


def test_normalized_steps_raise_the_activation_whatever_the_input_scale():
    """The same network on 0..255 pixels (rescaled inside) and on 0..1 inputs: every preset raises the class score
    alike, in the same number of steps; the thesis's raw step on 0..255 pixels barely moves the image."""
    keras.utils.set_random_seed(4)
    body = [keras.layers.Conv2D(6, 3, activation="relu", name="conv1"), keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv2"), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax", name="preds")]
    unit = keras.Sequential([keras.Input((16, 16, 3)), *body])
    pixels = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255), *body])  # the same layers
    noise = DeepVisualizer(unit, settings=DeepVisSettings(steps=1, learning_rate=0.0), input_range=(0, 1))
    spread = np.std(noise([0, 3] * 16, seed=2)[1].reshape(16, 2), axis=0)  # the scores' spread on start images
    gains = {}
    for name, model, input_range in (("pixels", pixels, (0, 255)), ("unit", unit, (0, 1))):
        for preset in PRESETS:
            ascent = DeepVisualizer(model, settings=dataclasses.replace(PRESETS[preset], steps=20),
                                    input_range=input_range).ascend([0, 3], seed=1)
            gains[name, preset] = ascent.activations - ascent.start_activations
            assert (gains[name, preset] > 5 * spread).all(), (name, preset, gains[name, preset], spread)
        np.testing.assert_allclose(gains[name, "row3"], gains["pixels", "row3"], rtol=1e-3)
    raw = DeepVisualizer(pixels, settings=DeepVisSettings(step="raw", learning_rate=200.0, steps=20))
    ascent = raw.ascend([0, 3], seed=1)
    assert (ascent.activations - ascent.start_activations < 0.1 * gains["pixels", "row3"]).all()


def test_jitter_takes_each_gradient_on_a_shifted_image():
    """A linear 3x3 filter's centre unit at (8, 8) of a 16x16 image: without jitter every step changes only its
    receptive field (rows and columns 7..9); with jitter 2 the steps land up to 2 pixels beyond it, never
    further, and the reported activations are those of the unshifted start and final images."""
    image = keras.Input((16, 16, 1))
    model = keras.Model(image, keras.layers.Conv2D(1, 3, padding="same", use_bias=False, name="linear")(image))
    model.get_layer("linear").kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    settings = DeepVisSettings(learning_rate=1.0, steps=12, step="raw", start="zeros")
    still, _ = deep_visualization(model, [0], layer="linear", settings=settings, input_range=None)
    moved = np.argwhere(still[0, ..., 0] != 0)
    assert moved.min() == 7 and moved.max() == 9
    jittered = DeepVisualizer(model, layer="linear", settings=dataclasses.replace(settings, jitter=2),
                              input_range=None)
    ascent = jittered.ascend([0])
    moved = np.argwhere(ascent.images[0, ..., 0] != 0)
    assert moved.min() == 5 and moved.max() == 11
    assert ascent.start_activations[0] == 0
    np.testing.assert_allclose(ascent.activations, ascent.images[0, 7:10, 7:10].sum(), rtol=1e-5)
    np.testing.assert_array_equal(ascent.images, jittered.ascend([0]).images)  # the shifts are reproducible
    with pytest.raises(ValueError, match="jitter non-negative"):
        DeepVisSettings(jitter=-1)
