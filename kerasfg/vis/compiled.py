"""Compiled functions for work that runs a few times per training: visualizations and recordings.

A `tf.function` pays twice before its first result: tracing the Python code into a graph, and Grappler's
rewrites of that graph (constant folding, arithmetic simplification, op fusion) when it is first called.
The rewrites pay off for a function called thousands of times, like a training step; a recording runs a
few times per training on a small batch, where they cost more than they save. For the quick-start model,
Grappler took about 0.35 s of the first call of the recording callbacks' shared pass and of the deep
visualization loop, and the later calls ran as fast without it.

`RecordingFunction` compiles such a function: traced once for batches of any size, and called without
Grappler's rewrites. Other functions of the process, the training step included, keep them.
"""

import contextlib

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context


@contextlib.contextmanager
def without_graph_rewrites():
    """Call compiled functions in this thread without Grappler's rewrites of their graphs.

    A function is optimized, once, for the options of the thread that calls it, and again whenever it is
    called with other options: call a function always inside this context or always outside it.

    TensorFlow keeps these options per thread in its eager context (`FunctionCallOptions`, not a public
    API); where it has none, functions are called as they are.
    """
    eager = context.context()
    previous = getattr(eager, "function_call_options", None)
    if not isinstance(previous, context.FunctionCallOptions):
        yield
        return
    eager.function_call_options = _unoptimized(previous)
    try:
        yield
    finally:
        eager.function_call_options = previous


_UNOPTIMIZED = {}


def _unoptimized(options):
    """``options`` with Grappler's meta optimizer off (one object per configuration, so that a function is
    optimized once for it)."""
    key = (options.executor_type, options.config_proto_serialized)
    if key not in _UNOPTIMIZED:
        config = config_pb2.ConfigProto.FromString(options.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        _UNOPTIMIZED[key] = context.FunctionCallOptions(executor_type=options.executor_type, config_proto=config)
    return _UNOPTIMIZED[key]


def _batch_spec(value):
    if isinstance(value, (tf.Tensor, np.ndarray)) and len(value.shape):
        return tf.TensorSpec([None, *value.shape[1:]], tf.as_dtype(value.dtype))
    return value


class RecordingFunction:
    """``python_function`` compiled (without autograph) for work that runs a few times per training.

    It is first traced with the batch axis of every array argument left unknown (unless an
    ``input_signature`` says otherwise), so that the callbacks' probe batches, single examples and
    chunks of any size run one trace instead of one per batch size (each costs as much as hundreds of
    calls); and it is called without Grappler's graph rewrites (see `without_graph_rewrites`).

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
        self._traced = input_signature is not None

    def __call__(self, *args):
        if not self._traced:
            self.function.get_concrete_function(*tf.nest.map_structure(_batch_spec, args))
            self._traced = True
        with without_graph_rewrites():
            return self.function(*args)
