"""Does the default precision train as well as float32? The full convergence figure behind the suite's test.

Trains a CBAM-ResNet-18 (the registry's ``resnet18`` with ``attention="cbam"``) on synthetic faces under
float32 and under ``precision: auto`` (``onednn_bfloat16`` on CPUs with bfloat16 units), from the same
initial weights on the same batches, for 300 steps per seed over 3 seeds
(`kerasfg.convergence.compare_to_float32`), and prints per seed and on average the final training loss
and the held-out loss and accuracy (evaluated in float32), with the differences against the tolerance
that ``tests/test_precision.py`` checks at a smaller size (training loss within 0.05, accuracy within
0.04 of float32's, means over seeds).

    python -m benchmarks.bench_convergence [--steps 300] [--seeds 0,1,2] [--size 32] [--identities 10]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from benchmarks.timing import print_table  # noqa: E402
from kerasfg import convergence  # noqa: E402
from kerasfg import precision as precision_lib  # noqa: E402
from kerasfg.data.synthetic import synthetic_faces  # noqa: E402
from kerasfg.models import build_model  # noqa: E402

LOSS_TOLERANCE, ACCURACY_TOLERANCE = 0.05, 0.04


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--identities", type=int, default=10)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    chosen = precision_lib.resolve(args.precision, jit_compile=False)
    if chosen.name == "float32":
        print(f"skipped: precision {args.precision!r} is float32 on this machine; nothing to compare.")
        return

    def arrays(count, seed):
        faces = synthetic_faces(count, num_identities=args.identities, image_size=args.size, difficulty=0.3,
                                seed=seed)
        return faces.images.astype("float32"), faces.labels["identity"]

    def make_model():
        model = build_model("resnet18", input_shape=(args.size, args.size, 3), num_classes=args.identities,
                            attention="cbam")
        model.compile(keras.optimizers.SGD(0.02, momentum=0.9), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=False)
        return model

    seeds = tuple(int(s) for s in args.seeds.split(","))
    runs = convergence.compare_to_float32(make_model, arrays(2048, 1), arrays(512, 2), precision=chosen.name,
                                          steps=args.steps, seeds=seeds)
    print(f"CBAM-ResNet-18, {args.size}x{args.size} synthetic faces, {args.identities} identities, SGD 0.02 "
          f"momentum 0.9, batch 32, {args.steps} steps per run; evaluated in float32")
    rows = [[name, run.seed, run.train_loss, run.test_metrics["loss"], run.test_metrics["accuracy"]]
            for name, results in runs.items() for run in results]
    print_table(rows, ["precision", "seed", "train loss (last 30)", "test loss", "test accuracy"])
    table = convergence.summary(runs)
    plain, fast = table["float32"], table[chosen.name]
    loss_gap = fast["train_loss"] - plain["train_loss"]
    accuracy_gap = fast["test_accuracy"] - plain["test_accuracy"]
    print(f"\nmeans over {len(seeds)} seeds: train loss {plain['train_loss']:.4f} (float32) vs "
          f"{fast['train_loss']:.4f} ({chosen.name}), difference {loss_gap:+.4f} (tolerance {LOSS_TOLERANCE}); "
          f"test accuracy {plain['test_accuracy']:.4f} vs {fast['test_accuracy']:.4f}, difference "
          f"{accuracy_gap:+.4f} (tolerance {ACCURACY_TOLERANCE})")
    within = abs(loss_gap) <= LOSS_TOLERANCE and abs(accuracy_gap) <= ACCURACY_TOLERANCE
    print("within tolerance" if within else "OUTSIDE the tolerance")


if __name__ == "__main__":
    main()
