"""Attention Branch Networks (Fukui et al., CVPR 2019) on ResNets, single- and multi-task.

Single-task (``abn_resnet``, as the official code ``models/imagenet/resnet.py`` and
``models/cifar/resnet.py``):

- feature extractor ``g``: the stem and every stage but the last (ImageNet style: stages 1-3 of a
  ResNet, 14x14 for 224x224 input; CIFAR style: stages 1-2 of a CIFAR ResNet, 16x16 for 32x32);
- attention branch: a copy of the last stage with stride 1 and its own weights
  (``attention_stage4_block*``), then `kerasfg.layers.AttentionBranch` (``attention_branch``):
  class logits and the map ``M(x)``;
- perception branch: the real last stage (stride 2) on ``(1 + M) * g``, global average pooling
  (``features``) and the classifier (``perception_logits``).

Outputs ``{"attention_logits", "perception_logits", "attention_map"}``: float32 logits and the
float32 map ``(batch, h, w, 1)``. Train with the summed loss ``CE(attention) + CE(perception)``,
the default objective (`ABN_OBJECTIVE`) `kerasfg.training` uses, or by hand:
``model.compile(optimizer, **abn_losses())``. Accuracy is read on ``perception_logits``.

Multi-task for facial attributes (``abn_multitask``; the paper's Sec. 3.4 and ABN_CelebA): the
attention branch ends in T maps, one per binary attribute, whose pooled values are the attention
branch's attribute logits. The official code then runs the last stage once per attribute on
``g * M_t`` (40 passes for CelebA). Here the last stage runs **once**, on ``g``, and each map
weighs that shared output late: ``logit_t = mean_xy((1 + M_t) * (P w_t)) + b_t`` with ``P`` the
perception stage's output and ``w_t`` a per-attribute linear classifier, all T computed in one
batched pass (a 1x1 convolution with T filters and `kerasfg.models.glue.MapWeightedPooling`). The
cost is that of the single-task network (see ``benchmarks/bench_models.py``); the maps still shape
the perception output (and receive its gradient), but act after the last stage instead of before.
"""

import functools

import keras

from kerasfg.layers import AttentionBranch
from kerasfg.models.blocks import Attention, image_input
from kerasfg.models.cifar_resnet import cifar_stage, cifar_stem
from kerasfg.models.glue import MapWeightedPooling
from kerasfg.models.registry import register_model
from kerasfg.models.resnet import STAGE_FILTERS, ResNetSpec, stage, stage_filters
from kerasfg.models.resnet import stem as resnet_stem

STYLES = ("imagenet", "cifar")

# === Layers ===


def _identity(x, name):
    """A float32 linear activation: gives an output a stable layer name of its own."""
    return keras.layers.Activation("linear", dtype="float32", name=name)(x)


def abn_trunk(image, *, style, depth, block, attention, activation, filters=STAGE_FILTERS):
    """The feature extractor ``g`` and a builder of last stages (``filters``: the ImageNet-style
    stages' widths).

    Returns:
        ``(g, last_stage, last_name)``: ``last_stage(x, strides, name)`` builds a new copy of the
        last stage on ``x`` (stride 1 for the attention branch, 2 for the perception branch);
        ``last_name`` is the real last stage's name (``"stage4"`` or ``"stage3"``).
    """
    attention = attention if isinstance(attention, Attention) else Attention(attention)
    if style == "imagenet":
        filters = stage_filters(filters)
        spec = ResNetSpec(depth, version=1)
        x = resnet_stem(image, version=1, activation=activation, use_bias=spec.use_bias)
        for i in range(3):
            x = stage(x, i + 1, filters[i], spec.blocks[i], version=1, block=spec.block,
                      strides=spec.strides[i], activation=activation, attention=attention,
                      use_bias=spec.use_bias)

        def last_stage(y, strides, name):
            return stage(y, 4, filters[3], spec.blocks[3], version=1, block=spec.block,
                         strides=strides, activation=activation, attention=attention,
                         use_bias=spec.use_bias, name=name)

        return x, last_stage, "stage4"
    if style == "cifar":
        block = block or ("bottleneck" if depth >= 44 and (depth - 2) % 9 == 0 else "basic")
        x = cifar_stem(image, activation)
        for index in (1, 2):
            x = cifar_stage(x, index, depth=depth, block=block, activation=activation,
                            attention=attention)

        def last_stage(y, strides, name):
            return cifar_stage(y, 3, depth=depth, block=block, activation=activation,
                               attention=attention, strides=strides, name=name)

        return x, last_stage, "stage3"
    raise ValueError(f"style must be one of {STYLES}; received {style!r}.")


