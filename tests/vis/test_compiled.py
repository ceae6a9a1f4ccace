"""Recording functions: one trace for any batch size, called without Grappler's rewrites, other functions untouched."""

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context

from kerasfg.vis.compiled import RecordingFunction, without_graph_rewrites


def _meta_optimizer_disabled():
    config = config_pb2.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized)
    return config.graph_options.rewrite_options.disable_meta_optimizer


def test_one_trace_serves_batches_of_any_size_and_agrees_with_tf_function():
    traces = []

    def scaled_sum(images, extra):
        traces.append(images.shape)
        return {"sum": tf.reduce_sum(images * 2.0, axis=[1, 2]) + tf.cast(extra, tf.float32)[:, None]}

    compiled = RecordingFunction(scaled_sum)
    for batch in (64, 16, 1, 5):
        images = np.random.default_rng(batch).normal(size=(batch, 4, 4, 3)).astype("float32")
        extra = np.arange(batch, dtype="int32")
        result = compiled(images, extra)
        np.testing.assert_allclose(result["sum"], tf.function(scaled_sum)(images, extra)["sum"], rtol=1e-6)
    assert traces[0] == (None, 4, 4, 3)
    assert traces.count((None, 4, 4, 3)) == 1


def test_calls_run_without_graph_rewrites_and_leave_the_threads_options_as_they_were():
    previous = context.context().function_call_options
    assert not _meta_optimizer_disabled()
    seen = []
    compiled = RecordingFunction(lambda x: x + 1.0)
    with without_graph_rewrites():
        seen.append(_meta_optimizer_disabled())
        with without_graph_rewrites():  # nested use keeps the same options object
            seen.append(context.context().function_call_options)
    np.testing.assert_array_equal(compiled(np.zeros((2, 3), "float32")), np.ones((2, 3)))
    assert seen[0] is True
    assert seen[1].config_proto_serialized != previous.config_proto_serialized
    # the very same options object comes back, so every other function (the training step included) keeps
    # the configuration it was optimized for and is not optimized again
    assert context.context().function_call_options is previous
    assert not _meta_optimizer_disabled()


def test_the_options_come_back_when_the_function_raises():
    previous = context.context().function_call_options

    compiled = RecordingFunction(lambda x: tf.debugging.check_numerics(tf.math.log(x), "log of a negative"))
    try:
        compiled(np.array([-1.0], "float32"))
    except tf.errors.InvalidArgumentError:
        pass
    else:
        raise AssertionError("the assertion should have failed")
    assert context.context().function_call_options is previous
