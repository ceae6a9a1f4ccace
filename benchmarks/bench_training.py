"""Training throughput of the quick-start model for each precision and XLA setting, and the synthetic
rendering rate against it.

Prints, in one run: training images per second for float32 and mixed_bfloat16, each with jit_compile
off and on, and onednn_bfloat16 (the oneDNN graph rewrite, CPUs) without XLA (timed in interleaved
rounds, so machine drift hits all alike); which combination the
config default ("auto") picks on this machine and its ratio to the fastest (budget: at least 0.95);
and the synthetic faces rendered per second at 64x64 as a ratio to the default's training rate
(budget: at least 10).

    python -m benchmarks.bench_training [--rounds 3] [--steps 8]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from benchmarks.timing import median_seconds, print_table
from kerasfg import precision as precision_lib
from kerasfg import quickstart, training
from kerasfg.data.synthetic import synthetic_faces

# (precision, jit_compile); the oneDNN rewrite applies to graphs that XLA does not compile
SETTINGS = (("float32", False), ("float32", True), ("mixed_bfloat16", False), ("mixed_bfloat16", True),
            ("onednn_bfloat16", False))


def build(config, data, precision, jit_compile):
    with precision_lib.Precision(precision, jit_compile).build_scope():
        model = training.build_model(config, data)
    training.compile_model(model, config.train, jit_compile)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round and setting")
    args = parser.parse_args(argv)

    config = quickstart.default_config(["data.synthetic.train_images=64",
                                        "data.synthetic.val_images=8", "data.synthetic.test_images=8"])
    data = training.build_datasets(config.data)
    batch_size = config.data.batch_size
    faces = synthetic_faces(batch_size, image_size=config.data.synthetic.image_size, seed=1)
    x = {"image": faces.images.astype("float32"), "expression": faces.labels["expression"]}
    y = {"identity": faces.labels["identity"]}

    models = {(p, j): build(config, data, p, j) for p, j in SETTINGS}
    for (p, j), model in models.items():
        with precision_lib.Precision(p, j).training_scope():
            for _ in range(3):  # trace, compile and warm up
                model.train_on_batch(x, y)
    step_times = {key: [] for key in models}
    for _ in range(args.rounds):
        for key, model in models.items():
            with precision_lib.Precision(*key).training_scope():
                for _ in range(args.steps):
                    start = time.perf_counter()
                    model.train_on_batch(x, y)
                    step_times[key].append(time.perf_counter() - start)
    rate = {key: batch_size / statistics.median(times) for key, times in step_times.items()}

    default = (training.resolve_precision("auto"), training.resolve_jit_compile("auto"))
    fastest = max(rate.values())
    print(f"quick-start model, batch {batch_size}, {config.data.synthetic.image_size}x"
          f"{config.data.synthetic.image_size}x3, median of {args.rounds}x{args.steps} steps")
    print_table([[p, j, rate[(p, j)], rate[(p, j)] / fastest, "<- default" if (p, j) == default else ""]
                 for p, j in models], ["precision", "jit_compile", "images/s", "vs fastest", ""])
    print(f"\ndefault (auto) = {default[0]}, jit_compile={default[1]}: "
          f"{rate[default] / fastest:.3f}x the fastest (budget >= 0.95)")

    size = config.data.synthetic.image_size
    render_seconds = median_seconds(lambda: synthetic_faces(2048, image_size=size, seed=2),
                                    repeats=3)
    render_rate = 2048 / render_seconds
    print(f"synthetic faces rendered: {render_rate:.0f} images/s at {size}x{size}, "
          f"{render_rate / rate[default]:.1f}x the default training rate (budget >= 10)")


if __name__ == "__main__":
    main()
