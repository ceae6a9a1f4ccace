"""The small digit CNNs of two MNIST tables.

Paper ``000`` (Chen), Table 1, Sec. 5.0.1 (NOTES-000-003.md A2, "MNIST models"):

- ``vanilla_cnn_a``, "Vanilla CNN Model A": "a 4-layer traditional CNN model, with an initial 128-node dense
  layer, two 2D convolutional layers with filter sizes of 64 and 32 respectively, and a final dense layer for
  softmax classification".
- ``vanilla_cnn_b``, "Vanilla CNN Model B": Model A without the initial dense layer.
- ``maxpool_cam_cnn``, "Max Pool Deep CNN Model w/ CAM": Conv2D(32, 5x5) -> MaxPool (2x2, stride 2) ->
  Conv2D(64, 5x5) -> global average pooling -> Dense(128) -> Dense(10, softmax).

The paper states no kernel size, padding or activation for A and B. Decisions: 3x3 kernels with ``valid``
padding and ReLU, which give the "24 x 24 x 32" final convolution the paper quotes for MNIST (28 -> 26 -> 24;
NOTES A2, CAM); the initial dense layer acts on each pixel (Keras's ``Dense`` on an image input is a 1x1
convolution to 128 channels), with ReLU; the convolutions' output is flattened into the softmax layer. The CAM
model's convolutions and ``Dense(128)`` use ReLU, valid padding (28 -> 24 -> 12 -> 8: an 8x8x64 map, NOTES
A7.5). Its class activation map is exact only without the hidden dense layer (NOTES A7.4): ``hidden_units=0``
removes it.

Thesis ``002`` (Rodriguez), Table 5.1 (NOTES-002.md 4, "Ch.5 small CNN"): ``mnist_small_cnn``,
``c32-c64-l512-d0.5-l10``: convolutions of 32 and 64 filters, a 512-unit dense layer, dropout 0.5 and the
10-way classifier, trained on MNIST upsampled to 32x32 and globally standardized. Kernel size and pooling are
not stated. Decisions: 5x5 ``same`` convolutions, each followed by ReLU and 2x2 max pooling (the LeNet-style
MNIST network of the time: 32 -> 16 -> 8), ReLU on the dense layer. ``dropout=0`` is Table 5.1's "Base";
``train.init: lsuv`` its "Base+LSUV" (`kerasfg.initialization`).

Every builder takes raw 0..255 pixels: ``rescale="unit"`` divides by 255 inside; ``"standardize"``
standardizes with MNIST's global mean and standard deviation (0.1307 and 0.3081 of 255), as the thesis does.
"""

import functools

import keras

from kerasfg.models.blocks import RESCALE, act, classifier_outputs, image_input
from kerasfg.models.registry import register_model

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _input(input_shape, rescale):
    """The image input and the rescaled tensor; ``"standardize"`` uses MNIST's mean and deviation."""
    if rescale != "standardize":
        return image_input(input_shape, rescale)
    image, x = image_input(input_shape, None)
    return image, keras.layers.Rescaling(1 / (255 * MNIST_STD), offset=-MNIST_MEAN / MNIST_STD, name="rescale")(x)


def _check_rescale(rescale):
    if rescale is not None and rescale not in (*RESCALE, "standardize"):
        raise ValueError(f"rescale must be one of {[*RESCALE, 'standardize', None]}; received {rescale!r}.")


def _no_attention(name, attention):
    if attention is not None:
        raise ValueError(f"{name} has no attention modules; received attention={attention!r}.")


