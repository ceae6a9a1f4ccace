"""Record deep visualizations (images that maximise chosen units) while a model trains."""

import dataclasses

import numpy as np

from kerasfg.callbacks.base import RecordingCallback, probe_images
from kerasfg.tensorboard import summary
from kerasfg.vis import render
from kerasfg.vis.deep_visualization import DeepVisualizer, resolve_settings

RECORDING_STEPS = 30
"""The gradient steps of a preset's recording during training, fewer than the presets' 50 to keep the
recordings cheap; the activations they reach are what the ``activations`` annotations show."""


class DeepVisualization(RecordingCallback):
    """Write one deep visualization per unit to TensorBoard (see `kerasfg.vis.DeepVisualizer`).

    It is the most expensive recording (``steps`` forward and backward passes of the model, all
    units in one batch), so it records every 5 epochs, 4 units, and a preset with `RECORDING_STEPS`
    steps by default (the presets take 50; pass ``steps=`` for more). Tag
    ``deep_visualization/<layer path or output name>``, kind ``deep_visualization`` with fields
    ``layer`` (the layer path or output name), ``units``, ``preset`` (the preset's name, or None
    for custom settings) and ``settings`` (all `DeepVisSettings` fields), and annotations
    ``activations`` per step (each unit's final activation).

    Args:
        probe: a batch of model inputs; only its range is used (see ``input_range``).
        log_dir: folder of the event files.
        every_n_epochs: recording cadence.
        layer: path or unique name of a layer whose units to visualize; or
        output: the output whose classes to visualize (scores before the softmax); the model's
            only output by default.
        units: unit or class indices, one picture each; the first 4 by default.
        settings: a preset name of `kerasfg.vis.PRESETS` (default ``"row3"``) or a `DeepVisSettings`.
        steps: gradient steps per recording; by default `RECORDING_STEPS` for a preset, and those of
            custom ``settings``.
        learning_rate: overrides that of ``settings`` when given.
        input_range: ``"probe"`` (the minimum and maximum of the probe images), a ``(low, high)``
            pair, or None (unbounded; each picture is then scaled by its own range).
        spatial: ``"center"`` or ``"mean"``, for convolution filters.
        seed: the seed of the start noise, the same at every recording.
        probe_targets, class_names: see `RecordingCallback`.
    """

    def __init__(self, probe=None, log_dir=None, every_n_epochs=5, layer=None, output=None, units=None,
                 settings="row3", steps=None, learning_rate=None, input_range="probe", spatial="center", seed=0,
                 probe_targets=None, class_names=None):
        super().__init__(probe=probe, log_dir=log_dir, every_n_epochs=every_n_epochs, probe_targets=probe_targets,
                         class_names=class_names)
        self.preset, settings = resolve_settings(settings)
        if steps is None and self.preset is not None:
            steps = RECORDING_STEPS
        overrides = {name: value for name, value in (("steps", steps), ("learning_rate", learning_rate))
                     if value is not None}
        self.settings = dataclasses.replace(settings, **overrides)
        self.layer, self.output, self.units = layer, output, units
        self.input_range = input_range
        self.spatial = spatial
        self.seed = seed
        self._visualizer = None
        self._units = None

    def setup(self):
        input_range = self.input_range
        if isinstance(input_range, str):  # "probe"
            images = probe_images(self.probe)
            input_range = (float(images.min()), float(images.max()))
        self._visualizer = DeepVisualizer(self.model, layer=self.layer, output=self.output, settings=self.settings,
                                          input_range=input_range, spatial=self.spatial)
        self._units = list(range(min(4, self._visualizer.unit_count))) if self.units is None else list(self.units)

    def record(self, step):
        visualizer = self._visualizer
        images, activations = visualizer(self._units, seed=self.seed)
        if visualizer.input_range is None:
            scaled = render.normalize(images)
        else:
            low, high = visualizer.input_range
            scaled = (images - low) / max(high - low, 1e-12)
        pictures = (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)
        target = visualizer.target
        summary.recording(self.writer, f"deep_visualization/{target}", pictures, step, kind="deep_visualization",
                          layer=target, units=[int(unit) for unit in self._units], preset=self.preset,
                          settings=dataclasses.asdict(self.settings),
                          annotations={"activations": activations.tolist()},
                          description=f"deep visualizations of units {self._units} of {target}")
