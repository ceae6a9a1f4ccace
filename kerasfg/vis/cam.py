"""Class activation maps: CAM, Grad-CAM, Grad-CAM++, Layer-CAM and Score-CAM, on any `ModelGraph` model.

Every method weighs the feature maps `A` (`(n, h', w', K)`) of one layer, by default the last spatial
layer before the head's global pooling (`kerasfg.vis.introspect.feature_layer`, inside nested models too),
sums over channels, and resizes the map bilinearly to the input size. CAM and the Grad-CAM family are
computed from one forward and backward pass by `kerasfg.vis.one_pass` with the functions here; Score-CAM,
which needs a forward pass per channel, keeps its own compiled functions on the `kerasfg.vis.Explainer` it
is called through (``explain(model, images, "gradcam", layer="conv5")``).

References:
    Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016 (CAM).
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017.
    Chattopadhay et al., "Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks",
    WACV 2018.
    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization", TIP 2021.
    Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks",
    CVPR workshops 2020.
"""

import keras
import tensorflow as tf

from kerasfg.vis.blur import gaussian_blur
from kerasfg.vis.introspect import feature_layer, output_tensor, producer


def _upsample(maps, image):
    return tf.image.resize(maps[..., None], tf.shape(image)[1:3], method="bilinear")[..., 0]


# === Grad-CAM family ===


def _gradcam_maps(features, grads):
    weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
    return tf.reduce_sum(weights * features, axis=-1)


def _gradcam_plus_plus_maps(features, grads):
    # The paper's alphas for an exponential of the score: exp(score) cancels in the alphas and scales
    # each image's map by a positive constant, so it is left out.
    squared = grads**2
    denominator = 2 * squared + tf.reduce_sum(features, axis=[1, 2], keepdims=True) * grads**3
    alphas = squared / tf.where(denominator != 0, denominator, tf.ones_like(denominator))
    weights = tf.reduce_sum(alphas * tf.nn.relu(grads), axis=[1, 2], keepdims=True)
    return tf.reduce_sum(weights * features, axis=-1)


def _layercam_maps(features, grads):
    return tf.reduce_sum(tf.nn.relu(grads) * features, axis=-1)


GRADIENT_CAMS = {
    "gradcam": _gradcam_maps,  # ReLU of the feature maps weighted by the spatial mean of the gradients
    "gradcam++": _gradcam_plus_plus_maps,  # ... by the alpha-weighted positive gradients
    "layercam": _layercam_maps,  # ... position by position, by the positive gradients
}
"""``{method: combine(features, gradients)}`` of the methods that weigh feature maps by the class
score's gradients (Grad-CAM, Grad-CAM++, Layer-CAM)."""


def gradient_cam(method, features, grads, image):
    """The maps of one of `GRADIENT_CAMS` from a layer's feature maps `(n, h', w', K)` and the class
    score's gradients with respect to them, ReLU'd and resized to the image's size."""
    return _upsample(tf.nn.relu(GRADIENT_CAMS[method](tf.cast(features, tf.float32), tf.cast(grads, tf.float32))),
                     image)


# === Score-CAM ===


SCORECAM_BASELINES = ("blur", "zeros")


