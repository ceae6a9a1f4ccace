"""Caffe's ``cifar10_quick`` network, the CIFAR-100 model of the output-code experiments (thesis Table 6.1).

``conv1`` (32 5x5) -> ``pool1`` (max 3x3, stride 2) -> ReLU -> ``conv2`` (32 5x5) -> ReLU -> ``pool2``
(average 3x3, stride 2) -> ``conv3`` (64 5x5) -> ReLU -> ``pool3`` (average 3x3, stride 2) -> ``ip1``
(64, no activation, as in Caffe's prototxt) -> the classifier (``ip2``, named after the task). Caffe rounds
pooled sizes up (32 -> 16 -> 8 -> 4), as ``padding="same"`` does here; its average pooling divides the
border windows by the full window size, Keras' by the pixels inside the image. Initialization: Keras'
defaults (Caffe's uses small Gaussians).

With ``output_codes=`` (see `kerasfg.models.heads`) the classifier becomes an output-code head on ``ip1``.
"""

import keras

from kerasfg.models.blocks import act, classifier_outputs, image_input
from kerasfg.models.registry import register_model


@register_model("cifar_quick")
def cifar_quick(*, input_shape=(32, 32, 3), num_classes=100, attention=None, activation="relu", rescale="unit",
                classifier_activation="softmax", name="cifar_quick"):
    """Build ``cifar_quick``.

    Args:
        input_shape: ``(height, width, channels)`` (32x32x3 for CIFAR).
        num_classes: an int (output ``predictions``) or a dict ``{task: classes}``.
        attention: not supported (must be None); the argument exists for `build_model`.
        activation: activation after each convolution.
        rescale: ``"unit"`` (0..255 pixels to [0, 1] inside, default), ``"symmetric"`` or None.
        classifier_activation: ``"softmax"``, or None for logits.
        name: model name.

    Returns:
        A flat functional model ``image -> {task: (batch, classes)}``.
    """
    if attention is not None:
        raise ValueError(f"cifar_quick has no attention modules; received attention={attention!r}.")
    image, x = image_input(input_shape, rescale)
    x = keras.layers.Conv2D(32, 5, padding="same", name="conv1")(x)
    x = act(keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x), activation, "conv1")
    x = act(keras.layers.Conv2D(32, 5, padding="same", name="conv2")(x), activation, "conv2")
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = act(keras.layers.Conv2D(64, 5, padding="same", name="conv3")(x), activation, "conv3")
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="pool3")(x)
    x = keras.layers.Dense(64, name="ip1")(keras.layers.Flatten(name="flatten")(x))
    return keras.Model(image, classifier_outputs(x, num_classes, classifier_activation=classifier_activation),
                       name=name)
