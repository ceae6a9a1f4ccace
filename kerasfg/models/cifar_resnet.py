"""CIFAR ResNets (He et al. 2016, section 4.2): ResNet-20, 32, 44, 56, 110 and any 6n+2 / 9n+2.

A 3x3 convolution with 16 filters, three stages of 16, 32 and 64 filters (the last two halve the
resolution), global average pooling and the classifier. Basic blocks for depth 6n+2;
``block="bottleneck"`` gives the 9n+2 bottleneck networks of the official ABN code (bearpaw's
convention, stage outputs 64/128/256), which it uses from depth 44 on.

Intended difference from He et al.: where the shape changes the shortcut is a 1x1 convolution + BN
(their option B, used by the official ABN code), not the parameter-free zero padding (option A): ResNet-20
with 10 classes has 272,474 trainable parameters (+1,568 BN moving statistics), slightly more than
the paper's "0.27M". Convolutions have no bias.
"""

import functools

import keras

from kerasfg.models.blocks import Attention, act, classifier_outputs, conv_bn, image_input
from kerasfg.models.registry import register_model
from kerasfg.models.resnet import stage

CIFAR_FILTERS = (16, 32, 64)

# === Layers ===


def cifar_blocks_per_stage(depth, block):
    """Blocks per stage of a CIFAR ResNet: ``(depth - 2) / 6`` (basic) or ``/ 9`` (bottleneck)."""
    per_block = {"basic": 6, "bottleneck": 9}
    if block not in per_block:
        raise ValueError(f"block must be 'basic' or 'bottleneck'; received {block!r}.")
    n, rest = divmod(depth - 2, per_block[block])
    if rest or n < 1:
        raise ValueError(f"A CIFAR ResNet with {block} blocks has depth {per_block[block]}n+2 "
                         f"(n >= 1); received depth={depth!r}.")
    return n


def cifar_stem(x, activation):
    """3x3 convolution with 16 filters, BN and activation."""
    x = conv_bn(x, CIFAR_FILTERS[0], 3, use_bias=False, name="stem")
    return act(x, activation, "stem")


def cifar_stage(x, index, *, depth, block, activation, attention, strides=None, name=None):
    """Stage ``index`` (1-3) of a CIFAR ResNet; ``strides`` defaults to 1 for stage 1, else 2."""
    n = cifar_blocks_per_stage(depth, block)
    strides = strides if strides is not None else (1 if index == 1 else 2)
    return stage(x, index, CIFAR_FILTERS[index - 1], n, version=1, block=block, strides=strides,
                 activation=activation, attention=attention, use_bias=False, stride_on="3x3",
                 name=name)


def cifar_resnet_features(x, *, depth=20, block="basic", attention=None, activation="relu"):
    """Pooled CIFAR ResNet features of tensor ``x`` (a layer named ``features``)."""
    attention = attention if isinstance(attention, Attention) else Attention(attention)
    x = cifar_stem(x, activation)
    for index in (1, 2, 3):
        x = cifar_stage(x, index, depth=depth, block=block, activation=activation,
                        attention=attention)
    return keras.layers.GlobalAveragePooling2D(name="features")(x)


# === Functional Model ===


def cifar_resnet(*, input_shape, num_classes, attention=None, activation="relu", depth=20,
                 block="basic", classifier_activation="softmax", rescale=None, name=None):
    """Build a CIFAR ResNet.

    Args:
        input_shape: image shape, e.g. ``(32, 32, 3)`` or ``(48, 48, 1)``.
        num_classes: an int (one output named ``predictions``) or a dict ``{output: classes}``.
        attention: attention module in every block (``stage{i}_block{j}_{tag}``), or None.
        activation: activation of the network.
        depth: 6n+2 (basic blocks: 20, 32, 44, 56, 110) or 9n+2 (bottlenecks).
        block: ``"basic"`` or ``"bottleneck"``.
        classifier_activation: ``"softmax"``, or None for logits.
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        name: model name (default ``cifar_resnet{depth}``).
    """
    image, x = image_input(input_shape, rescale)
    x = cifar_resnet_features(x, depth=depth, block=block, attention=attention,
                              activation=activation)
    outputs = classifier_outputs(x, num_classes, classifier_activation=classifier_activation)
    return keras.Model(image, outputs, name=name or f"cifar_resnet{depth}")


# === Config ===


def smallest_cifar_resnet(options):
    """The smallest depth of the block type: 8 (basic, n = 1) or 11 (bottleneck)."""
    return {"depth": 11 if options.get("block") == "bottleneck" else 8}


for _depth in (20, 32, 44, 56, 110):
    register_model(f"cifar_resnet{_depth}", smoke_options=smallest_cifar_resnet)(
        functools.partial(cifar_resnet, depth=_depth))
register_model("cifar_resnet", smoke_options=smallest_cifar_resnet)(cifar_resnet)
