"""get_attention: names, classes and callables to layer builders."""

import functools

import keras
import numpy as np
import pytest

from kerasfg.layers import CBAM, available_attention, get_attention


def test_name_gives_a_builder_of_named_configured_layers():
    builder = get_attention("CBAM", ratio=8)
    layer = builder(name="stage2_block1_cbam", kernel_size=3)
    assert isinstance(layer, CBAM)
    assert (layer.name, layer.ratio, layer.kernel_size) == ("stage2_block1_cbam", 8, 3)
    x = keras.Input((8, 8, 16))
    model = keras.Model(x, get_attention("cbam")(name="stage2_block1_cbam")(x))
    assert model.get_layer("stage2_block1_cbam").reduced_channels == 1


@pytest.mark.parametrize("none", [None, "none", "None", ""])
def test_none_means_no_attention(none):
    assert get_attention(none) is None


def test_classes_and_callables():
    assert get_attention(CBAM, ratio=2)().ratio == 2
    partial = functools.partial(CBAM, ratio=4)
    assert get_attention(partial) is partial
    assert get_attention(partial, kernel_size=5)().kernel_size == 5
    layer = get_attention(lambda **kw: keras.layers.Identity(**kw))(name="id")
    assert isinstance(layer, keras.layers.Identity)
    x = np.ones((1, 2, 2, 4), "float32")
    np.testing.assert_array_equal(layer(x), x)


def test_every_listed_name_builds_a_shape_preserving_layer():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 32)).astype("float32")
    for name in available_attention():
        layer = get_attention(name)(name=f"block_{name}")
        assert layer.name == f"block_{name}"
        assert layer(x).shape == x.shape, name


def test_unknown_names_and_types_are_rejected():
    with pytest.raises(ValueError, match=r"Unknown attention 'bam'.*'cbam'"):
        get_attention("bam")
    with pytest.raises(TypeError, match="received 3 of type int"):
        get_attention(3)
