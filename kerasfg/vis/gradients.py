"""Gradient maps of a class score with respect to the image: saliency, SmoothGrad, guided backpropagation.

Each map is the gradient of the class score before the softmax with respect to the input image, its
absolute value, and the maximum over the colour channels (Simonyan et al. 2014, as in
`004_f2d7da29ee344cf2.txt`). The functions take an `kerasfg.vis.Explainer` and are called through it
(``explain(model, images, "saliency")``).

References:
    Simonyan et al., "Deep Inside Convolutional Networks", ICLR workshop 2014.
    Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017.
    Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015.
"""

import tensorflow as tf


@tf.custom_gradient
def guided_relu(x):
    """ReLU whose gradient passes only where both the input and the incoming gradient are positive."""

    def gradient(upstream):
        return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)

    return tf.nn.relu(x), gradient


def _input_gradients(explainer, output, relu=None):
    def gradient(image, rest, classes):
        with tf.GradientTape() as tape:
            tape.watch(image)
            logits, _ = explainer.logits(image, rest, output, relu=relu)
            score = explainer.class_scores(logits, classes)
        return tape.gradient(score, image)

    return gradient


def _to_map(grads):
    return tf.reduce_max(tf.abs(grads), axis=-1)


def _gradient_map(explainer, image, rest, classes, output, name, relu=None):
    def build():
        gradient = _input_gradients(explainer, output, relu)

        def gradient_map(image, rest, classes):
            return _to_map(gradient(image, rest, classes))

        return gradient_map

    return explainer.compiled((name, output), build)(image, rest, classes)


def saliency(explainer, image, rest, classes, *, output):
    """Saliency: ``max over channels |d score / d image|``."""
    return _gradient_map(explainer, image, rest, classes, output, "saliency")


def guided_backprop(explainer, image, rest, classes, *, output):
    """Guided backpropagation: the saliency map with every ReLU replaced by `guided_relu`."""
    return _gradient_map(explainer, image, rest, classes, output, "guided_backprop", relu=guided_relu)


def smoothgrad(explainer, image, rest, classes, *, output, samples=20, noise=0.2, seed=0):
    """SmoothGrad: the saliency map of the gradients averaged over noisy copies of each image.

    Args:
        samples: how many noisy copies; each is a batched pass over all images.
        noise: standard deviation of the Gaussian noise, as a fraction of each image's value range.
        seed: seed of the (stateless) noise, so that repeated calls agree.
    """
    if samples < 1:
        raise ValueError(f"smoothgrad needs samples >= 1, got {samples!r}.")

    def build():
        gradient = _input_gradients(explainer, output)

        def smoothed(image, rest, classes, samples, noise, seed):
            value_range = tf.reduce_max(image, axis=[1, 2, 3], keepdims=True) - tf.reduce_min(
                image, axis=[1, 2, 3], keepdims=True)
            classes = explainer.chosen_classes(explainer.logits(image, rest, output)[0], classes)
            total = tf.zeros_like(image)
            for sample in tf.range(samples):
                noisy = image + noise * value_range * tf.random.stateless_normal(
                    tf.shape(image), seed=tf.stack([seed, sample]))
                total += gradient(noisy, rest, classes)
            return _to_map(total / tf.cast(samples, tf.float32))

        return smoothed

    fn = explainer.compiled(("smoothgrad", output), build)
    return fn(image, rest, classes, tf.constant(samples), tf.constant(noise, tf.float32), tf.constant(seed))
