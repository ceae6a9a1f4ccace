"""Wide ResNets, WRN-d-k (Zagoruyko and Komodakis 2016), as the official and attend-and-rectify code.

A 3x3 convolution with 16 filters, three groups of ``n = (d - 4) / 6`` pre-activation blocks with
``16k``, ``32k`` and ``64k`` filters (strides 1, 2, 2), a final BN + activation, global average
pooling and the classifier. A block is ``BN-act -> conv3x3 -> BN-act -> dropout -> conv3x3`` plus
the shortcut: the identity, or a 1x1 convolution of the pre-activated input where the shape changes.
Convolutions have no bias. WRN-28-10 with 10 classes has 36,479,194 trainable parameters (the
paper's 36.5M; PyTorch's count) plus 17,952 BN moving statistics.

`wide_resnet_trunk` also returns the tensors attend-and-rectify attaches to (`warn.py`).
"""

import keras

from kerasfg.layers import BatchNormalization
from kerasfg.models.blocks import Attention, act, classifier_outputs, image_input
from kerasfg.models.registry import register_model

BN_MOMENTUM = 0.9  # PyTorch's 0.1
BN_EPSILON = 1e-5

# === Layers ===


def _bn(x, name):
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def _conv(x, filters, kernel_size, strides, name):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                               use_bias=False, kernel_initializer="he_normal", name=name)(x)


def wide_block(x, filters, *, strides=1, dropout=0.0, activation="relu", attention=None, name):
    """Pre-activation wide block; returns ``(output, preactivated input)``."""
    preact = act(_bn(x, f"{name}_preact_bn"), activation, f"{name}_preact")
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv(preact, filters, 1, strides, f"{name}_0_conv")
    else:
        shortcut = x
    y = _conv(preact, filters, 3, strides, f"{name}_1_conv")
    y = act(_bn(y, f"{name}_1_bn"), activation, f"{name}_1")
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = _conv(y, filters, 3, 1, f"{name}_2_conv")
    if attention:
        y = attention(y, name)
    return keras.layers.Add(name=f"{name}_out")([shortcut, y]), preact


def wide_resnet_trunk(x, *, depth=28, width=10, dropout=0.0, attention=None, activation="relu"):
    """WRN-depth-width on tensor ``x``.

    Returns:
        ``(features, taps)``: the final BN-activated feature map and a dict of the tensors the
        attend-and-rectify code attaches to: ``"group0"`` / ``"group1"`` (the pre-activated inputs
        of the first block of groups 1 and 2, i.e. the BN-activated outputs of groups 0 and 1) and
        ``"group2"`` (the final BN-activated map).
    """
    n, rest = divmod(depth - 4, 6)
    if rest or n < 1:
        raise ValueError(f"A Wide ResNet has depth 6n+4 (n >= 1); received depth={depth!r}.")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"The widening factor must be a positive int; received width={width!r}.")
    attention = attention if isinstance(attention, Attention) else Attention(attention)
    x = _conv(x, 16, 3, 1, "stem_conv")
    taps = {}
    for g, (filters, strides) in enumerate(zip((16 * width, 32 * width, 64 * width), (1, 2, 2))):
        for j in range(1, n + 1):
            x, preact = wide_block(x, filters, strides=strides if j == 1 else 1, dropout=dropout,
                                   activation=activation, attention=attention,
                                   name=f"stage{g + 1}_block{j}")
            if j == 1 and g > 0:
                taps[f"group{g - 1}"] = preact
    x = act(_bn(x, "post_bn"), activation, "post")
    taps["group2"] = x
    return x, taps


def wide_resnet_features(x, *, depth=28, width=10, dropout=0.0, attention=None, activation="relu"):
    """Pooled WRN features of tensor ``x`` (a layer named ``features``)."""
    x, _ = wide_resnet_trunk(x, depth=depth, width=width, dropout=dropout, attention=attention,
                             activation=activation)
    return keras.layers.GlobalAveragePooling2D(name="features")(x)


# === Functional Model ===


@register_model("wide_resnet", smoke_options={"depth": 10, "width": 1})
def wide_resnet(*, input_shape, num_classes, attention=None, activation="relu", depth=28, width=10,
                dropout=0.0, classifier_activation="softmax", rescale=None, name=None):
    """Build WRN-depth-width.

    Args:
        input_shape: image shape, e.g. ``(32, 32, 3)``.
        num_classes: an int (one output named ``predictions``) or a dict ``{output: classes}``.
        attention: attention module in every block (``stage{i}_block{j}_{tag}``), or None.
        activation: activation of the network.
        depth: 6n+4 (16, 22, 28, 40...).
        width: the widening factor k.
        dropout: dropout rate between the two convolutions of each block (0.3 in the paper's
            dropout runs).
        classifier_activation: ``"softmax"``, or None for logits.
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        name: model name (default ``wrn_{depth}_{width}``).
    """
    image, x = image_input(input_shape, rescale)
    x = wide_resnet_features(x, depth=depth, width=width, dropout=dropout, attention=attention,
                             activation=activation)
    outputs = classifier_outputs(x, num_classes, classifier_activation=classifier_activation)
    return keras.Model(image, outputs, name=name or f"wrn_{depth}_{width}")
