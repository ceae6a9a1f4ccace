"""Losses of the kerasfg layers and models, and the standard classification objective."""

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


def classification_objective(model, loss_weights=None):
    """``compile`` arguments for a model whose outputs are all class probabilities.

    Sparse categorical cross-entropy (integer labels) and accuracy for every output, each loss weighed
    by ``loss_weights`` (1.0 for outputs it does not name):

        model.compile(optimizer="adam", **classification_objective(model, {"expression": 0.5}))

    Args:
        model: a model with one softmax output or a dict of them.
        loss_weights: ``{output name: weight}``.

    Raises:
        ValueError: if ``loss_weights`` names an output the model does not have.
    """
    names = list(model.output_names)
    loss_weights = loss_weights or {}
    unknown = sorted(set(loss_weights) - set(names))
    if unknown:
        raise ValueError(f"loss_weights: {unknown} is not an output of the model; its outputs are {names}.")
    return {
        "loss": {name: keras.losses.SparseCategoricalCrossentropy() for name in names},
        "loss_weights": {name: float(loss_weights.get(name, 1.0)) for name in names},
        "metrics": {name: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] for name in names},
    }
