"""The fused attention-gate kernels (`kerasfg.layers.fused_gates`): values and gradients against the composed
TensorFlow operations, the gates' layers with and without them, the bfloat16 rewrite, the build cache and
the fallback."""

import logging
import os
import shutil
import stat
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.layers import CBAM, ECA, SqueezeExcite, fused_gates
from kerasfg.layers.base import global_pool, max_mean_pool

BFLOAT16_RELATIVE = 2.0**-8  # one bfloat16 rounding
SHAPES = [(1, 1, 1, 5), (3, 5, 7, 19)]  # batch 1; odd maps; channels not a multiple of 16


@pytest.fixture(scope="module")
def library():
    if "CXX" not in os.environ and shutil.which("g++") is None:
        pytest.skip("no C++ compiler (g++) on this machine")
    ops = fused_gates.library()
    assert ops is not None, fused_gates._Library.reason
    return ops


def _random(shape, dtype, seed, ties=False):
    values = np.random.default_rng(seed).normal(size=shape)
    if ties:  # every other pixel holds its maximum in (at least) its first two channels
        values = np.round(values)
        rows = values.reshape(-1, shape[-1])
        rows[::2, :2] = rows[::2].max(axis=-1, keepdims=True)
    return tf.cast(values, dtype)


def _value_and_gradients(function, inputs, upstream):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = function(*inputs)
    return outputs, tape.gradient(outputs, inputs, output_gradients=upstream)


def _assert_close(actual, expected, dtype):
    actual = tf.nest.map_structure(lambda t: tf.cast(t, tf.float32).numpy(), actual)
    expected = tf.nest.map_structure(lambda t: tf.cast(t, tf.float32).numpy(), expected)
    for got, want in zip(tf.nest.flatten(actual), tf.nest.flatten(expected)):
        if dtype == tf.float32:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_allclose(got, want, rtol=BFLOAT16_RELATIVE, atol=1e-5)


def _float32(*tensors):
    return [tf.cast(t, tf.float32) for t in tensors]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16], ids=["float32", "bfloat16"])
def test_kernels_have_the_composed_operations_values_and_gradients(library, shape, dtype):
    """Each fused op against its composition of TensorFlow operations, computed in float32 from the same
    inputs (bfloat16: within one rounding), with ties in the channel maximum."""
    batch, height, width, channels = shape
    x = _random(shape, dtype, 0, ties=True)
    upstream = _random(shape, dtype, 1)
    channel_gate = tf.cast(tf.sigmoid(_random((batch, channels), tf.float32, 2)), dtype)
    pixel_gate = tf.cast(tf.sigmoid(_random((batch, height, width, 1), tf.float32, 3)), dtype)

    cases = [
        (fused_gates.scale_channels, lambda x, g: x * g[:, None, None, :], [x, channel_gate], upstream),
        (fused_gates.scale_pixels, lambda x, g: x * g, [x, pixel_gate], upstream),
        (fused_gates.add_channels, lambda x, v: x + v[:, None, None, :], [x, channel_gate], upstream),
        (library.kfg_channel_max_mean, lambda x: max_mean_pool(x, axis=(3,)), [x],
         _random((batch, height, width, 2), dtype, 4)),
    ]
    for fused, composed, inputs, dy in cases:
        got = _value_and_gradients(fused, inputs, dy)
        want = _value_and_gradients(composed, _float32(*inputs), tf.cast(dy, tf.float32))
        _assert_close(got, want, dtype)

    # CBAM's channel-gate poolings and the gated input share one gradient pass; the max's gradient goes
    # whole to the first pixel that holds it, as TensorFlow's max pooling gives it.
    d_mean, d_max = _random((batch, channels), dtype, 6), _random((batch, channels), dtype, 7)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled = fused_gates.mean_max_pool_and_input(x)
    got = (pooled, tape.gradient(pooled, x, output_gradients=[d_mean, d_max, upstream]))
    x32 = tf.cast(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x32)
        pooled = (global_pool(x32, "mean"), global_pool(x32, "max"), x32)
    want = (pooled, tape.gradient(pooled, x32, output_gradients=_float32(d_mean, d_max, upstream)))
    _assert_close(got, want, dtype)

    # CBAM's spatial-gate pooling and the gated input share one gradient pass.
    d_pooled = _random((batch, height, width, 2), dtype, 5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, passed = fused_gates.channel_max_mean_and_input(x)
    got = (pooled, passed, tape.gradient([pooled, passed], x, output_gradients=[d_pooled, upstream]))
    x32 = tf.cast(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x32)
        pooled = max_mean_pool(x32, axis=(3,))
    want = (pooled, x32, tape.gradient([pooled, x32], x32, output_gradients=_float32(d_pooled, upstream)))
    _assert_close(got, want, dtype)
    ties = tf.reduce_sum(tf.cast(tf.equal(x, tf.reduce_max(x, axis=-1, keepdims=True)), tf.int32), -1)
    assert int(tf.reduce_max(ties)) > 1  # the max's gradient is shared among tied channels


GATES = {
    "se": lambda: SqueezeExcite(ratio=4),
    "eca": lambda: ECA(),
    "cbam": lambda: CBAM(ratio=4),
    "cbam_spatial_first": lambda: CBAM(ratio=4, order="spatial_first"),
}


@pytest.mark.parametrize("gate", list(GATES))
def test_layers_train_with_the_composed_values_and_gradients(library, gate):
    """A training step's outputs and gradients (input and weights) with the fused kernels equal those of
    the composed operations; only the fused step's graph holds the fused ops."""
    layer = GATES[gate]()
    x = _random((2, 5, 7, 19), tf.float32, 0, ties=True)
    layer(x)
    weight = tf.sin(tf.range(19, dtype=tf.float32))

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y * weight)
        return y, tape.gradient(loss, [x, *layer.trainable_weights])

    fused = tf.function(step)
    with fused_gates.composed():
        composed = tf.function(step)
        want = composed(x)
    got = fused(x)
    for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)

    def op_types(function):
        return {op.type for op in function.get_concrete_function(x).graph.get_operations()}

    expected = {"KfgScaleChannels", "KfgScaleChannelsGrad", "KfgAddChannels"}
    if gate.startswith("cbam"):
        expected = set(fused_gates.OP_TYPES) - {"KfgAddChannels"}
    assert op_types(fused) & set(fused_gates.OP_TYPES) == expected
    assert not op_types(composed) & set(fused_gates.OP_TYPES)


