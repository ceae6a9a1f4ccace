"""CAM, the Grad-CAM family and Score-CAM against hand computations, on every kind of model."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from vis_models import BUILDERS, model_inputs

from kerasfg.vis import METHODS, Explainer, explain


def _flat(size=16):
    """Flat functional model whose ``conv2`` keeps the input resolution, with the logits as a layer."""
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    logits = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, keras.layers.Softmax(name="preds")(logits))


def _two_heads(size=16):
    """Image and extra inputs; head "a" is Dense on GAP (CAM works), head "b" also sees the extra input."""
    image, extra = keras.Input((size, size, 3), name="image"), keras.Input((2,), name="extra")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(image)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    merged = keras.layers.Concatenate(name="merge")([pooled, extra])
    return keras.Model({"image": image, "extra": extra},
                       {"a": keras.layers.Dense(4, activation="softmax", name="a")(pooled),
                        "b": keras.layers.Dense(3, activation="softmax", name="b")(merged)})


def _gradcam_by_hand(probe, inputs, classes=None):
    """Grad-CAM with a plain tape on ``probe``: a keras.Model(inputs, [feature maps, logits])."""
    with tf.GradientTape() as tape:
        features, logits = probe(inputs)
        chosen = np.argmax(logits, axis=-1) if classes is None else classes
        score = tf.reduce_sum(tf.gather(logits, chosen, batch_dims=1))
    grads = tape.gradient(score, features).numpy()
    return np.maximum((grads.mean(axis=(1, 2), keepdims=True) * features.numpy()).sum(-1), 0)


def test_gradcam_equals_a_hand_computation_with_a_gradient_tape():
    model = _flat()
    images = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    probe = keras.Model(model.inputs[0], [model.get_layer("conv2").output, model.get_layer("logits").output])
    expected = _gradcam_by_hand(probe, images)
    assert expected.max() > 0
    np.testing.assert_allclose(explain(model, images, "gradcam", layer="conv2"), expected, rtol=1e-4, atol=1e-6)
    classes = np.array([0, 1, 2, 3])
    np.testing.assert_allclose(explain(model, images, "gradcam", layer="conv2", classes=classes),
                               _gradcam_by_hand(probe, images, classes), rtol=1e-4, atol=1e-6)


def test_gradcam_of_each_output_of_a_multi_output_model():
    model = _two_heads()
    rng = np.random.default_rng(1)
    inputs = {"image": rng.normal(size=(3, 16, 16, 3)).astype("float32"),
              "extra": rng.normal(size=(3, 2)).astype("float32")}
    explainer = Explainer(model)
    maps_a = explainer(inputs, "gradcam", output="a")
    maps_b = explainer(inputs, "gradcam", output="b")
    b = model.get_layer("b")
    logits_b = keras.layers.Dense(3, name="b_logits")
    logits_b.build((None, 8))
    logits_b.set_weights(b.get_weights())
    probe = keras.Model(model.inputs, [model.get_layer("conv").output, logits_b(model.get_layer("merge").output)])
    np.testing.assert_allclose(maps_b, _gradcam_by_hand(probe, inputs), rtol=1e-4, atol=1e-6)
    assert not np.allclose(maps_a, maps_b)
    np.testing.assert_array_equal(explainer(inputs, "gradcam"), maps_a)  # the first output by default
    with pytest.raises(ValueError, match=r"no output 'c'; its outputs are \['a', 'b'\]"):
        explainer(inputs, "gradcam", output="c")


def test_cam_equals_the_dense_weights_applied_to_the_feature_maps():
    model = _two_heads()
    rng = np.random.default_rng(2)
    inputs = {"image": rng.normal(size=(3, 16, 16, 3)).astype("float32"),
              "extra": rng.normal(size=(3, 2)).astype("float32")}
    features = keras.Model(model.get_layer("image").output, model.get_layer("conv").output)(inputs["image"]).numpy()
    kernel = model.get_layer("a").kernel.numpy()
    top = np.argmax(model(inputs)["a"], axis=-1)
    expected = np.einsum("nhwk,kn->nhw", features, kernel[:, top])
    np.testing.assert_allclose(explain(model, inputs, "cam", output="a"), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"CAM needs output 'b' to be a Dense layer on GlobalAveragePooling2D"):
        explain(model, inputs, "cam", output="b")


@pytest.mark.parametrize("kind", ["sequential", "nested"])
def test_cam_finds_the_pooled_layer_and_head_through_sequential_and_nested_models(kind):
    model = BUILDERS[kind]()
    images = model_inputs(kind, np.random.default_rng(3))
    trunk = model.get_layer("backbone") if kind == "nested" else model
    features = keras.Model(trunk.inputs[0], trunk.get_layer("relu2").output)(images).numpy()
    kernel = model.get_layer("preds" if kind == "nested" else "dense").kernel.numpy()
    top = np.argmax(model(images), axis=-1)
    expected = np.einsum("nhwk,kn->nhw", features, kernel[:, top])
    maps = explain(model, images, "cam")
    np.testing.assert_allclose(tf.image.resize(expected[..., None], (12, 12))[..., 0], maps, rtol=1e-4, atol=1e-5)


def test_gradcam_variants_and_scorecam_weigh_the_same_layer_differently():
    model = _flat()
    images = np.random.default_rng(4).normal(size=(2, 16, 16, 3)).astype("float32")
    explainer = Explainer(model)
    probe = keras.Model(model.inputs[0], [model.get_layer("conv2").output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        features, logits = probe(images)
        score = tf.reduce_sum(tf.gather(logits, np.argmax(logits, -1), batch_dims=1))
    grads, features = tape.gradient(score, features).numpy(), features.numpy()
    layercam = np.maximum((np.maximum(grads, 0) * features).sum(-1), 0)
    np.testing.assert_allclose(explainer(images, "layercam", layer="conv2"), layercam, rtol=1e-4, atol=1e-6)
    scorecam = explainer(images, "scorecam", layer="conv2")
    fastest = explainer(images, "scorecam", layer="conv2", max_channels=2, batch_size=3)
    assert scorecam.shape == fastest.shape == (2, 16, 16) and not np.allclose(scorecam, fastest)
    np.testing.assert_allclose(explainer(images, "scorecam", layer="conv2", batch_size=1), scorecam, rtol=1e-5)


@pytest.mark.parametrize("baseline", ["blur", "zeros"])
def test_scorecam_weighs_each_feature_map_by_the_class_probability_through_it(baseline):
    from scipy import ndimage

    model = _flat(8)
    rng = np.random.default_rng(6)
    images = rng.uniform(0, 3, (2, 8, 8, 3)).astype("float32")
    features = keras.Model(model.inputs[0], model.get_layer("conv2").output).predict(images, verbose=0)
    classes = model.predict(images, verbose=0).argmax(-1)
    fill = ndimage.gaussian_filter(images, (0, 0.5, 0.5, 0), mode="reflect", truncate=4.0) \
        if baseline == "blur" else np.zeros_like(images)  # sigma: a sixteenth of the 8-pixel side
    expected = []
    for n in range(2):
        masks = features[n].transpose(2, 0, 1)  # conv2 keeps the resolution: no resizing
        low, high = masks.min(axis=(1, 2), keepdims=True), masks.max(axis=(1, 2), keepdims=True)
        masks = np.where(high > low, (masks - low) / np.where(high > low, high - low, 1), 0)[..., None]
        probabilities = model.predict(images[n] * masks + fill[n] * (1 - masks), verbose=0)[:, classes[n]]
        expected.append(np.maximum((features[n] * probabilities).sum(-1), 0))
    maps = Explainer(model)(images, "scorecam", layer="conv2", baseline=baseline)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="baseline must be one of"):
        explain(model, images, "scorecam", baseline="grey")


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("kind", BUILDERS)
def test_every_method_runs_on_every_kind_of_model(kind, policy):
    keras.config.set_dtype_policy(policy)
    model = BUILDERS[kind]()
    inputs = model_inputs(kind, np.random.default_rng(5))
    explainer = Explainer(model)
    for method in METHODS:
        if method == "cam" and kind == "multi_output":  # its heads see the extra input: not GAP -> Dense
            continue
        options = {"samples": 2} if method == "smoothgrad" else {}
        maps = explainer(inputs, method, **options)
        assert maps.shape == (3, 12, 12) and maps.dtype == np.float32, method
        assert np.isfinite(maps).all() and maps.max() > 0, method


def test_a_single_sigmoid_unit_explains_the_side_of_its_class():
    """Class 1 is the unit's score, class 0 its negative: their Grad-CAMs rectify opposite signs of one map, and
    the predicted side is the one whose score is positive."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="gender")(
        keras.layers.GlobalAveragePooling2D()(x)))
    images = np.random.default_rng(8).normal(size=(4, 8, 8, 3)).astype("float32")
    explainer = Explainer(model)
    positive, negative = (explainer(images, "gradcam", classes=c) for c in (1, 0))
    assert (positive * negative == 0).all() and (positive + negative).max() > 0
    predicted = (model.predict(images, verbose=0)[:, 0] > 0.5).astype(int)
    np.testing.assert_allclose(explainer(images, "gradcam"), np.where(predicted[:, None, None] == 1, positive,
                                                                      negative), atol=1e-6)
