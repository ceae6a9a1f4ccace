"""The frame CNN of ``002_c1e3dd09777d292a.txt`` chapter 2: VGG-Face fine-tuned on registered face frames.

``image`` (registered RGB frames, 0..255) -> ``face_normalization`` (per-pixel mean subtraction and
global contrast normalization, `kerasfg.layers.FaceNormalization`) -> VGG-Face's convolutions, ``fc6``
and ``fc7`` (`kerasfg.models.vgg_face`, with its layer names, so that
`kerasfg.models.load_vgg_face_weights` fills them) -> the task's output:

- ``task="regression"`` (pain): one linear unit, ``pspi``, trained with the mean squared error on the
  standardized PSPI (Eq. 2.3); a frame is painful when the destandardized prediction is at least 1;
- ``task="classification"`` (CK+ expressions): a softmax over the classes, ``expression``, trained with
  cross-entropy (Eq. 2.12, with its minus sign).

The activated ``fc6`` (``fc6_relu``) is the 4096-d frame feature the temporal model reads
(`kerasfg.models.temporal`); `feature_extractor` cuts the model there.
"""

import keras

from kerasfg.layers.face_normalization import FaceNormalization
from kerasfg.models.blocks import image_input, task_classes
from kerasfg.models.registry import register_model
from kerasfg.models.vgg import VGG_FILTERS, vgg_trunk
from kerasfg.models.vgg_face import vgg_face_top

TASKS = ("regression", "classification")
DEFAULT_OUTPUTS = {"regression": "pspi", "classification": "expression"}


@register_model("pain_cnn", smoke_options={"filters": (8, 8, 16, 16, 16), "fc_units": 16}, smoke_image_size=32)
def pain_cnn(*, input_shape=(224, 224, 3), num_classes=1, attention=None, activation="relu", task="regression",
             contrast=True, contrast_scale=64.0, fc_units=4096, dropout=0.5, filters=VGG_FILTERS,
             attention_placement="last", weights=None, name=None):
    """Build the frame CNN (module docstring).

    Args:
        input_shape: registered frame shape, ``(224, 224, 3)`` in the thesis.
        num_classes: regression: 1, or ``{output name: 1}``; classification: the classes, or
            ``{output name: classes}``. The output is named ``pspi`` / ``expression`` unless a dict names it.
        attention: attention module in VGG-Face's convolutions, or None (the thesis).
        activation: activation of the convolutions, fc6 and fc7.
        task: ``"regression"`` or ``"classification"``.
        contrast, contrast_scale: global contrast normalization after the mean subtraction, and the
            standard deviation it gives (`kerasfg.layers.FaceNormalization`).
        fc_units, dropout, filters, attention_placement: as in `kerasfg.models.vgg_face.vgg_face` (the
            pretrained weights need the defaults).
        weights: a VGG-Face weights file to load into the trunk (`kerasfg.models.load_vgg_face_weights`),
            or None.
        name: model name.

    Returns:
        A flat functional model ``image -> {output: (batch, 1) or (batch, classes) float32}``.
    """
    output, count, activation_out = task_output(task, num_classes, "pain_cnn")
    image, x = image_input(input_shape)
    x = FaceNormalization(contrast=contrast, scale=contrast_scale, name="face_normalization")(x)
    x = vgg_trunk(x, depth=16, attention=attention, activation=activation, filters=filters,
                  attention_placement=attention_placement, naming="caffe")
    x = vgg_face_top(x, fc_units=fc_units, dropout=dropout, activation=activation)["top"]
    outputs = {output: keras.layers.Dense(count, activation=activation_out, dtype="float32", name=output)(x)}
    model = keras.Model(image, outputs, name=name or f"pain_cnn_{task}")
    if weights is not None:
        from kerasfg.models.vgg_face_weights import load_vgg_face_weights

        load_vgg_face_weights(model, weights)
    return model


def task_output(task, num_classes, model):
    """``(output name, width, activation)`` of the one output of a pain-system ``model`` for ``task``.

    Regression: one linear unit (``pspi`` unless ``num_classes`` names it); classification: a softmax over
    the classes (``expression`` unless named).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; received {task!r}.")
    classes = task_classes(num_classes, default=DEFAULT_OUTPUTS[task])
    if len(classes) != 1:
        raise ValueError(f"{model} has one output; received num_classes={num_classes!r}.")
    (output, count), = classes.items()
    if task == "regression" and count != 1:
        raise ValueError(f"A regression {model} predicts one value; received num_classes={num_classes!r}.")
    return output, count, None if task == "regression" else "softmax"


def feature_extractor(model, layer="fc6"):
    """The model from ``model``'s input to its activated ``fc6`` (or ``fc7``): the frame features."""
    if layer not in ("fc6", "fc7"):
        raise ValueError(f"layer must be 'fc6' or 'fc7'; received {layer!r}.")
    name = f"{layer}_relu"
    names = [candidate.name for candidate in model.layers]
    if name not in names:
        raise ValueError(f"Model '{model.name}' has no layer {name!r}; it is not a VGG-Face frame CNN.")
    return keras.Model(model.input, model.get_layer(name).output, name=f"{model.name}_{layer}")
