"""Multi-branch face networks: configurations A to I of the IMFDB case study
(``004_f2d7da29ee344cf2.txt``, §4.2; ``papers/NOTES-004.md`` §2.4).

Identity recognition heads that use facial expression data three ways:

==== ======================================================== ================
conf layers (all Dropout 0.5, ReLU hidden layers, softmax)    parameters [1]
==== ======================================================== ================
A    drop -> identity                                          401,506
B    drop -> fc1 -> drop -> fc2 -> drop -> identity            5,345,378
C    B with a third hidden layer                               6,394,978
D    drop -> concat[expression] -> identity                    402,192
E    drop -> fc1 -> drop -> concat[expression] -> fc2 -> drop  5,352,546
     -> identity
F    drop -> concat[expression] -> fc1 -> drop -> fc2 -> drop  5,352,546
     -> identity
G    drop -> {identity, expression}                            430,185
H    B's trunk -> {identity; expression_fc1 -> drop ->         6,402,153
     expression}
I    B's trunk -> {expression; identity_fc1 -> drop ->         6,402,153
     identity}
==== ======================================================== ================

[1] On the thesis's 4096-d VGG-Face fc7 features, 98 identities, 7 expressions, 1024 hidden units.

Two forms:

- **head** (``backbone=None``, the thesis): the input ``features`` is a feature vector from a frozen
  extractor (cached VGG-Face features in the thesis);
- **end to end** (``backbone="resnet18"``, ``"vgg16"``, ``"vgg_face"``...): the same head on a backbone's
  pooled features (VGG's ``fc2``, VGG-Face's ``fc7`` as in the thesis), from the ``image`` input;
  ``freeze_backbone=True`` freezes it. With ``backbone="vgg_face"``,
  `kerasfg.models.load_vgg_face_weights` loads the pretrained trunk.

D, E and F take the expression as a second input ``expression``: an int32 class index, one-hot
encoded inside (as `face_resnet`). It is the ground-truth label in the thesis (an oracle at test
time). G, H and I output it: ``{"identity", "expression"}``. Loss weights per output:
``model.compile(optimizer, **face_head_losses(model, {"identity": 1.0, "expression": 0.5}))``.
"""

import dataclasses
import functools

import keras

from kerasfg.models.blocks import image_input, task_classes
from kerasfg.models.cifar_resnet import cifar_resnet_features
from kerasfg.models.registry import register_model
from kerasfg.models.resnet import resnet_features
from kerasfg.models.vgg import vgg_features
from kerasfg.models.vgg_face import vgg_face_features
from kerasfg.models.wide_resnet import wide_resnet_features


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """One configuration: shared hidden layers, where the expression input merges, and the outputs.

    Attributes:
        hidden: number of shared hidden dense layers.
        merge_after: None (no expression input), or the number of hidden layers before the merge.
        outputs: ``{output: task-specific hidden layers}``, in the order of the thesis's tables.
    """

    hidden: int
    merge_after: int | None
    outputs: dict


CONFIGURATIONS = {
    "A": HeadConfig(0, None, {"identity": 0}),
    "B": HeadConfig(2, None, {"identity": 0}),
    "C": HeadConfig(3, None, {"identity": 0}),
    "D": HeadConfig(0, 0, {"identity": 0}),
    "E": HeadConfig(2, 1, {"identity": 0}),
    "F": HeadConfig(2, 0, {"identity": 0}),
    "G": HeadConfig(0, None, {"identity": 0, "expression": 0}),
    "H": HeadConfig(2, None, {"identity": 0, "expression": 1}),
    "I": HeadConfig(2, None, {"expression": 0, "identity": 1}),
}

BACKBONES = {
    **{f"resnet{d}": functools.partial(resnet_features, depth=d, version=1)
       for d in (18, 34, 50, 101, 152)},
    **{f"resnet{d}v2": functools.partial(resnet_features, depth=d, version=2)
       for d in (18, 34, 50, 101, 152)},
    **{f"cifar_resnet{d}": functools.partial(cifar_resnet_features, depth=d)
       for d in (20, 32, 44, 56, 110)},
    "cifar_resnet": cifar_resnet_features,
    "vgg16": functools.partial(vgg_features, depth=16),
    "vgg19": functools.partial(vgg_features, depth=19),
    "vgg16_cam": functools.partial(vgg_features, depth=16, head="cam"),
    "vgg19_cam": functools.partial(vgg_features, depth=19, head="cam"),
    "vgg_face": vgg_face_features,
    "wide_resnet": wide_resnet_features,
}

# === Layers ===


def multibranch_head(features, config, *, identity_classes, expression_classes, expression=None,
                     hidden_units=1024, dropout=0.5, activation="relu"):
    """Configuration ``config`` (``"A"``...``"I"``) on a feature vector; returns ``{output: probs}``.

    ``expression`` is the one-hot expression tensor for D, E and F.
    """
    spec = CONFIGURATIONS[config]
    x = keras.layers.Dropout(dropout, name="head_dropout1")(features)
    for i in range(spec.hidden + 1):
        if spec.merge_after == i:
            x = keras.layers.Concatenate(name="head_merge")([x, expression])
        if i == spec.hidden:
            break
        x = keras.layers.Dense(hidden_units, activation=activation, name=f"head_fc{i + 1}")(x)
        x = keras.layers.Dropout(dropout, name=f"head_dropout{i + 2}")(x)
    classes = {"identity": identity_classes, "expression": expression_classes}
    outputs = {}
    for task, specific in spec.outputs.items():
        y = x
        for j in range(1, specific + 1):
            y = keras.layers.Dense(hidden_units, activation=activation, name=f"{task}_fc{j}")(y)
            y = keras.layers.Dropout(dropout, name=f"{task}_dropout{j}")(y)
        outputs[task] = keras.layers.Dense(classes[task], activation="softmax", dtype="float32",
                                           name=task)(y)
    return outputs


