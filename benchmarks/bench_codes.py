"""Training step with an output-code head against the same backbone with a one-hot softmax.

The output-code head (`kerasfg.codes.OutputCodes`, thesis ch. 6) replaces ``Dense(n) + softmax`` by
``Dense(k)`` and a softmax over the negative distances of the normalized output to the ``n`` code rows.
Prints, in one run, with the device's default precision and XLA setting, interleaved training steps of
a CIFAR ResNet-20 on 32x32 images with 100 classes:

- one-hot: the softmax classifier (the baseline);
- a 66-bit dense random code and a 99-bit Gaussian code.

Budget: an output-code head adds at most 5% to the step time.

    python -m benchmarks.bench_codes [--batch 128] [--rounds 5] [--steps 6]
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

CLASSES = 100
HEADS = {
    "one-hot softmax": None,
    "dense random code, 66 bits": {"design": "dense_random", "bits": 66, "candidates": 200},
    "gaussian code, 99 bits": {"design": "gaussian", "bits": 99},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round and model")
    args = parser.parse_args(argv)

    tf.get_logger().setLevel("ERROR")
    precision = training.resolve_precision("auto")
    jit_compile = training.resolve_jit_compile("auto")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, CLASSES, args.batch)
    keras.config.set_dtype_policy(precision_lib.resolve(precision).dtype_policy)
    try:
        models = {name: build_model("cifar_resnet20", input_shape=(32, 32, 3), num_classes=CLASSES,
                                    output_codes=None if code is None else {"predictions": code})
                  for name, code in HEADS.items()}
    finally:
        keras.config.set_dtype_policy("float32")
    with precision_lib.resolve(precision, jit_compile).training_scope():
        for model in models.values():
            model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit_compile,
                          loss="sparse_categorical_crossentropy")
            for _ in range(3):
                model.train_on_batch(x, y)
        step_times = {name: [] for name in models}
        for _ in range(args.rounds * args.steps):
            for name, model in models.items():
                start = time.perf_counter()
                model.train_on_batch(x, y)
                step_times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(times) for name, times in step_times.items()}
    baseline = "one-hot softmax"
    print(f"cifar_resnet20, 32x32x3, {CLASSES} classes, batch {args.batch}, {precision}, "
          f"jit_compile={jit_compile}; median of {args.rounds}x{args.steps} steps per model")
    print_table([[name, models[name].count_params(), seconds[name], seconds[name] / seconds[baseline]]
                 for name in models], ["head", "parameters", "s/step", "vs one-hot"])
    worst = max(seconds[name] / seconds[baseline] for name in models if name != baseline)
    print(f"\noutput-code head / one-hot softmax step time: up to {worst:.3f}x (budget <= 1.05)")


if __name__ == "__main__":
    main()
