"""Layer activations against Keras's own sub-models and hand convolutions; grids and strips by layout."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from vis_models import BUILDERS, model_inputs, functional

from kerasfg.vis.activations import (
    LayerActivationProbe,
    activation_grids,
    activation_strips,
    layer_activations,
    representative_layers,
    top_channels,
)


def test_equal_keras_sub_models_of_a_flat_functional_model():
    model = functional()
    images = np.random.default_rng(0).normal(size=(3, 12, 12, 3)).astype("float32")
    activations = layer_activations(model, images)
    assert list(activations) == ["conv1", "pool", "conv2", "relu2", "gap", "preds"]  # no InputLayer
    for path, values in activations.items():
        expected = keras.Model(model.input, model.get_layer(path).output)(images)
        assert values.dtype == np.float32
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", BUILDERS)
def test_chosen_layers_of_every_kind_of_model(kind):
    model = BUILDERS[kind]()
    inputs = model_inputs(kind, np.random.default_rng(1))
    probe = LayerActivationProbe(model, ["conv1", "gap"])
    activations = probe(inputs)
    conv1 = probe.graph.layers[probe.paths[0]]
    image = inputs["image"] if isinstance(inputs, dict) else inputs
    expected = tf.nn.relu(tf.nn.conv2d(image, conv1.kernel, 1, "VALID") + conv1.bias)
    np.testing.assert_allclose(activations[probe.paths[0]], expected, rtol=1e-5, atol=1e-5)
    assert activations[probe.paths[1]].shape == (3, 6)
    assert probe.paths == (["backbone/conv1", "backbone/gap"] if kind == "nested" else ["conv1", "gap"])


def test_default_layers_skip_inputs_dropout_and_flatten():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))
    assert list(LayerActivationProbe(model).paths) == ["conv", "dense"]


def test_grid_puts_each_chosen_filter_in_its_tile():
    maps = np.zeros((2, 3, 3, 5), np.float32)
    for channel in range(5):  # channel k lights pixel k (row-major) of its map, image 1 twice as bright
        maps[:, channel // 3, channel % 3, channel] = [1, 2]
    grids = activation_grids(maps)
    assert grids.shape == (2, 2 * 3 + 1, 3 * 3 + 2, 1) and grids.dtype == np.uint8  # 3 columns, 2 rows
    for channel in range(5):
        row, column = divmod(channel, 3)
        tile = grids[0, row * 4:row * 4 + 3, column * 4:column * 4 + 3, 0]
        expected = np.zeros((3, 3), np.uint8)
        expected[channel // 3, channel % 3] = 255  # each map normalised to its own maximum
        np.testing.assert_array_equal(tile, expected)
    np.testing.assert_array_equal(grids[0], grids[1])
    assert (grids[0, 3, :, 0] == 255).all() and (grids[0, 4:, 8:, 0] == 255).all()  # separators, empty tile

    chosen = activation_grids(maps, channels=[4, 0], columns=2)
    assert chosen.shape == (2, 3, 7, 1)
    assert chosen[0, 1, 1, 0] == 255 and chosen[0, 0, 4, 0] == 255  # channel 4 first, then channel 0


def test_top_channels_have_the_largest_mean_activation():
    maps = np.zeros((2, 4, 4, 6), np.float32)
    maps[..., [1, 4, 5]] = [3.0, 5.0, 1.0]
    maps[0, 0, 0, 2] = 100.0  # a large mean from one image still counts over the batch
    np.testing.assert_array_equal(top_channels(maps, 3), [1, 2, 4])
    np.testing.assert_array_equal(top_channels(maps), np.arange(6))


def test_strips_have_a_cell_per_unit():
    values = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 4.0]], np.float32)
    strips = activation_strips(values, cell=(2, 3))
    assert strips.shape == (2, 2, 9, 1)
    np.testing.assert_array_equal(strips[0, 0, ::3, 0], [0, 85, 255])
    np.testing.assert_array_equal(strips[1, 1, ::3, 0], [0, 0, 255])


def test_representative_layers_are_the_ends_of_each_resolution():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="b")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.ZeroPadding2D(1, name="pad")(x)
    x = keras.layers.Conv2D(4, 3, name="c")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Dense(3, name="dense")(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    assert representative_layers(keras.Model(inputs, x)) == ["b", "c", "pool2"]
    dense_only = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, name="fc1"),
                                   keras.layers.Dropout(0.5), keras.layers.Dense(2, name="out")])
    assert representative_layers(dense_only) == ["fc1", "out"]
