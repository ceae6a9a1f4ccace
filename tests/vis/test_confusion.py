import numpy as np
import pytest

from kerasfg.vis import render
from kerasfg.vis.confusion import COLORMAP, render_confusion_matrix


def first_run(positions):
    """The first and last of the first run of ``positions`` with gaps of at most one (the lines between cells)."""
    gaps = np.flatnonzero(np.diff(positions) > 2)
    return positions[0], positions[gaps[0]] if len(gaps) else positions[-1]


def grid_of(k, names):
    """``(top, left, cell)`` of the grid in pictures of ``k`` classes named ``names``, found from a perfect
    classifier's picture: its diagonal cells hold the colour map's top colour, left of the colour bar."""
    picture = render_confusion_matrix(np.eye(k, dtype=int) * 7, names, title="a title")
    top_colour = np.all(picture == render.colorize(1.0, COLORMAP), axis=-1)
    left, right = first_run(np.flatnonzero(top_colour.any(axis=0)))
    top, bottom = first_run(np.flatnonzero(top_colour[:, left:right + 1].any(axis=1)))
    cell = (right - left + 2) / k
    assert cell == int(cell) and (bottom - top + 2) / k == cell  # square cells, a white line between two
    return top, left, int(cell)


@pytest.mark.parametrize("k", [2, 10, 40])
def test_cells_are_coloured_by_the_share_of_the_true_class(k):
    names = [f"class {index}" for index in range(k)]
    top, left, cell = grid_of(k, names)
    matrix = np.random.default_rng(k).integers(0, 10, (k, k))
    matrix[0] = 0  # a class without examples: shares of 0
    picture = render_confusion_matrix(matrix, names, title="a title")
    assert picture.dtype == np.uint8 and picture.shape[2] == 3
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    corners = picture[top + 1::cell, left + 1::cell][:k, :k]  # a pixel of each cell that no count covers
    np.testing.assert_array_equal(corners, render.colorize(rates, COLORMAP))


def test_counts_are_printed_in_cells_they_fit_in_and_left_out_otherwise():
    names = ["a", "b"]
    top, left, cell = grid_of(2, names)
    for matrix, printed in (([[3, 1], [0, 4]], True), ([[10 ** 15, 1], [0, 4]], False)):
        picture = render_confusion_matrix(np.array(matrix), names, title="a title")
        inside = picture[top:top + cell - 1, left:left + cell - 1].reshape(-1, 3)
        assert (len(np.unique(inside, axis=0)) > 1) == printed  # the count's ink, or the cell's one colour


@pytest.mark.parametrize("k", [1, 3, 100])
def test_any_number_of_classes_and_long_names_draw(k):
    names = [f"a rather long class name number {index}" for index in range(k)]
    picture = render_confusion_matrix(np.ones((k, k), int) * 12345, names, title="many classes")
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3


def test_a_matrix_and_names_that_disagree_are_named():
    with pytest.raises(ValueError, match="one name per class"):
        render_confusion_matrix(np.zeros((3, 3), int), ["a", "b"])
