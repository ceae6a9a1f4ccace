"""Fused CPU kernels for the attention gates' training passes: a TensorFlow op library built on first use.

SE, ECA and CBAM multiply a feature map by a gate, and CBAM also pools the map across its channels. Each
of these passes over the full map is a memory-bound elementwise kernel in TensorFlow (3.5-5 ms per
32x28x28x256 bfloat16 map on one core), and TensorFlow fuses none of them outside XLA, so the gates cost
more than their arithmetic (see ``docs/performance.md``, "Attention gates"). ``fused_gates.cc`` beside
this module holds CPU kernels that do each gate step, forward or backward, in one vectorized,
multithreaded pass:

- ``scale_channels(x, gate)``: ``x * gate[:, None, None, :]``; its gradient writes ``dy * gate`` and sums
  ``dy * x`` over the pixels in the same pass.
- ``scale_pixels(x, gate)``: ``x * gate`` for a ``(batch, height, width, 1)`` gate; its gradient writes
  ``dy * gate`` and sums ``dy * x`` over the channels in the same pass.
- ``add_channels(x, v)``: ``x + v[:, None, None, :]``, in place (the pooled gradient of
  `kerasfg.layers.base.mean_pool_and_input`).
- ``mean_max_pool_and_input(x)``: CBAM's channel-gate poolings (mean and max over the pixels), and ``x``
  to gate, with one gradient pass for the three.
- ``channel_max_mean_and_input(x)``: CBAM's ``[max, mean]`` across channels, and ``x`` to gate, with one
  gradient pass that counts tied maxima, shares the max's gradient among them and adds the gated input's
  gradient.

Values and gradients are those of the composed TensorFlow operations (float32 to rounding; bfloat16
rounded once instead of after every step). The ops are registered for float32 and bfloat16 and put on the
inference list of the oneDNN bfloat16 graph rewrite (as ``Mul`` is), so that under
``precision: onednn_bfloat16`` they compute in bfloat16 between the bfloat16 convolutions, with no casts.

When it applies: on the TensorFlow backend on a machine without GPU, in calls with ``training=True`` (the
training step) on float32 or bfloat16 maps, outside `kerasfg.layers.base.gates_held` and outside
functions that XLA compiles (`applies`). Inference, evaluation, attention maps and every export trace the
layers with ``training=False`` or ``None`` and get the composed operations, so a SavedModel never holds
these ops and serves in a process (or TF Serving) that has only stock TensorFlow.

The library: built with ``$CXX`` (default ``g++``) against the installed TensorFlow's headers the first
time a process needs it (10-20 s), into ``$KERASFG_CACHE_DIR`` (default
``$XDG_CACHE_HOME/kerasfg`` or ``~/.cache/kerasfg``) under ``ops/``, in a file named by the TensorFlow
version and a hash of the source, the compiler, its flags and the CPU's features; written to a temporary
file and renamed into place, under a file lock, so two processes building at once are safe and a
half-written library is never loaded. It is loaded once per process. Without a compiler, when the build
or the load fails, on another Keras backend, or with ``KERASFG_FUSED_GATES=0``, the layers compute with
the composed operations as before, and one warning says why.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import pathlib
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import keras

logger = logging.getLogger(__name__)

SWITCH = "KERASFG_FUSED_GATES"
SOURCE = pathlib.Path(__file__).with_name("fused_gates.cc")
# Every op type of the library (tests check that exports hold none of them).
OP_TYPES = ("KfgScaleChannels", "KfgScaleChannelsGrad", "KfgScalePixels", "KfgScalePixelsGrad",
            "KfgAddChannels", "KfgGlobalPoolGrad", "KfgChannelMaxMean", "KfgChannelMaxMeanGrad")
# The oneDNN bfloat16 rewrite's list (tensorflow/core/grappler/optimizers/auto_mixed_precision_lists.h)
# that holds Mul: bfloat16 when its inputs come from bfloat16 operations.
REWRITE_LIST_VARIABLE = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_ADD"
_DTYPES = ("float32", "bfloat16")  # the kernels' types (float16 trains on GPUs)
_FLAGS = ("-std=c++17", "-shared", "-fPIC", "-O3", "-march=native", "-fopenmp-simd", "-w")


class BuildError(RuntimeError):
    """The op library could not be built (no compiler, or the compiler failed)."""


class _Library:
    """The library of this process: loaded at most once, or the reason it is not."""

    lock = threading.Lock()
    loaded = False
    ops = None
    reason = None


def library():
    """The loaded op library (a module of op functions), or None where the fused kernels do not apply.

    The first call builds (if not cached) and loads it, or logs one warning naming why not.
    """
    if not _Library.loaded:
        with _Library.lock:
            if not _Library.loaded:
                _Library.ops, _Library.reason = _load()
                _Library.loaded = True
                if _Library.reason is not None:
                    logger.warning("Attention gates use the composed operations, not the fused kernels: %s.",
                                   _Library.reason)
    return _Library.ops


def applies(training, x):
    """Whether a gate called with this ``training`` argument on ``x`` computes with the fused kernels.

    In training calls (``training=True``) on float32 or bfloat16 maps, where the library loaded, outside
    `composed` and outside functions that XLA compiles (``jit_compile=True``: XLA cannot compile custom
    ops).
    """
    return (training is True and keras.backend.standardize_dtype(x.dtype) in _DTYPES
            and not _COMPOSED.active and library() is not None and not _in_xla_function())


class ThreadSwitch(threading.local):
    """A switch of the current thread: off, and on inside `on` blocks (which nest)."""

    active = False

    @contextlib.contextmanager
    def on(self):
        previous = self.active
        self.active = True
        try:
            yield
        finally:
            self.active = previous


_COMPOSED = ThreadSwitch()


def composed():
    """Gates called inside (or in functions traced inside) this block use the composed operations.

    For comparisons within one process (``benchmarks/bench_backbones.py --fused-gates both``, the
    tests); ``KERASFG_FUSED_GATES=0`` switches the fused kernels off for a whole process. It acts in
    this thread.
    """
    return _COMPOSED.on()


def scale_channels(x, gate):
    """``x * gate[:, None, None, :]`` for a ``(batch, channels)`` gate of the dtype of ``x``."""
    return library().kfg_scale_channels(x, gate)


def scale_pixels(x, gate):
    """``x * gate`` for a ``(batch, height, width, 1)`` gate of the dtype of ``x``."""
    return library().kfg_scale_pixels(x, gate)


def add_channels(x, v):
    """``x + v[:, None, None, :]`` for a ``(batch, channels)`` ``v`` of the dtype of ``x``."""
    return library().kfg_add_channels(x, v)


def mean_max_pool_and_input(x):
    """``(mean, max, x)``: a 4D ``x``'s ``(batch, channels)`` mean and max over its pixels, and ``x`` to gate.

    CBAM's channel-gate input. The poolings are TensorFlow's (oneDNN) kernels; the gradient of all three is
    one pass (``KfgGlobalPoolGrad``) that adds the mean's gradient and the max's (whole to the first pixel
    holding the maximum, as TensorFlow's max pooling gives it) to the gated input's, where TensorFlow would
    write the max pooling's gradient as a map and add the maps. Gate the returned ``x``, as with
    `kerasfg.layers.base.mean_pool_and_input`.
    """
    import tensorflow as tf

    ops = library()
    window = (x.shape[1], x.shape[2])

    @tf.custom_gradient
    def pool(x):
        mean = tf.reshape(tf.nn.avg_pool2d(x, window, window, "VALID"), (-1, x.shape[-1]))
        maximum = tf.reshape(tf.nn.max_pool2d(x, window, window, "VALID"), (-1, x.shape[-1]))

        def grad(d_mean, d_max, d_x):
            d_mean = tf.zeros_like(mean) if d_mean is None else d_mean
            d_max = tf.zeros_like(maximum) if d_max is None else d_max
            d_x = tf.zeros_like(x) if d_x is None else d_x
            return ops.kfg_global_pool_grad(d_x, x, d_mean, d_max, maximum)

        return (mean, maximum, tf.identity(x)), grad

    return pool(x)


def channel_max_mean_and_input(x):
    """``(concatenate([max(x, -1), mean(x, -1)], -1), x)``: CBAM's spatial-gate input, and ``x`` to gate.

    As `kerasfg.layers.base.mean_pool_and_input`, gate the returned ``x``: its gradient and the pooling's
    are then written in one pass (the fused form of `kerasfg.layers.base.max_mean_pool` over the channels,
    whose tied maxima share their gradient).
    """
    import tensorflow as tf

    ops = library()

    @tf.custom_gradient
    def pool(x):
        pooled = ops.kfg_channel_max_mean(x)

        def grad(d_pooled, d_x):
            if d_pooled is None:
                return d_x
            return ops.kfg_channel_max_mean_grad(d_pooled, x, pooled,
                                                 tf.zeros([0], x.dtype) if d_x is None else d_x)

        return (pooled, tf.identity(x)), grad

    return pool(x)


def _in_xla_function():
    """Whether the function being traced (or one it is traced in) is compiled by XLA.

    TensorFlow has no public query for it: this reads the control-flow context that ``tf.function(
    jit_compile=True)`` enters while it traces (its only private access; False where that is missing).
    """
    import tensorflow as tf

    graph = tf.compat.v1.get_default_graph()
    while graph is not None:
        get_context = getattr(graph, "_get_control_flow_context", None)
        context = get_context() if get_context is not None else None
        while context is not None:
            if context.IsXLAContext():
                return True
            context = context.outer_context
        graph = getattr(graph, "outer_graph", None)
    return False


def _load():
    """``(ops, None)``, or ``(None, reason)``."""
    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return None, f"{SWITCH}={os.environ[SWITCH]}"
    if keras.backend.backend() != "tensorflow":
        return None, f"they are TensorFlow ops and the Keras backend is {keras.backend.backend()}"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None, "they are CPU kernels and this machine trains on its GPU"
    try:
        path = build()
    except BuildError as error:
        return None, str(error)

    try:
        ops = tf.load_op_library(str(path))
    except (tf.errors.OpError, OSError) as error:
        return None, f"loading {path} failed: {error}"
    _register_gradients(tf, ops)
    listed = [name for name in os.environ.get(REWRITE_LIST_VARIABLE, "").split(",") if name]
    os.environ[REWRITE_LIST_VARIABLE] = ",".join(listed + [op for op in OP_TYPES if op not in listed])
    return ops, None


def cache_dir():
    """Where built libraries are kept: ``$KERASFG_CACHE_DIR/ops``, else ``$XDG_CACHE_HOME/kerasfg/ops`` or
    ``~/.cache/kerasfg/ops``."""
    root = os.environ.get("KERASFG_CACHE_DIR")
    if not root:
        root = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "kerasfg"
    return pathlib.Path(root) / "ops"


def build(directory=None):
    """The path of the op library for this TensorFlow, compiler and CPU, built there if not cached.

    Args:
        directory: where to keep it (default `cache_dir`).

    Returns:
        A ``pathlib.Path`` to the shared library.

    Raises:
        BuildError: no compiler (``$CXX``, default ``g++``), or it failed (the message ends with its
            last error lines).
    """
    import tensorflow as tf

    compiler = os.environ.get("CXX", "g++")
    executable = shutil.which(shlex.split(compiler)[0]) if compiler.strip() else None
    if executable is None:
        raise BuildError(f"no C++ compiler: {compiler!r} (the CXX variable, default g++) is not on PATH")
    command = [*shlex.split(compiler), *_FLAGS, *tf.sysconfig.get_compile_flags()]
    link = tf.sysconfig.get_link_flags()
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([
        source, tf.__version__.encode(), " ".join(command + link).encode(), _compiler_version(command[0]),
        _cpu_features(), platform.machine().encode(), sys.version.encode()])).hexdigest()[:16]
    directory = pathlib.Path(directory) if directory is not None else cache_dir()
    target = directory / f"fused_gates-tf{tf.__version__}-{key}.so"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same file
        if target.exists():
            return target
        handle, partial = tempfile.mkstemp(dir=directory, prefix=target.name + ".", suffix=".partial")
        os.close(handle)
        try:
            started = time.monotonic()
            logger.info("Building the fused attention-gate kernels into %s (once per TensorFlow version "
                        "and compiler).", target)
            result = subprocess.run([*command, str(SOURCE), "-o", partial, *link],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                lines = [line for line in result.stderr.splitlines() if "error" in line] or \
                    result.stderr.splitlines()
                raise BuildError(f"{command[0]} failed with status {result.returncode}: "
                                 + " | ".join(lines[-3:]))
            os.replace(partial, target)
            logger.info("Built %s in %.1f s.", target.name, time.monotonic() - started)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return target


def _compiler_version(executable):
    try:
        return subprocess.run([executable, "--version"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return b""


def _cpu_features():
    """The CPU's feature flags (``-march=native`` compiles for them)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.encode()
    except OSError:
        pass
    return platform.processor().encode()


def _register_gradients(tf, ops):
    @tf.RegisterGradient("KfgScaleChannels")
    def _scale_channels(op, dy):
        return list(ops.kfg_scale_channels_grad(dy, op.inputs[0], op.inputs[1]))

    @tf.RegisterGradient("KfgScalePixels")
    def _scale_pixels(op, dy):
        return list(ops.kfg_scale_pixels_grad(dy, op.inputs[0], op.inputs[1]))

    @tf.RegisterGradient("KfgAddChannels")
    def _add_channels(op, dy):
        return dy, tf.reshape(tf.reduce_sum(dy, axis=list(range(1, dy.shape.rank - 1))), tf.shape(op.inputs[1]))

    @tf.RegisterGradient("KfgChannelMaxMean")
    def _channel_max_mean(op, dpooled):
        return ops.kfg_channel_max_mean_grad(dpooled, op.inputs[0], op.outputs[0], tf.zeros([0], dpooled.dtype))