# === Functional Model ===


def abn_resnet(*, input_shape, num_classes, attention=None, activation="relu", depth=50,
               style="imagenet", block=None, map_kernel_size=3, mechanism="residual", rescale=None,
               filters=STAGE_FILTERS, name=None):
    """Build a single-task Attention Branch Network on a ResNet.

    Args:
        input_shape: image shape ``(height, width, channels)``.
        num_classes: number of classes K (an int).
        attention: attention module in every residual block (both branches), or None.
        activation: activation of the ResNet.
        depth: ImageNet style: 18, 34, 50, 101, 152; CIFAR style: 6n+2 or 9n+2 (20...110).
        style: ``"imagenet"`` (split after stage 3) or ``"cifar"`` (split after stage 2).
        block: CIFAR style: ``"basic"`` or ``"bottleneck"``; default: bottlenecks from depth 44
            when the depth is 9n+2, as the official code.
        map_kernel_size: kernel of the map convolution: 3 (official code) or 1 (paper figure).
        mechanism: ``"residual"`` ``(1 + M) * g`` (Eq. 2) or ``"multiply"`` ``M * g`` (Eq. 1).
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        filters: ImageNet style: the widths of the four stages (ResNet's 64 ... 512 by default).
        name: model name.

    Returns:
        A flat functional model ``image -> {"attention_logits": (b, K), "perception_logits":
        (b, K), "attention_map": (b, h, w, 1)}``, all float32.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"abn_resnet: num_classes must be a positive int; received {num_classes!r}.")
    image, x = image_input(input_shape, rescale)
    g, last_stage, last_name = abn_trunk(x, style=style, depth=depth, block=block,
                                         attention=attention, activation=activation, filters=filters)
    branch = last_stage(g, 1, f"attention_{last_name}")
    (g2, attention_logits), maps = AttentionBranch(
        num_classes=num_classes, map_kernel_size=map_kernel_size, mechanism=mechanism,
        name="attention_branch")([g, branch], return_attention=True)
    x = last_stage(g2, 2, last_name)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    outputs = {
        "attention_logits": _identity(attention_logits, "attention_logits"),
        "perception_logits": keras.layers.Dense(num_classes, dtype="float32",
                                                name="perception_logits")(x),
        "attention_map": _identity(maps["attention"], "attention_map"),
    }
    return keras.Model(image, outputs, name=name or f"abn_{style}_resnet{depth}")


def abn_multitask(*, input_shape, num_classes=40, attention=None, activation="relu", depth=101,
                  style="imagenet", block=None, task_pooling="avg", mechanism="residual",
                  rescale=None, filters=STAGE_FILTERS, name=None):
    """Build the multi-task Attention Branch Network for T binary attributes (module docstring).

    Args:
        input_shape: image shape ``(height, width, channels)``.
        num_classes: T, the number of binary attributes (40 for CelebA).
        attention: attention module in every residual block, or None.
        activation: activation of the ResNet.
        depth: ResNet depth (ABN_CelebA: 101).
        style: ``"imagenet"`` or ``"cifar"``.
        block: CIFAR style block type (see `abn_resnet`).
        task_pooling: pooling of each map into its attention-branch logit: ``"avg"`` (paper) or
            ``"max"`` (ABN_CelebA).
        mechanism: ``"residual"`` (``1 + M_t``) or ``"multiply"`` (``M_t``) weighting.
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        filters: ImageNet style: the widths of the four stages (ResNet's 64 ... 512 by default).
        name: model name.

    Returns:
        A flat functional model ``image -> {"attention_logits": (b, T), "perception_logits":
        (b, T), "attention_map": (b, h, w, T)}``: float32 logits for a sigmoid cross-entropy per
        attribute, and the T maps.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"abn_multitask: num_classes (the number of attributes) must be a positive "
                         f"int; received {num_classes!r}.")
    image, x = image_input(input_shape, rescale)
    g, last_stage, last_name = abn_trunk(x, style=style, depth=depth, block=block,
                                         attention=attention, activation=activation, filters=filters)
    branch = last_stage(g, 1, f"attention_{last_name}")
    (_, attention_logits), maps = AttentionBranch(
        num_tasks=num_classes, task_pooling=task_pooling, mechanism=mechanism,
        name="attention_branch")([g, branch], return_attention=True)
    x = last_stage(g, 2, last_name)  # the shared perception trunk, run once
    task_scores = keras.layers.Conv2D(num_classes, 1, use_bias=False,
                                      name="perception_task_conv")(x)
    perception_logits = MapWeightedPooling(mechanism=mechanism, dtype="float32",
                                           name="perception_logits")([task_scores, maps["attention"]])
    outputs = {
        "attention_logits": _identity(attention_logits, "attention_logits"),
        "perception_logits": perception_logits,
        "attention_map": _identity(maps["attention"], "attention_map"),
    }
    return keras.Model(image, outputs, name=name or f"abn_multitask_{style}_resnet{depth}")


