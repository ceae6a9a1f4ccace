"""Output codes (ECOC): class codes instead of one-hot targets, the distance-softmax head, decoding.

Chapter 6 of ``002_c1e3dd09777d292a.txt`` ("Beyond one-hot encoding") gives each of ``n`` classes a row
of a code matrix ``M`` (``n x k``, ``k`` bits). The network outputs ``k`` values ``z``; the head scores
each class by the negative normalized Euclidean distance between ``U = z / |z|`` and its code row,

    D_i = -1/2 |U - M_i|^2,

and a softmax over ``D`` is trained with cross-entropy. Decoding picks the nearest row (the largest
``D_i``). `OutputCodes` is that head: it outputs class probabilities, so the usual sparse cross-entropy
and accuracy train and measure it, and a served model returns classes and class names, not code
vectors. `distance_logits` is the same computation as a function, for models whose output is ``z``.

Code designs (`make_code`):

- ``"one_hot"``: the identity. With ``k < n`` bits only the first ``k`` classes get a unit row and the
  others share the zero row (they cannot be told apart): the 66-bit one-hot column of Table 6.1.
- ``"dense_random"`` (Allwein et al. 2000): among ``candidates`` matrices with entries -1/+1 drawn with
  probability 1/2 (thresholded U(0, 1) draws, the thesis's wording), the one whose rows and columns are
  least correlated: smallest sum of the largest absolute Pearson correlation between two rows and
  between two columns; matrices with a constant column are never chosen. ``k = round(10 log2 n)``
  bits by default (66 for CIFAR-100, the length of Table 6.1).
- ``"gaussian"``: entries drawn from N(0, 1).
- ``"data_based"``: the eigenvectors ``v_1 .. v_k`` of the normalized Laplacian of a class-similarity
  matrix ``S``, in ascending order of eigenvalue, skipping ``v_0`` (eigenvalue 0). The thesis prints
  ``L = D^{1/2} (D - S) D^{-1/2}``, which is not symmetric and whose eigenvectors are the symmetric
  Laplacian's scaled by ``D``; we read it, as NOTES-002 does, as ``L = D^{-1/2} (D - S) D^{-1/2}``
  (``I - D^{-1/2} S D^{-1/2}``), the Laplacian of the normalized-cut relaxation (Shi and Malik: its
  eigenvectors are ``D^{1/2}`` times the relaxed Ncut indicators). The self-similarity on the diagonal
  is set to 0; every class must be similar to some other one. The raw eigenvector values are the code
  (the thesis's best setting); each eigenvector's sign is fixed so its largest entry is positive. At
  most ``n - 1`` bits exist. `class_similarity` builds ``S`` from a model's features.

Binarization (``binarization``): ``"none"`` (raw values), ``"zero"`` (the sign, 0 counted as +1) or
``"median"`` (the sign against each bit's median over the classes, so that each bit splits the
classes in half).

`attribute_correlations` is the analysis of Table 6.2: per bit, the attributes most and least
correlated (Pearson) with the bit over the classes.
"""

import math

import keras
import numpy as np
from keras import ops

from kerasfg import objectives

DESIGNS = ("one_hot", "dense_random", "gaussian", "data_based")
BINARIZATIONS = ("none", "zero", "median")
KERNELS = ("gaussian", "cosine")


# === Code designs ===


def default_bits(num_classes):
    """``round(10 log2 n)``: the length of dense random codes (66 bits for 100 classes)."""
    return max(1, round(10 * math.log2(max(num_classes, 2))))


def _check_size(num_classes, bits, design):
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"{design} code: num_classes must be an int >= 2; received {num_classes!r}.")
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1:
        raise ValueError(f"{design} code: bits must be a positive int; received {bits!r}.")


def one_hot_code(num_classes, bits=None):
    """The ``n x k`` one-hot code: unit rows for the first ``min(n, k)`` classes, zero rows after."""
    bits = num_classes if bits is None else bits
    _check_size(num_classes, bits, "one_hot")
    return np.eye(num_classes, bits, dtype=np.float32)


def gaussian_code(num_classes, bits=None, *, seed=0):
    """An ``n x k`` code with entries drawn from N(0, 1)."""
    bits = default_bits(num_classes) if bits is None else bits
    _check_size(num_classes, bits, "gaussian")
    return np.random.default_rng(seed).standard_normal((num_classes, bits)).astype(np.float32)


