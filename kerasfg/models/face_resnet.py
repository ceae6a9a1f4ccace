"""A compact residual network for small face images, with attention in every block and optional extra
task inputs merged into its head.

This is the quick start's network: identity recognition with the facial expression as an extra input,
the preferred "extra input" design (configuration E) of the IMFDB case study in
`004_f2d7da29ee344cf2.txt`, on a small ResNet instead of frozen VGG-Face features.
"""

import keras

from kerasfg.layers import BatchNormalization, get_attention
from kerasfg.models.blocks import global_pooling
from kerasfg.models.registry import register_model

# === Layers ===


def _conv_bn(x, filters, kernel_size, strides, name):
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def residual_block(x, filters, strides, activation, attention, name, shortcut_pooling=False):
    """A basic residual block; the attention module gates the residual branch before the addition.

    Args:
        x: input tensor.
        filters: output channels.
        strides: stride of the first convolution (2 halves the resolution).
        activation: activation name.
        attention: a callable that builds an attention layer from a ``name`` keyword, or None.
        name: prefix of the block's layer names, e.g. ``"stage2_block1"``.
        shortcut_pooling: when the block downsamples, average-pool the shortcut before its 1x1 convolution
            instead of striding the convolution (see `face_resnet`).
    """
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        if shortcut_pooling and strides != 1:
            pooled = keras.layers.AveragePooling2D(strides, padding="same", name=f"{name}_shortcut_pool")(x)
            shortcut = _conv_bn(pooled, filters, 1, 1, f"{name}_shortcut")
        else:
            shortcut = _conv_bn(x, filters, 1, strides, f"{name}_shortcut")
    y = _conv_bn(x, filters, 3, strides, f"{name}_1")
    y = keras.layers.Activation(activation, name=f"{name}_1_{activation}")(y)
    y = _conv_bn(y, filters, 3, 1, f"{name}_2")
    if attention is not None:
        y = attention(name=f"{name}_attention")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation(activation, name=f"{name}_out")(y)


# === Functional Model ===


@register_model("face_resnet",
                smoke_options={"widths": [16, 32], "blocks": [1, 1], "hidden_units": 8})
def face_resnet(*, input_shape, num_classes, attention=None, activation="relu",
                widths=(32, 64, 128), blocks=(1, 1, 1), stem_strides=1, extra_inputs=None,
                hidden_units=128, dropout=0.3, pooling="avg", shortcut_pooling=False, name="face_resnet"):
    """Build the face ResNet with one softmax output per task.

    Args:
        input_shape: image shape `(height, width, channels)`; the model takes pixels in 0..255 and
            rescales them to [-1, 1] itself.
        num_classes: dict mapping each output (task) name to its number of classes, or an int for a
            single output named ``"identity"``.
        attention: attention module in every residual block (e.g. ``"cbam"``), or None.
        activation: activation of the backbone and head.
        widths: channels of each stage; each stage after the first halves the resolution.
        blocks: residual blocks per stage.
        stem_strides: stride of the stem convolution.
        extra_inputs: dict mapping extra input names (e.g. ``"expression"``) to their number of
            classes. Each is an int32 class index per example, one-hot encoded and concatenated to the
            head after its first hidden layer (configuration E of the thesis).
        hidden_units: width of the two hidden dense layers of the head.
        dropout: dropout rate before each dense layer of the head.
        pooling: the global pooling of the last feature map, ``"avg"`` or ``"max"``.
        shortcut_pooling: in the blocks that downsample, average-pool the shortcut over each 2x2 window
            before its 1x1 convolution, as ResNet-D does (He et al., "Bag of Tricks for Image Classification
            with Convolutional Neural Networks", 2019), instead of striding the convolution. A strided 1x1
            convolution reads one pixel in four, so every map computed through the network's gradient
            (saliency, guided backpropagation, deconvolution, deep visualization) carries a lattice at the
            network's total stride whatever the weights are; with the shortcut pooled it does not
            (`tests/models/test_face_resnet.py`, docs/evaluation.md).
        name: model name.

    Returns:
        A functional `keras.Model` whose inputs are ``image`` plus the extra inputs (a dict when there
        are extra inputs) and whose outputs are a dict of float32 class probabilities per task.
    """
    if isinstance(num_classes, int):
        num_classes = {"identity": num_classes}
    if len(widths) != len(blocks):
        raise ValueError(f"widths and blocks must have the same length, got {widths} and {blocks}.")
    attention_layer = get_attention(attention) if attention not in (None, "none") else None
    extra_inputs = dict(extra_inputs or {})

    image = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(image)
    x = _conv_bn(x, widths[0], 3, stem_strides, "stem")
    x = keras.layers.Activation(activation, name=f"stem_{activation}")(x)
    for stage, (filters, count) in enumerate(zip(widths, blocks), start=1):
        for block in range(1, count + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = residual_block(x, filters, strides, activation, attention_layer,
                               f"stage{stage}_block{block}", shortcut_pooling)
    x = global_pooling(x, pooling)

    x = keras.layers.Dropout(dropout, name="head_dropout1")(x)
    x = keras.layers.Dense(hidden_units, activation=activation, name="head_fc1")(x)
    inputs = {"image": image}
    if extra_inputs:
        encoded = []
        for input_name, count in extra_inputs.items():
            inputs[input_name] = keras.Input(shape=(), dtype="int32", name=input_name)
            encoded.append(keras.layers.CategoryEncoding(
                count, output_mode="one_hot", name=f"{input_name}_onehot")(inputs[input_name]))
        x = keras.layers.Concatenate(name="head_merge")([x, *encoded])
    x = keras.layers.Dropout(dropout, name="head_dropout2")(x)
    x = keras.layers.Dense(hidden_units, activation=activation, name="head_fc2")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout3")(x)
    outputs = {task: keras.layers.Dense(count, activation="softmax", dtype="float32", name=task)(x)
               for task, count in num_classes.items()}
    return keras.Model(inputs if extra_inputs else image, outputs, name=name)
