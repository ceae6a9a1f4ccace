"""How the weights learn, from the config's ``train`` section: the optimizer, its learning-rate
schedule, weight decay and OrthoReg.

The papers' recipes, as configs:

```yaml
train:                       # ABN on CIFAR (NOTES-000-003.md B4): SGD, /10 at 50% and 75%
  epochs: 300
  optimizer: {name: sgd, learning_rate: 0.1, options: {momentum: 0.9},
              schedule: step, decay_fractions: [0.5, 0.75], decay_factor: 0.1,
              weight_decay: 1.0e-4}
train:                       # WARN on CIFAR-100 (NOTES-002.md 2.3): Nesterov, x0.2 at 60/120/160
  epochs: 200
  optimizer: {name: sgd, learning_rate: 0.1, options: {momentum: 0.9, nesterov: true},
              schedule: step, decay_epochs: [60, 120, 160], decay_factor: 0.2,
              weight_decay: 5.0e-4}
  orthoreg: {mode: update, beta: 1.0e-3, lam: 10}     # OrthoReg as the thesis's update
```

Weight decay ``"l2"`` (the default) is PyTorch's and Torch's ``weight_decay``, which the papers'
code uses: ``weight_decay * w`` is added to the gradient of every trainable weight (biases and
batch-normalization scales included) before the optimizer's update, here as an L2 penalty
``weight_decay / 2 * |w|^2`` attached to each weight. ``"decoupled"`` is Keras's own
``weight_decay``, ``w -= lr * weight_decay * w`` apart from the gradient. With momentum 0.9 the two
differ by about the factor 1 / (1 - momentum) in their effective strength.
"""

import fnmatch
import logging
import math

import keras

from kerasfg.config import ConfigError
from kerasfg.regularizers import OrthoReg, OrthoRegUpdate, add_regularizer, orthoreg_kernels

logger = logging.getLogger(__name__)


def build_optimizer(train_config, steps_per_epoch):
    """The `keras.optimizers.Optimizer` of ``train_config.optimizer``, with its schedule.

    Args:
        train_config: a `kerasfg.config.TrainConfig`.
        steps_per_epoch: training steps per epoch, to place the schedule's decays.

    Raises:
        ConfigError: for an unknown optimizer name or an option it does not take.
    """
    optimizer = train_config.optimizer
    options = dict(optimizer.options)
    if optimizer.weight_decay and optimizer.weight_decay_mode == "decoupled":
        options["weight_decay"] = optimizer.weight_decay
    try:
        keras.optimizers.get(optimizer.name)
    except ValueError as error:
        raise ConfigError(f"train.optimizer.name: unknown optimizer {optimizer.name!r}; expected a "
                          f"keras.optimizers name such as 'sgd', 'adam', 'adamw' or "
                          f"'rmsprop'.") from error
    try:
        return keras.optimizers.get({
            "class_name": optimizer.name,
            "config": {"learning_rate": learning_rate_schedule(train_config, steps_per_epoch),
                       **options}})
    except (TypeError, ValueError) as error:
        raise ConfigError(f"train.optimizer.options: {error}") from error


def decay_epochs(train_config):
    """The epochs at which a ``"step"`` schedule decays: ``decay_epochs``, or ``decay_fractions``
    of ``train.epochs`` (rounded)."""
    optimizer = train_config.optimizer
    if optimizer.decay_fractions:
        return [round(fraction * train_config.epochs) for fraction in optimizer.decay_fractions]
    return list(optimizer.decay_epochs)


def learning_rate_schedule(train_config, steps_per_epoch):
    """The learning rate, or a `keras.optimizers.schedules` schedule, of ``train_config``.

    ``"cosine"`` decays to 0 over the whole run; ``"step"`` multiplies the rate by
    ``decay_factor`` at each of `decay_epochs`.
    """
    optimizer = train_config.optimizer
    rate = optimizer.learning_rate
    if optimizer.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, train_config.epochs * steps_per_epoch)
    if optimizer.schedule == "step":
        # The first step of epoch e (counting from 0) runs at iteration e * steps_per_epoch, and
        # PiecewiseConstantDecay switches after its boundary: the new rate starts with epoch e.
        boundaries = [epoch * steps_per_epoch - 1 for epoch in sorted(decay_epochs(train_config))]
        values = [rate * optimizer.decay_factor**k for k in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return rate


def steps_per_epoch(train_size, batch_size):
    """Training steps of one epoch."""
    return math.ceil(train_size / batch_size)


def matching_layers(model, patterns, key):
    """Names of the layers of ``model`` that match the ``fnmatch`` ``patterns``, in model order.

    Raises:
        ConfigError: naming ``key[i]`` for a pattern that matches no layer.
    """
    names = [layer.name for layer in model.layers]
    for i, pattern in enumerate(patterns):
        if not fnmatch.filter(names, pattern):
            raise ConfigError(f"{key}[{i}]: {pattern!r} matches no layer of model {model.name!r}; "
                              f"its layers are named like {names[:3] + names[-3:]}.")
    return [name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]


def attach_regularizers(model, train_config):
    """Attach the config's L2 weight decay and OrthoReg regularizer to the model's weights.

    Call it on the built model before ``compile``; the penalties join the loss from the first step.
    """
    optimizer = train_config.optimizer
    if optimizer.weight_decay and optimizer.weight_decay_mode == "l2":
        decay = keras.regularizers.L2(optimizer.weight_decay / 2.0)
        for variable in model.trainable_weights:
            add_regularizer(variable, decay)
    orthoreg = train_config.orthoreg
    if orthoreg.mode == "regularizer":
        regularizer = OrthoReg(strength=orthoreg.strength, lam=orthoreg.lam, mode=orthoreg.cost)
        kernels = orthoreg_kernels(model, _orthoreg_layers(model, orthoreg))
        for kernel in kernels:
            add_regularizer(kernel, regularizer)
        logger.info("OrthoReg regularizer on %d kernels", len(kernels))


def training_callbacks(model, train_config):
    """Callbacks the training algorithm needs: the OrthoReg update when ``train.orthoreg.mode`` is
    ``"update"``."""
    orthoreg = train_config.orthoreg
    if orthoreg.mode != "update":
        return []
    return [OrthoRegUpdate(beta=orthoreg.beta, lam=orthoreg.lam,
                           layer_names=_orthoreg_layers(model, orthoreg),
                           restore_norms=orthoreg.restore_norms)]


def _orthoreg_layers(model, orthoreg):
    if orthoreg.layers is None:
        return None
    names = matching_layers(model, orthoreg.layers, "train.orthoreg.layers")
    without = [name for name in names if getattr(model.get_layer(name), "kernel", None) is None]
    if without:
        raise ConfigError(f"train.orthoreg.layers: layers {without} have no kernel to decorrelate.")
    return names
