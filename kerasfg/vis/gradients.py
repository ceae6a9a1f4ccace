"""Gradient maps of a class score with respect to the image: saliency, SmoothGrad, guided backpropagation.

Each map is the gradient of the class score before the softmax with respect to the input image, its
absolute value, and the maximum over the colour channels (Simonyan et al. 2014, as in
`004_f2d7da29ee344cf2.txt`), see `gradient_map`; guided backpropagation takes it through ReLUs whose
gradient passes only positive values (`GuidableRelu`). Saliency and guided backpropagation are computed
in `kerasfg.vis.one_pass` with the other methods that need one backward pass; SmoothGrad, which needs
one per noisy copy, is here. They are called through an `kerasfg.vis.Explainer`
(``explain(model, images, "saliency")``).

References:
    Simonyan et al., "Deep Inside Convolutional Networks", ICLR workshop 2014.
    Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017.
    Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015.
"""

import tensorflow as tf


class GuidableRelu:
    """A ReLU whose gradient is guided for some examples of the batch and its own for the others.

    Guided backpropagation (Springenberg et al. 2015) passes the gradient only where both the ReLU's
    input and the incoming gradient are positive. Used in place of every ReLU of a model
    (``ModelGraph.run(..., relu=GuidableRelu(guided))``) on a batch that holds the explained images
    twice, one backward pass gives the plain gradients (saliency, Grad-CAM) of the first copy and the
    guided ones of the second: in inference every example runs through the model on its own.

    Args:
        guided: bool `(batch,)`, the examples whose gradient is guided.
    """

    def __init__(self, guided):
        self.guided = guided

    def __call__(self, x):
        @tf.custom_gradient
        def relu(x):
            def gradient(upstream):
                guided = tf.reshape(self.guided, [-1] + [1] * (x.shape.rank - 1))
                passed = tf.logical_and(x > 0, tf.logical_or(tf.logical_not(guided), upstream > 0))
                return tf.where(passed, upstream, tf.zeros_like(upstream))

            return tf.nn.relu(x), gradient

        return relu(x)


def _input_gradients(explainer, output):
    def gradient(image, rest, classes):
        with tf.GradientTape() as tape:
            tape.watch(image)
            logits, _ = explainer.logits(image, rest, output)
            score = explainer.class_scores(logits, classes)
        return tape.gradient(score, image)

    return gradient


def gradient_map(grads):
    """Saliency of image gradients `(n, h, w, c)`: ``max over channels |gradient|``, `(n, h, w)`."""
    return tf.reduce_max(tf.abs(grads), axis=-1)


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

            def add_sample(sample, total):
                noisy = image + noise * value_range * tf.random.stateless_normal(
                    tf.shape(image), seed=tf.stack([seed, sample]))
                return sample + 1, total + gradient(noisy, rest, classes)

            _, total = tf.while_loop(lambda sample, _: sample < samples, add_sample,
                                     (tf.constant(0), tf.zeros_like(image)))
            return gradient_map(total / tf.cast(samples, tf.float32))

        return smoothed

    fn = explainer.compiled(("smoothgrad", output), build)
    return fn(image, rest, classes, tf.constant(samples), tf.constant(noise, tf.float32), tf.constant(seed))
