"""Cost of each attention module inside a ResNet-50 bottleneck stage, as a ratio to the bare stage.

The stage: three identity bottleneck blocks (256 -> 64 -> 64 -> 256, BN + ReLU) at 56x56x256, the
module after the last BN of each residual branch, before the addition (SENet / CBAM placement).
One timed call = forward + backward (gradients of a scalar loss with respect to all weights).
Budgets (issue 3): SE, ECA <= 1.10x; CBAM <= 1.30x.

``--precision`` picks the training precision of the kerasfg stages (``auto``, the default, is the
path ``kerasfg train`` takes on this machine: on CPUs with bfloat16 units the oneDNN bfloat16 rewrite,
with kerasfg's fused batch normalization as in the backbones; ``float32`` is the stage as issue 3
timed it, with Keras's batch normalization). ``--threads 1 --clock cpu`` times one core's CPU time,
which other processes on a shared machine disturb least.

When keras-cv-attention-models and tf-keras are installed (``pip install --no-deps
tf-keras==2.21.0 keras-cv-attention-models==1.4.3``), the same stage is also built in tf-keras with
kecam's ``se_module`` and ``eca_module`` and timed in the same interleaved run; its ratio is to its
own tf-keras bare stage, and the "module ms" column (stage with module minus bare stage) compares
the modules themselves.

    python -m benchmarks.bench_layers [--batch 4] [--size 56] [--repeats 11] [--jit] [--clock wall|cpu]
        [--precision auto|float32|...] [--threads N]
"""

import argparse
import contextlib
import os
import statistics
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# tf.keras becomes tf-keras (for the kecam baseline); `import keras` stays Keras 3.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import interleaved_times, median_ratio, print_table  # noqa: E402
from kerasfg import precision as precision_lib  # noqa: E402
from kerasfg.layers import BatchNormalization, get_attention  # noqa: E402

BUDGETS = {"se": 1.10, "eca": 1.10, "cbam": 1.30}


