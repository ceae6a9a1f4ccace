"""Compiled functions for work that runs a few times per training: visualizations and recordings.

A `tf.function` pays twice before its first result: tracing the Python code into a graph, and Grappler's
rewrites of that graph (constant folding, arithmetic simplification, op fusion) when it is first called.
The rewrites pay off for a function called thousands of times, like a training step; a recording runs a
few times per training on a small batch, where they cost more than they save. For the quick-start model,
Grappler took about 0.35 s of the first call of the recording callbacks' shared pass and of the deep
visualization loop, and the later calls ran as fast without it.

`RecordingFunction` compiles such a function: traced once for batches of any size, and called without
Grappler's rewrites (`kerasfg.vis.introspect.without_graph_rewrites`). Other functions of the process, the
training step included, keep them.
"""

import numpy as np
import tensorflow as tf

from kerasfg.vis.introspect import without_graph_rewrites


def _batch_spec(value):
    if isinstance(value, (tf.Tensor, np.ndarray)) and len(value.shape):
        return tf.TensorSpec([None, *value.shape[1:]], tf.as_dtype(value.dtype))
    return value


class RecordingFunction:
    """``python_function`` compiled (without autograph) for work that runs a few times per training.

    It is first traced with the batch axis of every array argument left unknown (unless an
    ``input_signature`` says otherwise), so that the callbacks' probe batches, single examples and
    chunks of any size run one trace instead of one per batch size (each costs as much as hundreds of
    calls); and it is called without Grappler's graph rewrites (see `kerasfg.vis.introspect.without_graph_rewrites`).

    Args:
        python_function: a function of tensors (or nested structures of them) that builds the graph.
        input_signature: optional `tf.TensorSpec`s of the arguments, as for `tf.function`.

    Attributes:
        function: the `tf.function`.

    Call arguments:
        *args: the arguments of ``python_function``.
    """

    def __init__(self, python_function, input_signature=None):
        self.function = tf.function(python_function, input_signature=input_signature, reduce_retracing=True,
                                    autograph=False)
        self._traced = False

    def trace(self, *args):
        """Trace the function for arguments like ``args`` (none with an ``input_signature``), once: with the batch
        axis of every array left unknown."""
        if not self._traced:
            with_signature = self.function.input_signature is not None
            self.function.get_concrete_function(*(() if with_signature else tf.nest.map_structure(_batch_spec, args)))
            self._traced = True

    def __call__(self, *args):
        self.trace(*args)
        with without_graph_rewrites():
            return self.function(*args)
