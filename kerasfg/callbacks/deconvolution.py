"""Record deconvnet reconstructions of a layer's strongest feature maps on a fixed probe set."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis import render
from kerasfg.vis.deconvolution import Deconvnet


class Deconvolution(RecordingCallback):
    """Write Zeiler-Fergus reconstructions of the ``top_n`` strongest feature maps of a layer to TensorBoard.

    One picture per probe image: a row of ``top_n`` reconstructions, strongest first, each scaled by
    its own minimum and maximum (see `kerasfg.vis.Deconvnet`). Tag ``deconvolution/<layer path>``,
    kind ``deconvolution`` with field ``layer``, and annotations ``feature_maps`` per step (the channel
    of each reconstruction, a list per probe image). The deconvnet reads the layers' current weights,
    so each recording shows the network as it is at that step, and its own feature maps.

    Args:
        probe: a batch of model inputs, chosen once.
        log_dir: folder of the event files.
        every_n_epochs: recording cadence.
        layer: path or unique name of a convolution or max-pooling layer; by default the deepest one
            that the deconvnet can reach.
        top_n: reconstructions per probe image.
        max_images: at most this many probe images are recorded.
        probe_targets, class_names: see `RecordingCallback`.
    """

    def __init__(self, probe=None, log_dir=None, every_n_epochs=1, layer=None, top_n=9, max_images=4,
                 probe_targets=None, class_names=None):
        super().__init__(probe=probe, log_dir=log_dir, every_n_epochs=every_n_epochs, probe_targets=probe_targets,
                         class_names=class_names)
        self.layer = layer
        self.top_n = top_n
        self.max_images = max_images
        self._deconvnet = None

    def setup(self):
        self._deconvnet = Deconvnet(self.model, self.layer)

    def record(self, step):
        reconstructions, feature_maps = self._deconvnet(self.probe_inputs(self.max_images), self.top_n)
        images, top_n = reconstructions.shape[:2]
        scaled = (render.normalize(reconstructions.reshape(images * top_n, *reconstructions.shape[2:])) * 255)
        scaled = scaled.round().astype(np.uint8).reshape(reconstructions.shape)
        pictures = np.stack([render.tile(row, columns=top_n) for row in scaled])
        layer = self._deconvnet.layer
        summary.recording(self.writer, f"deconvolution/{layer}", pictures, step, kind="deconvolution", layer=layer,
                          annotations={"feature_maps": feature_maps.tolist()},
                          description=f"deconvnet reconstructions of the {top_n} strongest feature maps of {layer}, "
                                      "a row per probe image")