def bottleneck_stage(layers, x, attention=None, blocks=3, prefix="stage2"):
    """Identity bottleneck blocks written against a Keras-like ``layers`` module."""
    channels = x.shape[-1]
    for b in range(blocks):
        name = f"{prefix}_block{b + 1}"
        y = x
        for i, (filters, k) in enumerate([(channels // 4, 1), (channels // 4, 3), (channels, 1)]):
            y = layers.Conv2D(filters, k, padding="same", use_bias=False, name=f"{name}_conv{i}")(y)
            y = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn{i}")(y)
            if i < 2:
                y = layers.ReLU(name=f"{name}_relu{i}")(y)
        if attention is not None:
            y = attention(y, f"{name}_attention")
        x = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))
    return x


def keras3_stage(attention, shape, fused_batch_norm=False):
    """The stage in Keras 3 with kerasfg's ``attention``; with kerasfg's fused batch normalization
    (as the backbones build it) or Keras's."""
    inputs = keras.Input(shape)
    builder = get_attention(attention)
    attn = None if builder is None else (lambda y, name: builder(name=name)(y))
    layers = keras.layers
    if fused_batch_norm:
        layers = types.SimpleNamespace(Conv2D=keras.layers.Conv2D, ReLU=keras.layers.ReLU,
                                       Add=keras.layers.Add, BatchNormalization=BatchNormalization)
    return keras.Model(inputs, bottleneck_stage(layers, inputs, attn))


def kecam_modules():
    from keras_cv_attention_models import attention_layers as kecam

    return {
        None: None,
        # SENet's C // 16 bottleneck: se_ratio is relative to the input channels.
        "se": lambda y, name: kecam.se_module(y, se_ratio=1 / 16, divisor=1, limit_round_down=0,
                                              name=name + "_"),
        "eca": lambda y, name: kecam.eca_module(y, name=name + "_"),
    }


def kecam_stage(attention, shape):
    inputs = tf.keras.Input(shape)
    module = kecam_modules()[attention]
    return tf.keras.Model(inputs, bottleneck_stage(tf.keras.layers, inputs, module))


def keras3_module(attention, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, get_attention(attention)(name=attention)(inputs))


def kecam_module(attention, shape):
    inputs = tf.keras.Input(shape)
    return tf.keras.Model(inputs, kecam_modules()[attention](inputs, attention))


def train_step(model, x, jit, scope=contextlib.nullcontext):
    """Forward + backward: gradients of a scalar loss for the input and every trainable weight, each
    call inside a fresh ``scope()`` (the precision's training scope)."""
    x = tf.constant(x)
    variables = model.trainable_weights

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        return tape.gradient(loss, [x, *variables])

    def run():
        with scope():
            step()[0].numpy()  # wait for the result

    return run


def kecam_available():
    try:
        import keras_cv_attention_models  # noqa: F401
        import tf_keras  # noqa: F401
    except ImportError:
        return False
    return tf.keras.layers.Layer.__module__.startswith("tf_keras")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the step (slower on CPU)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or this process's CPU time (less disturbed by other "
                             "processes on a shared machine)")
    parser.add_argument("--precision", default="auto",
                        help="training precision of the kerasfg stages (default: auto, kerasfg's default "
                             "path on this machine; float32: Keras's batch normalization, no rewrite)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra-op threads (0: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    precision = precision_lib.resolve(args.precision, jit_compile=args.jit)

    shape = (args.size, args.size, 256)
    x = np.random.default_rng(0).normal(size=(args.batch, *shape)).astype("float32")
    names = [None, "se", "eca", "cbam"]
    candidates = {}
    for n in names:
        with precision.build_scope():
            model = keras3_stage(n, shape, fused_batch_norm=precision.name != "float32")
        candidates[("kerasfg", n)] = train_step(model, x, args.jit, precision.training_scope)
    with_kecam = kecam_available()
    if with_kecam:
        for n in (None, "se", "eca"):
            candidates[("kecam", n)] = train_step(kecam_stage(n, shape), x, args.jit)
    print(f"device: {tf.config.list_logical_devices()[-1].device_type}, batch {args.batch}, "
          f"input {shape}, jit_compile={args.jit}, {args.repeats} interleaved repeats, "
          f"{args.clock} clock, kerasfg precision {precision.name}"
          + (f", {args.threads} thread(s)" if args.threads else "")
          + ("" if with_kecam else "; kecam/tf-keras not installed: no published baseline"))

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    times = interleaved_times(candidates, repeats=args.repeats, warmup=2, clock=clock)
    rows = []
    for (impl, n), values in times.items():
        ratio = median_ratio(times, (impl, n), (impl, None))
        step = statistics.median(values)
        budget = BUDGETS.get(n)
        verdict = "" if budget is None or impl != "kerasfg" else (
            f"<= {budget:.2f}: {'ok' if ratio <= budget else 'MISSED'}")
        rows.append([impl, n or "none", step * 1e3, ratio, verdict])
    print("ratio = median over rounds of (stage with module) / (bare stage) of the same round")
    print_table(rows, ["impl", "module", "median step ms", "ratio to bare", "budget"])
    if not with_kecam:
        return
    # The tf-keras bare stage and the Keras 3 one differ (their BN kernels do), so compare the
    # modules themselves too: each alone, forward + backward on the same input, interleaved.
    modules = {}
    for n in ("se", "eca"):
        modules[("kerasfg", n)] = train_step(keras3_module(n, shape), x, args.jit)
        modules[("kecam", n)] = train_step(kecam_module(n, shape), x, args.jit)
    alone = interleaved_times(modules, repeats=args.repeats * 2, warmup=2, clock=clock)
    print("\nmodule alone on the same input, forward + backward:")
    rows = []
    for n in ("se", "eca"):
        ratio = median_ratio(alone, ("kerasfg", n), ("kecam", n))
        rows.append([n, statistics.median(alone[("kerasfg", n)]) * 1e3,
                     statistics.median(alone[("kecam", n)]) * 1e3, ratio,
                     "ours at least as fast" if ratio <= 1.0 else "kecam faster"])
    print_table(rows, ["module", "kerasfg ms", "kecam ms", "kerasfg / kecam", ""])


if __name__ == "__main__":
    main()