# === Functional Model ===


def _smallest(options):
    """Narrow hidden layers, on the smallest form of the backbone's family."""
    backbone = options.get("backbone") or ""
    smallest = ({"depth": 18, "filters": (32, 32, 32, 32)} if backbone.startswith("resnet") else
                {"depth": 8} if backbone.startswith("cifar_resnet") else
                {"filters": (8, 8, 16, 16, 16), "fc_units": 16} if backbone == "vgg_face" else
                {"filters": (16, 16, 32, 32, 32), "fc_units": 8, "pool_padding": "same"}
                if backbone.startswith("vgg") else
                {"depth": 10, "width": 1} if backbone == "wide_resnet" else {})
    return {"hidden_units": 8,
            "backbone_options": {**(options.get("backbone_options") or {}), **smallest}}


@register_model("face_head", smoke_options=_smallest, smoke_image_size=32)  # VGG-Face pools 32 -> 1
def face_head(*, input_shape, num_classes, attention=None, activation="relu", config="E",
              backbone=None, backbone_options=None, freeze_backbone=False, expression_classes=7,
              hidden_units=1024, dropout=0.5, rescale=None, name=None):
    """Build configuration ``config`` of the thesis, as a head or end to end on a backbone.

    Args:
        input_shape: ``(feature_dim,)`` for the head form (``(4096,)`` for VGG-Face fc7), or the
            image shape ``(height, width, channels)`` with a ``backbone``.
        num_classes: identities (an int), or ``{"identity": n, "expression": m}``.
        attention: attention module of the backbone (end to end only), or None.
        activation: activation of the hidden layers (and of the backbone).
        config: ``"A"`` to ``"I"`` (module docstring).
        backbone: None (feature-vector input) or a name in ``BACKBONES``.
        backbone_options: extra keyword arguments of the backbone's feature builder.
        freeze_backbone: make the backbone's layers non-trainable.
        expression_classes: expression classes when ``num_classes`` does not give them (7).
        hidden_units: width of the hidden dense layers (1024).
        dropout: rate of every dropout layer (0.5).
        rescale: with a backbone: None, ``"unit"`` or ``"symmetric"`` rescaling of raw pixels.
        name: model name (default ``face_head_{config}`` / ``{backbone}_face_head_{config}``).

    Returns:
        A flat functional model. Inputs: ``features`` or ``image``, plus ``expression`` (int32
        class index) for D, E, F (then a dict). Outputs: a dict of float32 softmax probabilities,
        ``identity`` and, for G, H, I, ``expression``.
    """
    config = str(config).upper()
    if config not in CONFIGURATIONS:
        raise ValueError(f"config must be one of {sorted(CONFIGURATIONS)}; received {config!r}.")
    classes = task_classes(num_classes, default="identity")
    unknown = set(classes) - {"identity", "expression"}
    if unknown or "identity" not in classes:
        raise ValueError(f"num_classes must give 'identity' (and optionally 'expression'); "
                         f"received {num_classes!r}.")
    expression_classes = classes.get("expression", expression_classes)
    spec = CONFIGURATIONS[config]

    if backbone is None:
        if attention not in (None, "none"):
            raise ValueError("face_head: `attention` needs a `backbone`; the head form has none.")
        if len(tuple(input_shape)) != 1:
            raise ValueError(f"face_head without a backbone takes a feature vector: input_shape "
                             f"must be (feature_dim,); received {tuple(input_shape)}.")
        input_name = "features"
        image = keras.Input(shape=tuple(input_shape), name=input_name)
        features = image
    else:
        if backbone not in BACKBONES:
            raise ValueError(f"Unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}.")
        input_name = "image"
        image, x = image_input(input_shape, rescale)
        features = BACKBONES[backbone](x, attention=attention, activation=activation,
                                       **(backbone_options or {}))
        backbone_layers = {layer.name for layer in keras.Model(image, features).layers}

    inputs = image
    expression = None
    if spec.merge_after is not None:
        index = keras.Input(shape=(), dtype="int32", name="expression")
        expression = keras.layers.CategoryEncoding(expression_classes, output_mode="one_hot",
                                                   name="expression_onehot")(index)
        inputs = {input_name: image, "expression": index}
    outputs = multibranch_head(features, config, identity_classes=classes["identity"],
                               expression_classes=expression_classes, expression=expression,
                               hidden_units=hidden_units, dropout=dropout, activation=activation)
    default = f"face_head_{config}" if backbone is None else f"{backbone}_face_head_{config}"
    model = keras.Model(inputs, outputs, name=name or default)
    if backbone is not None and freeze_backbone:
        for layer in model.layers:
            if layer.name in backbone_layers:
                layer.trainable = False
    return model


# === Config ===


def face_head_losses(model, loss_weights=None):
    """``compile`` arguments: categorical cross-entropy per output (integer labels), with weights.

    A thin call into `kerasfg.objectives.classification_objective`.

    Args:
        model: a `face_head` (or any model with a dict of softmax outputs).
        loss_weights: ``{output: weight}``; outputs not named get 1.0 (the thesis's unstated
            default, Keras's).
    """
    from kerasfg.objectives import classification_objective

    return classification_objective(model, loss_weights)
