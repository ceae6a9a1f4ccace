"""Batch normalization on the backend's fused kernel, with Keras's numbers."""

import keras
from keras import ops

from kerasfg.layers import fused


@keras.saving.register_keras_serializable(package="kerasfg")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that runs as one fused kernel where the backend has one.

    Keras 3 normalizes with a chain of elementwise operations in float32 (mean, squared
    difference, multiply, subtract, their gradients, and casts around them under mixed
    precision). On TensorFlow this layer calls the fused batch-normalization kernel instead: one
    operation forward and one backward (oneDNN on CPUs, where it reads and writes bfloat16 with
    float32 statistics; cuDNN on GPUs). On a ResNet-50 the Keras chain cost about as much as the
    convolutions once they ran in bfloat16 (see ``docs/performance.md``).

    The arguments, weights, outputs, gradients and moving statistics are those of
    ``keras.layers.BatchNormalization`` (the moving variance uses the biased batch variance, as
    Keras does), so the layer is a drop-in replacement and takes Keras's weights. Where the fused
    kernel does not apply (another backend, a mask, ``synchronized=True``, ``renorm``, an axis
    other than the last of a 4D input, ``center=False`` or ``scale=False``, an ``epsilon`` below
    1e-5, float64 inputs), it computes exactly what Keras computes, with Keras's code.

    Args:
        **kwargs: the arguments of ``keras.layers.BatchNormalization``.

    Example:

    ```python
    x = keras.layers.Conv2D(64, 3, padding="same", name="stage1_conv")(x)
    x = kerasfg.layers.BatchNormalization(epsilon=1.001e-5, name="stage1_bn")(x)
    ```
    """

    def call(self, inputs, training=None, mask=None):
        if mask is not None or not self._fusable(inputs):
            return super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            outputs, mean, variance = fused.batch_norm_training(
                inputs, self.gamma, self.beta, epsilon=self.epsilon)
            self.moving_mean.assign(
                self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs = fused.batch_norm_inference(
                inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                epsilon=self.epsilon)
        return ops.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs):
        rank = len(inputs.shape)
        return (fused.batch_norm_available(inputs.dtype, self.epsilon)
                and rank == 4 and self.axis in (-1, rank - 1)
                and self.center and self.scale and not self.renorm and not self.synchronized)
