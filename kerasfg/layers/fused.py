"""Fused kernels of the backend that ``keras.ops`` does not reach: the one place layers call them.

kerasfg's layers compute with ``keras.ops`` so that they run on every Keras backend. A few
computations have a fused kernel in one backend that the portable composition of ``keras.ops``
cannot reach, and that matters for speed: batch normalization on TensorFlow is one oneDNN (CPU)
or cuDNN (GPU) kernel forward and one backward, where ``keras.ops`` builds about ten elementwise
operations and their gradients. Each function here says whether it applies
(``*_available``) and computes the same numbers as the Keras layer it replaces; layers fall back
to Keras's own code everywhere else.
"""

import keras

# cuDNN before version 8 rejected a smaller epsilon (CUDNN_BN_MIN_EPSILON); below it the layer falls
# back to the composed operations.
MIN_BATCH_NORM_EPSILON = 1e-5
_BATCH_NORM_DTYPES = ("float16", "bfloat16", "float32")


def batch_norm_available(dtype, epsilon):
    """Whether `batch_norm_training` / `batch_norm_inference` can normalize inputs of ``dtype``."""
    return (keras.backend.backend() == "tensorflow"
            and keras.backend.standardize_dtype(dtype) in _BATCH_NORM_DTYPES
            and epsilon >= MIN_BATCH_NORM_EPSILON)


def batch_norm_training(x, gamma, beta, *, epsilon):
    """Normalize a channels-last 4D ``x`` with its batch statistics, as one fused kernel.

    Args:
        x: a ``(batch, height, width, channels)`` tensor (float16, bfloat16 or float32).
        gamma, beta: float32 scale and offset, ``(channels,)``.
        epsilon: added to the variance.

    Returns:
        ``(outputs, mean, variance)``: the normalized ``x`` in its dtype, and the float32 batch
        mean and *biased* batch variance per channel (what Keras's moving statistics average).
    """
    import tensorflow as tf

    empty = tf.constant([], tf.float32)
    outputs, mean, unbiased_variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=tf.cast(gamma, tf.float32), offset=tf.cast(beta, tf.float32), mean=empty,
        variance=empty, epsilon=epsilon, exponential_avg_factor=1.0, data_format="NHWC",
        is_training=True)
    # The kernel reports the variance with Bessel's correction n / (n - 1) (n / 1 when n = 1),
    # for running averages; Keras averages the biased variance, which the normalization uses.
    count = tf.cast(tf.size(x, out_type=tf.int64) // tf.cast(tf.shape(x)[-1], tf.int64), tf.float32)
    variance = unbiased_variance * (tf.maximum(count - 1.0, 1.0) / count)
    return outputs, tf.stop_gradient(mean), tf.stop_gradient(variance)


def batch_norm_inference(x, gamma, beta, mean, variance, *, epsilon):
    """Normalize a channels-last 4D ``x`` with given statistics, as one fused kernel.

    Grappler folds this kernel into the convolution before it when the graph is optimized for
    inference (a SavedModel's serving signatures).
    """
    import tensorflow as tf

    outputs, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=tf.cast(gamma, tf.float32), offset=tf.cast(beta, tf.float32),
        mean=tf.cast(mean, tf.float32), variance=tf.cast(variance, tf.float32), epsilon=epsilon,
        exponential_avg_factor=1.0, data_format="NHWC", is_training=False)
    return outputs
