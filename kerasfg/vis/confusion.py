"""Confusion matrices: counting them, and drawing them as uint8 pictures."""

import numpy as np

from kerasfg.vis import render

# The grid is about GRID_PIXELS wide, its cells between MIN_CELL and MAX_CELL pixels.
GRID_PIXELS, MIN_CELL, MAX_CELL = 480, 6, 80
# Class names longer than this are cut.
MAX_NAME_LENGTH = 20
COLORMAP = "Blues"
PAD = 6


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

    Each cell is coloured by its share of the true class (the ``"Blues"`` colour map, with a colour bar);
    the counts are printed where they fit in the cells (with PIL's default font), and the class names
    label the rows and, vertically, the columns (every other name, or fewer, when the cells are too small
    for every one).

    Args:
        matrix: `(k, k)` counts, rows true classes and columns predicted classes.
        class_names: the ``k`` class names.
        title: an optional title.

    Returns:
        uint8 RGB picture `(h, w, 3)`.
    """
    from PIL import Image, ImageDraw, ImageFont

    matrix = np.asarray(matrix)
    k = len(matrix)
    if matrix.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"Expected a square matrix and one name per class, got {matrix.shape} and "
                         f"{len(class_names)} names.")
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    font = ImageFont.load_default()
    names = [_cut(str(name)) for name in class_names]
    cell = int(np.clip(GRID_PIXELS // max(k, 1), MIN_CELL, MAX_CELL))
    grid = k * cell
    line = _text_size(font, "Ag")[1]
    names_width = max([_text_size(font, name)[0] for name in names] + [1])
    bar_labels = ("1", "0", "share of the true class")
    left = PAD + line + PAD + names_width + PAD
    top = PAD + (line + PAD if title else 0)
    bar = left + grid + 2 * PAD
    width = bar + line + PAD + _text_size(font, "1")[0] + PAD + line + PAD
    height = top + grid + PAD + names_width + PAD + line + PAD

    canvas = np.full((height, width, 3), 255, np.uint8)
    cells = np.repeat(np.repeat(render.colorize(rates, COLORMAP), cell, axis=0), cell, axis=1)
    cells[cell - 1::cell], cells[:, cell - 1::cell] = 255, 255  # white lines between the cells
    canvas[top:top + grid, left:left + grid] = cells
    canvas[top:top + grid, bar:bar + line] = render.colorize(np.linspace(1, 0, grid), COLORMAP)[:, None]
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)

    if title:
        _text(draw, font, (left, PAD), title)
    shown = range(0, k, -(-(line + 1) // cell))  # every label whose row the font fits in
    labels = Image.new("RGB", (names_width, grid), "white")
    for index in shown:
        _text(draw, font, (left - PAD - names_width, top + index * cell), names[index], (names_width, cell), "right")
        _text(ImageDraw.Draw(labels), font, (0, index * cell), names[index], (names_width, cell), "right")
    picture.paste(labels.transpose(Image.Transpose.ROTATE_90), (left, top + grid + PAD))
    _text(draw, font, (left, top + grid + PAD + names_width + PAD), "predicted", (grid, line))
    picture.paste(_vertical(font, "true", grid, line), (PAD, top))
    _text(draw, font, (bar + line + PAD, top), bar_labels[0])
    _text(draw, font, (bar + line + PAD, top + grid - line), bar_labels[1])
    if _text_size(font, bar_labels[2])[0] <= grid:
        caption = bar + line + PAD + _text_size(font, "1")[0] + PAD
        picture.paste(_vertical(font, bar_labels[2], grid, line), (caption, top))

    counts = [str(count) for count in matrix.ravel()]
    if line + 2 <= cell and max((_text_size(font, count)[0] for count in set(counts)), default=0) + 2 <= cell:
        for (row, column), count in zip(np.ndindex(k, k), counts):
            _text(draw, font, (left + column * cell, top + row * cell), count, (cell - 1, cell - 1),
                  fill="white" if rates[row, column] > 0.5 else "black")
    return np.asarray(picture)


def _cut(name):
    return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH - 2] + ".."


def _text_size(font, text):
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def _text(draw, font, corner, text, box=None, align="center", fill="black"):
    """Draw ``text`` with its ink box centred in ``box`` (width, height) at ``corner``, or right-aligned
    and centred vertically (``align="right"``); at ``corner`` itself without a box."""
    left, top, right, bottom = font.getbbox(text)
    x, y = corner
    if box is not None:
        x += box[0] - (right - left) if align == "right" else (box[0] - (right - left)) // 2
        y += (box[1] - (bottom - top)) // 2
    draw.text((x - left, y - top), text, fill=fill, font=font)


def _vertical(font, text, length, line):
    """``text`` centred along ``length`` pixels and read from bottom to top, as a PIL picture ``line`` wide."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (length, line), "white")
    _text(ImageDraw.Draw(strip), font, (0, 0), text, (length, line))
    return strip.transpose(Image.Transpose.ROTATE_90)
