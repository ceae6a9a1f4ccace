"""Face data budgets: the JPEG pipeline vs what ResNet-18 consumes, fit fed by the pipeline vs in-memory
tensors, and alignment rate per detector.

Budgets (issue 5):
- the JPEG pipeline (decode, augment, batch) delivers >= 3x the images/s that ResNet-18 at 112x112 trains on;
- ``fit`` fed by the real pipeline reaches >= 0.95x the images/s of ``fit`` fed from in-memory tensors.

Run: ``python -m benchmarks.bench_data`` (a few minutes on 2 CPU cores; ``--quick`` for fewer repeats).
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

from benchmarks.timing import interleaved_medians, print_table

SIZE = 112


def make_jpegs(root, count, side=128, seed=0):
    """``count`` JPEG photos (random crops of scikit-image's photos) in a folder per class, 8 classes."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    rng = np.random.default_rng(seed)
    for k in range(count):
        photo = photos[k % len(photos)]
        h, w = photo.shape[:2]
        c = int(rng.integers(150, min(h, w)))
        y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        crop = Image.fromarray(photo[y:y + c, x:x + c]).resize((side, side), Image.Resampling.BILINEAR)
        path = root / f"class{k % 8}" / f"{k:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        crop.save(path, quality=90)


def resnet18(input_shape=(SIZE, SIZE, 3), num_classes=8):
    """A plain ResNet-18 (basic blocks 2-2-2-2, widths 64-512, BN + ReLU), functional."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, filters in enumerate((64, 128, 256, 512)):
        for block in range(2):
            name = f"stage{stage + 1}_block{block + 1}"
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                                    name=f"{name}_conv1")(x)
            y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
            y = keras.layers.ReLU(name=f"{name}_relu1")(y)
            y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
            y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
            if strides != 1 or shortcut.shape[-1] != filters:
                shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                               name=f"{name}_proj")(shortcut)
                shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
            x = keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="resnet18")
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    return model


def pipeline_rate(pipes, repeats):
    """Images/s of one full pass over each pipeline (median of interleaved repeats)."""
    def consume(pipe):
        def run():
            for _ in pipe:
                pass
        return run

    counts = {name: sum(int(x.shape[0]) for x, _ in p) for name, p in pipes.items()}
    times = interleaved_medians({name: consume(p) for name, p in pipes.items()}, repeats=repeats, warmup=0)
    return {name: counts[name] / times[name] for name in pipes}


class StepTimer(keras.callbacks.Callback):
    """Wall time of each training step of the last ``fit`` (immune to pauses between fit calls)."""

    def on_train_begin(self, logs=None):
        self.steps, self._last = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(time.perf_counter() - self._last)


def bench_pipeline_vs_training(root, args):
    from kerasfg.data import load_dataset

    ds = load_dataset("folder", root, image_size=(SIZE, SIZE))
    batch = args.batch
    rates = pipeline_rate({
        "files: decode+augment+batch, no cache": ds.as_dataset(batch, training=True, augment="default",
                                                               cache=False, seed=1),
        "files: decode+flip+batch, no cache": ds.as_dataset(batch, training=True, augment="flip",
                                                            cache=False, seed=1),
        "cached uint8 + augment + batch": ds.as_dataset(batch, training=True, augment="default", seed=1),
    }, args.repeats)

    model = resnet18()
    x = np.random.default_rng(0).uniform(0, 255, (batch * args.steps, SIZE, SIZE, 3)).astype(np.float32)
    y = (np.arange(len(x)) % 8).astype(np.int32)
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)  # trace + warm up
    # The real pipeline: decode + resize cached as uint8, then shuffle, augment ("default": flip, zoom,
    # rotation, crop, brightness, contrast), batch, prefetch; over 4 batches of files, run through one pass
    # first so that its cache is full. Short fits of the two feeds take turns (the machine is shared: turns
    # spread the other load over both), and per-step times from the second step on are compared; the
    # per-round ratio pairs measurements taken seconds apart.
    small = ds.subset(np.arange(4 * batch))
    pipe = small.as_dataset(batch, training=True, augment="default", seed=2, repeat=True, tasks="label")
    for _ in pipe.take(6):
        pass
    feeds = {"in-memory tensors": None, "JPEG pipeline (cache + augment)": pipe}
    step_times = {name: [] for name in feeds}
    round_ratios = []
    timer = StepTimer()
    for _ in range(args.rounds):
        medians = {}
        for name, feed in feeds.items():
            if feed is None:
                model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            else:
                model.fit(feed, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[timer])
            step_times[name].extend(timer.steps[1:])
            medians[name] = np.median(timer.steps[1:])
        round_ratios.append(medians["in-memory tensors"] / medians["JPEG pipeline (cache + augment)"])
    train = {name: batch / float(np.median(t)) for name, t in step_times.items()}
    consume = train["in-memory tensors"]
    print(f"\nJPEG pipeline ({len(ds)} JPEGs 128x128 -> {SIZE}x{SIZE}, batch {batch}) vs ResNet-18 training "
          f"at {SIZE}x{SIZE} (float32, jit_compile={model.jit_compile}, {os.cpu_count()} CPU cores)")
    rows = [[name, f"{rate:,.0f}", f"{rate / consume:.1f}x"] for name, rate in rates.items()]
    rows.append(["ResNet-18 fit, in-memory tensors", f"{consume:,.1f}", "1.0x (baseline)"])
    print_table(rows, ["pipeline alone", "img/s", "vs ResNet-18 training (budget >= 3x)"])
    print(f"\nResNet-18 fit at {SIZE}x{SIZE}: {args.rounds} rounds of {args.steps}-step fits per feed, "
          f"per-step times from step 2")
    rows = []
    for name, t in step_times.items():
        q1, q3 = np.percentile(t, [25, 75])
        rows.append([name, f"{train[name]:,.2f}", f"{batch / q3:,.1f}-{batch / q1:,.1f}",
                     f"{train[name] / consume:.3f}x"])
    print_table(rows, ["fed by", "img/s (median step)", "img/s (IQR)", "vs in-memory (budget >= 0.95x)"])
    cpu_share = consume / rates["cached uint8 + augment + batch"]
    print(f"median of per-round ratios: {np.median(round_ratios):.3f}x (rounds: "
          f"{', '.join(f'{r:.2f}' for r in round_ratios)}); the pipeline's work is {cpu_share:.1%} of the "
          f"training's CPU time, so on these shared cores the expected ratio is about {1 - cpu_share:.3f}x")
    return rates, train


def bench_alignment(args):
    from skimage import data

    from kerasfg.data.align import FaceAligner

    astronaut = data.astronaut()
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    configs = [("dlib-hog", 68, 1), ("dlib-hog", 5, 1), ("dlib-cnn", 68, 0), ("mtcnn", 5, 1)]
    rows = []
    for detector, landmarks, upsample in configs:
        aligner = FaceAligner(detector, landmarks, size=SIZE, upsample=upsample)
        aligner.align(astronaut)  # load the models
        for name, images in (("astronaut 512x512", [astronaut]), ("lfw_subset 25x25 -> 100", list(lfw))):
            n = {"dlib-cnn": 2, "mtcnn": 4}.get(detector, 8) if name.startswith("astro") else \
                {"dlib-cnn": 4, "mtcnn": 10}.get(detector, 40)
            batch = [images[k % len(images)] for k in range(max(1, n // 2) if args.quick else n)]
            start = time.perf_counter()
            found = sum(aligner.align(im)[0] is not None for im in batch)
            elapsed = time.perf_counter() - start
            rows.append([detector, landmarks, upsample, name, len(batch), found, f"{len(batch) / elapsed:.2f}"])
    print("\nAlignment rate per detector (one process; prepare-faces runs one per CPU core)")
    print_table(rows, ["detector", "landmarks", "upsample", "images", "n", "faces found", "faces/s"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the pipeline-alone timing")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved fit rounds")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats and rounds, half the alignment images")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.rounds = 2, 4
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "faces"
        make_jpegs(root, args.images)
        bench_pipeline_vs_training(root, args)
    bench_alignment(args)


if __name__ == "__main__":
    main()
