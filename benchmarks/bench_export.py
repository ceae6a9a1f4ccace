"""Export budgets (issues 8 and 18), measured on a quick-start-sized model in one process.

* ``serve_pixels`` latency at batch 1 vs the Keras model's direct call: ratio <= 1.2;
* ``serve_pixels`` throughput at batch 64 vs ``model.predict``: ratio >= 0.95;
* ``serving_default`` decode cost per image (JPEG 96x96 -> 64x64, and 64x64 as it is) with the shared
  decode/resize of :mod:`kerasfg.data.preprocessing`, against the decoding that serving used before issue 18
  (``decode_image(channels=3)`` then ``tf.image.resize``, written out below): ratio <= 1.0;
* export + verification time: < 60 s;
* ``kerasfg --help`` and ``kerasfg export --help``: < 1.5 s each (they must not import TensorFlow).

With ``--baseline-checkout DIR`` (a checkout of an older kerasfg, e.g. ``git worktree add /tmp/base
c20350f``), the same model is also exported by that checkout's code in a subprocess, and its
``serve_pixels`` and ``serving_default`` are timed in turns with this checkout's export: ratios <= 1.0.

The model: a small ResNet (stem 32, residual stages 32/64/128/256 with BN+ReLU, GAP) on 64x64x3 pixels with
an int32 ``expression`` input embedded and merged before the ``identity`` softmax head (dict output).

Run: ``python -m benchmarks.bench_export [--repeats N] [--baseline-checkout DIR]``.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from benchmarks.timing import interleaved_medians, interleaved_times, median_ratio, print_table
from kerasfg.data.preprocessing import Preprocessing, decode_images
from kerasfg.export import export_saved_model

SIZE = 64
IDENTITIES = 100
EXPRESSIONS = 7
REPO = pathlib.Path(__file__).resolve().parents[1]


def build_quickstart_like_model():
    image = keras.Input((SIZE, SIZE, 3), name="image")
    expression = keras.Input((), dtype="int32", name="expression")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(image)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    for stage, filters in enumerate((32, 64, 128, 256), start=1):
        stride = 1 if stage == 1 else 2
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"stage{stage}_proj")(x)
            shortcut = layers.BatchNormalization(name=f"stage{stage}_proj_bn")(shortcut)
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"stage{stage}_conv1")(x)
        y = layers.ReLU(name=f"stage{stage}_relu1")(layers.BatchNormalization(name=f"stage{stage}_bn1")(y))
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"stage{stage}_conv2")(y)
        y = layers.BatchNormalization(name=f"stage{stage}_bn2")(y)
        x = layers.ReLU(name=f"stage{stage}_out")(layers.Add(name=f"stage{stage}_add")([shortcut, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    e = layers.Embedding(EXPRESSIONS, 16, name="expression_embedding")(expression)
    x = layers.Concatenate(name="merge")([x, e])
    identity = layers.Dense(IDENTITIES, activation="softmax", name="identity")(x)
    return keras.Model({"image": image, "expression": expression}, {"identity": identity}, name="quickstart_like")


def decode_before_issue_18(encoded_batch, pre):
    """How ``serving_default`` decoded before issue 18: ``decode_image`` straight to the model's channels,
    resize (even at the model's size), round when quantizing, clip."""
    def one(encoded):
        image = tf.io.decode_image(encoded, channels=pre.channels, expand_animations=False)
        image = tf.image.resize(image, pre.image_size, method=pre.resize_method, antialias=pre.antialias)
        return tf.clip_by_value(tf.round(image) if pre.quantize else image, 0.0, 255.0)

    return tf.map_fn(one, encoded_batch, fn_output_signature=tf.TensorSpec((*pre.image_size, pre.channels)))


def help_seconds(repeats):
    """Median wall time of ``kerasfg --help`` and ``kerasfg export --help`` in fresh interpreters."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = {"kerasfg --help": [], "kerasfg export --help": []}
    for _ in range(repeats):
        for name in times:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "kerasfg", *name.split()[1:]], env=env, check=True,
                           capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


BASELINE_EXPORT = """
import sys, keras
from kerasfg.export import export_saved_model
from kerasfg.export.preprocess import Preprocessing
model = keras.saving.load_model(sys.argv[1], compile=False)
export_saved_model(model, sys.argv[2], 1, preprocessing=Preprocessing((64, 64), 3, antialias=True, quantize=True),
                   warmup=False, verify=False)
"""


def export_with(checkout, model_file, base):
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(checkout).resolve())}
    subprocess.run([sys.executable, "-c", BASELINE_EXPORT, str(model_file), str(base)], env=env, check=True,
                   cwd=tempfile.gettempdir(), capture_output=True)
    return pathlib.Path(base) / "1"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--baseline-checkout", metavar="DIR",
                        help="an older kerasfg checkout whose export of the same model is timed against this one")
    args = parser.parse_args()
    helps = help_seconds(5)
    print_table([[name, seconds, 1.5, "yes" if seconds < 1.5 else "NO"] for name, seconds in helps.items()],
                ["command", "seconds", "budget", "within"])
    print()

    keras.utils.set_random_seed(0)
    model = build_quickstart_like_model()
    names = [f"person_{k:03d}" for k in range(IDENTITIES)]
    pre = Preprocessing.pipeline((SIZE, SIZE))  # what a model trained by kerasfg serves with
    print(f"model: {model.count_params() / 1e6:.2f} M parameters, input {SIZE}x{SIZE}x3 + expression; "
          f"serving preprocessing: {pre.summary()}")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = export_saved_model(model, pathlib.Path(tmp) / "quickstart", class_names={"identity": names},
                                    explain="gradcam", preprocessing=pre)
        total = time.perf_counter() - start
        assert result.verification.ok, result.verification.summary()
        print_table([["export + verification", total, 60.0, "yes" if total < 60 else "NO"],
                     ["  of which verification (subprocess)", result.verification.seconds, "", ""]],
                    ["step", "seconds", "budget", "within"])
        print()

        loaded = tf.saved_model.load(str(result.path))
        baseline = None
        if args.baseline_checkout:
            model.save(pathlib.Path(tmp) / "model.keras")
            path = export_with(args.baseline_checkout, pathlib.Path(tmp) / "model.keras", pathlib.Path(tmp) / "old")
            baseline = tf.saved_model.load(str(path))
        rng = np.random.default_rng(0)

        def batch(n):
            pixels = rng.integers(0, 256, (n, SIZE, SIZE, 3)).astype(np.float32)
            return tf.constant(pixels), tf.constant(rng.integers(0, EXPRESSIONS, n).astype(np.int32))

        p1, e1 = batch(1)
        p64, e64 = batch(64)
        large = tf.constant([tf.io.encode_jpeg(f, quality=90).numpy()
                             for f in rng.integers(0, 256, (64, 96, 96, 3)).astype(np.uint8)])
        same = tf.constant([tf.io.encode_jpeg(f, quality=90).numpy()
                            for f in rng.integers(0, 256, (64, SIZE, SIZE, 3)).astype(np.uint8)])
        new_decode = tf.function(lambda b: decode_images(b, pre))
        old_decode = tf.function(lambda b: decode_before_issue_18(b, pre))
        serve_pixels = loaded.signatures["serve_pixels"]
        serve_bytes = loaded.signatures["serving_default"]

        latency = interleaved_medians({
            "keras": lambda: model({"image": p1, "expression": e1}, training=False),
            "serve_pixels": lambda: serve_pixels(image=p1, expression=e1),
        }, repeats=args.repeats * 4, warmup=3)
        throughput = interleaved_medians({
            "predict": lambda: model.predict({"image": p64, "expression": e64}, batch_size=64, verbose=0),
            "keras_call": lambda: model({"image": p64, "expression": e64}, training=False),
            "serve_pixels": lambda: serve_pixels(image=p64, expression=e64),
            "serving_default": lambda: serve_bytes(image_bytes=large, expression=e64),
        }, repeats=args.repeats, warmup=2)
        decode = interleaved_times({
            "new 96": lambda: new_decode(large), "old 96": lambda: old_decode(large),
            "new 64": lambda: new_decode(same), "old 64": lambda: old_decode(same),
        }, repeats=args.repeats * 2, warmup=2)
        versus = None
        if baseline is not None:
            old_pixels, old_bytes = baseline.signatures["serve_pixels"], baseline.signatures["serving_default"]
            versus = interleaved_times({
                "new pixels b1": lambda: serve_pixels(image=p1, expression=e1),
                "old pixels b1": lambda: old_pixels(image=p1, expression=e1),
                "new bytes b64": lambda: serve_bytes(image_bytes=large, expression=e64),
                "old bytes b64": lambda: old_bytes(image_bytes=large, expression=e64),
            }, repeats=args.repeats * 2, warmup=2)

    lat_ratio = latency["serve_pixels"] / latency["keras"]
    thr_ratio = throughput["predict"] / throughput["serve_pixels"]  # img/s ratio = inverse time ratio
    print_table([
        ["batch 1 latency (ms)", latency["keras"] * 1e3, latency["serve_pixels"] * 1e3,
         f"{lat_ratio:.2f}x time", "<= 1.2x", "yes" if lat_ratio <= 1.2 else "NO"],
        ["batch 64 throughput (img/s)", 64 / throughput["predict"], 64 / throughput["serve_pixels"],
         f"{thr_ratio:.2f}x img/s", ">= 0.95x", "yes" if thr_ratio >= 0.95 else "NO"],
        ["  for reference: batch 64 direct call (img/s)", 64 / throughput["keras_call"],
         64 / throughput["serve_pixels"], f"{throughput['keras_call'] / throughput['serve_pixels']:.2f}x img/s",
         "", ""],
    ], ["measure", "keras (call / predict)", "serve_pixels", "ratio", "budget", "within"])
    print()
    rows = []
    for size in ("96", "64"):
        ratio = median_ratio(decode, f"new {size}", f"old {size}")
        rows.append([f"decode + resize, JPEG {size}x{size} -> {SIZE}x{SIZE}, per image (ms)",
                     statistics.median(decode[f"old {size}"]) / 64 * 1e3,
                     statistics.median(decode[f"new {size}"]) / 64 * 1e3, f"{ratio:.2f}x time", "<= 1.0x",
                     "yes" if ratio <= 1.0 else "NO"])
    rows.append(["serving_default, 64 JPEG 96x96, per image (ms)", "",
                 throughput["serving_default"] / 64 * 1e3, "", "", ""])
    if versus is not None:
        # serve_pixels runs the same ops in both exports, so its ratio shows the noise of the machine.
        for name, label, budget in (("pixels b1", "serve_pixels batch 1 (ms)", 1.05),
                                    ("bytes b64", "serving_default 64 JPEG (ms)", 1.0)):
            ratio = median_ratio(versus, f"new {name}", f"old {name}")
            rows.append([f"{label}: baseline checkout's export vs this one", statistics.median(versus[f"old {name}"])
                         * 1e3, statistics.median(versus[f"new {name}"]) * 1e3, f"{ratio:.2f}x time",
                         f"<= {budget}x", "yes" if ratio <= budget else "NO"])
    print_table(rows, ["serving cost", "before issue 18", "now", "ratio", "budget", "within"])


if __name__ == "__main__":
    main()
