"""Confusion matrices: counting them, and drawing them as uint8 pictures."""

import numpy as np

# Above this many classes the cells are too small to print their counts in.
MAX_PRINTED_CLASSES = 30


def confusion_matrix(labels, predictions, num_classes):
    """Count how often each true class is predicted as each class.

    Args:
        labels: `(n,)` true class indices.
        predictions: `(n,)` predicted class indices.
        num_classes: number of classes.

    Returns:
        int64 array `(num_classes, num_classes)`: rows are true classes, columns predicted classes.
    """
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions must have the same length, got {labels.shape} and "
                         f"{predictions.shape}.")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}), got values in [{values.min()}, "
                             f"{values.max()}].")
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def render_confusion_matrix(matrix, class_names, title=None):
    """Draw a confusion matrix, normalised per row (true class), with its counts printed in the cells.

    Args:
        matrix: `(k, k)` counts, rows true classes and columns predicted classes.
        class_names: the ``k`` class names.
        title: an optional title.

    Returns:
        uint8 RGB picture `(h, w, 3)`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    k = len(matrix)
    if matrix.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"Expected a square matrix and one name per class, got {matrix.shape} and "
                         f"{len(class_names)} names.")
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    inches = 2.0 + 0.45 * k
    figure = Figure(figsize=(inches + 1.0, inches), dpi=80)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    axes.set_xticks(range(k), [str(name) for name in class_names], rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(k), [str(name) for name in class_names], fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:
        axes.set_title(title)
    if k <= MAX_PRINTED_CLASSES:
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                      color="white" if rates[row, column] > 0.5 else "black")
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