def max_correlation(code, axis=0):
    """The largest absolute Pearson correlation between two rows (``axis=0``) or two columns (``axis=1``).

    A constant row or column counts as correlation 1 (it carries no partition)."""
    return float(_max_correlations(np.asarray(code, np.float64)[None], axis)[0])


def _max_correlations(codes, axis):
    """Largest off-diagonal absolute correlation of the rows (axis 0) or columns of each of ``codes``."""
    vectors = codes if axis == 0 else np.swapaxes(codes, 1, 2)
    centered = vectors - vectors.mean(axis=2, keepdims=True)
    norms = np.linalg.norm(centered, axis=2)
    constant = (norms < 1e-12).any(axis=1)
    unit = centered / np.where(norms < 1e-12, 1.0, norms)[..., None]
    corr = np.abs(np.einsum("cik,cjk->cij", unit, unit))
    corr[:, np.arange(corr.shape[1]), np.arange(corr.shape[1])] = 0.0
    return np.where(constant, 1.0, corr.max(axis=(1, 2)))


def dense_random_code(num_classes, bits=None, *, candidates=10000, seed=0):
    """The dense random code (module docstring): the least correlated of ``candidates`` -1/+1 matrices."""
    bits = default_bits(num_classes) if bits is None else bits
    _check_size(num_classes, bits, "dense_random")
    if not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"dense_random code: candidates must be a positive int; received {candidates!r}.")
    rng = np.random.default_rng(seed)
    best, best_score = None, np.inf
    chunk = max(1, min(candidates, 2_000_000 // (num_classes * num_classes + bits * bits)))
    for start in range(0, candidates, chunk):
        draws = rng.uniform(size=(min(chunk, candidates - start), num_classes, bits))
        codes = np.where(draws < 0.5, -1.0, 1.0)
        scores = _max_correlations(codes, 0) + _max_correlations(codes, 1)
        i = int(np.argmin(scores))
        if scores[i] < best_score:
            best, best_score = codes[i], scores[i]
    return best.astype(np.float32)


def normalized_laplacian(similarity):
    """``I - D^{-1/2} S D^{-1/2}`` of a symmetric, non-negative class-similarity matrix (diagonal ignored)."""
    s = np.array(similarity, np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity must be a square (classes, classes) matrix; received shape {s.shape}.")
    if not np.allclose(s, s.T, atol=1e-8) or (s < 0).any() or not np.isfinite(s).all():
        raise ValueError("similarity must be symmetric, finite and non-negative.")
    np.fill_diagonal(s, 0.0)
    degree = s.sum(axis=1)
    if (degree <= 0).any():
        raise ValueError(f"similarity: classes {np.flatnonzero(degree <= 0).tolist()} are similar to no other "
                         f"class, so the normalized Laplacian is not defined.")
    scale = 1.0 / np.sqrt(degree)
    return np.eye(len(s)) - scale[:, None] * s * scale[None, :]


def data_based_code(similarity, bits=None):
    """The data-based code (module docstring): eigenvectors ``v_1 .. v_k`` of the normalized Laplacian."""
    laplacian = normalized_laplacian(similarity)
    n = len(laplacian)
    bits = min(default_bits(n), n - 1) if bits is None else bits
    _check_size(n, bits, "data_based")
    if bits > n - 1:
        raise ValueError(f"data_based code: {n} classes give only {n - 1} eigenvectors after v_0; received "
                         f"bits={bits}.")
    _, vectors = np.linalg.eigh(laplacian)  # ascending eigenvalues
    code = vectors[:, 1:bits + 1]
    signs = np.sign(code[np.argmax(np.abs(code), axis=0), np.arange(bits)])
    return (code * signs).astype(np.float32)


def binarize(code, method="none"):
    """``"none"``: the code itself; ``"zero"``: its sign; ``"median"``: the sign against each bit's median."""
    code = np.asarray(code, np.float32)
    if method == "none":
        return code
    if method == "zero":
        return np.where(code >= 0, 1.0, -1.0).astype(np.float32)
    if method == "median":
        return np.where(code >= np.median(code, axis=0, keepdims=True), 1.0, -1.0).astype(np.float32)
    raise ValueError(f"binarization must be one of {BINARIZATIONS}; received {method!r}.")


def make_code(design, num_classes, bits=None, *, binarization="none", seed=0, similarity=None,
              candidates=10000):
    """The ``(num_classes, bits)`` float32 code matrix of a design (module docstring).

    Args:
        design: ``"one_hot"``, ``"dense_random"``, ``"gaussian"`` or ``"data_based"``.
        num_classes: ``n``.
        bits: ``k``; by default ``n`` for one-hot, ``round(10 log2 n)`` otherwise (at most ``n - 1`` for
            the data-based code).
        binarization: ``"none"``, ``"zero"`` or ``"median"``.
        seed: seed of the random designs.
        similarity: the ``(n, n)`` class-similarity matrix of the data-based code (see
            `class_similarity`), an array or the path of a ``.npy`` file.
        candidates: matrices drawn for the dense random code.

    Example:

    ```python
    code = make_code("dense_random", 100)        # (100, 66)
    code = make_code("data_based", 100, 99, similarity=class_similarity(features, labels, 100))
    ```
    """
    if design not in DESIGNS:
        raise ValueError(f"code design must be one of {DESIGNS}; received {design!r}.")
    if design == "data_based":
        if similarity is None:
            raise ValueError("the data_based code needs a class-similarity matrix: similarity=...")
        if isinstance(similarity, str):
            similarity = np.load(similarity)
        if len(similarity) != num_classes:
            raise ValueError(f"data_based code: similarity is {np.shape(similarity)} for {num_classes} classes.")
        code = data_based_code(similarity, bits)
    elif design == "one_hot":
        code = one_hot_code(num_classes, bits)
    elif design == "gaussian":
        code = gaussian_code(num_classes, bits, seed=seed)
    else:
        code = dense_random_code(num_classes, bits, candidates=candidates, seed=seed)
    return binarize(code, binarization)


def class_similarity(features, labels, num_classes, kernel="gaussian"):
    """A class-similarity matrix from per-example features (for the data-based code).

    The similarity of two classes compares their mean feature vectors: ``"gaussian"``:
    ``exp(-|m_a - m_b|^2 / (2 sigma^2))`` with ``sigma`` the median distance between two class means;
    ``"cosine"``: ``max(0, cos(m_a, m_b))``. The diagonal is 1.

    Args:
        features: ``(examples, d)`` features, e.g. the fc7 outputs of a trained network.
        labels: ``(examples,)`` int class labels.
        num_classes: ``n``; every class needs at least one example.
        kernel: ``"gaussian"`` or ``"cosine"``.

    Returns:
        float64 ``(n, n)`` symmetric, non-negative matrix.
    """
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    labels = np.asarray(labels).astype(int).ravel()
    if len(labels) != len(features):
        raise ValueError(f"class_similarity: {len(features)} feature rows for {len(labels)} labels.")
    counts = np.bincount(labels, minlength=num_classes)
    if len(counts) > num_classes or (counts == 0).any():
        raise ValueError(f"class_similarity: every class of 0..{num_classes - 1} needs an example; missing "
                         f"{np.flatnonzero(counts[:num_classes] == 0).tolist()}, out of range "
                         f"{sorted(set(labels[labels >= num_classes].tolist()))}.")
    means = np.zeros((num_classes, features.shape[1]))
    np.add.at(means, labels, features)
    means /= counts[:, None]
    if kernel == "gaussian":
        squared = np.maximum(((means[:, None] - means[None]) ** 2).sum(-1), 0.0)
        off = squared[~np.eye(num_classes, dtype=bool)]
        sigma2 = np.median(off) if np.median(off) > 0 else 1.0
        return np.exp(-squared / (2.0 * sigma2))
    if kernel == "cosine":
        unit = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        similarity = np.maximum(unit @ unit.T, 0.0)
        np.fill_diagonal(similarity, 1.0)
        return similarity
    raise ValueError(f"kernel must be one of {KERNELS}; received {kernel!r}.")


def model_class_similarity(model, dataset, layer, num_classes, *, target=None, kernel="gaussian"):
    """`class_similarity` of the outputs of ``layer`` of a trained model over a labelled dataset.

    Args:
        model: a functional model (e.g. trained with one-hot targets).
        dataset: ``(inputs, labels)`` batches; labels an array, or a dict holding ``target``.
        layer: the name of the layer whose outputs are the features (the thesis used fc7).
        num_classes: ``n``.
        target: the label task of a dict of labels.
        kernel: see `class_similarity`.
    """
    features_model = keras.Model(model.inputs, model.get_layer(layer).output)
    features, labels = [], []
    for inputs, targets in dataset:
        values = np.asarray(features_model(inputs, training=False))
        features.append(values.reshape(len(values), -1))
        labels.append(np.asarray(targets[target] if target is not None else targets).ravel())
    return class_similarity(np.concatenate(features), np.concatenate(labels), num_classes, kernel)


def pixel_class_similarity(dataset, num_classes, *, target=None, size=16, kernel="gaussian"):
    """`class_similarity` of the class means of the images themselves (resized to ``size`` x ``size``
    gray): a data-based code without a trained network, for smoke and synthetic runs."""
    import tensorflow as tf

    features, labels = [], []
    for inputs, targets in dataset:
        images = inputs["image"] if isinstance(inputs, dict) else inputs
        gray = tf.reduce_mean(tf.image.resize(tf.cast(images, tf.float32), (size, size)), axis=-1)
        features.append(np.asarray(gray).reshape(len(gray), -1))
        labels.append(np.asarray(targets[target] if target is not None else targets).ravel())
    return class_similarity(np.concatenate(features), np.concatenate(labels), num_classes, kernel)


def resolve_similarities(output_codes, dataset, num_classes):
    """``output_codes`` (a model's ``output_codes=`` option) with every data-based code's ``similarity``
    computed from the training ``dataset`` where a config describes it instead of giving it:

    - ``{"model": "path.keras", "layer": "fc7"}``: the class means of that layer of a trained model
      (`model_class_similarity`; a run directory stands for its ``model.keras``);
    - ``{"features": "pixels"}``: the class means of the images (`pixel_class_similarity`).

    A matrix or a ``.npy`` path is left as it is.

    Args:
        output_codes: ``{task: spec}``.
        dataset: ``(inputs, {task: labels})`` batches of the training split.
        num_classes: ``{task: classes}``.
    """
    import pathlib

    resolved = {}
    for task, spec in (output_codes or {}).items():
        similarity = spec.get("similarity") if isinstance(spec, dict) else None
        if isinstance(similarity, dict):
            if similarity.get("features") == "pixels" and set(similarity) == {"features"}:
                similarity = pixel_class_similarity(dataset, num_classes[task], target=task)
            elif set(similarity) == {"model", "layer"}:
                path = pathlib.Path(similarity["model"]).expanduser()
                model = keras.saving.load_model(path / "model.keras" if path.is_dir() else path, compile=False)
                similarity = model_class_similarity(model, dataset, similarity["layer"], num_classes[task],
                                                    target=task)
            elif "cell" in similarity:
                raise ValueError(f"output_codes.{task}.similarity: {similarity!r} names a cell of an experiment "
                                 f"grid, which `kerasfg reproduce` resolves; elsewhere give "
                                 f"{{model: <its run directory>, layer: <name>}}.")
            else:
                raise ValueError(f"output_codes.{task}.similarity: expected a .npy path, a matrix, "
                                 f"{{model: <.keras file or run directory>, layer: <name>}} or {{features: pixels}}; "
                                 f"received {similarity!r}.")
            spec = {**spec, "similarity": similarity}
        resolved[task] = spec
    return resolved


# === Decoding and the head ===


def distance_logits(z, code):
    """``D_i = -1/2 |z / |z| - M_i|^2`` for every code row ``M_i``: ``(batch, n)`` float32 (keras.ops).

    Computed as ``U . M_i - (|M_i|^2 / 2 + 1/2)`` (``|U| = 1``): one matrix product with the transposed
    code and one subtraction of a per-class constant (`_distance_constants`, computed once by a layer).
    """
    return _distance_logits(z, *_distance_constants(code))


def _distance_constants(code):
    """``(M^T, |M_i|^2 / 2 + 1/2)`` of a code matrix, float32 NumPy arrays."""
    code = np.asarray(code, np.float64)
    return (np.ascontiguousarray(code.T, np.float32),
            (0.5 * np.sum(np.square(code), axis=1) + 0.5).astype(np.float32))


def _distance_logits(z, code_transposed, offsets):
    z = ops.cast(z, "float32")
    unit = z * ops.rsqrt(ops.maximum(ops.sum(ops.square(z), axis=-1, keepdims=True), 1e-24))
    return ops.matmul(unit, code_transposed) - offsets


def decode(z, code):
    """The nearest code row to each normalized output ``z / |z|``: ``(batch,)`` int class indices."""
    return np.asarray(ops.argmax(distance_logits(z, code), axis=-1)).astype(np.int64)


@keras.saving.register_keras_serializable(package="kerasfg")
class OutputCodes(keras.layers.Layer):
    """Class probabilities from a ``k``-value output: softmax over ``-1/2 |z / |z| - M_i|^2``.

    The output head of chapter 6 (module docstring): put it after a ``Dense(k)`` and train it with
    sparse categorical cross-entropy; the class with the largest probability is the nearest code row.
    The code matrix is part of the layer's config, so it is saved with the model.

    Args:
        code: the ``(n, k)`` code matrix (see `make_code`).
        activation: ``"softmax"`` (probabilities) or ``"linear"`` (the distance logits ``D``).
        **kwargs: base layer arguments; the layer computes in float32.

    Call arguments:
        inputs: ``(batch, k)``.

    Output shape:
        ``(batch, n)`` float32.

    Reference:
        Rodríguez et al., "Beyond one-hot encoding: Lower dimensional target embedding", IMAVIS 75, 2018.
    """

    def __init__(self, code, activation="softmax", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        code = np.asarray(code, np.float32)
        if code.ndim != 2 or min(code.shape) < 1 or not np.isfinite(code).all():
            raise ValueError(f"OutputCodes '{self.name}': code must be a finite (classes, bits) matrix; received "
                             f"shape {code.shape}.")
        self.code = code
        self.activation = keras.activations.get(activation)
        self._constants = _distance_constants(code)

    @property
    def num_classes(self):
        return self.code.shape[0]

    def build(self, input_shape):
        if input_shape[-1] != self.code.shape[1]:
            raise ValueError(f"OutputCodes '{self.name}' has a {self.code.shape[1]}-bit code, but its input has "
                             f"{input_shape[-1]} values (shape {tuple(input_shape)}).")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def call(self, inputs):
        return self.activation(_distance_logits(inputs, *self._constants))

    def export_description(self, head):
        """What an export (`kerasfg.export`) writes about this head: ``assets/<head>_code.csv`` (row ``i``:
        the code of class ``i``, whose name is line ``i`` of ``<head>_labels.txt``) and an ``output_codes``
        entry of ``kerasfg_export.json``."""
        asset = f"{head}_code.csv"
        rows = "".join(",".join(f"{value:.9g}" for value in row) + "\n" for row in self.code)
        entry = {"classes": int(self.code.shape[0]), "bits": int(self.code.shape[1]), "asset": asset,
                 "decoding": "softmax over -1/2 |z/|z| - code row|^2; the class is the nearest row"}
        return {asset: rows.encode("ascii")}, {"output_codes": {head: entry}}

    def get_config(self):
        return {**super().get_config(), "code": self.code.tolist(),
                "activation": keras.activations.serialize(self.activation)}


# An output-code head trains with the cross-entropy of its softmax over the distances; its accuracy is that of
# nearest-row decoding.
objectives.register_head_objective(OutputCodes, {"loss": "softmax_cross_entropy", "metrics": ["accuracy"]})


# === Analysis ===


def attribute_correlations(code, attributes, attribute_names=None, top=1):
    """Per code bit, the attributes most and least correlated with it over the classes (Table 6.2).

    Args:
        code: the ``(n, k)`` code matrix.
        attributes: ``(n, m)`` class-attribute matrix (CUB-200's ``class_attribute_labels_continuous.txt``:
            the percentage of each class's images with each attribute), or any per-class values.
        attribute_names: ``m`` names; indices when None.
        top: how many attributes to list on each side.

    Returns:
        One dict per bit: ``{"bit": j, "positive": [(name, pcc), ...], "negative": [(name, pcc), ...]}``,
        the ``top`` largest and smallest Pearson correlations; attributes constant over the classes
        are left out.
    """
    code = np.asarray(code, np.float64)
    attributes = np.asarray(attributes, np.float64)
    if attributes.ndim != 2 or len(attributes) != len(code):
        raise ValueError(f"attributes must be a (classes, attributes) matrix with {len(code)} rows; received "
                         f"shape {attributes.shape}.")
    names = list(range(attributes.shape[1])) if attribute_names is None else list(attribute_names)
    if len(names) != attributes.shape[1]:
        raise ValueError(f"{len(names)} attribute names for {attributes.shape[1]} attributes.")

    def standardized(x):
        centered = x - x.mean(axis=0)
        norms = np.linalg.norm(centered, axis=0)
        return centered / np.where(norms > 1e-12, norms, np.inf), norms > 1e-12

    bits, _ = standardized(code)
    attrs, varying = standardized(attributes)
    pcc = bits.T @ attrs  # (k, m)
    rows = []
    for j, values in enumerate(pcc):
        order = [i for i in np.argsort(-values) if varying[i]]
        rows.append({"bit": j,
                     "positive": [(names[i], float(values[i])) for i in order[:top]],
                     "negative": [(names[i], float(values[i])) for i in order[::-1][:top]]})
    return rows
