"""Output-code and DEX heads in place of a registered model's softmax classifiers."""

import keras
import numpy as np
import pytest

from kerasfg import codes
from kerasfg.age import DEXHead
from kerasfg.models import build_model
from kerasfg.models.registry import registered_model

SMALL = dict(input_shape=(32, 32, 3), attention=None, widths=(8, 16), blocks=(1, 1))


def test_heads_replace_the_named_classifiers_and_keep_the_rest():
    model = build_model("face_resnet", num_classes={"identity": 5, "gender": 2},
                        output_codes={"identity": {"design": "dense_random", "bits": 7, "candidates": 20}},
                        dex={"age": [10, 60]}, **SMALL)
    assert sorted(model.output) == ["age", "gender", "identity"]
    head = model.get_layer("identity")
    assert isinstance(head, codes.OutputCodes) and head.code.shape == (5, 7)
    np.testing.assert_array_equal(head.code, codes.make_code("dense_random", 5, 7, candidates=20))
    assert model.get_layer("identity_code").units == 7
    assert isinstance(model.get_layer("age"), DEXHead) and model.get_layer("age").units == 51
    assert isinstance(model.get_layer("gender"), keras.layers.Dense)
    outputs = model(np.zeros((2, 32, 32, 3), "float32"))
    assert outputs["identity"].shape == (2, 5) and outputs["age"].shape == (2, 51)
    np.testing.assert_allclose(np.sum(outputs["identity"], axis=1), 1, rtol=1e-5)


def test_a_single_output_model_takes_a_code_matrix():
    code = codes.one_hot_code(4)
    model = build_model("face_resnet", num_classes=4, output_codes={"predictions": code}, **SMALL)
    np.testing.assert_array_equal(model.get_layer("predictions").code, code)


def test_a_classifier_with_a_separate_softmax_takes_a_head():
    model = build_model("vgg_face", input_shape=(32, 32, 3), num_classes={"age": 3}, dex={"age": [0, 10]},
                        filters=(8, 8, 16, 16, 16), fc_units=16)
    assert isinstance(model.get_layer("age"), DEXHead) and model.get_layer("age").input.shape[-1] == 16
    assert "fc8" not in [layer.name for layer in model.layers]


def test_the_glimpse_model_takes_a_dex_head():
    model = build_model("glimpse_attention", input_shape=(32, 32, 3), num_classes={"gender": 2}, dex={"age": True},
                        grid_size=4, num_glimpses=2, low_resolution=(32, 32), fc_units=8)
    assert model.get_layer("age").units == 101 and model.get_layer("age").input.shape[-1] == 8


def test_bad_heads_are_named():
    with pytest.raises(ValueError, match=r"tasks \['expression'\] that are not outputs"):
        build_model("face_resnet", num_classes={"identity": 3}, output_codes={"expression": np.eye(7)}, **SMALL)
    with pytest.raises(ValueError, match="needs 3 rows"):
        build_model("face_resnet", num_classes={"identity": 3}, output_codes={"identity": np.eye(4)}, **SMALL)
    with pytest.raises(ValueError, match="comes from Concatenate, not a Dense classifier"):
        from kerasfg.models.heads import replace_heads

        inputs = keras.Input((3,))
        merged = keras.layers.Concatenate(name="identity")([inputs, inputs])
        replace_heads(keras.Model(inputs, {"identity": merged}), dex={"identity": True})
    with pytest.raises(ValueError, match="both output codes and a DEX head"):
        build_model("face_resnet", num_classes={"age": 3}, output_codes={"age": np.eye(3)}, dex={"age": True},
                    **SMALL)


def test_heads_bring_their_objectives():
    from kerasfg import objectives

    model = build_model("face_resnet", num_classes={"identity": 5},
                        output_codes={"identity": {"design": "gaussian", "bits": 4}}, dex={"age": [10, 60]}, **SMALL)
    resolved = objectives.resolve(model, {"identity": objectives.TargetTask("identity", "class", tuple("abcde")),
                                          "age": objectives.TargetTask("age", "regression")},
                                  registered=registered_model("face_resnet"))
    age, identity = resolved.outputs["age"], resolved.outputs["identity"]
    assert (age.loss, [name for name, _ in age.metrics]) == ("dex", ["dex_mae"])
    assert (identity.loss, identity.info.from_logits) == ("softmax_cross_entropy", False)
    compiled = resolved.compile_arguments()
    assert compiled["loss"]["age"].min_age == 10 and compiled["metrics"]["age"][0].min_age == 10
    with pytest.raises(ValueError, match="need a DEX head at 'identity'"):
        objectives.build_loss("dex", resolved.outputs["identity"].info)
