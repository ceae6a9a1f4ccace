"""Sanity checks (Adebayo et al. 2018) of the explanation methods on the quick-start model, and their cost.

Trains the quick-start model (``kerasfg/configs/quickstart.yaml``, seeded; export off) or loads a trained
one (``--model``), takes the first ``--images`` validation faces (fit's probe), and prints:

- the cascading randomization (the layers with weights re-initialized from the top down, one more at each
  step): each method's mean Spearman rank correlation and SSIM with the trained model's maps, and the
  model-independent edge detector (the control);
- the independent randomization of each layer alone (rank correlations);
- the data randomization test: the maps of the model against those of the same network trained on the
  same faces with their labels permuted (``--shuffled-images`` of them, ``--shuffled-epochs`` epochs, so
  that it can fit the random labels), with that model's accuracy on its training labels and on the test set;
- the seconds of one `kerasfg.callbacks.SanityChecks` recording at its defaults, against a training epoch.

With ``--plot PATH`` it saves `kerasfg.vis.sanity_checks.SanityCheckResult.plot` of the cascade.

    python -m benchmarks.bench_sanity [--model PATH] [--images 16] [--plot sanity.png] [--set key=value ...]
"""

import argparse
import math
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.timing import median_seconds, print_table  # noqa: E402
from kerasfg import quickstart, training  # noqa: E402
from kerasfg.callbacks import SanityChecks  # noqa: E402
from kerasfg.callbacks.sanity_checks import DEFAULT_METHODS  # noqa: E402
from kerasfg.vis import Explainer  # noqa: E402
from kerasfg.vis.batches import take  # noqa: E402
from kerasfg.vis.sanity_checks import CONTROL, data_randomization_test, sanity_checks  # noqa: E402


def shuffled_label_model(config, count, epochs, seed=0):
    """The quick-start network (without dropout, so that it can memorize) trained on ``count`` training faces
    whose labels are randomly permuted."""
    from kerasfg.data.synthetic import synthetic_faces

    synthetic = config.data.synthetic
    faces = synthetic_faces(count, num_identities=synthetic.num_identities, image_size=synthetic.image_size,
                            difficulty=synthetic.difficulty, seed=synthetic.seed * 3,
                            identity_seed=synthetic.identity_seed)
    rng = np.random.default_rng(seed)
    targets = {task: rng.permutation(faces.labels[task]) for task in config.data.targets}
    inputs = {name: faces.images.astype("float32") if name == "image" else faces.labels[name]
              for name in config.data.inputs}
    inputs = inputs["image"] if list(inputs) == ["image"] else inputs
    data = training.build_datasets(config.data)
    keras.utils.set_random_seed(seed)
    model = training.build_model(config, data)
    training.compile_model(model, config.train, jit_compile=False,
                           steps_per_epoch=math.ceil(count / config.data.batch_size))
    model.fit(inputs, targets, epochs=epochs, batch_size=config.data.batch_size, verbose=0)
    fitted = model.evaluate(inputs, targets, return_dict=True, verbose=0)
    tested = model.evaluate(data.test, return_dict=True, verbose=0)
    return model, fitted, tested


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained quick-start model (.keras); trained here by default")
    parser.add_argument("--images", type=int, default=16, help="probe images explained")
    parser.add_argument("--shuffled-images", type=int, default=1000, help="faces the shuffled-label model fits")
    parser.add_argument("--shuffled-epochs", type=int, default=40)
    parser.add_argument("--plot", help="save the cascade's plot (rank correlation) to this PNG file")
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as workdir:
        config = quickstart.default_config(["export.enabled=false", "train.verbose=0", f"runs_dir={workdir}",
                                            *args.set])
        epoch_seconds = None
        if args.model:
            model = keras.models.load_model(args.model)
        else:
            start = time.perf_counter()
            model = training.fit(config).model
            epoch_seconds = (time.perf_counter() - start) / config.train.epochs
        data = training.build_datasets(config.data)
    first = next(iter(data.validation.unbatch().batch(args.images)))
    inputs = keras.tree.map_structure(np.asarray, first[0])
    output = config.data.targets[0]
    explainer = Explainer(model)

    start = time.perf_counter()
    result = sanity_checks(model, inputs, DEFAULT_METHODS, output=output, explainer=explainer)
    seconds = time.perf_counter() - start
    methods = [*DEFAULT_METHODS, CONTROL]
    for mode in ("cascading", "independent"):
        rows = [row for row in result.rows if row["mode"] == mode]
        print(f"\n{mode} randomization of the {len(result.layers)} layers with weights of output {output!r}, "
              f"{args.images} probe faces: mean rank correlation (and SSIM) with the trained model's maps")
        table = []
        for layer in result.layers:
            cells = {row["method"]: row for row in rows if row["layer"] == layer}
            table.append([layer, *(f"{cells[m]['rank_correlation']:.3f} ({cells[m]['ssim']:.3f})" for m in methods)])
        print_table(table, ["layer randomized" + (" (cumulative, top down)" if mode == "cascading" else ""),
                            *methods])
    print(f"\nboth randomizations: {seconds:.1f} s")
    if args.plot:
        result.plot().savefig(args.plot, dpi=100)
        print(f"plot: {args.plot}")

    shuffled_config = quickstart.default_config(["export.enabled=false", "model.options.dropout=0.0", *args.set])
    shuffled, fitted, tested = shuffled_label_model(shuffled_config, args.shuffled_images, args.shuffled_epochs)
    accuracy = [value for name, value in fitted.items() if name.endswith("accuracy")][0]
    test_accuracy = [value for name, value in tested.items() if name.endswith("accuracy")][0]
    print(f"\ndata randomization: the network trained on {args.shuffled_images} faces with permuted {output} labels "
          f"for {args.shuffled_epochs} epochs fits them with accuracy {accuracy:.3f} (test accuracy "
          f"{test_accuracy:.3f})")
    data_result = data_randomization_test(model, shuffled, inputs, DEFAULT_METHODS, output=output)
    print_table([[row["method"], row["rank_correlation"], row["ssim"]] for row in data_result.rows],
                ["method", "rank correlation", "ssim"])

    callback = SanityChecks(inputs)
    callback.set_model(model)
    defaults = {"by": callback.by, "modes": callback.modes, "explainer": explainer, "output": output}
    steps = len(sanity_checks(model, take(inputs, 1), ["gradcam"], control=False, **defaults).layers)
    recording = median_seconds(lambda: sanity_checks(model, take(inputs, callback.max_images), callback.methods,
                                                     **defaults), repeats=3)
    ratio = f", {recording / epoch_seconds:.2f} of a training epoch ({epoch_seconds:.0f} s)" if epoch_seconds else ""
    print(f"\none SanityChecks recording at its defaults ({callback.max_images} images, {list(callback.modes)} by "
          f"{callback.by}: {steps} steps, {len(callback.methods)} methods): {recording:.2f} s{ratio}")


if __name__ == "__main__":
    main()
