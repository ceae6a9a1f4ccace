"""VGG-Face (Parkhi, Vedaldi and Zisserman, "Deep Face Recognition", BMVC 2015).

Configuration D of VGG (13 convolutions, three fully connected layers) trained to recognise 2,622
identities, with the layer names of the original MatConvNet and Caffe models and of keras-vggface:
``conv1_1`` ... ``conv5_3``, ``pool1`` ... ``pool5``, ``flatten``, ``fc6``, ``fc7``, ``fc8``. The two
hidden fully connected layers are followed by their ReLU as separate layers (``fc6_relu``,
``fc7_relu``): those are the 4096-d face descriptors that ``004_f2d7da29ee344cf2.txt`` trains its heads
on (fc7) and that ``002_c1e3dd09777d292a.txt`` feeds its LSTM (fc6). Dropout 0.5 follows them during
training, as in the original training.

The model takes RGB pixels in 0..255 and subtracts the VGG-Face mean colour inside
(``preprocessing="vgg_face"``, the layer ``vgg_face_mean``), so images go in as every other kerasfg
model takes them; pretrained weights from either distributed layout are converted to this convention
by `kerasfg.models.vgg_face_weights.load_vgg_face_weights` (keras-vggface's BGR first layer is
reordered).

Forms:

- ``include_top=True``: fc6, fc7 and the ``fc8`` classifier (output ``identity``, softmax); the input
  size must be known, since fc6's size depends on it (224x224 for the pretrained weights);
- ``include_top=False``: the convolutional part only, for any input size (``input_shape=(None, None,
  3)``), ending at ``pool5`` (output ``pool5``) or at its global average / max (``pooling``, output
  ``features``);
- ``features=("fc6", "fc7")``: those layers as extra outputs of the same model, for feature
  extraction next to the classifier.

`vgg_face_features` is the trunk that ``face_head`` (``backbone="vgg_face"``) and the pain regressor
build on.

Example:

```python
model = kerasfg.models.build_model("vgg_face", input_shape=(224, 224, 3), num_classes=2622,
                                   features=("fc7",))
kerasfg.models.load_vgg_face_weights(model, "vgg_face_matconvnet/data/vgg_face.mat")
descriptors = model.predict(faces)["fc7"]       # (n, 4096)
```
"""

import keras

from kerasfg.models.blocks import act, global_pooling, image_input, task_classes
from kerasfg.models.registry import register_model
from kerasfg.models.vgg import VGG_FILTERS, vgg_trunk

VGG_FACE_IDENTITIES = 2622
VGG_FACE_MEAN_RGB = (129.1863, 104.7624, 93.5940)
"""The mean colour of the VGG-Face training faces, RGB (MatConvNet's ``averageImage``)."""

FEATURE_LAYERS = ("pool5", "fc6", "fc7")
PREPROCESSING = ("vgg_face", None)
POOLINGS = (None, "avg", "max")

# === Layers ===


