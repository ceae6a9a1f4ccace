"""Faithfulness of every explanation method on the quick-start model, against the synthetic faces'
evidence masks and the model's own deletion and insertion curves, with their cost.

Trains the quick-start model (``kerasfg/configs/quickstart.yaml``, seeded; export off) or loads a
trained one (``--model run_dir/model.keras``, with the same ``--set`` overrides it was trained with),
takes the first ``--images`` validation faces (the probe that `kerasfg.training.fit` gives the
callbacks) with the evidence masks of the explained output's task, and prints
`kerasfg.vis.faithfulness_table` for every method of `kerasfg.vis.explain`, the CBAM spatial attention
of the last attention layer, and the random reference (the chance levels of the mask scores and a random
pixel order for the curves); a method that does not apply to the model (CAM needs a global-average-
pooling head) is named and left out. Then the seconds each method takes to explain the probe (warm, median of
3) and the seconds of the whole table.

With ``--variants``, also the choices behind the Grad-CAM and Score-CAM defaults, each scored with deletion
to black and to a blur: Grad-CAM at the default layer and one stage earlier, on the class score before the
softmax (the default) and on the probability; Score-CAM with the image masked into its blur (the default) and
into zeros (the paper's), and with the weights used before issue 17 (a softmax over the channels of the
masked images' class scores, masked into zeros).

    python -m benchmarks.bench_faithfulness [--model PATH] [--images 64] [--steps 16] [--variants]
        [--set key=value ...]

The second architecture of docs/evaluation.md: ``--set model.name=resnet18 --set model.attention=null
--set "model.options={rescale: unit}" --set "data.inputs=[image]" --set "data.targets=[expression]"
--set train.epochs=8``.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.timing import median_seconds, print_table
from kerasfg import quickstart, training
from kerasfg.callbacks.faithfulness import DEFAULT_METHODS, Faithfulness
from kerasfg.layers.base import AttentionLayer
from kerasfg.vis import Explainer, faithfulness_table, mask_share, resize
from kerasfg.vis.activations import representative_layers
from kerasfg.vis.attention_maps import AttentionMapProbe
from kerasfg.vis.batches import take
from kerasfg.vis.faithfulness import applicable_methods
from kerasfg.vis.introspect import feature_layer


def attention_method(explainer, inputs):
    """The spatial gate of the model's last attention layer that has one, as a faithfulness method."""
    layers = explainer.graph.paths_of(AttentionLayer)
    probe = AttentionMapProbe(explainer.model, layers[-1:]) if layers else None
    if probe is None or "spatial" not in probe(inputs)[layers[-1]]:
        return None

    def attention(model, inputs, *, output, classes):
        spatial = probe(inputs)[layers[-1]]["spatial"][..., 0]
        return resize(spatial, explainer.inputs.image_shape[:2])

    return attention