def test_inference_maps_xla_and_float16_use_the_composed_operations(library):
    """Inference and attention maps (``training`` False or None), functions compiled by XLA (which cannot
    compile custom ops) and float16 maps (no kernel) trace the composed operations."""
    x = _random((2, 5, 7, 19), tf.float32, 0)
    cbam = CBAM(ratio=4)

    def fused_ops(x, training, layer=cbam, **function):
        graph = tf.function(lambda x: layer(x, training=training, return_attention=True), **function
                            ).get_concrete_function(x).graph
        return {op.type for op in graph.get_operations()} & set(fused_gates.OP_TYPES)

    assert fused_ops(x, True)
    assert not fused_ops(x, False) and not fused_ops(x, None)
    assert not fused_ops(x, True, jit_compile=True)
    assert not fused_ops(x, True, layer=CBAM(ratio=4, dtype="mixed_float16"))


def test_the_bfloat16_rewrite_runs_the_fused_ops_in_bfloat16_without_casts(library):
    """Under the oneDNN bfloat16 rewrite (``precision: onednn_bfloat16``) the fused ops compute in bfloat16
    between bfloat16 operations: the graph that runs holds no cast into or out of them."""
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

    graph = tf.Graph()
    with graph.as_default():
        x = tf.constant(np.random.default_rng(0).normal(size=(2, 6, 6, 8)), tf.float32)
        kernel = tf.Variable(tf.random.normal([3, 3, 8, 16], seed=1))
        h = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        mean, maximum, h = fused_gates.mean_max_pool_and_input(h)
        y = fused_gates.scale_channels(h, tf.sigmoid(mean + maximum))
        pooled, y = fused_gates.channel_max_mean_and_input(y)
        y = fused_gates.scale_pixels(y, tf.sigmoid(tf.nn.conv2d(pooled, tf.ones([3, 3, 2, 1]), 1, "SAME")))
        loss = tf.reduce_sum(tf.square(tf.nn.conv2d(y, tf.ones([1, 1, 16, 4]), 1, "SAME")))
        gradient = tf.gradients(loss, kernel)[0]
        config = config_pb2.ConfigProto()
        config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = \
            rewriter_config_pb2.RewriterConfig.ON
        metadata = config_pb2.RunMetadata()
        with tf.compat.v1.Session(config=config) as session:
            session.run(kernel.initializer)
            session.run(gradient, options=config_pb2.RunOptions(output_partition_graphs=True),
                        run_metadata=metadata)
    nodes = {node.name: node for partition in metadata.partition_graphs for node in partition.node}
    fused = [node for node in nodes.values() if node.op in fused_gates.OP_TYPES]
    assert {node.op for node in fused} == set(fused_gates.OP_TYPES) - {"KfgAddChannels"}
    assert {tf.dtypes.as_dtype(node.attr["T"].type) for node in fused} == {tf.bfloat16}
    for node in nodes.values():
        inputs = [nodes[name.split(":")[0].lstrip("^")] for name in node.input]
        assert not (node.op == "Cast" and any(i.op in fused_gates.OP_TYPES for i in inputs)), node.name
        assert not (node.op in fused_gates.OP_TYPES and any(i.op == "Cast" for i in inputs)), node.name


