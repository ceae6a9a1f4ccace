"""ResNet v1 (18, 34, 50, 101, 152) and ResNet v2 (pre-activation), with attention in every block.

The bottleneck networks are built layer for layer as ``keras.applications.ResNet50`` /
``ResNet50V2`` build them (same layer order, biases, BN epsilon 1.001e-5, stride on the first 1x1
convolution in v1 and on the last block of a stage in v2), so that the plain models have exactly
their parameter counts and take their weights unchanged; only the names differ
(``conv4_block2_1_conv`` is ``stage3_block2_1_conv`` here). ResNet-18/34 use torchvision's basic
blocks without convolution biases (ResNet-18 with 1000 classes: 11,689,512 trainable parameters, as
torchvision counts them, plus 9,600 BN moving statistics).

The attention module goes on the residual branch, after its last BN (v1) or last convolution (v2)
and before the addition, in every block (SE-ResNet placement, also CBAM's and the FER report's).

Not copied from the FER report (``001_8567db0c98305053.txt``, see ``papers/NOTES-001.md``): its BN
layers normalize ``axis=1`` (the height axis of channels-last tensors), which is why its ResNet
parameter counts (23.49M / 42.46M / 58.08M) are lower than the real networks'; here BN normalizes
the channels. Its stage-3 width "1924" is a typo for 1024. Its ELU switch is ``activation="elu"``.
"""

import functools

import keras

from kerasfg.layers import BatchNormalization
from kerasfg.models.blocks import (
    BN_EPSILON,
    Attention,
    act,
    classifier_outputs,
    conv_bn,
    global_pooling,
    image_input,
)
from kerasfg.models.registry import register_model

BOTTLENECK_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
BASIC_BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}  # 10: the smallest form smoke runs build
STAGE_FILTERS = (64, 128, 256, 512)

# === Layers ===


def bottleneck_block(x, filters, *, strides=1, conv_shortcut=True, activation="relu", attention=None,
                     use_bias=True, stride_on="1x1", bn_epsilon=BN_EPSILON, name):
    """Post-activation bottleneck block (keras.applications ``block1``), output ``4 * filters``.

    Args:
        x: input tensor.
        filters: width of the bottleneck; the block outputs ``4 * filters`` channels.
        strides: stride of the block.
        conv_shortcut: a 1x1 convolution + BN shortcut (True) or the identity.
        activation: activation name or callable.
        attention: an `Attention`, applied after the last BN, before the addition.
        use_bias: convolution biases (keras.applications: True).
        stride_on: ``"1x1"`` (keras.applications, Caffe) or ``"3x3"`` (torchvision v1.5).
        bn_epsilon: BN epsilon.
        name: prefix of the block's layer names (``stage3_block2``).
    """
    if conv_shortcut:
        shortcut = conv_bn(x, 4 * filters, 1, strides=strides, use_bias=use_bias,
                           bn_epsilon=bn_epsilon, name=f"{name}_0")
    else:
        shortcut = x
    first, second = (strides, 1) if stride_on == "1x1" else (1, strides)
    y = conv_bn(x, filters, 1, strides=first, use_bias=use_bias, bn_epsilon=bn_epsilon,
                name=f"{name}_1")
    y = act(y, activation, f"{name}_1")
    y = conv_bn(y, filters, 3, strides=second, use_bias=use_bias, bn_epsilon=bn_epsilon,
                name=f"{name}_2")
    y = act(y, activation, f"{name}_2")
    y = conv_bn(y, 4 * filters, 1, use_bias=use_bias, bn_epsilon=bn_epsilon, name=f"{name}_3")
    if attention:
        y = attention(y, name)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return act(y, activation, f"{name}_out")


def basic_block(x, filters, *, strides=1, conv_shortcut=True, activation="relu", attention=None,
                use_bias=False, bn_epsilon=BN_EPSILON, name, **unused):
    """Post-activation basic block (two 3x3 convolutions), output ``filters`` channels."""
    if conv_shortcut:
        shortcut = conv_bn(x, filters, 1, strides=strides, use_bias=use_bias,
                           bn_epsilon=bn_epsilon, name=f"{name}_0")
    else:
        shortcut = x
    y = conv_bn(x, filters, 3, strides=strides, use_bias=use_bias, bn_epsilon=bn_epsilon,
                name=f"{name}_1")
    y = act(y, activation, f"{name}_1")
    y = conv_bn(y, filters, 3, use_bias=use_bias, bn_epsilon=bn_epsilon, name=f"{name}_2")
    if attention:
        y = attention(y, name)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return act(y, activation, f"{name}_out")


