"""Sanity checks for explanation maps (Adebayo et al., 2018): do the maps change when the model does?

An explanation that explains the model must change when the model's weights are replaced by random ones.
`sanity_checks` re-initializes the layers of a model, from the top (the output) down, one more layer at a
time (*cascading* randomization) and each layer alone (*independent* randomization), explains the same
inputs after each step, and compares every map with the trained model's map of the same image: the
Spearman rank correlation of their pixels and the structural similarity (SSIM) of the maps scaled to
[0, 1]. A method whose maps stay correlated with the trained model's while its weights are destroyed
shows something about the image, not about the model. A model-independent edge detector (`edge_map`,
Sobel) is the control: it scores 1 at every step, the value a method that ignores the model gets.

`data_randomization_test` compares the maps of a model with those of the same architecture trained on
shuffled labels, which learnt nothing about the task: faithful maps of the two are unrelated.

Decisions where the paper leaves a choice:

- **Re-initialization.** Each variable of a randomized layer is drawn from the layer's own initializer
  for it (``kernel_initializer``, ``bias_initializer``, ``gamma_initializer``, the moving statistics'
  initializers...; the sublayers of attention layers likewise), seeded; a variable without one is drawn
  from a Gaussian with the trained variable's mean and standard deviation (its absolute value when the
  trained variable is non-negative). Layers with weights are randomized, in model order, inside nested
  models too.
- **The model is left as it is.** The methods computed from one pass (`kerasfg.vis.one_pass.ONE_PASS_METHODS`,
  the defaults among them) explain with the randomized values given to one compiled function as arguments
  (`kerasfg.vis.one_pass.run_one_pass` with ``weights``), traced once for every step, so that other threads
  may read, save or export the model meanwhile (a recording callback runs the checks beside the end of
  training). Other methods (multi-pass ones and callables) explain the model itself: its own weights are
  replaced at each step and always put back afterwards, also when an error occurs.
- **Classes.** Every map explains the class that the trained model predicts for the image (by default),
  so that the maps compare like with like.
- **Rank correlation** of the maps as the methods return them (saliency is already an absolute value;
  Grad-CAM is rectified), with tied pixels given their average rank; **SSIM** with an 11-pixel Gaussian
  window (``tf.image.ssim``, smaller for small maps) on maps min-max scaled to [0, 1].

Reference: Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from kerasfg.vis.introspect import is_model

MODES = ("cascading", "independent")
STEPS = ("layer", "stage")
HEAD = "head"
CONTROL = "edges (control)"
TRAINED = "trained"
COLUMNS = ("mode", "layer", "method", "rank_correlation", "ssim")


def edge_map(images):
    """The control: the Sobel gradient magnitude of the images' mean over channels, `(n, h, w)`.

    It depends on the image alone, like an explanation that ignores the model.
    """
    gray = tf.reduce_mean(tf.convert_to_tensor(np.asarray(images, np.float32)), axis=-1, keepdims=True)
    edges = tf.image.sobel_edges(gray)  # (n, h, w, 1, 2)
    return np.asarray(tf.norm(edges[..., 0, :], axis=-1), np.float32)


def rank_correlation(a, b):
    """The Spearman rank correlation of each pair of maps `(n, h, w)`: `(n,)`, ties at their average rank.

    A constant map has no ranking; its correlation is 0.
    """
    ranks = [_average_ranks(np.asarray(maps, np.float64).reshape(len(maps), -1)) for maps in (a, b)]
    centred = [r - r.mean(axis=1, keepdims=True) for r in ranks]
    numerator = (centred[0] * centred[1]).sum(axis=1)
    denominator = np.sqrt((centred[0] ** 2).sum(axis=1) * (centred[1] ** 2).sum(axis=1))
    return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), 0.0)


def _average_ranks(rows):
    """The rank of every value in its row (0-based), tied values sharing their average rank."""
    order = np.argsort(rows, axis=1, kind="stable")
    ranks = np.empty_like(rows)
    for row, (values, index) in enumerate(zip(rows, order)):
        ordered = values[index]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(ordered)]
        ranks[row, index] = np.repeat((starts + ends - 1) / 2, ends - starts)
    return ranks


def ssim(a, b, window=11, sigma=1.5):
    """The structural similarity of each pair of maps `(n, h, w)`, each min-max scaled to [0, 1]: `(n,)`.

    Wang et al.'s SSIM as ``tf.image.ssim`` computes it (an 11-pixel Gaussian window of standard deviation
    1.5, fewer pixels for small maps, over the positions where the window fits; ``k1 = 0.01``,
    ``k2 = 0.03``), in NumPy: a recording compares hundreds of pairs of small maps.
    """
    a, b = _unit(a).astype(np.float64), _unit(b).astype(np.float64)
    size = min(window, a.shape[1], a.shape[2])
    taps = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    taps /= taps.sum()

    def smooth(x):
        rows = sum(weight * x[:, k:k + x.shape[1] - size + 1] for k, weight in enumerate(taps))
        return sum(weight * rows[:, :, k:k + x.shape[2] - size + 1] for k, weight in enumerate(taps))

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mean_a, mean_b = smooth(a), smooth(b)
    var_a, var_b = smooth(a * a) - mean_a ** 2, smooth(b * b) - mean_b ** 2
    covariance = smooth(a * b) - mean_a * mean_b
    luminance = (2 * mean_a * mean_b + c1) / (mean_a ** 2 + mean_b ** 2 + c1)
    structure = (2 * covariance + c2) / (var_a + var_b + c2)
    return (luminance * structure).mean(axis=(1, 2))


def _unit(maps):
    maps = np.asarray(maps, np.float32)
    low = maps.min(axis=(1, 2), keepdims=True)
    return (maps - low) / np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-12)


# === Randomizing layers in place ===


def weighted_layers(graph, layers=None):
    """The paths of the layers that have weights, in model order (nested models' layers, not the models).

    Args:
        graph: a `kerasfg.vis.ModelGraph`.
        layers: paths or unique names to keep; all layers with weights by default.
    """
    paths = [path for path, layer in graph.layers.items() if layer.weights and not is_model(layer)]
    if layers is None:
        return paths
    chosen = [graph.find(name) for name in layers]
    without = [path for path in chosen if path not in paths]
    if without:
        raise ValueError(f"Layers {without} of model '{graph.model.name}' have no weights to randomize; the layers "
                         f"with weights are {paths}.")
    return chosen


def randomization_steps(graph, layers=None, by="layer"):
    """The steps of a randomization, top down: ``[(name, [layer paths randomized together])]``.

    Args:
        graph: a `kerasfg.vis.ModelGraph`.
        layers: paths or unique names of the layers to randomize; all layers with weights by default.
        by: ``"layer"`` (one layer a step, named by its path) or ``"stage"`` (the layers up to each stage's
            output together, named by that output's path, `kerasfg.vis.activations.representative_layers`;
            the layers after the last stage, the head, named ``"head"``).
    """
    from kerasfg.vis.activations import representative_layers

    if by not in STEPS:
        raise ValueError(f"Unknown randomization steps {by!r}; choose from {list(STEPS)}.")
    paths = weighted_layers(graph, layers)
    if by == "layer":
        return [(path, [path]) for path in reversed(paths)]
    order = {path: index for index, path in enumerate(graph.layers)}
    stages = representative_layers(graph.model)
    groups = {}
    for path in paths:
        stage = next((stage for stage in stages if order[stage] >= order[path]), HEAD)
        groups.setdefault(stage, []).append(path)
    return list(groups.items())[::-1]


def _owners(layer):
    """``{id(variable): the (sub)layer that created it}`` for the variables of ``layer`` and its sublayers."""
    owners, stack = {}, [layer]
    while stack:
        current = stack.pop()
        for variable in current.weights:
            owners.setdefault(id(variable), current)
        stack.extend(value for value in vars(current).values()
                     if isinstance(value, keras.layers.Layer) and value is not current)
    return owners


def random_values(layer, seed):
    """New values ``[array, ...]`` for every variable of ``layer`` (see the module docstring)."""
    owners = _owners(layer)
    rng = np.random.default_rng(seed)
    values = []
    for index, variable in enumerate(layer.weights):
        owner = owners.get(id(variable), layer)
        initializer = getattr(owner, f"{variable.name}_initializer", None)
        shape, dtype = tuple(variable.shape), variable.dtype
        if isinstance(initializer, keras.initializers.Initializer):
            config = initializer.get_config()
            if "seed" in config:
                initializer = type(initializer).from_config({**config, "seed": seed * 1000 + index})
            values.append(np.asarray(initializer(shape, dtype="float32")))
        else:
            trained = np.asarray(variable, np.float32)
            drawn = rng.normal(trained.mean(), trained.std() or 1.0, shape)
            values.append(np.abs(drawn) if (trained >= 0).all() else drawn)
        values[-1] = values[-1].astype(np.dtype(dtype) if dtype != "bfloat16" else np.float32)
    return values


def randomized(model, values, layers, seed):
    """``values`` of ``model.weights`` (a list, in that order) with the variables of ``layers`` replaced by
    `random_values`, the ``i``-th layer's drawn with seed ``seed * 1000 + i``."""
    position = {id(variable): index for index, variable in enumerate(model.weights)}
    values = list(values)
    for index, layer in enumerate(layers):
        for variable, value in zip(layer.weights, random_values(layer, seed * 1000 + index)):
            values[position[id(variable)]] = value
    return values


# === The checks ===


@dataclasses.dataclass
class SanityCheckResult:
    """What `sanity_checks` or `data_randomization_test` measured.

    Attributes:
        rows: one dict per mode, randomized layer and method with the keys of `COLUMNS`: ``mode``
            (``"cascading"``, ``"independent"`` or ``"data"``), ``layer`` (for cascading, the last layer
            randomized, from the top down), ``method``, and the mean over the images of ``rank_correlation``
            and ``ssim`` with the trained model's maps.
        examples: ``{method: float32 (1 + steps, h, w)}``: the first image's map from the trained model, then
            after each cascading step (each map scaled to [0, 1]), for pictures.
        layers: the names of the randomization's steps (layer paths, or stages), top down.
    """

    rows: list
    examples: dict
    layers: list

    def table(self, mode=None):
        """``(columns, rows as lists)`` of one mode (all by default), for `kerasfg.tensorboard.summary.table`."""
        rows = [row for row in self.rows if mode is None or row["mode"] == mode]
        return list(COLUMNS), [[row[column] for column in COLUMNS] for row in rows]

    def plot(self, metric="rank_correlation"):
        """A matplotlib figure: ``metric`` against the cascading randomization, one line per method, and
        against each layer randomized alone (the figures of Adebayo et al.)."""
        import matplotlib.pyplot as plt

        modes = [mode for mode in MODES if any(row["mode"] == mode for row in self.rows)]
        figure, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), squeeze=False)
        for axis, mode in zip(axes[0], modes):
            rows = [row for row in self.rows if row["mode"] == mode]
            labels = list(dict.fromkeys(row["layer"] for row in rows))
            for method in dict.fromkeys(row["method"] for row in rows):
                values = {row["layer"]: row[metric] for row in rows if row["method"] == method}
                axis.plot(range(len(labels)), [values.get(label, np.nan) for label in labels], marker="o",
                          label=method, linestyle="--" if method == CONTROL else "-")
            axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
            axis.set_ylim(-0.2 if metric == "rank_correlation" else 0, 1.05)
            axis.set_title(f"{mode} randomization")
            axis.set_ylabel(metric.replace("_", " "))
            axis.legend(fontsize=7)
        figure.tight_layout()
        return figure


