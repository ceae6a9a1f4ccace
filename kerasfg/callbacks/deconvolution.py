"""Record deconvnet reconstructions of a layer's strongest feature maps on a fixed probe set."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis import render
from kerasfg.vis.deconvolution import Deconvnet


CONTRAST_PERCENTILE = 99.5
"""Each reconstruction is scaled so that this percentile of its absolute values is full contrast."""

SWITCHES_SHOWN = {"pooling": "max pooling (Zeiler and Fergus)",
                  "relu": "max pooling and every ReLU (guided, Springenberg et al.)"}


SUPPORT = 0.1
"""A reconstruction's signal is where its magnitude (summed over channels) reaches this share of its full contrast:
the crop of `reconstruction_pictures` holds it."""


def reconstruction_pictures(reconstructions, images=None, *, colour=False):
    """uint8 pictures of deconvnet reconstructions `(n, top_n, h, w, c)`: one row of ``top_n`` tiles per image.

    By default each reconstruction is drawn in grey, the sum of its channels; with ``colour=True``, in the
    image's colours (its three channels; the first channel of other inputs). The sum keeps what the
    reconstruction shares with the images, whose pixels vary mostly in brightness, and cancels the colour
    noise that dominates the reconstructions of a network trained briefly (see `Deconvolution`).

    Each reconstruction is scaled symmetrically around zero, so that zero (no signal) is the same mid-grey in
    every tile and the signal's positive and negative parts show as light and dark. Full contrast is the
    `CONTRAST_PERCENTILE` of its absolute values, not their maximum: a deep layer's reconstruction peaks at
    a few pixels (on the quick-start model the largest value is about 6 times the 99th percentile), and
    scaled by its maximum its whole receptive field shows as flat grey with a few dots.

    With the probe ``images`` `(n, h, w, 1|3)` (pixels in 0..255), each tile is a pair, as in Zeiler and
    Fergus's figures: the reconstruction cropped to the square that holds its signal (`SUPPORT`; at least a
    quarter of the image's side) and enlarged to the image's size, beside the same square of the probe image,
    the patch that the feature map responded to.
    """
    reconstructions = np.asarray(reconstructions, np.float32)
    if not colour:
        reconstructions = reconstructions.sum(axis=-1, keepdims=True)
    images_count, top_n = reconstructions.shape[:2]
    magnitude = np.abs(reconstructions)
    peak = np.percentile(magnitude, CONTRAST_PERCENTILE, axis=(2, 3, 4), keepdims=True)
    peak = np.where(peak > 0, peak, magnitude.max(axis=(2, 3, 4), keepdims=True))  # a very sparse signal
    scaled = np.clip(0.5 + reconstructions / np.maximum(2 * peak, 1e-12), 0, 1)
    tiles = (scaled * 255).round().astype(np.uint8)
    tiles = render.to_uint8_rgb(tiles) if tiles.shape[-1] in (1, 3) else render.to_uint8_rgb(tiles[..., :1])
    if images is None:
        return np.stack([render.tile(row, columns=top_n) for row in tiles])
    probes = render.to_uint8_rgb(images)
    support = magnitude.sum(axis=-1) >= SUPPORT * peak[..., 0] * magnitude.shape[-1]
    rows = []
    for n in range(images_count):
        pairs = []
        for k in range(top_n):
            box = _square_around(support[n, k])
            pairs.append(np.concatenate([_enlarged(tiles[n, k], box), _enlarged(probes[n], box)], axis=1))
        rows.append(render.tile(np.stack(pairs), columns=top_n, padding=2))
    return np.stack(rows)


def _square_around(mask):
    """``(top, left, side)`` of the square that holds the True entries of ``mask`` `(h, w)`, centred on them,
    inside the image, at least a quarter of its smaller side (the whole image when ``mask`` holds none)."""
    height, width = mask.shape
    if not mask.any():
        return 0, 0, min(height, width)
    rows, cols = np.nonzero(mask)
    side = min(max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1, min(height, width) // 4), height, width)
    top = int(np.clip((rows.min() + rows.max() + 1 - side) // 2, 0, height - side))
    left = int(np.clip((cols.min() + cols.max() + 1 - side) // 2, 0, width - side))
    return top, left, side


def _enlarged(picture, box):
    """The square ``box`` of ``picture`` `(h, w, c)`, enlarged to `(h, w)` by repeating pixels (nearest neighbour)."""
    top, left, side = box
    height, width = picture.shape[:2]
    return picture[top + np.arange(height) * side // height][:, left + np.arange(width) * side // width]


class Deconvolution(RecordingCallback):
    """Write Zeiler-Fergus reconstructions of the ``top_n`` strongest feature maps of layers to TensorBoard.

    One picture per probe image and layer: a row of ``top_n`` reconstructions, strongest first (see
    `kerasfg.vis.Deconvnet` and `reconstruction_pictures`). Tag ``deconvolution/<layer path>``, kind
    ``deconvolution`` with fields ``layer``, ``switches`` and ``colour``, and annotations ``feature_maps`` per step (the
    channel of each reconstruction, a list per probe image). The deconvnet reads the layers' current weights,
    so each recording shows the network as it is at that step.

    Args:
        probe: a batch of model inputs, chosen once.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs (every 5 by default: a deconvnet
            costs ``top_n`` backward passes per image) and after the last; None: only when training ends.
        layers: paths or unique names of layers with feature maps, one recording each; by default the last
            spatial layer before the head (the layer Grad-CAM weighs).
        top_n: reconstructions per probe image.
        max_images: at most this many probe images are recorded.
        switches: where the deconvnet records switches (see `kerasfg.vis.Deconvnet`): by default at max
            pooling (Zeiler and Fergus) where that makes the reconstructions specific to the image, and also at
            the ReLUs in networks that downsample without max pooling, such as ResNets. Recorded as the
            field ``switches`` (``"pooling"`` or ``"relu"``) of each layer's recording.
        colour: draw the reconstructions in the image's colours, as Zeiler and Fergus do, instead of in grey
            (the sum of the channels). Grey by default: a network's first filters keep the random colour
            patterns they started with wherever the training images give them no reason to change, so the
            reconstructions of a network early in its training, or trained on images with little fine colour
            detail, are dominated by colour noise, while their sum shows the edges and parts that the feature
            map responds to (docs/explanations.md has the figures of the quick start). Recorded as the field
            ``colour``.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=5, layers=None, top_n=9, max_images=4,
                 switches="auto", colour=False):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        self.layers = layers
        self.top_n = top_n
        self.switches = switches
        self.colour = colour
        self._deconvnets = []

    def setup(self):
        self._deconvnets = [Deconvnet(self.model, layer, switches=self.switches) for layer in self.layers or [None]]

    def record(self, step):
        inputs = self.probe_inputs()
        for deconvnet in self._deconvnets:
            reconstructions, feature_maps = deconvnet(inputs, self.top_n)
            layer = deconvnet.layer
            pictures = reconstruction_pictures(reconstructions, self.probe_images(), colour=self.colour)
            summary.recording(self.writer, f"deconvolution/{layer}", pictures, step,
                              kind="deconvolution", layer=layer, switches=deconvnet.switches, colour=self.colour,
                              annotations={"feature_maps": feature_maps.tolist()},
                              description=f"deconvnet reconstructions of the {self.top_n} strongest feature maps of "
                                          f"{layer}, a row per probe image, switches at "
                                          f"{SWITCHES_SHOWN[deconvnet.switches]}, "
                                          f"{'in colour' if self.colour else 'in grey (the sum of the channels)'}")
