"""Training step of the where/what glimpse model against plain VGG-16 on the same high-resolution images.

The point of the glimpse design (thesis ch. 3): the expensive network sees a low-resolution copy, and only
``n`` of the ``k x k`` high-resolution cells (5 of 256, about 2% of the pixels) go through the first conv
blocks. Prints, in one run, with the device's default precision and XLA setting, interleaved training
steps of:

- ``vgg16 @ S``: VGG-16's conv trunk on the ``S x S`` images, globally average-pooled into the classifier
  (``vgg16_cam``; an fc head on a 600x600 image would need a 680M-parameter fc6) -- the baseline;
- ``glimpse k=16 n=5 @ S``: the default glimpse model (where stream at 224x224, fc6/fc7 of 4096);
- ``vgg16 @ 224``: plain VGG-16 with its fc head at the where stream's resolution (what the glimpse
  model adds on top of it).

Budget: the glimpse step must be clearly cheaper than the baseline's (ratio well below 1).

    python -m benchmarks.bench_glimpse [--size 600] [--batch 2] [--rounds 3] [--steps 2]
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
from kerasfg.models import build_model

TASKS = {"age": 8, "gender": 2}


def build_candidates(size, batch, precision, jit_compile):
    """``{name: (model, x, y)}``, each compiled with SGD + momentum and a cross-entropy per task."""
    keras.config.set_dtype_policy(precision_lib.resolve(precision).dtype_policy)
    rng = np.random.default_rng(0)
    labels = {task: rng.integers(0, classes, batch) for task, classes in TASKS.items()}
    try:
        models = {
            f"vgg16 @ {size}": (build_model("vgg16_cam", input_shape=(size, size, 3), num_classes=TASKS), size),
            f"glimpse k=16 n=5 @ {size}": (build_model("glimpse_attention", input_shape=(size, size, 3),
                                                       num_classes=TASKS), size),
            "vgg16 @ 224": (build_model("vgg16", input_shape=(224, 224, 3), num_classes=TASKS), 224),
        }
    finally:
        keras.config.set_dtype_policy("float32")
    candidates = {}
    for name, (model, side) in models.items():
        model.compile(optimizer=keras.optimizers.SGD(1e-4, momentum=0.9), jit_compile=jit_compile,
                      loss={task: "sparse_categorical_crossentropy" for task in TASKS})
        x = rng.uniform(0, 255, (batch, side, side, 3)).astype("float32")
        candidates[name] = (model, x, labels)
    return candidates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=600, help="high-resolution height and width")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per round and model")
    args = parser.parse_args(argv)

    tf.get_logger().setLevel("ERROR")
    precision = training.resolve_precision("auto")
    jit_compile = training.resolve_jit_compile("auto")
    candidates = build_candidates(args.size, args.batch, precision, jit_compile)
    with precision_lib.resolve(precision, jit_compile).training_scope():
        for model, x, y in candidates.values():
            for _ in range(2):  # trace, compile and warm up
                model.train_on_batch(x, y)
        step_times = {name: [] for name in candidates}
        for _ in range(args.rounds * args.steps):  # one step per model in turn: load bursts hit all alike
            for name, (model, x, y) in candidates.items():
                start = time.perf_counter()
                model.train_on_batch(x, y)
                step_times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(times) for name, times in step_times.items()}

    baseline, glimpse, low = list(candidates)
    print(f"training step, batch {args.batch}, {precision}, jit_compile={jit_compile}, SGD; median of "
          f"{args.rounds}x{args.steps} steps per model")
    print_table([[name, candidates[name][0].count_params(), seconds[name], seconds[name] / seconds[baseline]]
                 for name in candidates], ["model", "parameters", "s/step", f"vs {baseline}"])
    print(f"\nglimpse / plain VGG-16 on {args.size}x{args.size} step time: "
          f"{seconds[glimpse] / seconds[baseline]:.3f}x (budget: clearly below 1)")
    print(f"glimpse / VGG-16 at 224x224 (its where stream alone): {seconds[glimpse] / seconds[low]:.3f}x")


if __name__ == "__main__":
    main()
