"""Gradient maps of a class score with respect to the image: saliency, SmoothGrad, guided backpropagation.

Each map is the gradient of the class score before the softmax with respect to the input image, its
absolute value, and the maximum over the colour channels (Simonyan et al. 2014, as in
`004_f2d7da29ee344cf2.txt`), see `gradient_map`; guided backpropagation takes it through ReLUs whose
gradient passes only positive values (`GuidableRelu`). Saliency and guided backpropagation are computed in `kerasfg.vis.one_pass`
with the other methods that need one backward pass; SmoothGrad, which needs one per noisy copy, is
here. They are called through an `kerasfg.vis.Explainer` (``explain(model, images, "saliency")``).

References:
    Simonyan et al., "Deep Inside Convolutional Networks", ICLR workshop 2014.
    Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017.
    Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015.
"""

import contextlib

import tensorflow as tf


class GuidableRelu:
    """A ReLU whose backward pass is chosen when each gradient is built: the ReLU's own, or guided.

    Used in place of every ReLU of a model (``ModelGraph.run(..., relu=GuidableRelu())``), one forward
    pass gives both the plain gradients (saliency, Grad-CAM) and, from the same tape inside `guided`,
    guided backpropagation's, where the gradient passes only where both the ReLU's input and the
    incoming gradient are positive (Springenberg et al. 2015). The choice is read when the tape
    builds the gradient, so it also holds inside a `tf.function`.
    """

    def __init__(self):
        self.guiding = False

    @contextlib.contextmanager
    def guided(self):
        """Build the gradients asked for in this context with guided backpropagation."""
        self.guiding = True
        try:
            yield
        finally:
            self.guiding = False

    def __call__(self, x):
        @tf.custom_gradient
        def relu(x):
            def gradient(upstream):
                passed = x > 0
                if self.guiding:
                    passed = tf.logical_and(passed, upstream > 0)
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
