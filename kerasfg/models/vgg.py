"""VGG16 / VGG19: plain, with batch normalization, with attention, the CAM form and the
attention-augmented form.

The plain network is built as ``keras.applications.VGG16`` builds it, with the same layer names
(``block3_conv2``, ``fc1``, ``predictions``), so the parameter counts and weights carry over.

Attention placement (``attention_placement``):

- ``"none"``;
- ``"last"``: one module after the last block's pooling, in the residual form ``x + A(x)`` that the
  FER report's code uses (``001_8567db0c98305053.txt``, its "Method 2"; ``attention_residual``);
- ``"blocks"``: one module at the end of every conv block, before its pooling (its "Method 1":
  with SE this adds exactly the 77,852 parameters its table reports for VGG16);
- ``"layers"``: one module after each of the layers ``attention_layers``, numbered as in
  ``keras.applications.VGG16().layers`` (the input is 0, then every convolution and pooling; a
  convolution's own batch normalization and activation belong to it). The report's "Method 3",
  "modules at layers 11 and 14" (after ADVIAN, Wang et al. 2021), is ``(11, 14)``: after
  ``block4_conv1`` and after ``block4_pool`` of VGG16.

Heads (``head``): ``"fc"`` (flatten, two dense layers of ``fc_units``, classifier; keras.applications
and the FER report) or ``"cam"`` (global average pooling straight into one dense classifier, so that
the class activation map ``M_c = sum_k w_ck f_k`` of ``block5_pool`` is exact; Zhou et al., the
FEI report ``000_f74c9bd062c0cb9b.txt``).

The attention-augmented form (``augmented=True``, the FEI report's "MHA VGG model"): an
attention-augmented convolution (``kerasfg.layers.AugmentedConv2D``) with ``4 * channels`` filters
in front of VGG, whose output ``(h, w, 4c)`` becomes a ``(2h, 2w, c)`` image for VGG. The report used
a plain reshape, which scrambles pixel positions (each row of the new image mixes two input rows);
the default here is depth-to-space, which keeps every value over the pixel it came from;
``space_mode="reshape"`` reproduces the report.

Not copied from the FER report (see ``papers/NOTES-001.md``): its baseline "VGG-19" (42.87M
parameters) misses one 512-channel convolution of block 4 (the author's commit 824eda1 fixed it);
VGG19 here has all 16 convolutions (48x48x1 input, 7 classes, ``pool_padding="same"``: 45,225,927
parameters; VGG16: 39,916,231, as reported).
"""

import functools

import keras

from kerasfg.layers import AugmentedConv2D, BatchNormalization
from kerasfg.models.blocks import Attention, act, activation_tag, classifier_outputs, image_input
from kerasfg.models.glue import DepthToSpace
from kerasfg.models.registry import register_model

VGG_BLOCKS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_FILTERS = (64, 128, 256, 512, 512)
PLACEMENTS = ("none", "last", "blocks", "layers")
LAYER_NAMES = {"applications": ("block{b}_conv{c}", "block{b}_pool"), "caffe": ("conv{b}_{c}", "pool{b}")}
HEADS = ("fc", "cam")

# === Layers ===


def vgg_block_layers(block, *, depth=16, batch_norm=False, activation="relu", pool_padding="valid",
                     width=None, naming="applications", prefix=""):
    """The layers of conv block ``block`` (1..5) of VGG, in order, ending with its pooling.

    ``width`` is the block's number of filters (VGG's by default); the layers are named after
    ``naming`` (see `vgg_trunk`), behind ``prefix``. A model that runs a block twice (the glimpse
    model's patch stream) calls the same layers again.
    """
    if naming not in LAYER_NAMES:
        raise ValueError(f"naming must be one of {sorted(LAYER_NAMES)}; received {naming!r}.")
    if depth not in VGG_BLOCKS:
        raise ValueError(f"VGG depth must be one of {sorted(VGG_BLOCKS)}; received {depth!r}.")
    conv_name, pool_name = LAYER_NAMES[naming]
    width = VGG_FILTERS[block - 1] if width is None else width
    layers = []
    for c in range(1, VGG_BLOCKS[depth][block - 1] + 1):
        name = prefix + conv_name.format(b=block, c=c)
        if batch_norm:
            layers += [keras.layers.Conv2D(width, 3, padding="same", name=name),
                       BatchNormalization(name=f"{name}_bn"),
                       keras.layers.Activation(activation, name=f"{name}_{activation_tag(activation)}")]
        elif isinstance(activation, str) and activation == "relu":
            # keras.applications' layout: the activation inside the convolution.
            layers.append(keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=name))
        else:
            layers += [keras.layers.Conv2D(width, 3, padding="same", name=name),
                       keras.layers.Activation(activation, name=f"{name}_{activation_tag(activation)}")]
    layers.append(keras.layers.MaxPooling2D(2, strides=2, padding=pool_padding,
                                            name=prefix + pool_name.format(b=block)))
    return layers