# The fallback and the cache, with stand-in compilers.


def _compiler(tmp_path, body):
    """A stand-in C++ compiler: a shell script that answers --version and otherwise runs ``body`` with
    ``$out`` the path after -o."""
    path = tmp_path / "fake-g++"
    path.write_text('#!/bin/sh\ncase "$*" in *--version*) echo fake 1.0; exit 0;; esac\n'
                    'while [ "$1" != "-o" ]; do shift; done; out="$2"\n' + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture
def fresh_library(monkeypatch, tmp_path):
    """The process's library state reset for one test (restored after it), with an empty cache."""
    monkeypatch.setattr(fused_gates._Library, "loaded", False)
    monkeypatch.setattr(fused_gates._Library, "ops", None)
    monkeypatch.setattr(fused_gates._Library, "reason", None)
    monkeypatch.setenv("KERASFG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_a_failed_build_falls_back_with_one_warning_and_the_same_outputs(fresh_library, monkeypatch, caplog):
    monkeypatch.setenv("CXX", _compiler(fresh_library, 'echo half > "$out"; echo "op.cc:1: error: boom" >&2; '
                                                       "exit 1"))
    layer = CBAM(ratio=4)
    x = _random((2, 5, 7, 8), tf.float32, 0)
    with caplog.at_level(logging.WARNING, logger=fused_gates.__name__):
        assert fused_gates.library() is None
        assert not fused_gates.applies(True, x)
        got = layer(x, training=True)
    with fused_gates.composed():
        want = layer(x, training=True)
    np.testing.assert_array_equal(got, want)
    warnings = [r.getMessage() for r in caplog.records if r.name == fused_gates.__name__]
    assert len(warnings) == 1 and "failed with status 1" in warnings[0] and "error: boom" in warnings[0]
    assert list((fresh_library / "cache" / "ops").glob("*.so*")) == []  # nothing half-written is left


@pytest.mark.parametrize("setting, reason", [
    ({"KERASFG_FUSED_GATES": "0"}, "KERASFG_FUSED_GATES=0"),
    ({"CXX": "/nonexistent/g++"}, "no C++ compiler: '/nonexistent/g++'"),
])
def test_switched_off_or_without_compiler_the_reason_is_named(fresh_library, monkeypatch, setting, reason):
    for key, value in setting.items():
        monkeypatch.setenv(key, value)
    ops, message = fused_gates._load()
    assert ops is None and message.startswith(reason)


def test_another_backend_is_named(fresh_library, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    ops, reason = fused_gates._load()
    assert ops is None and reason == "they are TensorFlow ops and the Keras backend is jax"


def test_concurrent_builds_compile_once_into_a_complete_file(tmp_path, monkeypatch):
    count = tmp_path / "count"
    monkeypatch.setenv("CXX", _compiler(tmp_path, f'echo run >> "{count}"; echo half > "$out"; sleep 0.5; '
                                                  'echo whole >> "$out"'))
    paths, errors = [], []

    def build():
        try:
            paths.append(fused_gates.build(tmp_path / "cache"))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(paths) == 2 and paths[0] == paths[1]
    assert count.read_text().split() == ["run"]
    assert paths[0].read_text().split() == ["half", "whole"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".build.lock", paths[0].name]
    assert fused_gates.build(tmp_path / "cache") == paths[0] and count.read_text().split() == ["run"]
