"""VGG: keras.applications parity, the FER report's counts (and its VGG-19 bug), attention
placements, the exact CAM form and the attention-augmented form."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.models import build_model
from kerasfg.models.glue import DepthToSpace

FER = {"input_shape": (48, 48, 1), "num_classes": 7, "activation": "elu", "pool_padding": "same"}


@pytest.mark.slow
def test_vgg16_matches_keras_applications():
    """Same parameter count at 224x224 (138,357,544); at 64x64, with the weights copied across,
    the same outputs. Same layer names; the only difference is the dict output."""
    ours224 = build_model("vgg16", input_shape=(224, 224, 3), num_classes=1000)
    assert ours224.count_params() == keras.applications.VGG16(weights=None).count_params()
    assert ours224.count_params() == 138_357_544
    del ours224
    keras.utils.clear_session()
    theirs = keras.applications.VGG16(weights=None, input_shape=(64, 64, 3), classes=10)
    ours = build_model("vgg16", input_shape=(64, 64, 3), num_classes=10)
    assert [layer.name for layer in ours.layers][1:] == [layer.name for layer in theirs.layers][1:]
    for layer in theirs.layers:
        if layer.weights:
            ours.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)["predictions"]),
                               keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-6)


def test_fer_report_counts_and_its_vgg19_bug_is_not_copied():
    """VGG16 as reported (39,916,231 = "39.92M"); VGG19 with all 16 convolutions (45,225,927),
    not the report's 42.87M network that missed a block-4 convolution."""
    assert build_model("vgg16", **FER).count_params() == 39_916_231
    vgg19 = build_model("vgg19", **FER)
    assert vgg19.count_params() == 45_225_927
    convs = [layer.name for layer in vgg19.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 16
    assert [n for n in convs if n.startswith("block4_")] == [
        "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4"]


def test_se_after_every_block_adds_the_reported_77852_parameters():
    """The FER report's "Method 1" VGG16 + SE (39.99M): one SE per conv block, r = 16."""
    model = build_model("vgg16", attention="se", attention_placement="blocks", **FER)
    assert model.count_params() == 39_916_231 + 77_852
    assert [layer.name for layer in model.layers if layer.name.endswith("_se")] == [
        f"block{b}_se" for b in range(1, 6)]
    assert model.get_layer("block3_pool").input is model.get_layer("block3_se").output


def test_last_placement_is_residual_after_the_last_pool():
    model = build_model("vgg16", attention="cbam", input_shape=(32, 32, 3), num_classes=2,
                        fc_units=8)
    cbam, add = model.get_layer("top_cbam"), model.get_layer("top_cbam_add")
    pool = model.get_layer("block5_pool").output
    assert cbam.input is pool
    assert {id(t) for t in add.input} == {id(pool), id(cbam.output)}  # x + A(x)
    plain = build_model("vgg16", attention="cbam", attention_residual=False,
                        input_shape=(32, 32, 3), num_classes=2, fc_units=8)
    assert "top_cbam_add" not in {layer.name for layer in plain.layers}


def test_batch_norm_variant():
    model = build_model("vgg19_bn", input_shape=(32, 32, 3), num_classes=2, fc_units=8)
    bns = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 16 and bns[0] == "block1_conv1_bn"
    assert model.get_layer("block1_conv1_relu").input is model.get_layer("block1_conv1_bn").output


def test_cam_form_is_exact_and_has_the_fei_report_trainable_count():
    """GAP straight into one dense layer: the logit is the spatial mean of the class activation
    map M_c = sum_k w_ck f_k + b_c. Training only block 5 and the classifier leaves 7,080,450
    trainable parameters of 14,715,714 (the FEI report's 14,714,688 / 7,080,450 with a 2-class
    head)."""
    model = build_model("vgg16_cam", input_shape=(64, 64, 3), num_classes=2,
                        classifier_activation=None)
    assert model.count_params() == 14_715_714
    for layer in model.layers:
        layer.trainable = layer.name.startswith("block5") or layer.name == "predictions"
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 7_080_450
    x = np.random.default_rng(1).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    features = keras.Model(model.input, model.get_layer("block5_pool").output)(x)
    kernel, bias = model.get_layer("predictions").get_weights()
    cam = np.einsum("bhwk,kc->bhwc", np.asarray(features), kernel) + bias
    np.testing.assert_allclose(np.asarray(model(x)["predictions"]), cam.mean(axis=(1, 2)),
                               rtol=1e-4, atol=1e-5)


def test_depth_to_space_matches_tensorflow_and_the_reshape_scrambles():
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 12)).astype("float32")
    ours = np.asarray(DepthToSpace(2)(x))
    np.testing.assert_array_equal(ours, tf.nn.depth_to_space(x, 2).numpy())
    assert not np.array_equal(ours, x.reshape(2, 6, 10, 3))  # the FEI report's reshape differs
    # every output pixel comes from the input pixel it lies over
    np.testing.assert_array_equal(ours[:, 0::2, 0::2, :], x[..., 0:3])


@pytest.mark.parametrize("space_mode, layer", [("depth_to_space", "augmented_depth_to_space"),
                                               ("reshape", "augmented_reshape")])
def test_attention_augmented_form(space_mode, layer):
    model = build_model("vgg16_augmented", input_shape=(12, 16, 3), num_classes=2, head="cam",
                        pool_padding="same", space_mode=space_mode)
    assert model.get_layer("augmented_conv").output.shape[1:] == (12, 16, 12)
    assert model.get_layer(layer).output.shape[1:] == (24, 32, 3)
    assert model.get_layer("block1_conv1").input is model.get_layer(layer).output
    assert model(np.zeros((1, 12, 16, 3), "float32"))["predictions"].shape == (1, 2)
    with pytest.raises(ValueError, match="space_mode"):
        build_model("vgg16_augmented", input_shape=(12, 16, 3), num_classes=2, space_mode="tile")
