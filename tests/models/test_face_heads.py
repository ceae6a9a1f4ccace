"""Multi-branch face networks A-I: the thesis's parameter counts, inputs, outputs, loss weights,
and the end-to-end form on a backbone."""

import keras
import numpy as np
import pytest

from kerasfg.models import CONFIGURATIONS, build_model, face_head_losses

THESIS_COUNTS = {"A": 401_506, "B": 5_345_378, "C": 6_394_978, "D": 402_192, "E": 5_352_546,
                 "F": 5_352_546, "G": 430_185, "H": 6_402_153, "I": 6_402_153}


@pytest.mark.parametrize("config", sorted(CONFIGURATIONS))
def test_parameter_counts_equal_the_thesis_table(config):
    model = build_model("face_head", input_shape=(4096,), config=config,
                        num_classes={"identity": 98, "expression": 7})
    assert model.count_params() == THESIS_COUNTS[config]
    has_input = config in "DEF"
    assert sorted(t.name for t in model.inputs) == (["expression", "features"] if has_input
                                                     else ["features"])
    assert sorted(model.output) == (["expression", "identity"] if config in "GHI" else ["identity"])
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert all(layer.rate == 0.5 for layer in dropouts)
    assert model.get_layer("head_dropout1").input is model.get_layer("features").output


def test_merge_points_and_task_specific_layers():
    e = build_model("face_head", input_shape=(4096,), num_classes=98, config="E")
    assert e.get_layer("head_merge").output.shape[-1] == 1024 + 7
    assert e.get_layer("head_fc2").input is e.get_layer("head_merge").output
    f = build_model("face_head", input_shape=(4096,), num_classes=98, config="F")
    assert f.get_layer("head_merge").output.shape[-1] == 4096 + 7
    h = build_model("face_head", input_shape=(4096,), num_classes=98, config="H")
    assert h.get_layer("expression").input is h.get_layer("expression_dropout1").output
    assert h.get_layer("identity").input is h.get_layer("head_dropout3").output
    i = build_model("face_head", input_shape=(4096,), num_classes=98, config="I")
    assert i.get_layer("identity").input is i.get_layer("identity_dropout1").output


def test_expression_input_is_a_one_hot_class_index():
    model = build_model("face_head", input_shape=(16,), num_classes={"identity": 3, "expression": 4},
                        config="D")
    merged = keras.Model(model.input, model.get_layer("head_merge").output)
    out = np.asarray(merged({"features": np.zeros((2, 16), "float32"),
                             "expression": np.array([1, 3], "int32")}))
    np.testing.assert_array_equal(out[:, 16:], np.eye(4)[[1, 3]])


def test_loss_weights_per_output():
    model = build_model("face_head", input_shape=(16,), num_classes={"identity": 3, "expression": 4},
                        config="G")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 16)).astype("float32")
    y = {"identity": rng.integers(0, 3, 8), "expression": rng.integers(0, 4, 8)}
    model.compile(optimizer="adam", **face_head_losses(model, {"expression": 0.25}))
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"],
                               result["identity_loss"] + 0.25 * result["expression_loss"], rtol=1e-5)
    with pytest.raises(ValueError, match="not an output"):
        face_head_losses(model, {"age": 1.0})


def test_end_to_end_on_a_backbone_with_a_frozen_extractor():
    model = build_model("face_head", input_shape=(32, 32, 3), num_classes={"identity": 5},
                        config="E", backbone="resnet18", attention="cbam", freeze_backbone=True,
                        hidden_units=16)
    assert sorted(t.name for t in model.inputs) == ["expression", "image"]
    assert model.get_layer("head_dropout1").input is model.get_layer("features").output
    assert not model.get_layer("stage2_block1_1_conv").trainable
    assert not model.get_layer("stage4_block2_cbam").trainable
    assert model.get_layer("head_fc1").trainable and model.get_layer("identity").trainable
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"head_fc1", "head_fc2", "identity"}
    y = model({"image": np.zeros((2, 32, 32, 3), "float32"),
               "expression": np.array([0, 6], "int32")})
    assert y["identity"].shape == (2, 5)


def test_vgg_backbone_feeds_fc2_like_vgg_face():
    model = build_model("face_head", input_shape=(32, 32, 3), num_classes=4, config="A",
                        backbone="vgg16", backbone_options={"fc_units": 64})
    assert model.get_layer("head_dropout1").input is model.get_layer("fc2").output


def test_bad_arguments():
    with pytest.raises(ValueError, match="config must be one of"):
        build_model("face_head", input_shape=(8,), num_classes=3, config="J")
    with pytest.raises(ValueError, match="feature vector"):
        build_model("face_head", input_shape=(8, 8, 3), num_classes=3, config="A")
    with pytest.raises(ValueError, match="Unknown backbone"):
        build_model("face_head", input_shape=(8, 8, 3), num_classes=3, backbone="alexnet")