def vgg_trunk(x, *, depth=16, batch_norm=False, attention=None, activation="relu",
              attention_placement="last", attention_residual=None, pool_padding="valid",
              filters=VGG_FILTERS, naming="applications", attention_layers=(11, 14)):
    """The five conv blocks of VGG on tensor ``x`` (ending with the last pooling), with attention.

    ``filters`` gives the width of each block; ``naming`` the layer names: ``"applications"``
    (``block3_conv2``, ``block5_pool``: keras.applications) or ``"caffe"`` (``conv3_2``, ``pool5``:
    the original Caffe and MatConvNet VGG models, VGG-Face among them). ``attention_layers``: the
    layer numbers of ``attention_placement="layers"`` (module docstring).
    """
    if len(filters) != len(VGG_FILTERS):
        raise ValueError(f"filters must give the width of each of the {len(VGG_FILTERS)} blocks; "
                         f"received {filters!r}.")
    if attention_placement not in PLACEMENTS:
        raise ValueError(f"attention_placement must be one of {PLACEMENTS}; "
                         f"received {attention_placement!r}.")
    attention = attention if isinstance(attention, Attention) else Attention(attention)
    if attention_residual is None:
        attention_residual = attention_placement == "last"
    after = set(attention_layers) if attention and attention_placement == "layers" else set()
    number = 0  # of the last convolution or pooling, as keras.applications counts its layers
    for b, width in enumerate(filters, start=1):
        *convs, pool = vgg_block_layers(b, depth=depth, batch_norm=batch_norm, activation=activation,
                                        pool_padding=pool_padding, width=width, naming=naming)
        for k, layer in enumerate(convs):
            x = layer(x)
            if isinstance(layer, keras.layers.Conv2D):
                conv_name = layer.name
            if k + 1 == len(convs) or isinstance(convs[k + 1], keras.layers.Conv2D):  # the conv's last layer
                number += 1
                if number in after:
                    x = _attend(x, attention, conv_name, attention_residual)
        if attention and attention_placement == "blocks":
            x = _attend(x, attention, f"block{b}", attention_residual)
        x = pool(x)
        number += 1
        if number in after:
            x = _attend(x, attention, pool.name, attention_residual)
    if after - set(range(1, number + 1)):
        raise ValueError(f"attention_layers must be layer numbers in 1..{number} (the convolutions and "
                         f"poolings of VGG{depth}); received {sorted(attention_layers)}.")
    if attention and attention_placement == "last":
        x = _attend(x, attention, "top", attention_residual)
    return x


def _attend(x, attention, prefix, residual):
    y = attention(x, prefix)
    if residual:
        y = keras.layers.Add(name=f"{prefix}_{attention.tag}_add")([x, y])
    return y


def augmented_stem(x, *, channels=None, space_mode="depth_to_space", key_depth=4, value_depth=4,
                   num_heads=2, relative=True):
    """Attention-augmented convolution to ``4 * channels`` maps, then a ``(2h, 2w, channels)`` image.

    Defaults: ``channels`` = the input's, and the FEI report's guessed hyperparameters (12 filters
    for RGB, key and value depth 4, 2 heads, relative logits; ``papers/NOTES-000-003.md`` §8).
    """
    channels = channels or x.shape[-1]
    height, width = x.shape[1:3]
    x = AugmentedConv2D(4 * channels, key_depth=key_depth, value_depth=value_depth,
                        num_heads=num_heads, relative=relative, name="augmented_conv")(x)
    if space_mode == "depth_to_space":
        return DepthToSpace(2, name="augmented_depth_to_space")(x)
    if space_mode == "reshape":
        return keras.layers.Reshape((2 * height, 2 * width, channels), name="augmented_reshape")(x)
    raise ValueError(f"space_mode must be 'depth_to_space' or 'reshape'; received {space_mode!r}.")


