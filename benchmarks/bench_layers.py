"""Cost of each attention module inside a ResNet-50 bottleneck stage, as a ratio to the bare stage.

The stage: three identity bottleneck blocks (256 -> 64 -> 64 -> 256, BN + ReLU) at 56x56x256, the
module after the last BN of each residual branch, before the addition (SENet / CBAM placement).
One timed call = forward + backward (gradients of a scalar loss with respect to all weights).
Budgets (issue 3): SE, ECA <= 1.10x; CBAM <= 1.30x.

When keras-cv-attention-models and tf-keras are installed (``pip install --no-deps
tf-keras==2.21.0 keras-cv-attention-models==1.4.3``), the same stage is also built in tf-keras with
kecam's ``se_module`` and ``eca_module`` and timed in the same interleaved run; its ratio is to its
own tf-keras bare stage, and the "module ms" column (stage with module minus bare stage) compares
the modules themselves.

    python -m benchmarks.bench_layers [--batch 8] [--repeats 7] [--jit]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# tf.keras becomes tf-keras (for the kecam baseline); `import keras` stays Keras 3.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import interleaved_medians, print_table  # noqa: E402
from kerasfg.layers import get_attention  # noqa: E402

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


def keras3_stage(attention, shape):
    inputs = keras.Input(shape)
    builder = get_attention(attention)
    attn = None if builder is None else (lambda y, name: builder(name=name)(y))
    return keras.Model(inputs, bottleneck_stage(keras.layers, inputs, attn))


def kecam_stage(attention, shape):
    from keras_cv_attention_models import attention_layers as kecam

    modules = {
        None: None,
        # SENet's C // 16 bottleneck: se_ratio is relative to the input channels.
        "se": lambda y, name: kecam.se_module(y, se_ratio=1 / 16, divisor=1, limit_round_down=0,
                                              name=name + "_"),
        "eca": lambda y, name: kecam.eca_module(y, name=name + "_"),
    }
    inputs = tf.keras.Input(shape)
    return tf.keras.Model(inputs, bottleneck_stage(tf.keras.layers, inputs, modules[attention]))


def train_step(model, x, jit):
    variables = model.trainable_weights

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        return tape.gradient(loss, variables)

    def run():
        grads = step()
        grads[0].numpy()  # wait for the result

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
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the step (slower on CPU)")
    args = parser.parse_args(argv)

    shape = (args.size, args.size, 256)
    x = np.random.default_rng(0).normal(size=(args.batch, *shape)).astype("float32")
    names = [None, "se", "eca", "cbam"]
    candidates = {("kerasfg", n): train_step(keras3_stage(n, shape), x, args.jit) for n in names}
    with_kecam = kecam_available()
    if with_kecam:
        for n in (None, "se", "eca"):
            candidates[("kecam", n)] = train_step(kecam_stage(n, shape), x, args.jit)
    print(f"device: {tf.config.list_logical_devices()[-1].device_type}, batch {args.batch}, "
          f"input {shape}, jit_compile={args.jit}, {args.repeats} interleaved repeats"
          + ("" if with_kecam else "; kecam/tf-keras not installed: no published baseline"))

    times = interleaved_medians(candidates, repeats=args.repeats, warmup=2)
    rows = []
    for (impl, n), t in times.items():
        base = times[(impl, None)]
        budget = BUDGETS.get(n)
        verdict = "" if budget is None or impl != "kerasfg" else (
            f"<= {budget:.2f}: {'ok' if t / base <= budget else 'MISSED'}")
        rows.append([impl, n or "none", t * 1e3, t / base, (t - base) * 1e3, verdict])
    print_table(rows, ["impl", "module", "step ms", "ratio to bare", "module ms", "budget"])
    if with_kecam:
        for n in ("se", "eca"):
            ours = times[("kerasfg", n)] - times[("kerasfg", None)]
            theirs = times[("kecam", n)] - times[("kecam", None)]
            print(f"{n}: kerasfg module {ours * 1e3:.2f} ms vs kecam {theirs * 1e3:.2f} ms "
                  f"({'ours at least as fast' if ours <= theirs else 'kecam faster'}); "
                  f"whole stage {times[('kerasfg', n)] / times[('kecam', n)]:.3f}x kecam's")


if __name__ == "__main__":
    main()
