"""Synthetic handwritten-like digits: MNIST's stand-in for the smoke and synthetic scales of the MNIST tables.

Each image is one digit, 0 to 9, drawn with the TrueType font that Pillow ships (``ImageFont.load_default``),
white on black and grayscale like MNIST's, in a square image (28x28 as MNIST's by default). What makes them
vary is what makes handwriting vary, drawn per image: the stroke's thickness, slant (shear), rotation, size and
position, and the pen's brightness. At higher difficulty, pieces of other digits clutter the background (as
in cluttered MNIST), the background lightens and pixel noise is added. A single typeface is the stand-in's
limit: the shapes of one digit differ far less than people's handwriting does, so the difficulty comes from
the transformations and the clutter, and the numbers it gives are about the comparison between methods, never
about MNIST.

``difficulty`` is a number in [0, 1]: 0 draws upright, centred digits of one size on a clean background;
1 rotates them by up to 40 degrees, slants them by up to 0.4, shrinks them to 60%, shifts them by up to 17%
of the image, adds about four clutter fragments and noise of standard deviation 50 (of 255).

Example:

```python
digits = synthetic_digits(1000, difficulty=0.6, seed=1)
digits.images.shape             # (1000, 28, 28, 1), uint8
digits.labels["label"][:5]      # the digits
digits.masks["label"][0]        # the pixels of the digit's strokes (not the clutter's)
digits.as_dataset(targets=["label"], batch_size=32)
```
"""

import functools
import math

import numpy as np

from kerasfg.data.labels import Task
from kerasfg.data.synthetic import SyntheticFaces

DIGITS = tuple(str(d) for d in range(10))
TASK = "label"
_FONT_SIZE = 64
_STROKES = (0, 1, 2, 3, 4)  # extra stroke width (pixels at _FONT_SIZE): thin to bold pens
_SUPERSAMPLE = 3
_DIGIT_HEIGHT = 20 / 28  # MNIST fits each digit into a 20x20 box of its 28x28 image
_MASK_THRESHOLD = 64


def synthetic_digits(num_images, image_size=28, difficulty=0.5, seed=0, labels=None):
    """Render ``num_images`` synthetic digits with their labels and stroke masks (see the module docstring).

    Args:
        num_images: number of images.
        image_size: side of the square grayscale images, at least 16.
        difficulty: a number in [0, 1].
        seed: seed of every per-image draw; the same arguments always give the same images.
        labels: optional int array of shape ``(num_images,)`` with the digit of each image; drawn uniformly
            by default.

    Returns:
        A `kerasfg.data.synthetic.SyntheticFaces` (the container of the synthetic data, faces or not) with
        uint8 images of shape ``(N, image_size, image_size, 1)``, the task ``label`` (class names ``"0"`` ..
        ``"9"``), ``masks["label"]`` (the pixels of the digit's strokes) and ``nuisance`` (each image's
        ``rotation`` in degrees, ``shear``, ``scale``, ``shift_x``, ``shift_y`` in pixels, ``stroke``,
        ``clutter`` count and ``noise_std``).

    Raises:
        ValueError: a count, size, difficulty or label array out of range, naming the argument.
    """
    if not isinstance(num_images, (int, np.integer)) or num_images < 0:
        raise ValueError(f"num_images must be a non-negative integer, got {num_images!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size must be an integer of at least 16, got {image_size!r}.")
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)) or not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty: expected a number in [0, 1] for the synthetic digits, got {difficulty!r}.")
    rng = np.random.default_rng([seed, 0xD161])
    if labels is None:
        labels = rng.integers(0, 10, num_images)
    labels = np.asarray(labels)
    if labels.shape != (num_images,) or (labels.size and not (labels.min() >= 0 and labels.max() <= 9)):
        raise ValueError(f"labels must be {num_images} digits in 0..9, got an array of shape {labels.shape}.")
    nuisance = _draw_nuisance(rng, num_images, image_size, float(difficulty))
    images = np.zeros((num_images, image_size, image_size, 1), np.uint8)
    masks = np.zeros((num_images, image_size, image_size), bool)
    for k in range(num_images):
        images[k, ..., 0], masks[k] = _render(int(labels[k]), {name: v[k] for name, v in nuisance.items()},
                                              image_size, rng)
    return SyntheticFaces(
        images=images, labels={TASK: labels.astype(np.int32)}, masks={TASK: masks},
        class_names={TASK: DIGITS}, identities=(), nuisance=nuisance,
        tasks={TASK: Task(TASK, "class", DIGITS)})