def variants(explainer):
    """``{name: method}``: the choices behind the Grad-CAM and Score-CAM defaults (see the module docstring)."""
    stages = representative_layers(explainer.model)
    default = feature_layer(explainer.graph)
    earlier = stages[stages.index(default) - 1] if default in stages[1:] else stages[-2]

    def gradcam(**options):
        return lambda model, inputs, *, output, classes: explainer(inputs, "gradcam", output=output, classes=classes,
                                                                   **options)

    def scorecam(**options):
        return lambda model, inputs, *, output, classes: explainer(inputs, "scorecam", output=output, classes=classes,
                                                                   **options)

    def gradcam_of_probability(model, inputs, *, output, classes):
        image, rest = explainer.split_inputs(inputs)
        path = explainer.layer_path("gradcam", output)
        with tf.GradientTape() as tape:
            logits, taps = explainer.logits(image, rest, output, taps=[path])
            score = tf.gather(tf.nn.softmax(logits), np.asarray(classes, np.int32), batch_dims=1)
        features = tf.cast(taps[path], tf.float32)
        weights = tf.reduce_mean(tf.cast(tape.gradient(score, taps[path]), tf.float32), axis=(1, 2), keepdims=True)
        return np.asarray(resize(tf.nn.relu(tf.reduce_sum(weights * features, -1)).numpy(), image.shape[1:3]))

    def scorecam_before(model, inputs, *, output, classes):
        """Score-CAM as kerasfg computed it before issue 17: a softmax over the channels of the class scores of
        the image multiplied by each normalized feature map."""
        image, rest = explainer.split_inputs(inputs)
        path = explainer.layer_path("scorecam", output)
        _, taps = explainer.logits(image, rest, output, taps=[path])
        features = tf.cast(taps[path], tf.float32)
        masks = tf.transpose(tf.image.resize(features, image.shape[1:3]), [0, 3, 1, 2])
        low, high = (tf.reduce_min(masks, [2, 3], keepdims=True), tf.reduce_max(masks, [2, 3], keepdims=True))
        masks = tf.math.divide_no_nan(masks - low, high - low)
        scores = []
        for n in range(image.shape[0]):
            masked = image[n][None] * masks[n][..., None]
            logits, _ = explainer.logits(masked, {k: tf.repeat(v[n:n + 1], len(masked), 0) for k, v in rest.items()},
                                         output)
            scores.append(logits[:, classes[n]])
        weights = tf.nn.softmax(tf.stack(scores), axis=-1)
        maps = tf.nn.relu(tf.einsum("nhwk,nk->nhw", features, weights)).numpy()
        return np.asarray(resize(maps, image.shape[1:3]))

    return {"gradcam (default layer, class score)": gradcam(),
            f"gradcam at {earlier}": gradcam(layer=earlier),
            "gradcam of the probability": gradcam_of_probability,
            "scorecam (default: masked into a blur)": scorecam(),
            "scorecam masked into zeros (the paper's)": scorecam(baseline="zeros"),
            "scorecam before issue 17 (softmax over channels, zeros)": scorecam_before}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained quick-start model (.keras); trained here by default")
    parser.add_argument("--images", type=int, default=64, help="probe images explained (fit's probe: 64)")
    parser.add_argument("--steps", type=int, default=16, help="steps of the deletion and insertion curves")
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    parser.add_argument("--save-model", help="where to save the trained model, to rerun with --model")
    parser.add_argument("--variants", action="store_true", help="also score the choices behind the defaults")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as workdir:
        config = quickstart.default_config(["export.enabled=false", "train.verbose=0", f"runs_dir={workdir}",
                                            *args.set])
        start = time.perf_counter()
        epoch_seconds = None
        if args.model:
            model = keras.models.load_model(args.model)
            print(f"loaded {args.model}")
        else:
            result = training.fit(config)
            model = result.model
            seconds = time.perf_counter() - start
            epoch_seconds = seconds / config.train.epochs
            print(f"trained the quick-start model in {seconds:.0f} s: test metrics "
                  + ", ".join(f"{name} {value:.3f}" for name, value in result.test_metrics.items()))
            if args.save_model:
                model.save(args.save_model)
        data = training.build_datasets(config.data)
    first = next(iter(data.validation.unbatch().batch(args.images)))
    inputs, targets = (keras.tree.map_structure(np.asarray, part) for part in first)
    output = config.data.targets[0]
    masks = data.validation_masks[output][:args.images]

    explainer = Explainer(model)
    names, skipped = applicable_methods(explainer, output=output)
    for name, reason in skipped.items():
        print(f"{name}: does not apply to this model ({reason})")
    methods = {name: name for name in names}
    attention = attention_method(explainer, inputs)
    if attention is not None:
        methods["cbam_spatial_attention"] = attention
    start = time.perf_counter()
    rows = faithfulness_table(model, inputs, methods=methods, masks=masks, output=output, steps=args.steps,
                              explainer=explainer)
    table_seconds = time.perf_counter() - start

    accuracy = float(np.mean(model.predict(inputs, verbose=0)[output].argmax(-1) == np.ravel(targets[output])))
    print(f"\nfaithfulness of the explanations of output {output!r} on {len(masks)} validation faces "
          f"(probe accuracy {accuracy:.3f}); evidence mask: {mask_share(masks).mean():.3f} of the image, "
          f"{mask_share(masks, 2).mean():.3f} grown by the pointing game's 2-pixel tolerance")
    print("pointing_game, energy_in_mask: higher is better (random row = chance); deletion_auc: lower is "
          f"better; insertion_auc: higher is better ({args.steps} steps, deletion into a blur, insertion "
          "from it)\n")
    print_table([list(row.values()) for row in rows], list(rows[0]))

    if args.variants:
        layer = explainer.layer_path("gradcam", output)
        print(f"\nthe choices behind the Grad-CAM and Score-CAM defaults (default layer {layer})")
        chosen = variants(explainer)
        for baseline in ("zeros", "blur"):
            rows = faithfulness_table(model, inputs, methods=chosen, masks=masks, output=output, steps=args.steps,
                                      explainer=explainer, deletion_baseline=baseline)
            print(f"\ndeletion to {'black' if baseline == 'zeros' else 'a blur'}")
            print_table([list(row.values()) for row in rows], list(rows[0]))

    print("\nseconds to explain the probe (warm, median of 3)")
    timings = []
    for name, method in methods.items():
        if isinstance(method, str):
            seconds = median_seconds(lambda m=method: explainer(inputs, m, output=output), repeats=3)
        else:
            seconds = median_seconds(lambda m=method: m(model, inputs, output=output, classes=None), repeats=3)
        timings.append([name, seconds])
    print_table(timings, ["method", "seconds"])
    print(f"\nwhole table (maps, curves of {len(methods) + 1} rows, first calls compiling): {table_seconds:.1f} s")

    # What one recording of the Faithfulness callback costs at its defaults (its images, methods and curve steps;
    # the callback reads the maps from the recording callbacks' shared pass, here they are computed too).
    defaults = Faithfulness()
    count = defaults.max_images
    chosen, _ = applicable_methods(explainer, DEFAULT_METHODS, output=output)
    probe = take(inputs, count)
    recording = median_seconds(lambda: faithfulness_table(model, probe, methods=chosen, masks=masks[:count],
                                                          output=output, explainer=explainer, **defaults.options),
                               repeats=3)
    ratio = f", {recording / epoch_seconds:.2f} of a training epoch ({epoch_seconds:.0f} s)" if epoch_seconds else ""
    print(f"one Faithfulness recording at its defaults ({count} images, {len(chosen)} methods, "
          f"{defaults.options['steps']} steps): {recording:.2f} s{ratio}")


if __name__ == "__main__":
    main()
