"""Record how faithful the explanation methods are on a fixed probe set while a model trains."""

import logging

import numpy as np

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis.explain import check_method
from kerasfg.vis.faithfulness import applicable_methods, faithfulness_table
from kerasfg.vis.one_pass import ONE_PASS_METHODS

logger = logging.getLogger(__name__)

DEFAULT_METHODS = ("saliency", "guided_backprop", "cam", "gradcam")
"""The methods scored by default, one of each kind: the image gradient, the guided gradient, feature maps
weighed by the output's weights and by the class score's gradients. Their maps come from the recording
callbacks' shared pass; what each adds is its deletion and insertion curves (``2 * (steps - 1)``
forward passes per probe image). Grad-CAM++ and Layer-CAM weigh the same feature maps by the same
gradients and scored within 0.001 of Grad-CAM on the quick-start model; SmoothGrad (one pass per sample)
and Score-CAM (one forward pass per channel) cost tens of times more. Name them to score them."""


class Faithfulness(RecordingCallback):
    """Write a faithfulness table of explanation methods (see `kerasfg.vis.faithfulness_table`).

    Each recording explains the model's predicted class of each chosen output on the probe with every
    method, and scores the maps: the pointing game and the energy in the evidence mask when masks are
    known, and the areas under the deletion and insertion curves, next to a random reference row. It writes
    a table under ``faithfulness/<output>`` and each number as a scalar
    ``faithfulness/<output>/<method>/<metric>``.

    Args:
        probe: a batch of model inputs.
        log_dir: folder of the event files.
        every_n_epochs: also record before training and after every this many epochs; by default (None) only
            when training ends: the methods and curves cost many model calls.
        methods: method names of `kerasfg.vis.explain`, or ``{name: method name or callable}`` where a
            callable is ``fn(model, inputs, *, output, classes) -> (n, h, w) maps``; by default those of
            `DEFAULT_METHODS` that apply to the model (see `kerasfg.vis.faithfulness.applicable_methods`).
        outputs: the outputs whose explanations are scored; every output with class scores by default.
        masks: boolean evidence masks `(n, h, w)` aligned with the probe, or ``{output name: masks}``;
            without masks only deletion and insertion are scored. Under `kerasfg.training.fit` on synthetic
            faces, the evidence masks of the probe's tasks.
        max_images: at most this many probe images are explained and scored; 8 by default, as many as the
            heat-map callbacks draw, since each one costs ``2 * (steps - 1)`` forward passes per method.
            `kerasfg.vis.faithfulness_table` scores a larger set after training.
        steps, tolerance, deletion_baseline, seed: see `kerasfg.vis.faithfulness_table`; 8 curve steps by
            default, half the table's, to keep the recording cheap during training.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=None, methods=None, outputs=None, masks=None,
                 max_images=8, steps=8, tolerance=2, deletion_baseline="blur", seed=0):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        for method in (methods.values() if isinstance(methods, dict) else methods or ()):
            if isinstance(method, str):
                check_method(method)
        self.methods = methods
        self.outputs = outputs
        self._masks = masks
        self.options = dict(steps=steps, tolerance=tolerance, deletion_baseline=deletion_baseline, seed=seed)
        self._explainer = None
        self._scored = {}
        self._left_out = set()  # (output, method) already logged as not applicable

    @property
    def masks(self):
        """The masks given, or the probe's evidence masks from the context (``{task: masks}``)."""
        return self._of_probe(self._masks, "masks")

    def probe_requests(self):
        explainer = self.shared_pass.explainer
        explanations = [explanation for output in self.chosen_outputs(self.outputs)
                        for explanation in _shared(explainer, output, self._chosen_methods(explainer, output)).values()]
        return {"explanations": explanations, "count": self.max_images}

    def _chosen_methods(self, explainer, output):
        """``{name: method}`` to score: ``methods``, or those of `DEFAULT_METHODS` that apply."""
        if self.methods is not None:
            return dict(self.methods) if isinstance(self.methods, dict) else {name: name for name in self.methods}
        names, skipped = applicable_methods(explainer, DEFAULT_METHODS, output=output)
        for name, reason in skipped.items():
            if (output, name) in self._left_out:
                continue
            self._left_out.add((output, name))
            logger.info("Faithfulness: method %r does not apply to output %r of model '%s' and is left out: %s", name,
                        output, self.model.name, reason)
        return {name: name for name in names}

    def setup(self):
        self._explainer = self.shared_pass.explainer
        self._scored = {}
        for output in self.chosen_outputs(self.outputs):
            methods = self._chosen_methods(self._explainer, output)
            self._scored[output] = (methods, _shared(self._explainer, output, methods))

    def _probe_masks(self, output):
        masks = self.masks
        if isinstance(masks, dict):
            if output not in masks:
                logger.warning("Faithfulness: no evidence masks for output %r (masks are known for %s); "
                               "scoring deletion and insertion only.", output, sorted(masks))
            masks = masks.get(output)
        return None if masks is None else np.asarray(masks, bool)[:self.max_images]

    def record(self, step):
        inputs = self.probe_inputs()
        shared = self.shared_pass(self.probe, self.max_images)
        for output, (methods, from_pass) in self._scored.items():
            chosen = {name: shared.maps[from_pass[name]] if name in from_pass else method
                      for name, method in methods.items()}
            rows = faithfulness_table(self.model, inputs, methods=chosen, masks=self._probe_masks(output),
                                      output=output, classes=shared.predicted(output),
                                      explainer=self._explainer, **self.options)
            columns = list(rows[0])
            tag = f"faithfulness/{output}"
            summary.scalars(self.writer, {f"{tag}/{row['method']}/{metric}": row[metric] for row in rows
                                          for metric in columns[1:]}, step)
            summary.table(self.writer, tag, columns, [[row[c] for c in columns] for row in rows], step,
                          output=output,
                          description=f"faithfulness of the explanations of output {output} on "
                                      f"{len(self.probe_images())} probe images")


def _shared(explainer, output, methods):
    """``{name: Explanation}`` of the methods that the shared probe pass computes (see
    `kerasfg.callbacks.probe_pass.SharedProbePass`)."""
    return {name: explainer.explanation(method, output) for name, method in methods.items()
            if isinstance(method, str) and method in ONE_PASS_METHODS}
