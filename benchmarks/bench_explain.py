"""Cost of the visual explanations on the quick-start model, against tf-keras-vis in the same run.

Prints, for 64 synthetic faces at the quick-start resolution on the quick-start architecture
(``face_resnet`` with CBAM, from ``kerasfg/configs/quickstart.yaml``):

- Grad-CAM of kerasfg (`kerasfg.vis.Explainer`, compiled, cached) against tf-keras-vis 0.8.7's
  ``Gradcam`` called the usual way (built once with ``clone=True`` and a ReplaceToLinear model
  modifier, called with a ``CategoricalScore``), timed in interleaved rounds; the budget is a median
  per-round time ratio tf-keras-vis / kerasfg of at least 2. tf-keras-vis resizes Grad-CAMs to the
  shape of every input, which fails for the quick start's second (expression) input, so this
  comparison uses the single-input variant of the architecture (no expression input);
- the time of every kerasfg method for the 64 images on the quick-start model itself (image and
  expression inputs). CAM needs a Dense output on global average pooling, which the quick-start head
  is not (it has hidden layers), so it is timed on the single-input variant with a GAP -> Dense head;
- the cost of one recording of the `GradCAM` and `Saliency` callbacks (8 probe images, written to
  event files) as a fraction of a quick-start training epoch, with the device's default precision
  and XLA setting.

    python -m benchmarks.bench_explain [--rounds 7] [--images 64] [--scorecam-channels 16]
"""

import argparse
import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from tf_keras_vis.utils.scores import CategoricalScore

from benchmarks.timing import interleaved_times, median_ratio, median_seconds, print_table
from kerasfg import precision as precision_lib
from kerasfg import quickstart, training
from kerasfg.callbacks import GradCAM, Saliency
from kerasfg.data.synthetic import synthetic_faces
from kerasfg.models import build_model
from kerasfg.vis import Explainer
from kerasfg.vis.cam import feature_layer
from kerasfg.vis.tfkv import VISUALIZATIONS, replace_to_linear


def quickstart_model(extra_inputs=True):
    """The quick-start architecture, untrained (the cost does not depend on the weights)."""
    config = quickstart.default_config()
    size = config.data.synthetic.image_size
    options = dict(config.model.options)
    if extra_inputs:
        options["extra_inputs"] = {"expression": 7}
    return build_model(config.model.name, input_shape=(size, size, 3), num_classes={"identity": 10},
                       attention=config.model.attention, activation=config.model.activation, **options)


def gap_dense_model(model):
    """The single-input quick-start backbone with a Dense softmax directly on its pooled features (for CAM)."""
    features = model.get_layer("features").output
    head = keras.layers.Dense(10, activation="softmax", name="identity")(features)
    return keras.Model(model.inputs[0], head, name="face_resnet_gap_dense")


def callback_overhead(faces, steps=8):
    """``{callback: (seconds per recording, fraction of a quick-start epoch)}``."""
    config = quickstart.default_config()
    default = precision_lib.resolve("auto")
    keras.config.set_dtype_policy(default.dtype_policy)
    try:
        model = quickstart_model()
    finally:
        keras.config.set_dtype_policy("float32")
    training.compile_model(model, config.train, default.jit_compile)
    batch = config.data.batch_size
    x = {"image": faces.images[:batch].astype("float32"), "expression": faces.labels["expression"][:batch]}
    y = {"identity": faces.labels["identity"][:batch] % 10}
    with default.training_scope():
        step = median_seconds(lambda: model.train_on_batch(x, y), repeats=steps, warmup=3)
    epoch = step * math.ceil(config.data.synthetic.train_images / batch)
    probe = {name: value[:8] for name, value in x.items()}
    costs = {}
    with tempfile.TemporaryDirectory() as log_dir:
        for callback in (GradCAM(probe, log_dir=log_dir), Saliency(probe, log_dir=log_dir)):
            callback.set_model(model)
            callback.on_train_begin()
            seconds = median_seconds(lambda c=callback: c.record(step=1), repeats=3, warmup=0)
            callback.on_train_end()
            costs[type(callback).__name__] = (seconds, seconds / epoch)
    return costs, epoch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the Grad-CAM comparison")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--scorecam-channels", type=int, default=16, help="max_channels of the Faster-Score-CAM row")
    args = parser.parse_args(argv)

    model = quickstart_model()
    single = quickstart_model(extra_inputs=False)
    size = single.inputs[0].shape[1]
    faces = synthetic_faces(args.images, image_size=size, seed=1)
    images = faces.images.astype("float32")
    inputs = {"image": images, "expression": faces.labels["expression"].astype("int32")}

    explainer = Explainer(single)
    layer = feature_layer(explainer.graph)
    classes = np.argmax(single.predict(images, verbose=0), axis=-1).tolist()
    gradcam = VISUALIZATIONS["gradcam"](single, model_modifier=replace_to_linear, clone=True)
    score = CategoricalScore(classes)
    candidates = {
        "kerasfg": lambda: explainer(images, "gradcam", layer=layer),
        "tf-keras-vis": lambda: gradcam(score, images, penultimate_layer=layer, seek_penultimate_conv_layer=False),
    }
    times = interleaved_times(candidates, repeats=args.rounds, warmup=2)
    ratio = median_ratio(times, "tf-keras-vis", "kerasfg")
    print(f"Grad-CAM of layer {layer}, {args.images} images {size}x{size}x3, single-input quick-start model, "
          f"{args.rounds} interleaved rounds")
    print_table([[name, float(np.median(values)), min(values)] for name, values in times.items()],
                ["implementation", "median s", "min s"])
    print(f"\ntf-keras-vis Gradcam / kerasfg gradcam time: {ratio:.2f}x (median per round; budget >= 2)\n")

    quick = Explainer(model)
    cam_model = gap_dense_model(single)
    cam_explainer = Explainer(cam_model)
    runs = {
        "saliency": lambda: quick(inputs, "saliency"),
        "smoothgrad (20 samples)": lambda: quick(inputs, "smoothgrad", samples=20),
        "guided_backprop": lambda: quick(inputs, "guided_backprop"),
        "gradcam": lambda: quick(inputs, "gradcam"),
        "gradcam++": lambda: quick(inputs, "gradcam++"),
        "layercam": lambda: quick(inputs, "layercam"),
        f"scorecam (max_channels={args.scorecam_channels})":
            lambda: quick(inputs, "scorecam", max_channels=args.scorecam_channels),
        "scorecam (all channels)": lambda: quick(inputs, "scorecam"),
        "cam (GAP -> Dense variant)": lambda: cam_explainer(images, "cam"),
    }
    rows = []
    for name, run in runs.items():
        repeats = 1 if name.startswith("scorecam (all") else 3
        seconds = median_seconds(run, repeats=repeats, warmup=1)
        rows.append([name, seconds, seconds / args.images * 1000])
    print(f"kerasfg methods on the quick-start model (image + expression inputs), {args.images} images, "
          "median of 3 calls after a warm-up (1 for full Score-CAM)")
    print_table(rows, ["method", "seconds", "ms per image"])

    costs, epoch = callback_overhead(faces)
    print(f"\none recording of a callback (8 probe images, 1 output) against a quick-start epoch ({epoch:.1f} s, "
          f"precision {training.resolve_precision('auto')})")
    print_table([[name, seconds, f"{fraction:.2%}"] for name, (seconds, fraction) in costs.items()],
                ["callback", "seconds", "of an epoch"])


if __name__ == "__main__":
    main()
