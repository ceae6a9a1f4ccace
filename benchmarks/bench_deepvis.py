"""Cost of the feature visualizations on a ResNet-18: deep visualization steps per second against a plain
eager loop, one deconvolution top-9 and one LayerActivations record.

Prints, in one run, for a filter of the last convolution of ResNet-18 (``stage4_block2_2_conv``,
112x112x3 input, 10 classes, random weights) with preset row 3 (L2 decay 1e-4, blur std 1 every
4 steps):

- `kerasfg.vis.DeepVisualizer` (one compiled loop) with 1 unit and with 8 units batched, and a plain
  eager loop with 1 unit (`tf.GradientTape` on a ``keras.Model`` up to the layer, the regularizers in
  NumPy/SciPy, as the thesis's reference code runs them), timed in interleaved rounds; steps/s and
  unit-steps/s, and the speed-up of the compiled loop over the eager one (per-round ratios);
- one `Deconvnet` top-9 on 4 probe images of the last block of ResNet-18 (``stage4_block2_out_relu``, the
  layer Grad-CAM weighs; budget: under 1 s) and one `kerasfg.callbacks.LayerActivations` record (4 probe
  images, default layers), median seconds.

With ``--model`` (a trained quick-start model, ``.keras``), also each preset's effect on it, with the default
normalized step and with the thesis's raw step (learning rate 200): the four class scores on the start
images and after ``RECORDING_STEPS`` steps, and how far the pictures moved (mean absolute change per pixel
as a share of the 0..255 range).

    python -m benchmarks.bench_deepvis [--steps 20] [--rounds 3] [--size 112] [--model quickstart.keras]
"""

import argparse
import dataclasses
import os
import pathlib
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import ndimage  # noqa: E402

from benchmarks.timing import interleaved_times, median_ratio, median_seconds, print_table  # noqa: E402
from kerasfg.callbacks import LayerActivations  # noqa: E402
from kerasfg.callbacks.deep_visualization import RECORDING_STEPS  # noqa: E402
from kerasfg.models import build_model  # noqa: E402
from kerasfg.vis import PRESETS, Deconvnet, DeepVisualizer  # noqa: E402
from kerasfg.vis.activations import representative_layers  # noqa: E402

LAYER = "stage4_block2_2_conv"


def eager_loop(model, layer, unit, settings, shape, steps):
    """Deep visualization as a plain eager loop: the baseline."""
    submodel = keras.Model(model.input, model.get_layer(layer).output)
    image = np.random.default_rng(0).normal(0, 10, (1, *shape)).astype("float32")
    for step in range(1, steps + 1):
        x = tf.constant(image + 127.5)
        with tf.GradientTape() as tape:
            tape.watch(x)
            feature = submodel(x, training=False)
            score = feature[0, feature.shape[1] // 2, feature.shape[2] // 2, unit]
        image = image + settings.learning_rate * tape.gradient(score, x).numpy()
        image *= 1 - settings.l2_decay
        if step % settings.blur_every == 0:
            image = ndimage.gaussian_filter(image, (0, settings.blur_std, settings.blur_std, 0))
        image = np.clip(image, -127.5, 127.5)
    return image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="ascent steps per timed call")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=112, help="input height and width")
    parser.add_argument("--model", help="a trained quick-start model (.keras): the presets' effect on it")
    args = parser.parse_args(argv)

    shape = (args.size, args.size, 3)
    model = build_model("resnet18", input_shape=shape, num_classes=10)
    settings = dataclasses.replace(PRESETS["row3"], steps=args.steps)
    visualizer = DeepVisualizer(model, layer=LAYER, settings=settings)
    candidates = {
        "compiled, 1 unit": lambda: visualizer([7]),
        "compiled, 8 units": lambda: visualizer(list(range(8))),
        "eager loop, 1 unit": lambda: eager_loop(model, LAYER, 7, settings, shape, args.steps),
    }
    times = interleaved_times(candidates, repeats=args.rounds, warmup=1)
    units = {"compiled, 1 unit": 1, "compiled, 8 units": 8, "eager loop, 1 unit": 1}
    rows = []
    for name, values in times.items():
        rate = args.steps / statistics.median(values)
        rows.append([name, rate, rate * units[name]])
    print(f"deep visualization of a filter of {LAYER}, ResNet-18 at {args.size}x{args.size}x3, preset row3, "
          f"{args.steps} steps per call, median of {args.rounds} interleaved rounds")
    print_table(rows, ["loop", "steps/s", "unit-steps/s"])
    print(f"\ncompiled 1 unit vs eager loop: {median_ratio(times, 'eager loop, 1 unit', 'compiled, 1 unit'):.2f}x "
          "faster; compiled 8 units batched vs 8 compiled single-unit runs: "
          f"{8 * median_ratio(times, 'compiled, 1 unit', 'compiled, 8 units'):.2f}x faster")

    probe = np.random.default_rng(1).uniform(0, 255, (4, *shape)).astype("float32")
    deconvnet = Deconvnet(model)  # the last block, as Grad-CAM
    seconds = median_seconds(lambda: deconvnet(probe, top_n=9), repeats=args.rounds)
    print(f"\ndeconvolution top-9 of {deconvnet.layer} (switches: {deconvnet.switches}), 4 probe images: "
          f"{seconds * 1000:.0f} ms (budget: 1000 ms)")
    with tempfile.TemporaryDirectory() as log_dir:
        callback = LayerActivations(probe, log_dir=pathlib.Path(log_dir))
        callback.set_model(model)
        callback.setup()
        seconds = median_seconds(lambda: callback.record(step=0), repeats=args.rounds)
        callback.on_train_end()
    print(f"LayerActivations record ({len(representative_layers(model))} layers, 4 probe images): "
          f"{seconds * 1000:.0f} ms")
    if args.model:
        presets_on(keras.models.load_model(args.model))


def presets_on(model, units=(0, 1, 2, 3)):
    """Print each preset's start and final class scores and picture change on a trained quick-start model."""
    rows = []
    for name, preset in PRESETS.items():
        for label, step in (("normalized (default)", {}), ("raw, learning rate 200", {"step": "raw",
                                                                                     "learning_rate": 200.0})):
            settings = dataclasses.replace(preset, steps=RECORDING_STEPS, **step)
            ascent = DeepVisualizer(model, settings=settings, input_range=(0, 255)).ascend(list(units), seed=0)
            start = np.random.default_rng(0).normal(127.5, settings.start_std * 255, ascent.images.shape)
            moved = np.abs(ascent.images - start).mean() / 255
            rows.append([name, label, " ".join(f"{v:.1f}" for v in ascent.start_activations),
                         " ".join(f"{v:.1f}" for v in ascent.activations), moved])
    print(f"\nthe presets on the trained model, classes {list(units)} of its output, {RECORDING_STEPS} steps")
    print_table(rows, ["preset", "step", "start scores", "final scores", "mean change / range"])


if __name__ == "__main__":
    main()
