"""Record the attention maps of every attention layer on a fixed probe set while a model trains."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis import render
from kerasfg.vis.attention_maps import attention_layers, input_shapes, scores_to_spatial


class AttentionMaps(RecordingCallback):
    """Write each attention layer's maps over the probe images to TensorBoard.

    Spatial maps (CBAM's spatial gate, the attention branch's map, attend-and-rectify masks) are
    written as heat-map overlays on the probe images, one picture per probe image and head; attention
    scores as the attention each position receives (see `kerasfg.vis.scores_to_spatial`). Channel
    gates (SE, ECA, CBAM's channel gate) are written as a heat strip with one row per probe image and
    one column per channel. Tags: ``attention/<layer>/<map>``.

    Args:
        probe: a batch of model inputs; its image input is what the overlays are drawn on.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs (every epoch by default) and
            after the last; None: only when training ends.
        layers: paths or unique names of the attention layers to record; all by default.
        max_images: at most this many probe images are recorded.
        colormap: matplotlib colour map of the heat maps.
        alpha: opacity of the overlays.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, layers=None, max_images=8, colormap="jet",
                 alpha=0.5):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        self.layers = layers
        self.colormap = colormap
        self.alpha = alpha
        self._input_shapes = {}

    def probe_requests(self):
        return {"attention": attention_layers(self.shared_pass.explainer.graph, self.layers),
                "count": self.max_images}

    def setup(self):
        graph = self.shared_pass.explainer.graph
        self._input_shapes = input_shapes(graph, attention_layers(graph, self.layers))

    def record(self, step):
        images = self.probe_images()
        attention = self.shared_pass(self.probe, self.max_images).attention
        for layer in self._input_shapes:
            for name, values in attention[layer].items():
                tag = f"attention/{layer}/{name}"
                if name == "scores":  # (batch, heads, queries, keys) over the layer input's positions
                    _, height, width, _ = self._input_shapes[layer]
                    values = scores_to_spatial(values, height, width)
                if values.ndim == 4:  # spatial: (batch, h, w, heads)
                    for head in range(values.shape[-1]):
                        head_tag = tag if values.shape[-1] == 1 else f"{tag}/head{head}"
                        summary.heatmaps(self.writer, head_tag, values[..., head], images, step,
                                         method="attention", layer=layer, map=name,
                                         alpha=self.alpha, colormap=self.colormap,
                                         description=f"{name} map of {layer} over the probe images")
                elif values.ndim == 2:  # channel gates: (batch, channels)
                    strip = render.colorize(values, self.colormap)
                    summary.image(self.writer, tag, np.repeat(np.repeat(strip, 4, 0), 2, 1), step,
                                  description=f"{name} gates of {layer}: a row per probe image")

