"""The one compiled pass over the probe batch that the recording callbacks of a model share."""

import pathlib

import numpy as np
import tensorflow as tf

from kerasfg.vis.batches import take
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.explain import Explainer
from kerasfg.vis.introspect import kept_with
from kerasfg.vis.one_pass import own_weights, run_one_pass


class SharedProbePass:
    """Everything a model's recording callbacks read from the probe, from one compiled pass per recording.

    Each callback says what it reads (`request`) when it gets its model, before anything is recorded:
    heat maps of `kerasfg.vis.one_pass.ONE_PASS_METHODS`, layer outputs, attention maps, and on how
    many probe examples. At a recording, the first callback to ask runs `kerasfg.vis.run_one_pass` for
    all of them (one forward and backward pass, one compiled function for the whole training), and the
    others get the same result, until the model's weights change (a training step, ``set_weights``, a
    restored checkpoint: the result is kept with a fingerprint of every weight, see `weights_fingerprint`)
    or another probe batch is asked for. The pass takes the model's weights as arguments
    (`kerasfg.vis.one_pass.run_one_pass` with ``weights``), so that the sanity checks' randomized models run the
    same compiled function.

    Args:
        model: a built Keras model.
    """

    def __init__(self, model):
        self.model = model
        self.explainer = Explainer.of(model)
        self._explanations, self._taps, self._attention = set(), set(), set()
        self._count = self._explained = 0
        self._cached = None
        self._written_probes = {}
        self._fingerprint = None

    @classmethod
    def of(cls, model):
        """The pass that the recording callbacks of ``model`` share, kept with the model for its lifetime
        (`kerasfg.vis.introspect.kept_with`)."""
        return kept_with(model, cls)

    def request(self, *, explanations=(), taps=(), attention=(), count=None):
        """Add to what the pass computes.

        The logits of every output are always computed. Heat maps and attention maps are computed for
        the most examples any request of them reads, the logits and layer outputs (by a forward pass
        alone, which costs a fraction of a heat map) for the most examples any request reads.

        Args:
            explanations: `kerasfg.vis.one_pass.Explanation`s (layer paths resolved).
            taps: layer paths whose outputs to read.
            attention: attention layer paths whose maps to read.
            count: the number of probe examples read; None for all of them.
        """
        self._explanations.update(explanations)
        self._taps.update(taps)
        self._attention.update(attention)
        self._count = _most(self._count, count)
        if explanations or attention:
            self._explained = _most(self._explained, count)

    def __call__(self, probe, count=None):
        """The `kerasfg.vis.one_pass.PassResult` of the first ``count`` examples of ``probe`` (all when None)."""
        fingerprint = (frozenset(self._explanations), frozenset(self._taps), frozenset(self._attention),
                       self._count, self._explained, self.weights_fingerprint())
        cached = self._cached
        if cached is None or cached[0] is not probe or cached[1] != fingerprint:
            result = run_one_pass(self.explainer, take(probe, self._count), self._explanations, taps=self._taps,
                                  attention=self._attention, explained=self._explained,
                                  weights=own_weights(self.model))
            self._cached = cached = (probe, fingerprint, result)
        return cached[2].first(count)

    def claim_probe_images(self, log_dir, probe, step):
        """Whether the probe images of ``probe`` at ``step`` are still to be written to ``log_dir``; the
        first callback to ask writes them, so that a log directory holds them once."""
        key = (str(pathlib.Path(log_dir).resolve()), step)
        if self._written_probes.get(key) is probe:
            return False
        self._written_probes[key] = probe
        return True

    def weights_fingerprint(self):
        """A fingerprint of the bytes of every weight of the model (FarmHash64 of the weights of each dtype, laid
        end to end, in one compiled call), which changes whenever any weight does."""
        if self._fingerprint is None:
            by_dtype = {}
            for variable in self.model.weights:
                by_dtype.setdefault(variable.dtype, []).append(variable)

            def fingerprint():  # a few ops per weight: tracing it costs a tenth of a second on a ResNet
                return tf.concat([tf.fingerprint(tf.bitcast(tf.concat(
                    [tf.reshape(tf.convert_to_tensor(v), [-1]) for v in variables], 0), tf.uint8)[None])
                    for variables in by_dtype.values()], 0)

            self._fingerprint = RecordingFunction(fingerprint)
        return np.asarray(self._fingerprint()).tobytes()


def _most(count, other):
    """The larger of two example counts, where None means all examples."""
    return None if count is None or other is None else max(count, other)