def preact_bottleneck_block(x, filters, *, strides=1, conv_shortcut=False, activation="relu",
                            attention=None, bn_epsilon=BN_EPSILON, name, **unused):
    """Pre-activation bottleneck block (keras.applications ``block2``), output ``4 * filters``."""
    preact = BatchNormalization(epsilon=bn_epsilon, name=f"{name}_preact_bn")(x)
    preact = act(preact, activation, f"{name}_preact")
    if conv_shortcut:
        shortcut = keras.layers.Conv2D(4 * filters, 1, strides=strides,
                                       name=f"{name}_0_conv")(preact)
    elif strides > 1:
        shortcut = keras.layers.MaxPooling2D(1, strides=strides, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    y = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    y = BatchNormalization(epsilon=bn_epsilon, name=f"{name}_1_bn")(y)
    y = act(y, activation, f"{name}_1")
    y = keras.layers.ZeroPadding2D(1, name=f"{name}_2_pad")(y)
    y = keras.layers.Conv2D(filters, 3, strides=strides, use_bias=False, name=f"{name}_2_conv")(y)
    y = BatchNormalization(epsilon=bn_epsilon, name=f"{name}_2_bn")(y)
    y = act(y, activation, f"{name}_2")
    y = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(y)
    if attention:
        y = attention(y, name)
    return keras.layers.Add(name=f"{name}_out")([shortcut, y])


def preact_basic_block(x, filters, *, strides=1, conv_shortcut=False, activation="relu",
                       attention=None, bn_epsilon=BN_EPSILON, name, **unused):
    """Pre-activation basic block (He et al. 2016), stride on the first 3x3 convolution."""
    preact = BatchNormalization(epsilon=bn_epsilon, name=f"{name}_preact_bn")(x)
    preact = act(preact, activation, f"{name}_preact")
    if conv_shortcut:
        shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                       name=f"{name}_0_conv")(preact)
    else:
        shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                            name=f"{name}_1_conv")(preact)
    y = BatchNormalization(epsilon=bn_epsilon, name=f"{name}_1_bn")(y)
    y = act(y, activation, f"{name}_1")
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    if attention:
        y = attention(y, name)
    return keras.layers.Add(name=f"{name}_out")([shortcut, y])


def stage(x, index, filters, blocks, *, version, block, strides, activation, attention,
          use_bias=True, stride_on="1x1", name=None):
    """One stage of ``blocks`` residual blocks named ``stage{index}_block{j}`` (or ``{name}_block{j}``).

    v1: the first block carries the stride and a projection shortcut where the shape changes.
    v2 bottleneck (keras.applications ``stack2``): the first block has the projection, the last
    block carries the stride. v2 basic: as v1.
    """
    prefix = name or f"stage{index}"
    expansion = 4 if block == "bottleneck" else 1
    for j in range(1, blocks + 1):
        block_name = f"{prefix}_block{j}"
        if version == 2 and block == "bottleneck":
            block_strides = strides if j == blocks else 1
            x = preact_bottleneck_block(x, filters, strides=block_strides, conv_shortcut=j == 1,
                                        activation=activation, attention=attention,
                                        name=block_name)
            continue
        block_strides = strides if j == 1 else 1
        conv_shortcut = j == 1 and (block_strides != 1 or x.shape[-1] != expansion * filters)
        if version == 2:
            x = preact_basic_block(x, filters, strides=block_strides, conv_shortcut=conv_shortcut,
                                   activation=activation, attention=attention, name=block_name)
        elif block == "bottleneck":
            x = bottleneck_block(x, filters, strides=block_strides, conv_shortcut=conv_shortcut,
                                 activation=activation, attention=attention, use_bias=use_bias,
                                 stride_on=stride_on, name=block_name)
        else:
            x = basic_block(x, filters, strides=block_strides, conv_shortcut=conv_shortcut,
                            activation=activation, attention=attention, use_bias=use_bias,
                            name=block_name)
    return x


def stem(x, *, version, activation, use_bias=True):
    """7x7/2 convolution (+ BN + activation in v1) and 3x3/2 max pooling, as keras.applications."""
    x = keras.layers.ZeroPadding2D(3, name="stem_pad")(x)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="stem_conv")(x)
    if version == 1:
        x = BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
        x = act(x, activation, "stem")
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


class ResNetSpec:
    """Depth -> block type, blocks per stage, stage strides and biases of a ResNet."""

    def __init__(self, depth, version):
        if version not in (1, 2):
            raise ValueError(f"ResNet version must be 1 or 2; received {version!r}.")
        if depth in BOTTLENECK_BLOCKS:
            self.block, self.blocks = "bottleneck", BOTTLENECK_BLOCKS[depth]
        elif depth in BASIC_BLOCKS:
            self.block, self.blocks = "basic", BASIC_BLOCKS[depth]
        else:
            raise ValueError(f"ResNet depth must be one of "
                             f"{sorted({**BASIC_BLOCKS, **BOTTLENECK_BLOCKS})}; received {depth!r}.")
        self.version = version
        self.use_bias = self.block == "bottleneck"
        if version == 2 and self.block == "bottleneck":
            self.strides = (2, 2, 2, 1)  # the stride sits on the last block of stages 1-3
        else:
            self.strides = (1, 2, 2, 2)


