"""Does a training precision train as well as float32? Paired runs of the same model, seeds and data.

A faster precision is only a win if the model it trains is as good. `compare_to_float32` trains one
model under float32 and under the other precision from the same initial weights, on the same batches
in the same order, for each seed, and evaluates every trained model in float32 on held-out data; the
two runs of a seed differ only in the arithmetic of the training step.

```python
def make_model():
    model = kerasfg.models.build_model("resnet18", input_shape=(64, 64, 3), num_classes=10)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model

runs = kerasfg.convergence.compare_to_float32(make_model, (x, y), (x_test, y_test), steps=300)
print(kerasfg.convergence.summary(runs))
```
"""

import dataclasses
import statistics

import keras
import numpy as np

from kerasfg import precision as precision_lib


@dataclasses.dataclass(frozen=True)
class Run:
    """One trained model.

    Attributes:
        precision: the precision it was trained with.
        seed: the seed of its initial weights and batch order.
        train_loss: mean training loss (as the training step computed it) of the last steps.
        test_metrics: ``model.evaluate`` on the held-out data, in float32.
    """

    precision: str
    seed: int
    train_loss: float
    test_metrics: dict


def compare_to_float32(make_model, train, test, *, precision="auto", steps=300, seeds=(0, 1, 2),
                       batch_size=32, window=30):
    """Train ``make_model()`` for ``steps`` steps per seed under float32 and under ``precision``.

    For each seed both runs start from the same initial weights (``make_model()`` built after
    ``keras.utils.set_random_seed(seed)``) and the same optimizer state, and see the same batches in
    the same order. Each precision trains one model whose weights are reset for every seed, so its
    training step is traced once (float32 and ``onednn_bfloat16`` even share the model and its trace).

    Args:
        make_model: returns a new compiled model (called in the precision's build scope, so
            that a mixed policy applies; compile it with ``jit_compile`` as the precision wants).
        train: ``(x, y)`` arrays (or dicts of arrays) to draw batches from.
        test: ``(x, y)`` held-out arrays for the float32 evaluation.
        precision: the precision to compare (`kerasfg.precision.PRECISIONS`).
        steps: training steps per run.
        seeds: one pair of runs per seed.
        batch_size: examples per step.
        window: ``train_loss`` averages the losses of the last ``window`` steps.

    Returns:
        ``{precision name: [Run per seed]}`` with ``"float32"`` and the resolved ``precision``.

    Raises:
        ValueError: when ``precision`` is (or resolves to) float32, or ``train`` holds fewer than
            ``batch_size`` examples.
    """
    chosen = precision_lib.resolve(precision, jit_compile=False)
    plain = precision_lib.resolve("float32", jit_compile=False)
    if chosen.name == plain.name:
        raise ValueError(f"precision {precision!r} is float32 on this machine: nothing to compare.")
    models = {}
    for setting in (plain, chosen):
        if setting.dtype_policy not in models:
            with setting.build_scope():
                models[setting.dtype_policy] = _TrainableModel(make_model())
    runs = {plain.name: [], chosen.name: []}
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        with plain.build_scope():
            initial = make_model().get_weights()
        order = _batch_order(_length(train), steps, batch_size, seed)
        for setting in (plain, chosen):
            model = models[setting.dtype_policy]
            model.reset(initial)
            with setting.training_scope():
                losses = [model.step(_take(train, indices)) for indices in order]
            runs[setting.name].append(Run(
                precision=setting.name, seed=seed, train_loss=float(np.mean(losses[-window:])),
                test_metrics=model.evaluate(test, batch_size)))
    return runs


def summary(runs):
    """Mean over seeds of the training loss and of each test metric, per precision.

    Returns:
        ``{precision: {"train_loss": mean, "test_<metric>": mean, ...}}``.
    """
    table = {}
    for name, results in runs.items():
        row = {"train_loss": statistics.mean(r.train_loss for r in results)}
        for metric in results[0].test_metrics:
            row[f"test_{metric}"] = statistics.mean(r.test_metrics[metric] for r in results)
        table[name] = row
    return table


class _TrainableModel:
    """A compiled model whose weights and optimizer state can be reset between runs."""

    def __init__(self, model):
        self.model = model
        model.optimizer.build(model.trainable_variables)
        self._optimizer_state = [v.numpy() for v in model.optimizer.variables]

    def reset(self, weights):
        self.model.set_weights(weights)
        for variable, value in zip(self.model.optimizer.variables, self._optimizer_state):
            variable.assign(value)

    def step(self, batch):
        return float(self.model.train_on_batch(*batch, return_dict=True)["loss"])

    def evaluate(self, data, batch_size):
        x, y = data
        metrics = self.model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {name: float(value) for name, value in metrics.items()}


def _length(data):
    x = data[0]
    return len(next(iter(x.values())) if isinstance(x, dict) else x)


def _batch_order(length, steps, batch_size, seed):
    """``steps`` index arrays: shuffled epochs of ``range(length)``, in full batches."""
    rng = np.random.default_rng(seed)
    per_epoch = length // batch_size
    if per_epoch < 1:
        raise ValueError(f"train: {length} examples are fewer than one batch of {batch_size}.")
    order = []
    while len(order) < steps:
        permutation = rng.permutation(length)
        order += [permutation[k * batch_size:(k + 1) * batch_size] for k in range(per_epoch)]
    return order[:steps]


def _take(data, indices):
    def pick(values):
        return {k: v[indices] for k, v in values.items()} if isinstance(values, dict) else values[indices]

    return tuple(pick(part) for part in data)
