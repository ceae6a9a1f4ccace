"""CIFAR ResNets and Wide ResNets: structure and the published parameter counts."""

import numpy as np
import pytest

from kerasfg.models import build_model


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _convs(model):
    return [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_resnet_depth_counts_weighted_layers(depth):
    """6n+2: the stem, 6n block convolutions and the classifier (projection shortcuts aside)."""
    model = build_model(f"cifar_resnet{depth}", input_shape=(32, 32, 3), num_classes=10)
    main_convs = [c for c in _convs(model) if not c.name.endswith("_0_conv")]
    assert len(main_convs) + 1 == depth
    assert model.get_layer("features").input.shape[1:] == (8, 8, 64)


def test_cifar_resnet20_and_110_parameter_counts():
    """He et al.'s 0.27M and 1.7M, with projection shortcuts (option B, the ABN code's)."""
    assert _trainable(build_model("cifar_resnet20", input_shape=(32, 32, 3), num_classes=10)) == 272_474
    assert _trainable(build_model("cifar_resnet110", input_shape=(32, 32, 3),
                                  num_classes=10)) == 1_730_714


def test_cifar_bottleneck_variant():
    model = build_model("cifar_resnet", input_shape=(32, 32, 3), num_classes=10, depth=29,
                        block="bottleneck")
    assert model.get_layer("features").input.shape[1:] == (8, 8, 256)
    assert len([c for c in _convs(model) if not c.name.endswith("_0_conv")]) + 1 == 29
    with pytest.raises(ValueError, match="9n\\+2"):
        build_model("cifar_resnet", input_shape=(32, 32, 3), num_classes=10, depth=30,
                    block="bottleneck")


@pytest.mark.slow
def test_wrn_28_10_has_the_papers_36_5m_parameters():
    model = build_model("wide_resnet", input_shape=(32, 32, 3), num_classes=10, depth=28, width=10)
    assert _trainable(model) == 36_479_194


def test_wrn_structure():
    model = build_model("wide_resnet", input_shape=(32, 32, 3), num_classes=10, depth=16, width=2,
                        dropout=0.3)
    assert [model.get_layer(f"stage{g}_block1_2_conv").filters for g in (1, 2, 3)] == [32, 64, 128]
    assert model.get_layer("features").input.shape[1:] == (8, 8, 128)
    assert len([n for n in (layer.name for layer in model.layers) if n.endswith("_dropout")]) == 6
    # the projection shortcut reads the pre-activated input, as the official code
    shortcut = model.get_layer("stage2_block1_0_conv")
    assert shortcut.input is model.get_layer("stage2_block1_preact_relu").output
    with pytest.raises(ValueError, match="6n\\+4"):
        build_model("wide_resnet", input_shape=(32, 32, 3), num_classes=10, depth=27)