def scorecam(explainer, image, rest, classes, *, output, layer=None, max_channels=None, batch_size=256,
             baseline="blur"):
    """Score-CAM: feature maps weighted by the class probability of the image seen through each of them.

    Each feature map, upsampled and min-max normalised to [0, 1], is a mask ``M``; the image seen through
    it is ``image * M + baseline * (1 - M)``, and the map's weight is the softmax probability of the
    explained class for that image (Wang et al.'s code: a softmax over the classes). The weighted sum of
    the feature maps is rectified and resized to the image.

    Args:
        max_channels: only the channels whose feature maps vary most, per image (Faster-Score-CAM).
        batch_size: masked images per forward pass.
        baseline: what the image becomes outside a mask: ``"blur"`` (the image blurred with a Gaussian of a
            sixteenth of its larger side, as the faithfulness curves' insertion start; the default) or
            ``"zeros"`` (zero pixels, the paper's multiplication by the mask). Zeros are black for a model on
            0..255 pixels: every masked image is then a bright window in a black frame, far from anything the
            model was trained on, its class probabilities are all alike, and the map degenerates into the
            plain sum of the feature maps (on the quick-start model its energy in the evidence mask fell to
            0.56, near the 0.44 of a random map, see docs/evaluation.md).
    """
    if baseline not in SCORECAM_BASELINES:
        raise ValueError(f"Score-CAM's baseline must be one of {SCORECAM_BASELINES}; received {baseline!r}.")
    path = feature_layer(explainer.graph, output, layer)

    def build_features():
        def features(image, rest, classes):
            logits, taps = explainer.logits(image, rest, output, taps=[path])
            return tf.cast(taps[path], tf.float32), explainer.chosen_classes(logits, classes)

        return features

    def build_scores():
        def masked_probabilities(image, fill, rest, classes, masks):
            channels = tf.shape(masks)[1]
            masked = image[:, None] * masks[..., None] + fill[:, None] * (1 - masks[..., None])
            masked = tf.reshape(masked, tf.concat([[-1], tf.shape(image)[1:]], 0))
            repeated = {name: tf.repeat(value, channels, axis=0) for name, value in rest.items()}
            logits, _ = explainer.logits(masked, repeated, output)
            probabilities = explainer.class_probabilities(logits, tf.repeat(classes, channels))
            return tf.reshape(probabilities, [-1, channels])

        return masked_probabilities

    features, classes = explainer.compiled(("scorecam/features", path, output), build_features)(image, rest, classes)
    if max_channels is not None and max_channels < features.shape[-1]:
        variances = tf.math.reduce_variance(features, axis=[1, 2])
        chosen = tf.math.top_k(variances, k=max_channels).indices
        features = tf.gather(features, chosen, axis=3, batch_dims=1)
    masks = tf.transpose(tf.image.resize(features, tf.shape(image)[1:3], method="bilinear"), [0, 3, 1, 2])
    low = tf.reduce_min(masks, axis=[2, 3], keepdims=True)
    high = tf.reduce_max(masks, axis=[2, 3], keepdims=True)
    masks = tf.math.divide_no_nan(masks - low, high - low)
    fill = gaussian_blur(image, max(image.shape[1:3]) / 16) if baseline == "blur" else tf.zeros_like(image)
    masked_probabilities = explainer.compiled(("scorecam/scores", output), build_scores)
    step = max(1, batch_size // int(image.shape[0]))
    weights = tf.concat([masked_probabilities(image, fill, rest, classes, masks[:, start:start + step])
                         for start in range(0, masks.shape[1], step)], axis=1)
    return _upsample(tf.nn.relu(tf.einsum("nhwk,nk->nhw", features, weights)), image)


# === CAM ===


def is_squashing_layer(layer):
    """Whether ``layer`` is a separate softmax or sigmoid layer (``Softmax``, or such an ``Activation``)."""
    if isinstance(layer, keras.layers.Softmax):
        return True
    return isinstance(layer, keras.layers.Activation) and layer.activation.__name__ in ("softmax", "sigmoid")


def gap_head(graph, output):
    """``(feature layer path, dense layer)`` of a GlobalAveragePooling2D -> Dense output.

    Raises:
        ValueError: when ``output`` is not a Dense layer (with an optional softmax, and dropout before
            it) on the global average of a 4-D layer's feature maps.
    """
    chain = []

    def fail():
        raise ValueError(f"CAM needs output {output!r} to be a Dense layer on GlobalAveragePooling2D of a 4-D "
                         f"feature map (Zhou et al.); from the output back, model '{graph.model.name}' has "
                         f"{chain}. Use gradcam instead.")

    def before(found):
        return producer(found.inputs[0], found.scopes)

    found = producer(output_tensor(graph.model, output))
    if found is not None and is_squashing_layer(found.layer):
        chain.append(found.path)
        found = before(found)
    if found is None or not isinstance(found.layer, keras.layers.Dense):
        chain.append(found.path if found else "an input")
        fail()
    dense = found.layer
    chain.append(found.path)
    found = before(found)
    while found is not None and isinstance(found.layer, keras.layers.Dropout):
        chain.append(found.path)
        found = before(found)
    if found is None or not isinstance(found.layer, keras.layers.GlobalAveragePooling2D) or found.layer.keepdims:
        chain.append(found.path if found else "an input")
        fail()
    chain.append(found.path)
    features = before(found)
    if features is None:
        chain.append("an input")
        fail()
    return features.path, dense


def class_activation_map(features, dense, classes, image):
    """CAM: the feature maps `(n, h', w', K)` before global average pooling weighted by the ``dense``
    output layer's weights of each image's class `(n,)` (no ReLU, as in Zhou et al.), resized to the
    image's size."""
    kernel = tf.cast(tf.convert_to_tensor(dense.kernel), tf.float32)
    weights = tf.gather(tf.transpose(kernel), classes)
    return _upsample(tf.einsum("nhwk,nk->nhw", tf.cast(features, tf.float32), weights), image)
