"""Turn maps into pictures: normalisation, resizing, colour maps, overlays and grids, as uint8 RGB."""

import functools

import numpy as np
from PIL import Image


def normalize(maps):
    """Scale each map of a batch `(batch, ...)` to [0, 1] by its own minimum and maximum."""
    maps = np.asarray(maps, np.float32)
    axes = tuple(range(1, maps.ndim))
    low, high = maps.min(axis=axes, keepdims=True), maps.max(axis=axes, keepdims=True)
    return (maps - low) / np.maximum(high - low, 1e-12)


def resize(maps, size):
    """Bilinearly resize maps `(batch, height, width)` to `(batch, size[0], size[1])`."""
    height, width = size
    return np.stack([np.asarray(Image.fromarray(np.asarray(m, np.float32)).resize(
        (width, height), Image.BILINEAR)) for m in maps])


@functools.lru_cache(maxsize=16)
def _lookup_table(name):
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def colorize(values, colormap="jet"):
    """Map values in [0, 1] of any shape to uint8 RGB colours of a matplotlib colour map."""
    index = np.clip(np.asarray(values, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
    return _lookup_table(colormap)[index]


def to_uint8_rgb(images):
    """Images `(batch, h, w, 1 or 3)` in 0..255 (any dtype) as uint8 RGB."""
    images = np.clip(np.asarray(images, np.float32), 0, 255).round().astype(np.uint8)
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def overlay(images, heatmaps, alpha=0.5, colormap="jet"):
    """Blend heat maps over images.

    Args:
        images: `(batch, h, w, 1 or 3)` pixels in 0..255.
        heatmaps: `(batch, h', w')` or `(batch, h', w', 1)` maps of any range; each is normalised to
            [0, 1] and resized to the image size.
        alpha: opacity of the heat map.
        colormap: matplotlib colour map name.

    Returns:
        uint8 array `(batch, h, w, 3)`.
    """
    images = to_uint8_rgb(images)
    heatmaps = np.asarray(heatmaps, np.float32)
    if heatmaps.ndim == 4:
        heatmaps = heatmaps[..., 0]
    heat = colorize(normalize(resize(heatmaps, images.shape[1:3])), colormap)
    blended = (1 - alpha) * images.astype(np.float32) + alpha * heat.astype(np.float32)
    return blended.round().astype(np.uint8)


def tile(images, columns=None, padding=1, fill=255):
    """Arrange images `(n, h, w, c)` into one grid image, ``columns`` wide (square-ish by default)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.full((rows * (h + padding) - padding, columns * (w + padding) - padding, c), fill,
                   images.dtype)
    for k, image in enumerate(images):
        r, q = divmod(k, columns)
        grid[r * (h + padding):r * (h + padding) + h, q * (w + padding):q * (w + padding) + w] = image
    return grid