def _maps(explainer, inputs, methods, output, classes, weights=None):
    """``{name: maps}`` of ``methods`` (names or callables) for ``classes`` of ``output``, with ``weights`` (values
    of ``model.weights``) when given."""
    return explainer.maps_of(methods, inputs, output=output, classes=classes, weights=weights)


def _compare(trained, maps):
    return {name: (float(np.mean(rank_correlation(trained[name], maps[name]))),
                   float(np.mean(ssim(trained[name], maps[name])))) for name in trained}


def sanity_checks(model, inputs, methods=("gradcam", "saliency", "guided_backprop"), *, output=None, classes=None,
                  layers=None, by="layer", modes=MODES, control=True, seed=0, explainer=None):
    """Adebayo et al.'s model-parameter randomization tests of explanation methods on a batch of inputs.

    Args:
        model: a built Keras model; left as it is when every method is one of
            `kerasfg.vis.one_pass.ONE_PASS_METHODS` (see the module docstring), else randomized in place and
            always restored.
        inputs: the batch to explain, in the form the model takes.
        methods: method names of `kerasfg.vis.explain`, or ``{name: method name or callable}``, a callable
            being ``fn(model, inputs, *, output, classes) -> (n, h, w) maps``.
        output: the explained output; the first by default.
        classes: `(n,)` classes to explain; the trained model's predicted classes by default.
        layers: paths or names of the layers to randomize (in model order); all layers with weights by
            default.
        by: ``"layer"`` (one layer a step) or ``"stage"`` (the layers of a stage together; see
            `randomization_steps`).
        modes: ``"cascading"`` (from the top down, one more step's layers each step) and/or ``"independent"``
            (each step's layers alone).
        control: add the rows of the model-independent edge detector (`edge_map`).
        seed: seed of the random weights.
        explainer: the `kerasfg.vis.Explainer` of ``model`` to reuse (its compiled functions); a new one by
            default.

    Returns:
        A `SanityCheckResult`.
    """
    from kerasfg.vis.explain import Explainer

    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise ValueError(f"Unknown sanity-check modes {unknown}; choose from {list(MODES)}.")
    explainer = explainer or Explainer(model)
    output = explainer.output_name(output)
    methods = methods if isinstance(methods, dict) else {name: name for name in methods}
    image, rest = explainer.split_inputs(inputs)
    if classes is None:
        logits, _ = explainer.logits(image, rest, output)
        classes = np.asarray(tf.argmax(logits, axis=-1))
    edges = edge_map(np.asarray(image)) if control else None
    trained_values = model.get_weights()
    stateless = explainer.explains_with_weights(methods)
    # stateless: the trained model's maps from the function that explains the randomized ones, traced once
    trained = _maps(explainer, inputs, methods, output, classes, weights=trained_values if stateless else None)
    if control:
        trained[CONTROL] = edges
    steps = randomization_steps(explainer.graph, layers, by)
    rows, examples = [], {name: [_unit(maps[:1])[0]] for name, maps in trained.items()}

    def record(mode, layer, maps):
        if control:
            maps = {**maps, CONTROL: edges}
        for name, (correlation, similarity) in _compare(trained, maps).items():
            rows.append({"mode": mode, "layer": layer, "method": name, "rank_correlation": correlation,
                         "ssim": similarity})
        return maps

    def maps_with(values):
        if stateless:
            return _maps(explainer, inputs, methods, output, classes, weights=values)
        model.set_weights(values)
        return _maps(explainer, inputs, methods, output, classes)

    def layers_of(paths):
        return [explainer.graph.layers[path] for path in paths]

    try:
        if "cascading" in modes:
            values = trained_values
            for step, (name, paths) in enumerate(steps):
                values = randomized(model, values, layers_of(paths), seed + step)
                maps = record("cascading", name, maps_with(values))
                for method, maps_of_method in maps.items():
                    examples[method].append(_unit(maps_of_method[:1])[0])
        if "independent" in modes:
            for step, (name, paths) in enumerate(steps):
                record("independent", name, maps_with(randomized(model, trained_values, layers_of(paths), seed + step)))
    finally:
        if not stateless:  # the weights were replaced in place: put back, whatever happened
            model.set_weights(trained_values)
    return SanityCheckResult(rows, {name: np.stack(values) for name, values in examples.items()},
                             [name for name, _ in steps])