def _draw_nuisance(rng, n, size, level):
    """Every image's transformation and degradation, wider with ``level``."""
    return {
        "rotation": rng.uniform(-1, 1, n) * (5 + 35 * level),
        "shear": rng.uniform(-1, 1, n) * (0.05 + 0.35 * level),
        "scale": rng.uniform(1 - 0.4 * level, 1.0, n),
        "shift_x": rng.uniform(-1, 1, n) * (0.02 + 0.15 * level) * size,
        "shift_y": rng.uniform(-1, 1, n) * (0.02 + 0.15 * level) * size,
        "stroke": rng.integers(0, len(_STROKES), n),
        "brightness": rng.uniform(1 - 0.5 * level, 1.0, n),
        "background": rng.uniform(0, 60 * level, n),
        "clutter": rng.poisson(4 * level, n),
        "noise_std": np.full(n, 50 * level),
    }


@functools.lru_cache(maxsize=len(DIGITS) * len(_STROKES))
def _glyph(digit, stroke):
    """The digit drawn white on black with extra stroke width ``stroke``, cropped to its strokes: a float array."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=_FONT_SIZE)
    canvas = Image.new("L", (2 * _FONT_SIZE, 2 * _FONT_SIZE), 0)
    ImageDraw.Draw(canvas).text((_FONT_SIZE // 2, _FONT_SIZE // 4), str(digit), fill=255, font=font,
                                stroke_width=_STROKES[stroke], stroke_fill=255)
    return np.asarray(canvas.crop(canvas.getbbox()), np.float32)


def _render(digit, nuisance, size, rng):
    """One image and the mask of its digit's strokes."""
    glyph = _glyph(digit, int(nuisance["stroke"]))
    big = size * _SUPERSAMPLE
    height = _DIGIT_HEIGHT * big * nuisance["scale"]
    scale = height / glyph.shape[0]
    centre = (big / 2 + nuisance["shift_x"] * _SUPERSAMPLE, big / 2 + nuisance["shift_y"] * _SUPERSAMPLE)
    digit_layer = _place(glyph, big, scale, nuisance["rotation"], nuisance["shear"], centre)
    clutter = np.zeros_like(digit_layer)
    for _ in range(int(nuisance["clutter"])):  # a piece of another digit somewhere in the image
        other = _glyph(int(rng.integers(0, 10)), int(rng.integers(0, len(_STROKES))))
        h, w = other.shape
        top, left = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        piece = other[top:top + h // 2, left:left + w // 2]
        where = rng.uniform(0.1, 0.9, 2) * big
        clutter = np.maximum(clutter, _place(piece, big, scale, rng.uniform(-90, 90), 0.0, where))
    downsample = functools.partial(_box_downsample, factor=_SUPERSAMPLE)
    digit_small, clutter_small = downsample(digit_layer), downsample(clutter)
    pen = nuisance["brightness"] * np.maximum(digit_small, clutter_small)
    image = nuisance["background"] + pen * (1 - nuisance["background"] / 255)
    image = image + rng.normal(0, nuisance["noise_std"], image.shape) if nuisance["noise_std"] else image
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), digit_small >= _MASK_THRESHOLD


def _place(glyph, big, scale, rotation, shear, centre):
    """``glyph`` scaled, slanted, rotated and centred at ``centre`` on a ``big`` x ``big`` black canvas."""
    from PIL import Image

    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    # Forward map from glyph to canvas: centre + scale * R * [[1, shear], [0, 1]] * (g - glyph centre).
    forward = scale * np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    glyph_centre = np.array([glyph.shape[1] / 2, glyph.shape[0] / 2])
    offset = glyph_centre - inverse @ np.asarray(centre)
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    placed = Image.fromarray(glyph).transform((big, big), Image.Transform.AFFINE, data,
                                              resample=Image.Resampling.BILINEAR, fillcolor=0)
    return np.asarray(placed, np.float32)


def _box_downsample(image, factor):
    """The mean of every ``factor`` x ``factor`` block."""
    h, w = image.shape
    return image.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


__all__ = ["DIGITS", "synthetic_digits"]
