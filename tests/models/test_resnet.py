"""ResNet v1/v2: keras.applications parity, torchvision counts, attention placement, activation."""

import keras
import numpy as np
import pytest

from kerasfg.models import build_model


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _copy_weights(source, target):
    """Copy weights layer by layer in creation order; both models must build the same layers."""
    src = [layer for layer in source.layers if layer.weights]
    dst = [layer for layer in target.layers if layer.weights]
    assert len(src) == len(dst)
    for a, b in zip(src, dst):
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], (a.name, b.name)
        b.set_weights(a.get_weights())


@pytest.mark.slow
@pytest.mark.parametrize("name, reference", [
    ("resnet50", keras.applications.ResNet50),
    ("resnet50v2", keras.applications.ResNet50V2),
])
def test_matches_keras_applications(name, reference):
    """Same parameter count (1000 classes) and, with the weights copied across, the same outputs.

    The only intended difference is the layer names (``stage3_block2_1_conv`` for keras'
    ``conv4_block2_1_conv``) and the dict output ``{"predictions": ...}``.
    """
    theirs = reference(weights=None, input_shape=(64, 64, 3), classes=1000)
    ours = build_model(name, input_shape=(64, 64, 3), num_classes=1000)
    assert ours.count_params() == theirs.count_params() == {"resnet50": 25_636_712,
                                                            "resnet50v2": 25_613_800}[name]
    rng = np.random.default_rng(0)
    for w in theirs.weights:  # non-trivial BN statistics too
        if "moving_variance" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        elif "moving_mean" in w.path or "beta" in w.path:
            w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
    _copy_weights(theirs, ours)
    x = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False)["predictions"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name, reference", [
    ("resnet101", keras.applications.ResNet101),
    ("resnet152v2", keras.applications.ResNet152V2),
])
def test_deep_resnets_have_keras_applications_parameter_counts(name, reference):
    theirs = reference(weights=None, input_shape=(32, 32, 3), classes=10).count_params()
    assert build_model(name, input_shape=(32, 32, 3), num_classes=10).count_params() == theirs


def test_basic_resnets_have_torchvision_parameter_counts():
    """torchvision counts trainable parameters only (BN statistics are buffers there)."""
    resnet18 = build_model("resnet18", input_shape=(32, 32, 3), num_classes=1000)
    assert _trainable(resnet18) == 11_689_512
    resnet34 = build_model("resnet34", input_shape=(32, 32, 3), num_classes=1000)
    assert _trainable(resnet34) == 21_797_672


@pytest.mark.parametrize("name, blocks", [("resnet18", (2, 2, 2, 2)), ("resnet18v2", (2, 2, 2, 2))])
def test_attention_in_every_block_before_the_addition(name, blocks):
    model = build_model(name, input_shape=(32, 32, 1), num_classes=3, attention="se")
    names = {layer.name for layer in model.layers}
    expected = {f"stage{i}_block{j}_se" for i, n in enumerate(blocks, 1) for j in range(1, n + 1)}
    assert {n for n in names if n.endswith("_se")} == expected
    plain = build_model(name, input_shape=(32, 32, 1), num_classes=3)
    added = sum(model.get_layer(n).count_params() for n in expected)
    assert model.count_params() == plain.count_params() + added
    for block in expected:
        prefix = block[: -len("_se")]
        se = model.get_layer(block)
        # the module's input is the residual branch's last BN (v1) or convolution (v2) ...
        source = se.input._keras_history.operation.name
        assert source == (f"{prefix}_2_bn" if name == "resnet18" else f"{prefix}_2_conv")
        # ... and its output goes into the addition, next to the shortcut
        add = model.get_layer(f"{prefix}_add" if name == "resnet18" else f"{prefix}_out")
        assert any(t is se.output for t in add.input)


def test_bottleneck_attention_sits_after_the_last_bn_and_sees_four_times_the_width():
    model = build_model("resnet50", input_shape=(32, 32, 3), num_classes=3, attention="cbam")
    cbam = model.get_layer("stage3_block2_cbam")
    assert cbam.input._keras_history.operation.name == "stage3_block2_3_bn"
    assert cbam.input.shape[-1] == 1024  # the fixed CBAM(planes * 4), not the old CBAM(planes) bug
    assert len([n for n in (layer.name for layer in model.layers) if n.endswith("_cbam")]) == 16


def test_activation_switch_replaces_every_activation():
    model = build_model("resnet18", input_shape=(48, 48, 1), num_classes=7, activation="elu")
    activations = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
    assert activations and all(layer.name.endswith("_elu") for layer in activations)
    assert all(layer.activation is keras.activations.elu for layer in activations)


@pytest.mark.parametrize("name, shape", [("resnet18", (48, 48, 1)), ("resnet34v2", (48, 48, 1)),
                                         ("resnet18", (224, 224, 3))])
def test_input_sizes_from_fer_to_imagenet(name, shape):
    model = build_model(name, input_shape=shape, num_classes=7)
    y = model(np.zeros((1, *shape), "float32"))["predictions"]
    assert y.shape == (1, 7)
    np.testing.assert_allclose(float(keras.ops.sum(y)), 1.0, rtol=1e-5)


def test_fer_report_batchnorm_bug_is_not_copied():
    """The FER report's BN used axis=1 (the height axis), hence its 23.49M for ResNet-50; here BN
    normalizes the channels and ResNet-50 on 48x48x1 with 7 classes has 23,595,783 parameters."""
    model = build_model("resnet50", input_shape=(48, 48, 1), num_classes=7, activation="elu")
    assert model.count_params() == 23_595_783
    bn = model.get_layer("stage3_block1_3_bn")
    assert bn.axis in (-1, 3) and bn.gamma.shape == (1024,)
    assert model.get_layer("stage3_block1_3_conv").filters == 1024  # not the report's "1924"


def test_dict_num_classes_gives_named_logit_outputs():
    model = build_model("resnet18", input_shape=(32, 32, 3), num_classes={"identity": 5, "age": 3},
                        classifier_activation=None, dropout=0.2)
    y = model(np.ones((2, 32, 32, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in y.items()} == {"identity": (2, 5), "age": (2, 3)}
    assert model.get_layer("identity").activation is keras.activations.linear


@pytest.mark.parametrize("name, expansion", [("resnet18", 1), ("resnet50", 4)])
def test_narrow_stages_take_the_widths_given(name, expansion):
    """``filters`` sets each stage's width (a bottleneck's output is 4 x as wide); the smoke forms use it."""
    widths = (16, 16, 32, 24)
    model = build_model(name, input_shape=(32, 32, 3), num_classes=3, filters=widths)
    for stage, width in enumerate(widths, start=1):
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
                 and layer.name.startswith(f"stage{stage}_") and "shortcut" not in layer.name]
        assert convs and convs[-1].filters == expansion * width, (stage, convs[-1].name)
    assert [output.shape for output in keras.tree.flatten(model.output)] == [(None, 3)]
    with pytest.raises(ValueError, match=r"filters must give the width of each of the 4 stages as positive ints; "
                                         r"received \(16, 32\)"):
        build_model(name, input_shape=(32, 32, 3), num_classes=3, filters=(16, 32))
