import numpy as np
import pytest

from kerasfg.vis import render
from kerasfg.vis.attention_maps import scores_to_spatial


def test_normalize_scales_each_map_to_its_own_range():
    maps = np.stack([np.arange(4.0).reshape(2, 2), 10 + 5 * np.arange(4.0).reshape(2, 2)])
    out = render.normalize(maps)
    np.testing.assert_allclose(out[0], [[0, 1 / 3], [2 / 3, 1]], rtol=1e-6)
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6)
    assert np.all(render.normalize(np.ones((1, 3, 3))) == 0)  # constant maps do not divide by 0


def test_colorize_uses_the_colormap_ends_and_overlay_blends():
    import matplotlib

    lut = matplotlib.colormaps["viridis"]
    colours = render.colorize(np.array([0.0, 1.0]), "viridis")
    np.testing.assert_array_equal(colours[0], np.round(np.array(lut(0.0)[:3]) * 255))
    np.testing.assert_array_equal(colours[1], np.round(np.array(lut(1.0)[:3]) * 255))
    images = np.full((1, 4, 4, 1), 100, np.uint8)
    heat = np.zeros((1, 2, 2))
    heat[0, 0, 0] = 1.0
    blended = render.overlay(images, heat, alpha=0.0)
    np.testing.assert_array_equal(blended, np.full((1, 4, 4, 3), 100))  # grayscale -> RGB, alpha 0
    full = render.overlay(images, heat, alpha=1.0, colormap="viridis")
    assert full.shape == (1, 4, 4, 3) and not np.array_equal(full[0, 0, 0], full[0, 3, 3])


def test_tile_places_images_in_a_grid():
    images = np.stack([np.full((2, 3, 1), k, np.uint8) for k in range(5)])
    grid = render.tile(images, columns=3, padding=1, fill=9)
    assert grid.shape == (2 * 3 - 1, 3 * 4 - 1, 1)
    assert grid[0, 0, 0] == 0 and grid[0, 4, 0] == 1 and grid[3, 0, 0] == 3 and grid[3, 8, 0] == 9


def test_scores_to_spatial_averages_over_queries_per_head():
    rng = np.random.default_rng(0)
    scores = rng.random((2, 3, 6, 6))
    out = scores_to_spatial(scores, 2, 3)
    assert out.shape == (2, 2, 3, 3)
    np.testing.assert_allclose(out[1, 1, 2, 0], scores[1, 0, :, 1 * 3 + 2].mean(), rtol=1e-6)
    with pytest.raises(ValueError, match="do not fit a 2x2 feature map"):
        scores_to_spatial(scores, 2, 2)
