"""The saliency map averaged over many images, next to their average image (``002`` Figure 2.5).

Each image's saliency is Simonyan et al.'s (Eq. 2.10-2.11): the gradient of the output score with respect
to the image, its absolute value, the maximum over the colour channels (`kerasfg.vis.explain` with
``"saliency"``; for a regression output the score is the output itself). Averaged over registered faces
and shown beside the average face, it tells whether the network looks at the face or at the background.
"""

import dataclasses

import numpy as np

from kerasfg.vis import render
from kerasfg.vis.explain import Explainer


@dataclasses.dataclass(frozen=True)
class AverageSaliency:
    """The mean saliency map ``(h, w)``, the mean image ``(h, w, c)`` (0..255) and the number of images."""

    saliency: np.ndarray
    image: np.ndarray
    count: int


def average_saliency(model, images, *, output=None, classes=None, batch_size=32):
    """Average the saliency maps of ``images`` and the images themselves.

    Args:
        model: the model to explain.
        images: ``(n, h, w, c)`` images as the model takes them.
        output: the output to explain (the first by default).
        classes: the class whose score is explained (None: each image's predicted class; a regression
            output has one).
        batch_size: images per explanation batch.

    Returns:
        An `AverageSaliency`.
    """
    images = np.asarray(images)
    if images.ndim != 4 or not len(images):
        raise ValueError(f"average_saliency needs a batch of images (n, h, w, c) with n >= 1; received "
                         f"{images.shape}.")
    explainer = Explainer.of(model)
    total = np.zeros(images.shape[1:3], np.float64)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].astype(np.float32)
        total += explainer(batch, "saliency", output=output, classes=classes).sum(axis=0)
    return AverageSaliency(saliency=(total / len(images)).astype(np.float32),
                           image=images.astype(np.float64).mean(axis=0).astype(np.float32), count=len(images))


def render_average_saliency(result, colormap="jet", alpha=0.5):
    """One uint8 RGB picture: the average image, the average saliency (coloured) and their overlay."""
    face = render.to_uint8_rgb(result.image[None])[0]
    heat = render.colorize(render.normalize(result.saliency[None])[0], colormap)
    blended = render.overlay(result.image[None], result.saliency[None], alpha=alpha, colormap=colormap)[0]
    return render.tile(np.stack([face, heat, blended]), columns=3, padding=2)