def data_randomization_test(model, shuffled_model, inputs, methods=("gradcam", "saliency", "guided_backprop"), *,
                            output=None, classes=None):
    """Adebayo et al.'s data randomization test: the maps of ``model`` against those of the same architecture
    trained on shuffled labels.

    Args:
        model: the model trained on the true labels.
        shuffled_model: a model of the same architecture trained on randomly permuted labels (until it fits
            them, as far as it can).
        inputs: the batch to explain.
        methods: as in `sanity_checks`.
        output: the explained output; the first by default.
        classes: `(n,)` classes that both models explain; each model's own predicted classes by default.

    Returns:
        A `SanityCheckResult` with one row per method, mode ``"data"`` and layer ``"all"``, and examples of the
        first image: the model's map, then the shuffled-label model's.
    """
    from kerasfg.vis.explain import Explainer

    methods = methods if isinstance(methods, dict) else {name: name for name in methods}
    maps = []
    for network in (model, shuffled_model):
        explainer = Explainer(network)
        chosen = classes
        if chosen is None:
            image, rest = explainer.split_inputs(inputs)
            chosen = np.asarray(tf.argmax(explainer.logits(image, rest, explainer.output_name(output))[0], axis=-1))
        maps.append(_maps(explainer, inputs, methods, explainer.output_name(output), chosen))
    rows = [{"mode": "data", "layer": "all", "method": name, "rank_correlation": correlation, "ssim": similarity}
            for name, (correlation, similarity) in _compare(*maps).items()]
    examples = {name: np.stack([_unit(maps[0][name][:1])[0], _unit(maps[1][name][:1])[0]]) for name in methods}
    return SanityCheckResult(rows, examples, [])