def vanilla_cnn(*, input_shape=(28, 28, 1), num_classes=10, attention=None, activation="relu", rescale="unit",
                dense_first=True, classifier_activation="softmax", name=None):
    """Build paper 000's Vanilla CNN Model A (``dense_first=True``) or B (see the module docstring).

    Args:
        input_shape: ``(height, width, channels)``; 28x28x1 for MNIST.
        num_classes: an int (output ``predictions``) or a dict ``{task: classes}``.
        attention: not supported (must be None); the argument exists for `build_model`.
        activation: activation of every hidden layer.
        rescale: ``"unit"`` (default), ``"symmetric"``, ``"standardize"`` or None.
        dense_first: Model A's initial 128-unit dense layer on every pixel (``dense128``); False for Model B.
        classifier_activation: ``"softmax"``, or None for logits.
        name: model name (``vanilla_cnn_a`` or ``_b`` by default).

    Returns:
        A flat functional model ``image -> {task: (batch, classes)}``.
    """
    name = name or f"vanilla_cnn_{'a' if dense_first else 'b'}"
    _no_attention(name, attention)
    _check_rescale(rescale)
    image, x = _input(input_shape, rescale)
    if dense_first:
        x = act(keras.layers.Dense(128, name="dense128")(x), activation, "dense128")
    x = act(keras.layers.Conv2D(64, 3, name="conv1")(x), activation, "conv1")
    x = act(keras.layers.Conv2D(32, 3, name="conv2")(x), activation, "conv2")
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(image, classifier_outputs(x, num_classes, classifier_activation=classifier_activation),
                       name=name)


@register_model("maxpool_cam_cnn")
def maxpool_cam_cnn(*, input_shape=(28, 28, 1), num_classes=10, attention=None, activation="relu",
                    rescale="unit", hidden_units=128, classifier_activation="softmax", name="maxpool_cam_cnn"):
    """Build paper 000's Max Pool Deep CNN Model w/ CAM (see the module docstring).

    Args:
        input_shape, num_classes, attention, activation, rescale, classifier_activation: as `vanilla_cnn`.
        hidden_units: units of the dense layer between the pooling and the classifier (``fc``; 128 in the
            paper); 0 for none, which makes the class activation map of ``conv2`` exact.
        name: model name.

    Returns:
        A flat functional model ``image -> {task: (batch, classes)}``; ``conv2`` is the CAM layer.
    """
    _no_attention(name, attention)
    _check_rescale(rescale)
    image, x = _input(input_shape, rescale)
    x = act(keras.layers.Conv2D(32, 5, name="conv1")(x), activation, "conv1")
    x = keras.layers.MaxPooling2D(2, strides=2, name="pool1")(x)
    x = act(keras.layers.Conv2D(64, 5, name="conv2")(x), activation, "conv2")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if hidden_units:
        x = act(keras.layers.Dense(hidden_units, name="fc")(x), activation, "fc")
    return keras.Model(image, classifier_outputs(x, num_classes, classifier_activation=classifier_activation),
                       name=name)


@register_model("mnist_small_cnn")
def mnist_small_cnn(*, input_shape=(32, 32, 1), num_classes=10, attention=None, activation="relu",
                    rescale="standardize", filters=(32, 64), kernel_size=5, units=512, dropout=0.5,
                    classifier_activation="softmax", name="mnist_small_cnn"):
    """Build thesis 002's small MNIST CNN, ``c32-c64-l512-d0.5-l10`` (see the module docstring).

    Args:
        input_shape, num_classes, attention, activation, classifier_activation: as `vanilla_cnn`.
        rescale: ``"standardize"`` (default: MNIST's global mean and deviation), ``"unit"``, ``"symmetric"``
            or None.
        filters: filters of ``conv1`` and ``conv2``.
        kernel_size: their kernel size.
        units: units of the dense layer ``fc1``.
        dropout: dropout rate after ``fc1``; 0 for none (Table 5.1's "Base").
        name: model name.

    Returns:
        A flat functional model ``image -> {task: (batch, classes)}``.
    """
    _no_attention(name, attention)
    _check_rescale(rescale)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); received {dropout!r}.")
    image, x = _input(input_shape, rescale)
    for k, count in enumerate(filters, start=1):
        x = act(keras.layers.Conv2D(count, kernel_size, padding="same", name=f"conv{k}")(x), activation, f"conv{k}")
        x = keras.layers.MaxPooling2D(2, name=f"pool{k}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = act(keras.layers.Dense(units, name="fc1")(x), activation, "fc1")
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(image, classifier_outputs(x, num_classes, classifier_activation=classifier_activation),
                       name=name)


register_model("vanilla_cnn_a")(functools.partial(vanilla_cnn, dense_first=True))
register_model("vanilla_cnn_b")(functools.partial(vanilla_cnn, dense_first=False))
