"""Builder options that paper 001's ablations need: the ResNets' final pooling (Fig. 3.2.1) and VGG attention
after numbered layers (Table 2.13's Method 3)."""

import keras
import numpy as np
import pytest

from kerasfg.models import build_model


@pytest.mark.parametrize("name, options", [
    ("resnet18", {"filters": (8, 8, 8, 8)}),
    ("face_resnet", {"widths": (8, 8), "blocks": (1, 1), "hidden_units": 4}),
])
@pytest.mark.parametrize("pooling, reduce", [("max", np.max), ("avg", np.mean)])
def test_final_pooling_is_the_max_or_mean_of_the_last_map(name, options, pooling, reduce):
    model = build_model(name, input_shape=(64, 64, 3), num_classes=3, pooling=pooling, **options)
    names = [layer.name for layer in model.layers]
    last = model.layers[names.index("features") - 1]  # the last feature map
    probe = keras.Model(model.inputs, [last.output, model.get_layer("features").output])
    feature_map, features = probe(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
    assert feature_map.shape[1] > 1  # the pooling has positions to merge
    np.testing.assert_allclose(features, reduce(np.asarray(feature_map), axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_unknown_pooling_is_clear():
    with pytest.raises(ValueError, match=r"pooling must be one of \['avg', 'max'\]; received 'sum'"):
        build_model("resnet18", input_shape=(32, 32, 3), num_classes=3, pooling="sum")


def se_parameters(channels, ratio=16):
    return 2 * channels * (channels // ratio) + channels // ratio + channels


def test_vgg_attention_after_layers_11_and_14_is_method_3():
    """keras.applications numbers VGG16's layers from the input (0): 11 is block4_conv1, 14 block4_pool."""
    applications = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert [applications.layers[k].name for k in (11, 14)] == ["block4_conv1", "block4_pool"]
    plain = build_model("vgg16", input_shape=(48, 48, 1), num_classes=7, pool_padding="same")
    model = build_model("vgg16", input_shape=(48, 48, 1), num_classes=7, pool_padding="same", attention="se",
                        attention_placement="layers")
    names = [layer.name for layer in model.layers]
    assert names[names.index("block4_conv1") + 1] == "block4_conv1_se"
    assert names[names.index("block4_pool") + 1] == "block4_pool_se"
    assert model.count_params() == plain.count_params() + 2 * se_parameters(512)
    bn = build_model("vgg16_bn", input_shape=(48, 48, 1), num_classes=7, pool_padding="same", attention="se",
                     attention_placement="layers", attention_layers=[3])  # after its BN and activation
    names = [layer.name for layer in bn.layers]
    assert names[names.index("block1_pool") + 1] == "block1_pool_se"
    with pytest.raises(ValueError, match=r"attention_layers must be layer numbers in 1..18 .*received \[0, 19\]"):
        build_model("vgg16", input_shape=(48, 48, 1), num_classes=7, attention="se", pool_padding="same",
                    attention_placement="layers", attention_layers=[0, 19])
