"""Attention Branch Networks: the official structure, the (1 + M) g mechanism, the summed loss,
and the multi-task form computed in one pass."""

import keras
import numpy as np
import pytest

from kerasfg.models import abn_losses, build_model


def _sub(model, *names):
    return keras.Model(model.input, [model.get_layer(n).output for n in names])


def _conv_names(model):
    return sorted(layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def test_imagenet_style_structure_and_outputs():
    model = build_model("abn_resnet", input_shape=(64, 64, 3), num_classes=5, depth=18)
    y = model(np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32"))
    assert {k: tuple(v.shape) for k, v in y.items()} == {
        "attention_logits": (2, 5), "perception_logits": (2, 5), "attention_map": (2, 4, 4, 1)}
    assert all(v.dtype == "float32" for v in y.values())
    m = np.asarray(y["attention_map"])
    assert (m > 0).all() and (m < 1).all()  # a sigmoid map
    # the attention branch is a stride-1 copy of stage 4 with its own weights
    g = model.get_layer("stage3_block2_out_relu").output
    assert model.get_layer("attention_stage4_block2_out_relu").output.shape[1:3] == g.shape[1:3]
    assert model.get_layer("stage4_block2_out_relu").output.shape[1] == g.shape[1] // 2
    assert model.get_layer("attention_stage4_block1_1_conv").strides == (1, 1)
    assert model.get_layer("stage4_block1_1_conv").strides == (2, 2)
    assert model.get_layer("attention_branch").map_kernel_size == 3  # the official code's 3x3


def test_perception_branch_sees_one_plus_m_times_g():
    model = build_model("abn_cifar_resnet", input_shape=(16, 16, 3), num_classes=4, depth=8)
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    g, m, reweighted = _sub(model, "stage2_block1_out_relu", "attention_map", "attention_branch")(x)[:3]
    reweighted = reweighted[0] if isinstance(reweighted, (list, tuple)) else reweighted
    np.testing.assert_allclose(np.asarray(reweighted), np.asarray(g) * (1 + np.asarray(m)),
                               rtol=1e-5, atol=1e-6)
    perception_input = model.get_layer("stage3_block1_1_conv").input
    assert perception_input is model.get_layer("attention_branch").output[0]


def test_summed_loss():
    model = build_model("abn_cifar_resnet", input_shape=(16, 16, 3), num_classes=3, depth=8)
    model.compile(optimizer="sgd", **abn_losses(attention_weight=0.5))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(8,))
    result = model.evaluate(x, {"attention_logits": labels, "perception_logits": labels},
                            batch_size=8, verbose=0, return_dict=True)
    y = model.predict(x, verbose=0)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = 0.5 * float(ce(labels, y["attention_logits"])) + float(ce(labels,
                                                                          y["perception_logits"]))
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-4)


def test_multitask_runs_the_last_stage_once_and_matches_per_task_linear_heads():
    single = build_model("abn_cifar_resnet", input_shape=(16, 16, 3), num_classes=2, depth=8)
    multi = build_model("abn_multitask", input_shape=(16, 16, 3), num_classes=40, style="cifar",
                        depth=8)
    # one perception stage (no per-task copies): the same convolutions as single-task ABN, plus
    # the per-task 1x1 classifier
    assert _conv_names(multi) == sorted([*_conv_names(single), "perception_task_conv"])
    x = np.random.default_rng(3).normal(size=(2, 16, 16, 3)).astype("float32")
    y = multi(x)
    assert {k: tuple(v.shape) for k, v in y.items()} == {
        "attention_logits": (2, 40), "perception_logits": (2, 40), "attention_map": (2, 8, 8, 40)}
    # reference: a linear classifier per task on the map-weighted average of the shared features
    bias = multi.get_layer("perception_logits").bias
    bias.assign(np.linspace(-1, 1, 40).astype("float32"))
    features, maps = _sub(multi, "stage3_block1_out_relu", "attention_map")(x)
    features, maps = np.asarray(features), np.asarray(maps)
    assert features.shape[1:3] == (4, 4)
    maps_low = maps.reshape(2, 4, 2, 4, 2, 40).mean(axis=(2, 4))  # bilinear 2x downsampling
    kernel = multi.get_layer("perception_task_conv").get_weights()[0][0, 0]  # (C, T)
    pooled = np.einsum("bhwt,bhwc->btc", 1 + maps_low, features) / 16
    expected = np.einsum("btc,ct->bt", pooled, kernel) + np.asarray(bias)
    np.testing.assert_allclose(np.asarray(multi(x)["perception_logits"]), expected, rtol=1e-4,
                               atol=1e-5)


def test_multitask_sigmoid_losses_and_pooling():
    model = build_model("abn_multitask", input_shape=(16, 16, 3), num_classes=6, style="cifar",
                        depth=8, task_pooling="max")
    x = np.random.default_rng(4).normal(size=(4, 16, 16, 3)).astype("float32")
    y = model(x)
    assert model.get_layer("attention_branch").task_pooling == "max"
    # the attribute logits are the max-pooled task maps (before their sigmoid)
    np.testing.assert_allclose(1 / (1 + np.exp(-np.asarray(y["attention_logits"]))),
                               np.asarray(y["attention_map"]).max(axis=(1, 2)), rtol=1e-5)
    model.compile(optimizer=keras.optimizers.SGD(0.05), **abn_losses(multitask=True))
    targets = np.random.default_rng(5).integers(0, 2, size=(4, 6)).astype("float32")
    history = model.fit(x, {"attention_logits": targets, "perception_logits": targets},
                        epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="style"):
        build_model("abn_resnet", input_shape=(32, 32, 3), num_classes=2, style="mnist")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        build_model("abn_resnet", input_shape=(32, 32, 3), num_classes={"a": 2})
