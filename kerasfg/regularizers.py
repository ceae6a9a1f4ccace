"""OrthoReg: locally constrained decorrelation of a layer's filters (thesis 002, chapter 5).

Two ways to apply it, as the thesis discusses:

- ``OrthoReg``, a Keras kernel regularizer: ``strength * C(theta)`` added to the loss and
  differentiated by autograd;
- ``OrthoRegUpdate``, a callback that applies the thesis's own update (Algorithm 1 with the local
  gradient of Eq. 5.8-5.10, as the official Torch code does) directly to the kernels after every
  optimizer step, outside autograd: ``W -= beta * lr * (G - diag(G)) F`` with ``F`` the
  L2-normalized filters and ``G = lam * sigmoid(lam * (F F^T - 1))``, which equals
  ``lam * exp(lam F F^T) / (exp(lam F F^T) + exp(lam))`` of Eq. 5.10, written stably.

The callback lives here, next to the regularizer it applies, rather than in ``kerasfg.callbacks``
(whose callbacks record what the network does): it is part of the training algorithm.

In both, a layer's filters are the rows of its kernel reshaped to ``(units, fan_in)``: for a
``Conv2D`` kernel ``(kh, kw, in, out)`` the ``out`` filters of ``kh * kw * in`` weights.
"""

import keras
from keras import ops

_MODES = ("local", "global")


def _filters(kernel):
    """``(..., units)`` kernel -> ``(units, fan_in)`` matrix of filters."""
    return ops.transpose(ops.reshape(kernel, (-1, kernel.shape[-1])))


def _normalize(rows, epsilon):
    return rows / (ops.sqrt(ops.sum(ops.square(rows), axis=1, keepdims=True)) + epsilon)


def orthoreg_penalty(kernel, lam=10.0, mode="local", epsilon=1e-7):
    """The OrthoReg cost ``C(theta)`` of a kernel (without the strength).

    ``mode="local"`` (Eq. 5.7, the proposed one): ``sum_{i != j} log(1 + exp(lam (cos_ij - 1)))``,
    which is close to 0 for filters more than 90 degrees apart. ``mode="global"`` (Eq. 5.2):
    ``1/2 sum_{i != j} cos_ij^2``.
    """
    f = _normalize(ops.cast(_filters(kernel), "float32"), epsilon)
    cos = ops.matmul(f, ops.transpose(f))
    off_diagonal = 1.0 - ops.eye(cos.shape[0], dtype="float32")
    if mode == "local":
        return ops.sum(off_diagonal * ops.softplus(lam * (cos - 1.0)))
    return 0.5 * ops.sum(off_diagonal * ops.square(cos))


@keras.saving.register_keras_serializable(package="kerasfg")
class OrthoReg(keras.regularizers.Regularizer):
    """OrthoReg as a kernel regularizer: ``strength * C(theta)`` (see ``orthoreg_penalty``).

    Args:
        strength: gamma, the weight of the cost (the thesis tunes it; the official code
            recommends 1e-3).
        lam: lambda of the local cost (10 in the thesis: "lambda ~ 10 corresponds to
            orthogonality").
        mode: ``"local"`` (Eq. 5.7, default) or ``"global"`` (Eq. 5.2).
        epsilon: added to the filter norms before dividing.

    Example:
        ``keras.layers.Conv2D(64, 3, kernel_regularizer=kerasfg.regularizers.OrthoReg())``

    Reference:
        Rodríguez et al., "Regularizing CNNs with Locally Constrained Decorrelations", ICLR 2017.
    """

    def __init__(self, strength=1e-3, lam=10.0, mode="local", epsilon=1e-7):
        if mode not in _MODES:
            raise ValueError(f"OrthoReg: `mode` must be one of {_MODES}; received {mode!r}.")
        self.strength = strength
        self.lam = lam
        self.mode = mode
        self.epsilon = epsilon

    def __call__(self, kernel):
        if len(kernel.shape) < 2:
            raise ValueError(f"OrthoReg regularizes kernels of rank >= 2 (units on the last "
                             f"axis); received a weight of shape {tuple(kernel.shape)}.")
        return self.strength * orthoreg_penalty(kernel, self.lam, self.mode, self.epsilon)

    def get_config(self):
        return {"strength": self.strength, "lam": self.lam, "mode": self.mode,
                "epsilon": self.epsilon}


