"""Budgets of the pain system (``002`` chapter 2): registration against the CNN's training, the LSTM against the CNN.

Prints, in one run, on synthetic face-video frames of 160x160 pixels (about the face region of UNBC-McMaster's
320x240 frames), registered to 224x224 as the thesis does:

- registration throughput (frames/s, on all cores): the aligned crop, frontalization, frontalization with
  landmark noise (the augmented warp every training frame gets in every epoch), and reading the cached warps;
- the frame CNN's training rate at 224x224 (``pain_cnn`` with VGG-Face's widths, the device's precision and
  XLA setting, Adam);
- one epoch of the LSTM (windows of 16 fc6 features of 4096, 256 units) against one epoch of the CNN over
  the same frames.

Budgets: registration at least 3x the CNN's training rate (the cached warps, and the augmented warps too);
the LSTM's epoch at least 10x faster than the CNN's.

    python -m benchmarks.bench_pain [--frames 64] [--batch 8] [--steps 3]
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.timing import print_table
from kerasfg import precision as precision_lib
from kerasfg import training
from kerasfg.data import registration as R
from kerasfg.data.face_video import synthetic_face_video
from kerasfg.data.windows import sliding_windows
from kerasfg.models import build_model
from kerasfg.pain.batches import FrameBatches, WindowBatches


def registration_rates(video, size, rounds):
    """Frames per second of each registration method (median of ``rounds``)."""
    mean_shape = R.generalized_procrustes(video.landmarks).mean_shape
    rates = {}
    with tempfile.TemporaryDirectory() as cache:
        for method in ("aligned_crop", "frontalize"):
            settings = R.Registration(method, size=size)
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                R.register_video(video, settings, mean_shape=mean_shape, progress=False)
                times.append(time.perf_counter() - start)
            rates[method] = len(video) / statistics.median(times)
        cached = R.register_video(video, R.Registration("frontalize", size=size), mean_shape=mean_shape,
                                  cache_dir=cache, progress=False)
        cached = R.register_video(video, R.Registration("frontalize", size=size), mean_shape=mean_shape,
                                  cache_dir=cache, progress=False)  # read back from the cache file
        for name, noise in (("cached warps (read, flip)", 0.0), ("frontalize + landmark noise (1 thread)", 2.0)):
            batches = FrameBatches(cached, np.arange(len(video)), batch_size=32, shuffle=True, flip=True,
                                   noise=noise, video=video)
            start = time.perf_counter()
            for k in range(len(batches)):
                batches[k]
            rates[name] = len(batches) * 32 / (time.perf_counter() - start)
    return rates


def cnn_rate(size, batch, steps, precision, jit_compile):
    """Training frames per second of the frame CNN at ``size`` (median over ``steps`` steps)."""
    keras.config.set_dtype_policy(precision_lib.resolve(precision).dtype_policy)
    try:
        model = build_model("pain_cnn", input_shape=(size, size, 3), num_classes=1)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss={"pspi": "mse"}, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = {"pspi": rng.normal(size=batch).astype("float32")}
    with precision_lib.resolve(precision, jit_compile).training_scope():
        for _ in range(2):
            model.train_on_batch(x, y)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times), model.count_params()


def lstm_epoch_seconds(frames, length=16, features=4096, units=256, batch=32):
    """Seconds of one training epoch of the LSTM over ``frames`` windows of cached features."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(frames, features)).astype("float32")
    bounds = np.array([[start, min(start + 64, frames)] for start in range(0, frames, 64)])
    windows = sliding_windows(bounds, length)
    model = build_model("temporal_lstm", input_shape=(length, features), num_classes=1, units=units)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss={"pspi": "mse"},
                  jit_compile=training.resolve_jit_compile("auto"))
    data = WindowBatches(values, windows, {"pspi": rng.normal(size=frames).astype("float32")}, batch_size=batch,
                         shuffle=True)
    model.fit(data, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - start, len(windows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=64, help="synthetic frames to register")
    parser.add_argument("--size", type=int, default=224, help="registered frame side")
    parser.add_argument("--batch", type=int, default=8, help="CNN training batch")
    parser.add_argument("--steps", type=int, default=3, help="timed CNN steps")
    parser.add_argument("--rounds", type=int, default=3, help="registration repeats")
    parser.add_argument("--lstm-frames", type=int, default=2048, help="frames (windows) of the LSTM epoch")
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")

    video = synthetic_face_video(num_subjects=4, sequences_per_subject=1, frames_per_sequence=args.frames // 4,
                                 image_size=160, difficulty=0.5)
    rates = registration_rates(video, args.size, args.rounds)
    precision = training.resolve_precision("auto")
    jit_compile = training.resolve_jit_compile("auto")
    cnn, parameters = cnn_rate(args.size, args.batch, args.steps, precision, jit_compile)
    print(f"{len(video)} frames of 160x160 registered to {args.size}x{args.size}; CNN: pain_cnn ({parameters:,} "
          f"parameters), {precision}, jit_compile={jit_compile}, batch {args.batch}, median of {args.steps} steps")
    print_table([[name, rate, rate / cnn] for name, rate in rates.items()] + [["CNN training", cnn, 1.0]],
                ["step", "frames/s", "x CNN training"])
    lstm_seconds, windows = lstm_epoch_seconds(args.lstm_frames)
    cnn_seconds = windows / cnn
    print(f"\nepoch over {windows} frames: CNN {cnn_seconds:.1f} s (from its rate), LSTM on cached fc6 features "
          f"{lstm_seconds:.2f} s: {cnn_seconds / lstm_seconds:.0f}x faster (budget >= 10x)")
    print(f"registration / CNN training: aligned crop {rates['aligned_crop'] / cnn:.1f}x, frontalization "
          f"{rates['frontalize'] / cnn:.1f}x, cached warps {rates['cached warps (read, flip)'] / cnn:.0f}x, "
          f"augmented warps {rates['frontalize + landmark noise (1 thread)'] / cnn:.1f}x (budget >= 3x)")


if __name__ == "__main__":
    main()
