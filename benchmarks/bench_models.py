"""Training throughput of the backbones, measured against baselines in the same run.

Prints, in one run, with the device's default precision and XLA setting (``"auto"``), the same
input, batch and optimizer for every model, timed in interleaved rounds (so machine drift hits all
alike):

- our ResNet50 against ``keras.applications.ResNet50`` (budget: at least 0.97x);
- ResNet50 + SE / ECA / CBAM in every block, as ratios to our plain ResNet50;
- the multi-task ABN with 40 attributes as a cost ratio (step time) to the single-task ABN
  (ResNet-50, both): ours runs the last stage once, where the official code runs it once per
  attribute.

Steps are interleaved one per model in turn; the medians come from ``rounds * steps`` steps each.

    python -m benchmarks.bench_models [--rounds 3] [--steps 6] [--size 96] [--batch 8]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.timing import print_table
from kerasfg import precision as precision_lib
from kerasfg import training
from kerasfg.models import abn_losses, build_model

CLASSES = 10
ATTRIBUTES = 40


def _classifier(model):
    outputs = model.output if isinstance(model.output, dict) else None
    loss = keras.losses.SparseCategoricalCrossentropy()
    return {k: loss for k in outputs} if outputs else loss


def build_candidates(size, batch, precision, jit_compile):
    """``{name: (model, x, y)}``, each compiled with SGD + momentum."""
    keras.config.set_dtype_policy(precision_lib.resolve(precision).dtype_policy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype("float32")
    labels = rng.integers(0, CLASSES, size=(batch,))
    attributes = rng.integers(0, 2, size=(batch, ATTRIBUTES)).astype("float32")
    shape = (size, size, 3)
    try:
        models = {
            "keras.applications.ResNet50": (
                keras.applications.ResNet50(weights=None, input_shape=shape, classes=CLASSES),
                labels, None),
            "resnet50": (build_model("resnet50", input_shape=shape, num_classes=CLASSES),
                         {"predictions": labels}, None),
        }
        for attention in ("se", "eca", "cbam"):
            models[f"resnet50 + {attention}"] = (
                build_model("resnet50", input_shape=shape, num_classes=CLASSES,
                            attention=attention), {"predictions": labels}, None)
        models["abn resnet50 (1 task, 2 classes)"] = (
            build_model("abn_resnet", input_shape=shape, num_classes=2, depth=50),
            {"attention_logits": labels % 2, "perception_logits": labels % 2}, abn_losses())
        models[f"abn resnet50 ({ATTRIBUTES} attributes)"] = (
            build_model("abn_multitask", input_shape=shape, num_classes=ATTRIBUTES, depth=50),
            {"attention_logits": attributes, "perception_logits": attributes},
            abn_losses(multitask=True))
    finally:
        keras.config.set_dtype_policy("float32")
    candidates = {}
    for name, (model, y, compile_args) in models.items():
        compile_args = compile_args or {"loss": _classifier(model)}
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit_compile,
                      **compile_args)
        candidates[name] = (model, x, y)
    return candidates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round and model")
    parser.add_argument("--size", type=int, default=96, help="input height and width")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    tf.get_logger().setLevel("ERROR")  # the retracing notes of train_on_batch on several models
    precision = training.resolve_precision("auto")
    jit_compile = training.resolve_jit_compile("auto")
    candidates = build_candidates(args.size, args.batch, precision, jit_compile)
    with precision_lib.resolve(precision, jit_compile).training_scope():
        for model, x, y in candidates.values():
            for _ in range(3):  # trace, compile and warm up
                model.train_on_batch(x, y)
        # one step per model in turn, so that a burst of load on this shared machine hits all alike
        step_times = {name: [] for name in candidates}
        for _ in range(args.rounds * args.steps):
            for name, (model, x, y) in candidates.items():
                start = time.perf_counter()
                model.train_on_batch(x, y)
                step_times[name].append(time.perf_counter() - start)
    rate = {name: args.batch / statistics.median(times) for name, times in step_times.items()}

    print(f"training step, {args.size}x{args.size}x3, batch {args.batch}, {precision}, "
          f"jit_compile={jit_compile}, SGD; median of {args.rounds}x{args.steps} steps per model")
    baseline = {
        "keras.applications.ResNet50": "keras.applications.ResNet50",
        "resnet50": "keras.applications.ResNet50",
        "resnet50 + se": "resnet50", "resnet50 + eca": "resnet50", "resnet50 + cbam": "resnet50",
        "abn resnet50 (1 task, 2 classes)": "resnet50",
        f"abn resnet50 ({ATTRIBUTES} attributes)": "abn resnet50 (1 task, 2 classes)",
    }
    print_table([[name, candidates[name][0].count_params(), rate[name], baseline[name],
                  rate[name] / rate[baseline[name]]] for name in candidates],
                ["model", "parameters", "images/s", "vs", "ratio"])
    ours = rate["resnet50"] / rate["keras.applications.ResNet50"]
    multitask = (rate["abn resnet50 (1 task, 2 classes)"]
                 / rate[f"abn resnet50 ({ATTRIBUTES} attributes)"])
    print(f"\nresnet50 / keras.applications.ResNet50 images/s: {ours:.3f}x (budget >= 0.97)")
    print(f"ABN {ATTRIBUTES} attributes / single-task ABN step time: {multitask:.3f}x "
          f"(the official code's {ATTRIBUTES} last-stage passes would cost far more)")


if __name__ == "__main__":
    main()
