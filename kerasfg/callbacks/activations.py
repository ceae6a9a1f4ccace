"""Record the activations of a few layers on a fixed probe set while a model trains."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis.activations import activation_grids, activation_strips, representative_layers, top_channels


class LayerActivations(RecordingCallback):
    """Write what chosen layers output for each probe image to TensorBoard.

    Feature maps (convolution, pooling) become one grid of filter maps per probe image, each map
    scaled by its own minimum and maximum; other outputs (dense layers) one strip per probe image
    (see `kerasfg.vis.activation_grids` and `activation_strips`). Tags ``activations/<layer path>``,
    kind ``activations`` with fields ``layer``, ``position`` (the layer's place among the recorded ones, in
    model order), ``channels`` (the channels or units shown, in tile order) and ``grid`` (``[rows, columns]``
    of tiles).

    When a layer has more than ``max_filters`` channels, the grid shows the ``max_filters`` with the
    largest mean activation over the probe images at the first recording, and keeps showing the same
    channels afterwards, so that the grids of different epochs can be compared tile by tile.

    Args:
        probe: a batch of model inputs, chosen once.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs (every epoch by default) and
            after the last; None: only when training ends.
        layers: paths or unique names of the layers to record; by default the output of each stage
            (`kerasfg.vis.activations.representative_layers`).
        max_images: at most this many probe images are recorded.
        max_filters: at most this many channels per grid.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, layers=None, max_images=4, max_filters=32):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        self.layers = layers
        self.max_filters = max_filters
        self._paths_to_write = []
        self._channels = {}

    def probe_requests(self):
        return {"taps": self._paths(), "count": self.max_images}

    def _paths(self):
        graph = self.shared_pass.explainer.graph
        return representative_layers(self.model) if self.layers is None else [graph.find(name) for name in self.layers]

    def setup(self):
        self._paths_to_write = self._paths()
        self._channels = {}

    def record(self, step):
        taps = self.shared_pass(self.probe, self.max_images).taps
        for position, path in enumerate(self._paths_to_write):
            values = taps[path]
            if values.ndim == 4:
                channels = self._channels.setdefault(path, top_channels(values, self.max_filters))
                columns = int(np.ceil(np.sqrt(len(channels))))
                pictures = activation_grids(values, channels, columns=columns)
                grid = [int(np.ceil(len(channels) / columns)), columns]
                what = f"{len(channels)} filter maps"
            else:
                pictures = activation_strips(values)
                channels = np.arange(values[0].size)
                grid = [1, len(channels)]
                what = f"{len(channels)} units"
            summary.recording(self.writer, f"activations/{path}", pictures, step, kind="activations", layer=path,
                              position=position, channels=channels.tolist(), grid=grid,
                              description=f"{what} of {path}, one picture per probe image")
