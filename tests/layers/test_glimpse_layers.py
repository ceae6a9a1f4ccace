"""The glimpse layers against NumPy: the grid and its top-n cells, the cut patches, the two weightings,
and hard attention's gradients (the common layer properties are in test_layer_properties.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.layers import GlimpseGrid, GlimpsePatches, GlimpseWeighting


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cells_of(image, k):
    """NumPy reference: the k*k cells of ``image`` (h, w, c), row-major, as (k*k, h/k, w/k, c)."""
    h, w = image.shape[:2]
    ph, pw = h // k, w // k
    return np.stack([image[r * ph:(r + 1) * ph, c * pw:(c + 1) * pw] for r in range(k) for c in range(k)])


def test_grid_is_a_softmax_over_the_cells_and_chooses_its_top_n():
    scores = np.random.default_rng(0).normal(size=(3, 4, 4, 1)).astype("float32")
    (grid, cells), maps = GlimpseGrid(grid_size=4, num_glimpses=3)(scores, return_attention=True)
    expected = softmax(scores.reshape(3, 16))
    np.testing.assert_allclose(grid, expected, rtol=1e-5)
    np.testing.assert_array_equal(cells, np.argsort(-expected, axis=1)[:, :3])
    assert cells.dtype == "int32"
    np.testing.assert_allclose(maps["grid"][..., 0], expected.reshape(3, 4, 4), rtol=1e-5)
    chosen = np.zeros((3, 16))
    np.put_along_axis(chosen, np.argsort(-expected, axis=1)[:, :3], 1.0, axis=1)
    np.testing.assert_array_equal(maps["chosen"][..., 0], chosen.reshape(3, 4, 4))


def test_grid_resizes_a_score_map_of_another_size():
    scores = np.random.default_rng(1).normal(size=(2, 7, 7, 1)).astype("float32")
    grid, _ = GlimpseGrid(grid_size=4, num_glimpses=2)(scores)
    resized = tf.image.resize(scores, (4, 4), method="bilinear").numpy()
    np.testing.assert_allclose(grid, softmax(resized.reshape(2, 16)), rtol=1e-5)
    np.testing.assert_allclose(np.sum(grid, axis=1), 1.0, rtol=1e-6)


def test_sampled_cells_follow_the_grid_while_training_and_are_the_top_n_otherwise():
    probabilities = np.array([0.5, 0.3, 0.15, 0.05])
    scores = np.tile(np.log(probabilities).reshape(1, 2, 2, 1), (4000, 1, 1, 1)).astype("float32")
    layer = GlimpseGrid(grid_size=2, num_glimpses=2, selection="sample", seed=3)
    _, cells = layer(scores, training=True)
    cells = np.asarray(cells)
    assert (cells[:, 0] != cells[:, 1]).all()  # without replacement
    np.testing.assert_allclose(np.bincount(cells[:, 0], minlength=4) / 4000, probabilities, atol=0.03)
    _, top = layer(scores[:2], training=False)
    np.testing.assert_array_equal(top, [[0, 1], [0, 1]])


def test_patches_are_the_chosen_cells_of_the_image():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 255, size=(2, 12, 8, 3)).astype("float32")
    cells = np.array([[5, 0, 15], [3, 3, 10]], "int32")
    patches = np.asarray(GlimpsePatches(grid_size=4)([image, cells]))
    assert patches.shape == (6, 3, 2, 3)
    expected = np.concatenate([cells_of(image[b], 4)[cells[b]] for b in range(2)])
    np.testing.assert_array_equal(patches, expected)


def test_patches_of_a_size_the_grid_does_not_divide_come_from_the_resized_image():
    image = np.random.default_rng(3).uniform(0, 255, size=(1, 10, 10, 3)).astype("float32")
    patches = np.asarray(GlimpsePatches(grid_size=4)([image, np.array([[6]], "int32")]))
    resized = tf.image.resize(image, (12, 12), method="bilinear").numpy()  # ceil(10 / 4) = 3 pixels a cell
    np.testing.assert_allclose(patches[0], cells_of(resized[0], 4)[6], rtol=1e-5)


def test_patches_of_images_whose_size_is_known_only_at_run_time():
    inputs = keras.Input((None, None, 3)), keras.Input((2,), dtype="int32")
    model = keras.Model(inputs, GlimpsePatches(grid_size=2)(list(inputs)))
    image = np.random.default_rng(4).uniform(size=(1, 6, 4, 3)).astype("float32")
    patches = model.predict([image, np.array([[3, 0]], "int32")], verbose=0)
    np.testing.assert_array_equal(patches, cells_of(image[0], 2)[[3, 0]])


@pytest.mark.parametrize("mode", ["eltwise", "weighted_sum", "none"])
@pytest.mark.parametrize("renormalize", [False, True])
def test_weighting_modes_match_numpy(mode, renormalize):
    rng = np.random.default_rng(5)
    b, n, d, k2 = 3, 4, 5, 9
    features = rng.normal(size=(b * n, d)).astype("float32")
    grid = softmax(rng.normal(size=(b, k2))).astype("float32")
    cells = np.stack([rng.permutation(k2)[:n] for _ in range(b)]).astype("int32")
    out = np.asarray(GlimpseWeighting(mode, renormalize=renormalize)([features, grid, cells]))
    g = np.take_along_axis(grid, cells, axis=1)
    if renormalize:
        g = g / g.sum(axis=1, keepdims=True)
    p = features.reshape(b, n, d)
    expected = {"eltwise": (g[:, :, None] * p).reshape(b, n * d),  # Eq. 3.2
                "weighted_sum": np.einsum("bn,bnd->bd", g, p),  # Eq. 3.1
                "none": p.reshape(b, n * d)}[mode]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)


def test_the_loss_reaches_the_grid_only_through_the_chosen_cells():
    rng = np.random.default_rng(6)
    scores = tf.constant(rng.normal(size=(2, 4, 4, 1)), tf.float32)
    image = tf.constant(rng.uniform(size=(2, 8, 8, 3)), tf.float32)
    grid_layer, patch_layer = GlimpseGrid(grid_size=4, num_glimpses=3), GlimpsePatches(grid_size=4)
    weighting = GlimpseWeighting("eltwise")
    readout = tf.constant(rng.normal(size=(3 * 12,)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([scores, image])
        grid, cells = grid_layer(scores)
        tape.watch(grid)
        patches = patch_layer([image, cells])
        features = tf.reshape(patches, (6, 12))  # a 2x2x3 patch as 12 features
        loss = tf.reduce_sum(weighting([features, grid, cells]) * readout)
    chosen = np.zeros((2, 16), bool)
    np.put_along_axis(chosen, cells.numpy(), True, axis=1)
    d_grid = tape.gradient(loss, grid).numpy()
    assert (d_grid[~chosen] == 0).all() and (d_grid[chosen] != 0).all()
    # The patch stream reads only the pixels of the chosen cells.
    d_image = tape.gradient(loss, image).numpy()
    pixel_cells = np.stack([np.abs(cells_of(d_image[b], 4)).sum(axis=(1, 2, 3)) for b in range(2)])
    assert (pixel_cells[~chosen] == 0).all() and (pixel_cells[chosen] > 0).all()
    # Through the softmax every score of the where stream still learns.
    assert (tape.gradient(loss, scores).numpy() != 0).all()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_glimpses.*cannot exceed the 4 cells"):
        GlimpseGrid(grid_size=2, num_glimpses=5)
    with pytest.raises(ValueError, match="selection"):
        GlimpseGrid(selection="random")
    with pytest.raises(ValueError, match="mode"):
        GlimpseWeighting("project")
    with pytest.raises(ValueError, match="one score channel"):
        GlimpseGrid(grid_size=2, num_glimpses=1)(np.zeros((1, 2, 2, 3), "float32"))