def orthoreg_kernels(model, layer_names=None):
    """The kernels OrthoReg decorrelates: those of the named layers, or by default of every
    (top-level) layer whose kernel has rank >= 3 (the convolutions, as in the thesis)."""
    if layer_names is not None:
        return [model.get_layer(name).kernel for name in layer_names]
    return [layer.kernel for layer in model.layers
            if isinstance(getattr(layer, "kernel", None), keras.Variable)
            and len(layer.kernel.shape) >= 3]


@keras.saving.register_keras_serializable(package="kerasfg")
class SumOfRegularizers(keras.regularizers.Regularizer):
    """The sum of several regularizers on one weight (e.g. L2 weight decay and OrthoReg).

    Args:
        regularizers: the regularizers (instances, or anything `keras.regularizers.get` takes).
    """

    def __init__(self, regularizers):
        self.regularizers = [keras.regularizers.get(r) for r in regularizers]

    def __call__(self, x):
        return sum(regularizer(x) for regularizer in self.regularizers)

    def get_config(self):
        return {"regularizers": [keras.regularizers.serialize(r) for r in self.regularizers]}


def add_regularizer(variable, regularizer):
    """Add ``regularizer`` to a built weight: its penalty joins the model's losses from the next
    traced step on (alongside any regularizer the weight already has)."""
    existing = variable.regularizer
    variable.regularizer = (regularizer if existing is None
                            else SumOfRegularizers([existing, regularizer]))


def orthoreg_step(kernel, step_size, lam=10.0, epsilon=1e-7, restore_norms=False):
    """The kernel after one OrthoReg update ``W - step_size * (G - diag(G)) F`` (Eq. 5.10)."""
    w = _filters(kernel)
    f = _normalize(w, epsilon)
    g = lam * ops.sigmoid(lam * (ops.matmul(f, ops.transpose(f)) - 1.0))
    g = g * (1.0 - ops.eye(g.shape[0], dtype=g.dtype))
    updated = w - step_size * ops.matmul(g, f)
    if restore_norms:
        norms = ops.sqrt(ops.sum(ops.square(w), axis=1, keepdims=True))
        updated = _normalize(updated, epsilon) * norms
    return ops.reshape(ops.transpose(updated), kernel.shape)


class OrthoRegUpdate(keras.callbacks.Callback):
    """Apply the OrthoReg update to the kernels after every training batch (thesis Algorithm 1).

    After each optimizer step, every selected kernel becomes
    ``W - beta * lr * (G - diag(G)) F`` (see the module docstring), with ``lr`` the optimizer's
    current learning rate, so the regularization follows the learning-rate schedule as in the
    official code. By default all convolution kernels are updated ("all the convolution layers",
    as in the thesis's CNN experiments).

    Args:
        beta: weight of the update (the official code recommends 1e-3; its README says 1e-2).
        lam: lambda (10 in the thesis).
        epsilon: added to the filter norms before dividing.
        layer_names: None for every (top-level) layer of the model whose kernel has rank >= 3
            (convolutions); otherwise the names of the layers whose ``kernel`` to update (dense
            layers included).
        restore_norms: if True, give every filter back its norm after the update, so that only
            angles change (the thesis's MNIST experiments).

    Reference:
        Rodríguez et al., "Regularizing CNNs with Locally Constrained Decorrelations", ICLR 2017.
    """

    def __init__(self, beta=1e-3, lam=10.0, epsilon=1e-7, layer_names=None, restore_norms=False):
        super().__init__()
        self.beta = beta
        self.lam = lam
        self.epsilon = epsilon
        self.layer_names = layer_names
        self.restore_norms = restore_norms

    def _kernels(self):
        return orthoreg_kernels(self.model, self.layer_names)

    def _learning_rate(self):
        lr = self.model.optimizer.learning_rate
        if callable(lr):
            lr = lr(self.model.optimizer.iterations)
        return float(ops.convert_to_numpy(lr))

    def on_train_batch_end(self, batch, logs=None):
        step_size = self.beta * self._learning_rate()
        if step_size == 0:
            return
        for kernel in self._kernels():
            kernel.assign(ops.cast(
                orthoreg_step(ops.cast(kernel, "float32"), step_size, self.lam, self.epsilon,
                              self.restore_norms), kernel.dtype))