# === Config ===

# L = L_att + L_per (Eq. 3): the cross-entropy of both branches on the same target (softmax for a
# class task, sigmoid per attribute for the multi-task network), weights 1 and 1 unless the config's
# objectives.<output>.weight says otherwise; accuracy is read on the perception branch, as in the
# paper; the map is not trained directly.
ABN_OBJECTIVE = {
    "attention_logits": {"metrics": []},
    "perception_logits": {},
    "attention_map": {"loss": "none"},
}


def abn_losses(multitask=False, attention_weight=1.0, perception_weight=1.0):
    """``compile`` arguments for ABN: the summed loss ``w_a L_att + w_p L_per``.

    Softmax cross-entropy on integer labels (single-task) or sigmoid cross-entropy on 0/1 labels
    of shape ``(batch, T)`` (multi-task, missing labels masked out), both from logits; no loss on
    ``attention_map`` (the losses of `kerasfg.objectives`, which trains ABN from a config):

        model.compile(optimizer="sgd", **abn_losses())
        model.fit(images, {"attention_logits": y, "perception_logits": y}, ...)

    No metrics are included: Keras 3.15's compiled metrics need a target for every output, the
    map included (`kerasfg.objectives.Objectives.arrange` gives it a placeholder). Measure accuracy
    on ``model.predict(images)["perception_logits"]``.
    """
    from kerasfg.objectives import build_loss

    loss = build_loss("sigmoid_cross_entropy" if multitask else "softmax_cross_entropy",
                      from_logits=True)
    return {
        "loss": {"attention_logits": loss, "perception_logits": loss},
        "loss_weights": {"attention_logits": attention_weight,
                         "perception_logits": perception_weight},
    }


def _smallest(options):
    """ResNet-18 32 channels wide (ImageNet style) or ResNet-8 (CIFAR style)."""
    if options.get("style") == "cifar":
        return {"depth": 8, "block": None}
    return {"depth": 18, "block": None, "filters": (32, 32, 32, 32)}


register_model("abn_resnet", objective=ABN_OBJECTIVE, single_task=True,
               smoke_options=_smallest)(abn_resnet)
register_model("abn_cifar_resnet", objective=ABN_OBJECTIVE, single_task=True,
               smoke_options={"depth": 8, "block": None})(
    functools.partial(abn_resnet, style="cifar", depth=110))
register_model("abn_multitask", objective=ABN_OBJECTIVE, single_task=True,
               smoke_options=_smallest)(abn_multitask)
