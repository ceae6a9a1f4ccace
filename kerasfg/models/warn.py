"""WARN: a Wide ResNet with attend-and-rectify modules (Rodríguez et al., ECCV 2018; thesis
``002_c1e3dd09777d292a.txt`` ch. 4; official code ``prlz77/attend-and-rectify``).

`kerasfg.layers.AttendRectify` attaches K-head attention modules to chosen feature maps of the WRN
and mixes their log-probabilities with the network's own through the global gates. The attachment
points are the official code's (``attention_layers = [2, 1, 0][:attention_depth]``), in that order:

- depth 1: the final BN-activated map of group 2 (8x8 on CIFAR);
- depth 2: plus the BN-activated output of group 1 (16x16), the pre-activation of group 2's first
  block;
- depth 3: plus the BN-activated output of group 0 (32x32).

The output ``log_probs`` is the gated mixture ``sum_i g_i log_softmax(o_i)``; it is not normalized,
and the official loss is the negative log-likelihood on it plus the masks' diversity penalty (which
the layer adds itself): the default objective (`WARN_OBJECTIVE`) of `kerasfg.training`, or
``model.compile(optimizer, **warn_losses())``.
"""

import keras

from kerasfg.layers import AttendRectify
from kerasfg.models.blocks import image_input
from kerasfg.models.registry import register_model
from kerasfg.models.wide_resnet import wide_resnet_trunk

# === Functional Model ===


# The official loss: the negative log-likelihood of the gated mixture (the masks' diversity penalty,
# weighted by the builder's ``reg_weight``, is added by the AttendRectify layer), accuracy on it.
WARN_OBJECTIVE = {"log_probs": {"loss": "nll", "metrics": ["accuracy"]}}


@register_model("warn", objective=WARN_OBJECTIVE, single_task=True,
                smoke_options={"depth": 10, "width": 1})
def warn(*, input_shape, num_classes, attention=None, activation="relu", depth=28, width=10,
         dropout=0.0, attention_depth=3, num_heads=4, gate="softmax", reg_weight=1e-3, rescale=None,
         name=None):
    """Build WARN: WRN-depth-width with attend-and-rectify at ``attention_depth`` feature maps.

    Args:
        input_shape: image shape, e.g. ``(32, 32, 3)``; the group-0 map must be at least 2x2.
        num_classes: number of classes (an int).
        attention: an extra attention module in every residual block (e.g. ``"se"``), or None.
        activation: activation of the WRN.
        depth: 6n+4 (28, 40...).
        width: widening factor k.
        dropout: dropout inside the wide blocks (0.3 in the official dropout runs).
        attention_depth: number of attended maps, 1 to 3 (the thesis's AD).
        num_heads: heads per module (the thesis's attention width AW; official 4).
        gate: ``"softmax"`` or ``"sigmoid"`` (official CIFAR-100 script) global gates.
        reg_weight: weight of the diversity penalty (official 1e-3).
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        name: model name.

    Returns:
        A flat functional model ``image -> {"log_probs": (batch, classes) float32}``.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"warn: num_classes must be a positive int; received {num_classes!r}.")
    if attention_depth not in (1, 2, 3):
        raise ValueError(f"warn: attention_depth must be 1, 2 or 3; received {attention_depth!r}.")
    image, x = image_input(input_shape, rescale)
    x, taps = wide_resnet_trunk(x, depth=depth, width=width, dropout=dropout,
                                attention=attention, activation=activation)
    pooled = keras.layers.GlobalAveragePooling2D(name="features")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(pooled)
    attended = [taps[f"group{i}"] for i in (2, 1, 0)[:attention_depth]]
    mixture = AttendRectify(num_classes, num_heads=num_heads, gate=gate, reg_weight=reg_weight,
                            name="attend_rectify")([logits, x, *attended])
    log_probs = keras.layers.Activation("linear", dtype="float32", name="log_probs")(mixture)
    return keras.Model(image, {"log_probs": log_probs}, name=name or f"warn_{depth}_{width}")


# === Config ===


def warn_losses():
    """``compile`` arguments for WARN: NLL on the gated log-probability mixture, and accuracy (the
    loss and metric of `kerasfg.objectives`, which trains WARN from a config)."""
    from kerasfg.objectives import build_loss, build_metric

    return {"loss": {"log_probs": build_loss("nll")},
            "metrics": {"log_probs": [build_metric("accuracy")]}}