def stage_filters(filters):
    """``filters`` checked: the widths of the four stages (bottlenecks output 4 x as many)."""
    filters = tuple(filters)
    if len(filters) != len(STAGE_FILTERS) or not all(isinstance(f, int) and f > 0 for f in filters):
        raise ValueError(f"filters must give the width of each of the {len(STAGE_FILTERS)} stages as "
                         f"positive ints; received {filters!r}.")
    return filters


def resnet_trunk(x, *, depth=50, version=1, attention=None, activation="relu", stages=4,
                 stride_on="1x1", filters=STAGE_FILTERS):
    """Stem and the first ``stages`` stages of a ResNet on tensor ``x``; returns the feature map.

    ``attention`` is an `Attention` (or anything `Attention` accepts). With ``stages=4`` the v2
    trunk ends with its ``post_bn`` + activation. ``filters`` are the stages' widths (ResNet's by
    default; smaller ones for smoke runs).
    """
    filters = stage_filters(filters)
    spec = ResNetSpec(depth, version)
    attention = attention if isinstance(attention, Attention) else Attention(attention)
    x = stem(x, version=version, activation=activation, use_bias=spec.use_bias)
    for i in range(stages):
        x = stage(x, i + 1, filters[i], spec.blocks[i], version=version, block=spec.block,
                  strides=spec.strides[i], activation=activation, attention=attention,
                  use_bias=spec.use_bias, stride_on=stride_on)
    if version == 2 and stages == 4:
        x = BatchNormalization(epsilon=BN_EPSILON, name="post_bn")(x)
        x = act(x, activation, "post")
    return x


def resnet_features(x, *, depth=50, version=1, attention=None, activation="relu", pooling="avg", **options):
    """Globally pooled ResNet features of tensor ``x`` (a layer named ``features``; ``pooling``: ``"avg"`` or
    ``"max"``)."""
    x = resnet_trunk(x, depth=depth, version=version, attention=attention, activation=activation,
                     **options)
    return global_pooling(x, pooling)


# === Functional Model ===


def resnet(*, input_shape, num_classes, attention=None, activation="relu", depth=50, version=1,
           stride_on="1x1", classifier_activation="softmax", dropout=0.0, rescale=None,
           filters=STAGE_FILTERS, pooling="avg", name=None):
    """Build a ResNet classifier.

    Args:
        input_shape: image shape ``(height, width, channels)``, from 32x32x1 up (48x48x1 FER,
            224x224x3 ImageNet). The model takes preprocessed images (no rescaling inside).
        num_classes: an int (one output named ``predictions``) or a dict ``{output: classes}``.
        attention: attention module in every residual block (``"se"``, ``"eca"``, ``"cbam"``, a
            layer class, ...), named ``stage{i}_block{j}_{tag}``; None for the plain network.
        activation: activation of the whole network (``"relu"``, ``"elu"``, ...).
        depth: 10, 18, 34 (basic blocks), 50, 101 or 152 (bottlenecks).
        version: 1 (post-activation) or 2 (pre-activation).
        stride_on: v1 bottlenecks: ``"1x1"`` (keras.applications) or ``"3x3"`` (torchvision).
        classifier_activation: ``"softmax"``, or None for logits.
        dropout: dropout rate before the classifier.
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        filters: the widths of the four stages (64, 128, 256, 512; smaller for smoke runs).
        pooling: the final global pooling, ``"avg"`` (default) or ``"max"`` (paper 001's pooling
            ablation, Fig. 3.2.1).
        name: model name (default ``resnet{depth}`` / ``resnet{depth}v2``).

    Returns:
        A flat functional model ``image -> {output: (batch, classes) float32}``.
    """
    image, x = image_input(input_shape, rescale)
    x = resnet_features(x, depth=depth, version=version, attention=attention,
                        activation=activation, stride_on=stride_on, filters=filters, pooling=pooling)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = classifier_outputs(x, num_classes, classifier_activation=classifier_activation)
    return keras.Model(image, outputs, name=name or f"resnet{depth}{'v2' if version == 2 else ''}")


# === Config ===

# The smallest ResNet: one basic block a stage (ResNet-10), 32 channels wide (enough for SE and CBAM at ratio
# 32, Table 2.8); every stage and its downsampling shortcut are still built.
SMALLEST = {"depth": 10, "filters": (32, 32, 32, 32)}

for _depth in (18, 34, 50, 101, 152):
    register_model(f"resnet{_depth}", smoke_options=SMALLEST)(
        functools.partial(resnet, depth=_depth, version=1))
    register_model(f"resnet{_depth}v2", smoke_options=SMALLEST)(
        functools.partial(resnet, depth=_depth, version=2))