def vgg_features(x, *, depth=16, head="fc", fc_units=4096, dropout=0.0, activation="relu",
                 **options):
    """VGG feature vector of tensor ``x``: ``fc2`` (head ``"fc"``) or the pooled ``features``."""
    x = vgg_trunk(x, depth=depth, activation=activation, **options)
    if head == "cam":
        return keras.layers.GlobalAveragePooling2D(name="features")(x)
    if head != "fc":
        raise ValueError(f"head must be one of {HEADS}; received {head!r}.")
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        if isinstance(activation, str) and activation == "relu":
            x = keras.layers.Dense(fc_units, activation="relu", name=f"fc{i}")(x)
        else:
            x = act(keras.layers.Dense(fc_units, name=f"fc{i}")(x), activation, f"fc{i}")
    return x


# === Functional Model ===


def vgg(*, input_shape, num_classes, attention=None, activation="relu", depth=16, batch_norm=False,
        attention_placement="last", attention_residual=None, attention_layers=(11, 14), head="fc",
        fc_units=4096, dropout=0.0, pool_padding="valid", augmented=False, space_mode="depth_to_space",
        augmented_options=None, filters=VGG_FILTERS, classifier_activation="softmax", rescale=None, name=None):
    """Build a VGG classifier.

    Args:
        input_shape: image shape ``(height, width, channels)``; with ``head="fc"`` the height and
            width must be known (the flatten size depends on them).
        num_classes: an int (one output named ``predictions``) or a dict ``{output: classes}``.
        attention: attention module name or class (``"se"``, ``"cbam"``...), or None.
        activation: activation of convolutions and hidden dense layers (``"relu"``, ``"elu"``...).
        depth: 16 or 19.
        batch_norm: a BN after every convolution (VGG-BN), before its activation.
        attention_placement: ``"none"``, ``"last"``, ``"blocks"`` or ``"layers"`` (module docstring).
        attention_residual: ``x + A(x)`` instead of ``A(x)``; default True for ``"last"``.
        attention_layers: with ``"layers"``, the numbers of the layers a module follows (module
            docstring; default the report's Method 3, 11 and 14).
        head: ``"fc"`` or ``"cam"``.
        fc_units: width of ``fc1`` and ``fc2``.
        dropout: dropout rate before ``fc1`` and ``fc2``.
        pool_padding: ``"valid"`` (keras.applications) or ``"same"`` (the FER report: 48x48 input
            gives a 2x2x512 last map).
        augmented: put an attention-augmented convolution in front (module docstring).
        space_mode: ``"depth_to_space"`` (default) or ``"reshape"`` (the FEI report's).
        augmented_options: keyword arguments of `augmented_stem`.
        filters: the widths of the five conv blocks (VGG's by default).
        classifier_activation: ``"softmax"``, or None for logits.
        rescale: None (preprocessed input), ``"unit"`` or ``"symmetric"`` (raw 0..255 pixels
            rescaled inside; see `kerasfg.models.blocks.image_input`).
        name: model name.

    Returns:
        A flat functional model ``image -> {output: (batch, classes) float32}``.
    """
    image, x = image_input(input_shape, rescale)
    if augmented:
        x = augmented_stem(x, space_mode=space_mode, **(augmented_options or {}))
    x = vgg_features(x, depth=depth, head=head, fc_units=fc_units, dropout=dropout,
                     activation=activation, batch_norm=batch_norm, attention=attention,
                     attention_placement=attention_placement, attention_residual=attention_residual,
                     attention_layers=attention_layers, pool_padding=pool_padding, filters=filters)
    outputs = classifier_outputs(x, num_classes, classifier_activation=classifier_activation)
    default = f"vgg{depth}{'_bn' if batch_norm else ''}{'_cam' if head == 'cam' else ''}"
    return keras.Model(image, outputs, name=name or ("augmented_" + default if augmented else default))


# === Config ===

# The smallest VGG: 16-32 channels (enough for SE and CBAM at ratio 16), narrow fully connected
# layers, and "same" pooling so that tiny inputs fit.
SMALLEST = {"filters": (16, 16, 32, 32, 32), "fc_units": 8, "pool_padding": "same"}

for _depth in (16, 19):
    register_model(f"vgg{_depth}", smoke_options=SMALLEST)(functools.partial(vgg, depth=_depth))
    register_model(f"vgg{_depth}_bn", smoke_options=SMALLEST)(
        functools.partial(vgg, depth=_depth, batch_norm=True))
    register_model(f"vgg{_depth}_cam", smoke_options=SMALLEST)(
        functools.partial(vgg, depth=_depth, head="cam"))
register_model("vgg16_augmented", smoke_options=SMALLEST)(
    functools.partial(vgg, depth=16, augmented=True))
