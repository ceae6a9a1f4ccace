"""Losses of the kerasfg layers and models that Keras does not have.

`kerasfg.objectives` names them (and Keras's own) for the config's ``objectives`` section.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasfg")
class NegativeLogLikelihood(keras.losses.Loss):
    """Negative log-likelihood of predictions that already are log-probabilities.

    ``loss = -y_pred[label]`` (or ``-sum(y_true * y_pred)`` for one-hot / soft targets), averaged
    over the batch. This is PyTorch's ``nll_loss``: it does not normalize ``y_pred``, which is
    what attend-and-rectify needs, since its output (``kerasfg.layers.AttendRectify``) is a gated
    mixture of log-softmax outputs that does not sum to one in probability space.

    Args:
        sparse: True for integer class labels, False for one-hot or soft targets.
        **kwargs: ``keras.losses.Loss`` arguments (``name``, ``reduction``).
    """

    def __init__(self, sparse=True, name="negative_log_likelihood", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sparse = sparse

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        if self.sparse:
            labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
            y_true = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype="float32")
        return -ops.sum(ops.cast(y_true, "float32") * y_pred, axis=-1)

    def get_config(self):
        return {**super().get_config(), "sparse": self.sparse}


@keras.saving.register_keras_serializable(package="kerasfg")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Sigmoid cross-entropy over K binary attributes, skipping missing labels.

    Targets are 0/1 per attribute, ``(batch, K)``; a negative (e.g. -1) or NaN target marks a
    label that is missing and contributes nothing. The batch's loss is the mean over the labels that
    are present, ``sum(mask * bce) / sum(mask)`` (Keras's `keras.losses.BinaryCrossentropy` when
    none is missing): each example's value is its summed cross-entropy divided by the batch's mean
    number of present labels, so that Keras's mean over the batch gives exactly that ratio.

    Args:
        from_logits: whether the predictions are logits (computed stably from them) rather than
            sigmoid probabilities.
        **kwargs: ``keras.losses.Loss`` arguments (``name``, ``reduction``).

    Example:

    >>> loss = MaskedBinaryCrossentropy(from_logits=True)
    >>> float(loss([[1.0, -1.0]], [[0.0, 5.0]]))  # only the first label counts: log(2)
    0.693...
    """

    def __init__(self, from_logits=False, name="masked_binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
        present = ops.cast(ops.greater_equal(y_true, 0.0), "float32")  # NaN compares False
        labels = ops.where(present > 0, y_true, 0.0)
        if self.from_logits:
            entropy = (ops.relu(y_pred) - y_pred * labels
                       + ops.log1p(ops.exp(-ops.abs(y_pred))))
        else:
            p = ops.clip(y_pred, keras.config.epsilon(), 1.0 - keras.config.epsilon())
            entropy = -(labels * ops.log(p) + (1.0 - labels) * ops.log(1.0 - p))
        per_example = ops.sum(present * entropy, axis=-1)
        mean_present = ops.mean(ops.sum(present, axis=-1))
        return per_example / ops.maximum(mean_present, 1e-12)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
