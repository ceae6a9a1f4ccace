"""Export budgets (issue 8), measured on a quick-start-sized model in one process.

* ``serve_pixels`` latency at batch 1 vs the Keras model's direct call: ratio <= 1.2;
* ``serve_pixels`` throughput at batch 64 vs ``model.predict``: ratio >= 0.95;
* ``serving_default`` decode cost per image (JPEG 96x96 -> 64x64): serving_default minus serve_pixels;
* export + verification time: < 60 s.

The model: a small ResNet (stem 32, residual stages 32/64/128/256 with BN+ReLU, GAP) on 64x64x3 pixels with
an int32 ``expression`` input embedded and merged before the ``identity`` softmax head (dict output).

Run: ``python -m benchmarks.bench_export [--repeats N]``.
"""

import argparse
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from benchmarks.timing import interleaved_medians, print_table
from kerasfg.export import export_saved_model
from kerasfg.export.preprocess import Preprocessing, decode_images

SIZE = 64
IDENTITIES = 100
EXPRESSIONS = 7


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = build_quickstart_like_model()
    names = [f"person_{k:03d}" for k in range(IDENTITIES)]
    print(f"model: {model.count_params() / 1e6:.2f} M parameters, input {SIZE}x{SIZE}x3 + expression")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = export_saved_model(model, pathlib.Path(tmp) / "quickstart", class_names={"identity": names},
                                    explain="gradcam")
        total = time.perf_counter() - start
        assert result.verification.ok, result.verification.summary()
        verify_s = result.verification.seconds
        print_table([["export + verification", total, 60.0, "yes" if total < 60 else "NO"],
                     ["  of which verification (subprocess)", verify_s, "", ""]],
                    ["step", "seconds", "budget", "within"])
        print()

        loaded = tf.saved_model.load(str(result.path))
        serve_pixels = loaded.signatures["serve_pixels"]
        serve_bytes = loaded.signatures["serving_default"]
        rng = np.random.default_rng(0)

        def batch(n):
            pixels = rng.integers(0, 256, (n, SIZE, SIZE, 3)).astype(np.float32)
            return tf.constant(pixels), tf.constant(rng.integers(0, EXPRESSIONS, n).astype(np.int32))

        p1, e1 = batch(1)
        p64, e64 = batch(64)
        faces = rng.integers(0, 256, (64, 96, 96, 3)).astype(np.uint8)
        jpegs = tf.constant([tf.io.encode_jpeg(f, quality=90).numpy() for f in faces])
        decode_only = tf.function(lambda b: decode_images(b, Preprocessing((SIZE, SIZE))))

        latency = interleaved_medians({
            "keras": lambda: model({"image": p1, "expression": e1}, training=False),
            "serve_pixels": lambda: serve_pixels(image=p1, expression=e1),
        }, repeats=args.repeats * 4, warmup=3)
        throughput = interleaved_medians({
            "predict": lambda: model.predict({"image": p64, "expression": e64}, batch_size=64, verbose=0),
            "keras_call": lambda: model({"image": p64, "expression": e64}, training=False),
            "serve_pixels": lambda: serve_pixels(image=p64, expression=e64),
            "serving_default": lambda: serve_bytes(image_bytes=jpegs, expression=e64),
            "decode": lambda: decode_only(jpegs),
        }, repeats=args.repeats, warmup=2)

    lat_ratio = latency["serve_pixels"] / latency["keras"]
    thr_ratio = throughput["predict"] / throughput["serve_pixels"]  # img/s ratio = inverse time ratio
    decode_ms = throughput["decode"] / 64 * 1e3
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
    print_table([
        ["serving_default, 64 JPEG 96x96 (ms/batch)", throughput["serving_default"] * 1e3],
        ["serve_pixels, 64 x 64x64 pixels (ms/batch)", throughput["serve_pixels"] * 1e3],
        ["decode + resize alone (tf.function), per image (ms)", decode_ms],
    ], ["serving_default decode", "value"])


if __name__ == "__main__":
    main()
