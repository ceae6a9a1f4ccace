"""The where/what glimpse model: its streams, hard attention through the whole network, the k = n = 1
reduction, serialization, and its attention maps in the vis code and the callbacks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.models import build_model
from kerasfg.vis import AttentionMapProbe, ModelGraph
from kerasfg.vis.introspect import feature_layer

FILTERS = (8, 16, 16, 32, 32)
SMALL = dict(input_shape=(32, 32, 3), num_classes={"age": 8, "gender": 2}, grid_size=4, num_glimpses=2,
             low_resolution=(32, 32), fc_units=8, filters=FILTERS)


def small_glimpse(**options):
    keras.utils.set_random_seed(0)
    return build_model("glimpse_attention", **{**SMALL, **options})


@pytest.fixture(scope="module")
def model():
    return small_glimpse()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")


def _apply(model, names, x):
    for name in names:
        x = model.get_layer(name)(x)
    return x


PATCH_LAYERS = ["conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2", "conv3_3",
                "pool3"]
WHERE_LAYERS = ["where_resize", *PATCH_LAYERS, "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1", "conv5_2",
                "conv5_3", "pool5"]


def test_streams_have_readable_names_and_the_patch_stream_shares_the_first_blocks(model):
    names = {layer.name for layer in model.layers}
    assert {"vgg_face_mean", "where_resize", "where_grid_conv", "glimpse_grid", "glimpse_patches", "what_gap",
            "glimpse_weighting", "where_flatten", "where_l2", "what_l2", "glimpse_merge", "fc6", "fc7",
            "age", "gender"} <= names
    assert not any(name.startswith("patch_") for name in names)
    separate = small_glimpse(share_weights=False)
    own = sum(separate.get_layer(f"patch_{name}").count_params() for name in PATCH_LAYERS)
    shared = sum(model.get_layer(name).count_params() for name in PATCH_LAYERS)
    assert own == shared > 0
    assert separate.count_params() == model.count_params() + own


def test_the_patch_stream_sees_the_chosen_cells_weighted_by_their_grid_values(model, images):
    graph = ModelGraph(model)
    _, taps = graph(images, taps=["glimpse_grid", "glimpse_weighting"])
    grid, cells = (np.asarray(t) for t in taps["glimpse_grid"])
    np.testing.assert_array_equal(cells, np.argsort(-grid, axis=1)[:, :2])
    # Reference: the shared blocks on each chosen 8x8 cell of the image, pooled, times its grid value.
    expected = []
    for b in range(len(images)):
        for cell in cells[b]:
            r, c = divmod(int(cell), 4)
            patch = images[b:b + 1, 8 * r:8 * r + 8, 8 * c:8 * c + 8]
            features = np.asarray(_apply(model, ["vgg_face_mean", *PATCH_LAYERS], patch)).mean(axis=(1, 2))[0]
            expected.append(grid[b, cell] * features)
    np.testing.assert_allclose(np.asarray(taps["glimpse_weighting"]), np.reshape(expected, (3, -1)),
                               rtol=1e-4, atol=1e-6)


def test_gradients_reach_the_grid_only_through_the_chosen_cells(model, images):
    graph = ModelGraph(model)
    inputs = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs, taps = graph(inputs, taps=["glimpse_grid"], logits=True)
        score = tf.reduce_sum(outputs["age"] * np.arange(8)) + tf.reduce_sum(outputs["gender"])
    grid, cells = taps["glimpse_grid"]
    d_grid = tape.gradient(score, grid).numpy()
    chosen = np.zeros_like(d_grid, bool)
    np.put_along_axis(chosen, cells.numpy(), True, axis=1)
    assert (d_grid[~chosen] == 0).all() and (d_grid[chosen] != 0).all()


@pytest.mark.slow
def test_one_cell_one_glimpse_reduces_to_both_streams_on_the_whole_image(images):
    model = small_glimpse(grid_size=1, num_glimpses=1, dropout=0.0)
    _, taps = ModelGraph(model)(images, taps=["glimpse_grid", "glimpse_weighting", "pool5"])
    grid, cells = taps["glimpse_grid"]
    np.testing.assert_allclose(grid, 1.0) and np.testing.assert_array_equal(cells, 0)
    centred = model.get_layer("vgg_face_mean")(images)
    whole = np.asarray(_apply(model, PATCH_LAYERS, centred)).mean(axis=(1, 2))
    np.testing.assert_allclose(taps["glimpse_weighting"], whole, rtol=1e-4, atol=1e-5)
    where = _apply(model, WHERE_LAYERS, centred)
    np.testing.assert_allclose(taps["pool5"], where, rtol=1e-5, atol=1e-5)
    # The classifier sees [pool5 / |pool5|, P / |P|].
    merged = np.concatenate([np.reshape(where, (3, -1)), whole], axis=1)
    norms = np.concatenate([np.linalg.norm(np.reshape(where, (3, -1)), axis=1, keepdims=True).repeat(
        np.prod(where.shape[1:]), 1), np.linalg.norm(whole, axis=1, keepdims=True).repeat(whole.shape[1], 1)], 1)
    expected = _apply(model, ["fc6", "fc7", "age"], merged / norms)
    np.testing.assert_allclose(model(images)["age"], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("options", [{}, {"grid_head": "dense"}, {"share_weights": False},
                                     {"patch_features": "pool4", "merge": "add", "where_pooling": "gap",
                                      "input_shape": (64, 64, 3)}])
def test_cam_methods_explain_the_where_stream_by_default(options):
    # pool5 is 1x1 or 2x2 here, smaller than the 3x3 the CAM methods weigh at least (MIN_CAM_MAP)
    assert feature_layer(ModelGraph(small_glimpse(**options))) == "conv4_3"
    assert feature_layer(ModelGraph(small_glimpse(trunk="vgg16", **options))) == "block4_conv3"


@pytest.mark.slow
def test_keras_file_round_trip_is_exact(tmp_path, images):
    model = small_glimpse(share_weights=False, weighting="weighted_sum", merge="add", selection="sample", seed=2)
    model.save(tmp_path / "glimpse.keras")
    loaded = keras.saving.load_model(tmp_path / "glimpse.keras")
    for name in ("age", "gender"):
        np.testing.assert_array_equal(model(images)[name], loaded(images)[name])
    assert loaded.get_layer("glimpse_grid").get_config() == model.get_layer("glimpse_grid").get_config()


def test_any_image_size_works():
    model = small_glimpse(input_shape=(None, None, 3))
    for size in (33, 45):  # cells of 9 and 12 pixels
        outputs = model(np.zeros((2, size, size, 3), "float32"))
        assert outputs["age"].shape == (2, 8)


def test_the_grid_and_the_chosen_cells_are_attention_maps(model, images):
    maps = AttentionMapProbe(model)(images)
    assert set(maps) == {"glimpse_grid"}
    grid, chosen = maps["glimpse_grid"]["grid"], maps["glimpse_grid"]["chosen"]
    assert grid.shape == chosen.shape == (3, 4, 4, 1)
    np.testing.assert_allclose(grid.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    top = np.argsort(-grid.reshape(3, 16), axis=1)[:, :2]
    assert (np.take_along_axis(chosen.reshape(3, 16), top, axis=1) == 1).all()
    assert (chosen.sum(axis=(1, 2, 3)) == 2).all()


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="`merge` must be one of"):
        small_glimpse(merge="sum")
    with pytest.raises(ValueError, match="`patch_features` must be one of"):
        small_glimpse(patch_features="pool5")
    with pytest.raises(ValueError, match=r"cells of \(8, 8\) pixels .* need at least 16 pixels a side"):
        small_glimpse(patch_features="pool4")


@pytest.mark.slow
def test_callbacks_show_the_grid_the_chosen_cells_and_grad_cam_of_the_where_stream(tmp_path, model, images,
                                                                                   event_images):
    from kerasfg.callbacks import AttentionMaps, GradCAM

    callbacks = [AttentionMaps(images[:2], log_dir=tmp_path), GradCAM(images[:2], log_dir=tmp_path)]
    for callback in callbacks:
        callback.set_model(model)
        callback.on_train_begin()
    for callback in callbacks:
        callback.on_train_end()
    recorded = event_images.steps(tmp_path)
    assert {"attention/glimpse_grid/grid", "attention/glimpse_grid/chosen"} <= set(recorded)
    assert any("gradcam" in tag for tag in recorded), sorted(recorded)
    overlays = event_images.pictures(tmp_path, "attention/glimpse_grid/chosen")[0]
    assert len(overlays) == 2 and overlays[0].shape == (32, 32, 3)


@pytest.mark.slow
def test_vgg_face_weights_fill_the_where_stream_and_the_separate_patch_stream(tmp_path, images):
    from vgg_face_files import layer_arrays, write_keras_vggface

    keras.utils.set_random_seed(3)
    face = build_model("vgg_face", input_shape=(None, None, 3), num_classes=1, include_top=False, filters=FILTERS)
    arrays = layer_arrays(face)
    write_keras_vggface(tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5", arrays)
    model = small_glimpse(share_weights=False, weights=tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5")
    for name, (kernel, bias) in arrays.items():
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], kernel)
        if int(name[4]) <= 3:
            np.testing.assert_array_equal(model.get_layer(f"patch_{name}").get_weights()[1], bias)
    _, taps = ModelGraph(model)(images, taps=["pool5"])
    expected = face(keras.layers.Resizing(32, 32)(images))["pool5"]
    np.testing.assert_allclose(taps["pool5"], expected, rtol=1e-4, atol=1e-4)
