"""Record Adebayo et al.'s sanity checks of the explanation methods while a model trains (rarely)."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis import render
from kerasfg.vis.explain import Explainer
from kerasfg.vis.one_pass import ONE_PASS_METHODS
from kerasfg.vis.sanity_checks import MODES, sanity_checks

DEFAULT_METHODS = ("gradcam", "saliency", "guided_backprop")


class SanityChecks(RecordingCallback):
    """Write sanity checks of explanation methods (`kerasfg.vis.sanity_checks`) to TensorBoard.

    Each recording randomizes the model's layers from the top down, explains the probe images after each step,
    and writes, per output:

    - the table of rank correlations and SSIMs with the trained model's maps, per layer and method (the
      edge-detector control included), under ``sanity_checks/<output>/table`` (and as Text);
    - one picture per method (tag ``sanity_checks/<output>``, kind ``sanity_checks``, fields ``output``,
      ``methods``, ``layers`` and ``table``): the first probe image's map from the trained model, then after
      each step of the cascade, left to right, in the ``colormap``;
    - each method's rank correlation with every layer randomized, as a scalar
      ``sanity_checks/<output>/<method>/rank_correlation``.

    Each step of the randomization costs one explanation pass, so the layers of a stage are randomized
    together by default, and the checks record at the end of training (``every_n_epochs=None``), not before
    it starts: an untrained model has nothing to check. With the methods computed from one pass (the
    defaults), the randomized weights are arguments of the recording callbacks' shared pass, which computes with
    weights given as arguments, and the model is left as it is (`kerasfg.vis.sanity_checks`), so under
    `kerasfg.training.fit` the recording of the end of training runs while the model is tested and exported
    (`kerasfg.callbacks.context.DeferredRecordings`); other methods randomize the model in place and record in
    ``on_train_end``.

    Args:
        probe: a batch of model inputs.
        log_dir: folder of the event files.
        every_n_epochs: also record before training and after every this many epochs; None: only when
            training ends.
        methods: method names of `kerasfg.vis.explain` (or ``{name: method}``) to check.
        outputs: the outputs whose explanations are checked; the model's first output by default.
        layers: paths or unique names of the layers to randomize; every layer with weights by default.
        by: ``"stage"`` (the layers of a stage randomized together: a recording costs one explanation pass per
            stage; the default) or ``"layer"`` (one layer a step), see
            `kerasfg.vis.sanity_checks.randomization_steps`.
        modes: ``"cascading"`` and/or ``"independent"`` randomization (`kerasfg.vis.sanity_checks.MODES`).
        max_images: the probe images explained at each step.
        seed: seed of the random weights.
        colormap: the colour map of the pictures.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=None, methods=DEFAULT_METHODS, outputs=None,
                 layers=None, by="stage", modes=("cascading",), max_images=4, seed=0, colormap="jet"):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        unknown = [mode for mode in modes if mode not in MODES]
        if unknown:
            raise ValueError(f"Unknown sanity-check modes {unknown}; choose from {list(MODES)}.")
        self.methods = methods
        self.outputs = outputs
        self.layers = layers
        self.by = by
        self.modes = tuple(modes)
        self.seed = seed
        self.colormap = colormap

    @property
    def changes_weights(self):
        """Whether the checks randomize the model in place: when a method is not computed from one pass."""
        return not Explainer.explains_with_weights(self._methods())

    def _outputs(self):
        return self.chosen_outputs(self.outputs if self.outputs is not None else self.chosen_outputs(None)[:1])

    def _methods(self):
        return dict(self.methods) if isinstance(self.methods, dict) else {name: name for name in self.methods}

    def probe_requests(self):
        # The trained model's maps and predicted classes come from the shared pass, whose compiled function
        # then also explains the probe at every randomization step (`kerasfg.vis.one_pass.covering_pass`).
        explainer = self.shared_pass.explainer
        return {"explanations": [explainer.explanation(method, output) for output in self._outputs()
                                 for method in self._methods().values()
                                 if isinstance(method, str) and method in ONE_PASS_METHODS],
                "count": self.max_images}

    def record(self, step):
        explainer = self.shared_pass.explainer
        shared = self.shared_pass(self.probe, self.max_images)
        for output in self._outputs():
            result = sanity_checks(self.model, self.probe_inputs(), self.methods, output=output,
                                   classes=shared.predicted(output), layers=self.layers, by=self.by,
                                   modes=self.modes, seed=self.seed, explainer=explainer)
            tag = f"sanity_checks/{output}"
            columns, rows = result.table()
            summary.table(self.writer, f"{tag}/table", columns, rows, step, output=output,
                          description=f"sanity checks of the explanations of output {output}: rank correlation "
                                      "and SSIM with the trained model's maps as layers are randomized")
            last = result.layers[-1] if result.layers else None
            summary.scalars(self.writer, {f"{tag}/{row['method']}/rank_correlation": row["rank_correlation"]
                                          for row in result.rows if row["mode"] == "cascading"
                                          and row["layer"] == last}, step)
            methods = list(result.examples)
            strips = np.stack([render.tile(render.colorize(result.examples[name], self.colormap),
                                           columns=len(result.examples[name]), padding=2)
                               for name in methods])
            summary.recording(self.writer, tag, strips, step, kind="sanity_checks", output=output, methods=methods,
                              layers=["trained", *result.layers], table=f"{tag}/table",
                              description=f"the first probe image's maps of output {output}: trained, then with "
                                          "the layers randomized from the top down, a row per method")
