"""Training speed of the backbones on Keras's JAX backend: XLA on and off, float32 and the mixed policies.

For a GPU machine where TensorFlow is not installed (or to compare backends): the layers and models of
kerasfg are written with ``keras.ops``, so they train on JAX unchanged (``kerasfg.layers.BatchNormalization``
falls back to Keras's own normalization there). Prints, in one run, training images/s of ResNet-50,
SE-, ECA- and CBAM-ResNet-50 (SGD with momentum, the shapes of ``bench_backbones``) for each
``(dtype policy, jit_compile)`` asked for, every candidate timed in interleaved rounds, and the ratios
to float32 with XLA and of each attention model to the plain ResNet-50 under the same setting.

    KERAS_BACKEND=jax python -m benchmarks.bench_backbones_jax [--rounds 3] [--steps 3] [--size 112]
        [--batch 32] [--policies float32,mixed_bfloat16,mixed_float16] [--jit on,off]
        [--models resnet50,se_resnet50,eca_resnet50,cbam_resnet50]

``mixed_float16`` is for GPUs (on CPUs XLA emulates float16); ``--jit off`` runs every operation
eagerly and is slow on any device: it is there to show what XLA brings. The script sets
``KERAS_BACKEND=jax`` itself when it is unset; it prints why and skips (exit status 0, so that
``python -m benchmarks`` goes on) when JAX is not installed or another backend is set.
"""

import argparse
import importlib.util
import os
import statistics
import time

JAX_INSTALLED = importlib.util.find_spec("jax") is not None
if JAX_INSTALLED:
    os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.timing import print_table  # noqa: E402

CLASSES = 10
ATTENTION = {"resnet50": None, "se_resnet50": "se", "eca_resnet50": "eca", "cbam_resnet50": "cbam"}


def candidate(name, policy, jit_compile, size, batch):
    """A compiled model and one training step on a random batch: ``step() -> None``."""
    from kerasfg.models import build_model

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = build_model("resnet50", input_shape=(size, size, 3), num_classes=CLASSES,
                            attention=ATTENTION[name])
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(), jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, CLASSES, batch)
    return lambda: model.train_on_batch(x, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round and candidate")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--jit", default="on,off", help="XLA settings: on, off or both")
    parser.add_argument("--models", default="resnet50,cbam_resnet50")
    args = parser.parse_args(argv)
    if not JAX_INSTALLED:
        print("skipped: JAX is not installed (pip install jax; jax[cuda12] on an NVIDIA GPU machine).")
        return
    if keras.backend.backend() != "jax":
        print(f"skipped: KERAS_BACKEND is {keras.backend.backend()!r}; run with KERAS_BACKEND=jax.")
        return
    import jax

    settings = [(p, j == "on") for p in args.policies.split(",") for j in args.jit.split(",")]
    steps = {}
    for name in args.models.split(","):
        for policy, jit in settings:
            step = candidate(name, policy, jit, args.size, args.batch)
            start = time.perf_counter()
            step()
            step()  # compile and warm up
            print(f"  {name} / {policy} / jit {jit}: compiled and warmed up in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            steps[(name, policy, jit)] = step
    rounds = {key: [] for key in steps}
    for _ in range(args.rounds):
        for key, step in steps.items():
            times = []
            for _ in range(args.steps):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            rounds[key].append(statistics.median(times))

    def ratio(a, b):  # median over rounds of the speed ratio a / b
        return statistics.median(tb / ta for ta, tb in zip(rounds[a], rounds[b]))

    devices = ", ".join(sorted({d.device_kind for d in jax.devices()}))
    print(f"\nKeras {keras.__version__} on JAX {jax.__version__} ({devices}); {args.size}x{args.size}, "
          f"batch {args.batch}, SGD; median of {args.rounds} rounds x {args.steps} steps")
    rows = []
    for (name, policy, jit), values in rounds.items():
        plain32 = (name, "float32", True)
        rows.append([name, policy, "on" if jit else "off", args.batch / statistics.median(values),
                     ratio((name, policy, jit), plain32) if plain32 in rounds else "",
                     ratio((name, policy, jit), ("resnet50", policy, jit))
                     if ("resnet50", policy, jit) in rounds else ""])
    print_table(rows, ["model", "policy", "XLA", "images/s", "vs float32 + XLA", "vs resnet50 (same setting)"])


if __name__ == "__main__":
    main()
