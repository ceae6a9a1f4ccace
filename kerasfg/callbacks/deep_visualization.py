"""Record deep visualizations (images that maximise chosen units) while a model trains."""

import dataclasses

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis import render
from kerasfg.vis.deep_visualization import DeepVisualizer, resolve_settings

RECORDING_STEPS = 30
"""The gradient steps of a preset's recording during training, fewer than the presets' 50 to keep the
recordings cheap; the activations they reach are what the ``activations`` annotations show."""


class DeepVisualization(RecordingCallback):
    """Write one deep visualization per unit to TensorBoard (see `kerasfg.vis.DeepVisualizer`).

    It is the most expensive recording (``steps`` forward and backward passes of the model), so by default
    it records once, when training ends (pass ``every_n_epochs=N`` to follow it from before training and every
    N epochs), 4 units, and a preset with `RECORDING_STEPS` steps (the presets take 50; pass ``steps=`` for
    more). Every unit of every preset of a
    target is optimised in one batch by one compiled loop (`kerasfg.vis.DeepVisualizer.ascend_each`),
    traced once for the whole training (under `kerasfg.training.fit`, with the recording of the end of training,
    on a worker thread while the model is exported: `kerasfg.callbacks.context.DeferredRecordings`). One
    recording per target (layer
    or output) and preset: tag ``deep_visualization/<layer path or output name>/<preset>``, kind
    ``deep_visualization`` with fields ``layer`` (the layer path or output name), ``units``, ``preset``
    (the preset's name, or None for custom settings) and ``settings`` (all `DeepVisSettings` fields), and
    annotations ``activations`` and ``start_activations`` per step (each unit's activation on its final
    and on its start image).

    Args:
        probe: a batch of model inputs; only its range is used (see ``input_range``).
        log_dir: folder of the event files.
        every_n_epochs: also record before training and after every this many epochs; by default (None) only
            when training ends.
        layers: paths or unique names of layers whose units (dense units or convolution filters) to
            visualize;
        outputs: outputs whose classes to visualize (their scores before the softmax); the model's first
            output when neither ``layers`` nor ``outputs`` is given.
        units: unit or class indices, one picture each; the first 4 by default.
        settings: a preset name of `kerasfg.vis.PRESETS` (default ``"row3"``), a `DeepVisSettings`, or a
            list of them (one recording each).
        steps: gradient steps per recording; by default `RECORDING_STEPS` for a preset, and those of
            custom ``settings``.
        learning_rate: overrides that of ``settings`` when given.
        jitter: overrides that of ``settings`` when given: the largest random shift, in pixels, of the image
            whose gradient each step takes (see `kerasfg.vis.DeepVisSettings`); the presets have none. It
            removes the stride pattern of strided networks but needs several times the steps.
        input_range: ``"probe"`` (the minimum and maximum of the probe images), a ``(low, high)``
            pair, or None (unbounded; each picture is then scaled by its own range).
        spatial: ``"center"`` or ``"mean"``, for convolution filters.
        seed: the seed of the start noise, the same at every recording.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=None, layers=None, outputs=None, units=None,
                 settings="row3", steps=None, learning_rate=None, jitter=None, input_range="probe", spatial="center",
                 seed=0):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs)
        self.presets = []
        for chosen in settings if isinstance(settings, (list, tuple)) else [settings]:
            preset, resolved = resolve_settings(chosen)
            given = {"steps": RECORDING_STEPS if steps is None and preset is not None else steps,
                     "learning_rate": learning_rate, "jitter": jitter}
            self.presets.append((preset, dataclasses.replace(resolved, **{name: value for name, value in given.items()
                                                                          if value is not None})))
        self.layers, self.outputs, self.units = layers, outputs, units
        self.input_range = input_range
        self.spatial = spatial
        self.seed = seed
        self._visualizers = []

    def setup(self):
        input_range = self.input_range
        if isinstance(input_range, str):  # "probe"
            images = self.model_inputs.image(self.probe)
            input_range = (float(images.min()), float(images.max()))
        targets = [{"layer": layer} for layer in self.layers or []]
        outputs = self.outputs if self.outputs is not None or self.layers else self.chosen_outputs(None)[:1]
        targets += [{"output": output} for output in self.chosen_outputs(outputs or [])]
        self._visualizers = []
        for target in targets:  # one compiled ascent per target runs every preset
            visualizer = DeepVisualizer(self.model, **target, input_range=input_range, spatial=self.spatial)
            units = list(range(min(4, visualizer.unit_count))) if self.units is None else list(self.units)
            self._visualizers.append((visualizer, units))

    def record(self, step):
        for visualizer, units in self._visualizers:
            ascents = visualizer.ascend_each(units, [settings for _, settings in self.presets], seed=self.seed)
            for (preset, settings), ascent in zip(self.presets, ascents):
                self._write(step, visualizer, units, preset, settings, ascent)

    def _write(self, step, visualizer, units, preset, settings, ascent):
        if visualizer.input_range is None:
            scaled = render.normalize(ascent.images)
        else:
            low, high = visualizer.input_range
            scaled = (ascent.images - low) / max(high - low, 1e-12)
        pictures = (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)
        target = visualizer.target
        summary.recording(self.writer, f"deep_visualization/{target}/{preset or 'custom'}", pictures, step,
                          kind="deep_visualization", layer=target, units=[int(unit) for unit in units],
                          preset=preset, settings=dataclasses.asdict(settings),
                          annotations={"activations": ascent.activations.tolist(),
                                       "start_activations": ascent.start_activations.tolist()},
                          description=f"deep visualizations of units {units} of {target}"
                                      f"{f' with preset {preset}' if preset else ''}")