def vgg_face_preprocessing(x, preprocessing="vgg_face"):
    """Subtract the VGG-Face mean colour from RGB 0..255 pixels (layer ``vgg_face_mean``), or not."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {PREPROCESSING}; received {preprocessing!r}.")
    if preprocessing is None:
        return x
    if x.shape[-1] != 3:
        raise ValueError(f"The VGG-Face mean colour needs RGB images; the input has {x.shape[-1]} "
                         f"channel(s). Pass preprocessing=None for other inputs.")
    return keras.layers.Normalization(mean=list(VGG_FACE_MEAN_RGB), variance=[1.0, 1.0, 1.0],
                                      dtype="float32", name="vgg_face_mean")(x)


def vgg_face_top(x, *, fc_units=4096, dropout=0.5, activation="relu", last="fc7"):
    """``flatten``, ``fc6`` (and ``fc7``) with their activations and dropout, on the pool5 tensor ``x``.

    Args:
        last: the last layer built, ``"fc7"`` or ``"fc6"``.

    Returns:
        ``{"fc6": activated fc6, "fc7": activated fc7, "top": the last one after dropout}``: the
        feature tensors and the tensor a classifier continues from.
    """
    if None in tuple(x.shape[1:]):
        raise ValueError(f"fc6 needs a known input size (its kernel depends on it); pool5 is "
                         f"{tuple(x.shape[1:])}. Give input_shape with a height and a width, or use "
                         f"include_top=False.")
    if last not in ("fc6", "fc7"):
        raise ValueError(f"The VGG-Face top ends at 'fc6' or 'fc7'; received {last!r}.")
    x = keras.layers.Flatten(name="flatten")(x)
    features = {}
    for name in ("fc6", "fc7")[:2 if last == "fc7" else 1]:
        x = act(keras.layers.Dense(fc_units, name=name)(x), activation, name)
        features[name] = x
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return {**features, "top": x}


def vgg_face_features(x, *, layer="fc7", attention=None, activation="relu", fc_units=4096, dropout=0.5,
                      filters=VGG_FILTERS, attention_placement="last", preprocessing="vgg_face"):
    """The VGG-Face descriptor of the image tensor ``x``: the activated ``fc7`` (default) or ``fc6``.

    The trunk of ``face_head(backbone="vgg_face")`` and of the pain regressor; the layer names are
    VGG-Face's, so `kerasfg.models.load_vgg_face_weights` fills the model's trunk.

    Args:
        x: RGB 0..255 image tensor with a known size.
        layer: ``"fc7"`` or ``"fc6"``: the last layer built, whose activation (after dropout, in
            training) is returned.
        attention, activation, filters, attention_placement: as in `kerasfg.models.vgg.vgg_trunk`.
        fc_units, dropout: width of fc6 and fc7, and the dropout after each.
        preprocessing: ``"vgg_face"`` (subtract the mean colour) or None.
    """
    x = vgg_face_preprocessing(x, preprocessing)
    x = vgg_trunk(x, depth=16, attention=attention, activation=activation, filters=filters,
                  attention_placement=attention_placement, naming="caffe")
    return vgg_face_top(x, fc_units=fc_units, dropout=dropout, activation=activation, last=layer)["top"]


# === Functional Model ===


@register_model("vgg_face", smoke_options={"filters": (8, 8, 16, 16, 16), "fc_units": 16},
                smoke_image_size=32)
def vgg_face(*, input_shape=(224, 224, 3), num_classes=VGG_FACE_IDENTITIES, attention=None, activation="relu",
             include_top=True, pooling=None, features=(), fc_units=4096, dropout=0.5, filters=VGG_FILTERS,
             attention_placement="last", preprocessing="vgg_face", classifier_activation="softmax", weights=None,
             name="vgg_face"):
    """Build VGG-Face.

    Args:
        input_shape: ``(height, width, 3)``; ``(None, None, 3)`` with ``include_top=False``. The
            pretrained fc6 needs 224x224.
        num_classes: identities of ``fc8`` (2,622 for the pretrained weights), an int (output
            ``identity``) or a one-entry dict ``{output name: classes}``.
        attention: attention module name or class in the convolutional part, or None (VGG-Face has
            none; with pretrained weights the module starts from its own initialization).
        activation: activation of the convolutions and of fc6/fc7.
        include_top: build fc6, fc7 and fc8 (module docstring).
        pooling: without the top: None (output ``pool5``), ``"avg"`` or ``"max"`` (output
            ``features``, the globally pooled pool5).
        features: extra outputs, any of ``"pool5"``, ``"fc6"``, ``"fc7"`` (the activated layers).
        fc_units: width of fc6 and fc7 (4096; smaller only for tests and smoke runs: the pretrained
            weights need 4096).
        dropout: dropout rate after fc6 and fc7 during training.
        filters: widths of the five convolution blocks (VGG's by default).
        attention_placement: see `kerasfg.models.vgg.vgg_trunk`.
        preprocessing: ``"vgg_face"`` (subtract the VGG-Face mean colour inside: the model takes RGB
            0..255) or None (the model takes already normalized images).
        classifier_activation: activation of fc8's output (``"softmax"``), or None for logits.
        weights: a VGG-Face weights file to load (keras-vggface HDF5 or MatConvNet ``.mat``), or None.
        name: model name.

    Returns:
        A flat functional model whose outputs are a dict: ``identity`` (or the name given in
        ``num_classes``), ``pool5`` or ``features``, and the requested feature layers.
    """
    unknown = sorted(set(features) - set(FEATURE_LAYERS))
    if unknown:
        raise ValueError(f"features must be among {FEATURE_LAYERS}; received {list(features)!r}.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}; received {pooling!r}.")
    if include_top and pooling is not None:
        raise ValueError("pooling applies to the convolutional part alone; use it with include_top=False.")
    if not include_top and set(features) - {"pool5"}:
        raise ValueError(f"features {sorted(set(features) - {'pool5'})} need the top (include_top=True).")
    image, x = image_input(input_shape)
    x = vgg_face_preprocessing(x, preprocessing)
    pool5 = vgg_trunk(x, depth=16, attention=attention, activation=activation, filters=filters,
                      attention_placement=attention_placement, naming="caffe")
    outputs = {"pool5": pool5} if "pool5" in features else {}
    if include_top:
        classes = task_classes(num_classes, default="identity")
        if len(classes) != 1:
            raise ValueError(f"vgg_face has one classifier (fc8); received num_classes={num_classes!r}. "
                             f"For several tasks use face_head with backbone='vgg_face'.")
        (task, count), = classes.items()
        top = vgg_face_top(pool5, fc_units=fc_units, dropout=dropout, activation=activation)
        outputs.update({layer: top[layer] for layer in ("fc6", "fc7") if layer in features})
        logits = keras.layers.Dense(count, dtype="float32", name="fc8")(top["top"])
        outputs[task] = (logits if classifier_activation is None else
                         keras.layers.Activation(classifier_activation, dtype="float32", name=task)(logits))
    elif pooling is None:
        outputs["pool5"] = pool5
    else:
        outputs["features"] = global_pooling(pool5, pooling)
    model = keras.Model(image, outputs, name=name)
    if weights is not None:
        from kerasfg.models.vgg_face_weights import load_vgg_face_weights

        load_vgg_face_weights(model, weights)
    return model
