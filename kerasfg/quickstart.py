"""The quick start: train, evaluate, record for TensorBoard and export, on the built-in synthetic faces."""

import importlib.resources
import pathlib
import sys

from kerasfg import config as config_lib


def default_config(overrides=()):
    """The quick start's config (``kerasfg/configs/quickstart.yaml``) with ``key=value`` overrides."""
    path = importlib.resources.files("kerasfg") / "configs" / "quickstart.yaml"
    with importlib.resources.as_file(path) as file:
        return config_lib.load(file, overrides)


def run(overrides=()):
    """Train, evaluate, record the attention maps and export, with the quick start's config.

    Args:
        overrides: ``key=value`` config overrides.

    Returns:
        The `kerasfg.training.RunResult`.
    """
    from kerasfg import training
    from kerasfg.callbacks import AttentionMaps

    config = default_config(overrides)
    recordings = [AttentionMaps()] if config.model.attention not in (None, "none") else []
    return training.fit(config, callbacks=recordings)


def evaluation_rows(result):
    """Rows of (task, accuracy, chance level, loss) for each output of a finished run."""
    metrics = result.test_metrics
    single = len(result.model.output_names) == 1
    rows = []
    for task in result.model.output_names:
        accuracy = metrics["accuracy" if single else f"{task}_accuracy"]
        loss = metrics["loss" if single else f"{task}_loss"]
        rows.append((task, accuracy, 1.0 / len(result.class_names[task]), loss))
    return rows


def report(result, out=sys.stdout):
    """Print the evaluation table and the commands to look at and serve the result."""
    print("\nEvaluation on the held-out synthetic faces", file=out)
    print(f"{'output':<12}{'accuracy':>10}{'chance':>10}{'loss':>10}", file=out)
    for task, accuracy, chance, loss in evaluation_rows(result):
        print(f"{task:<12}{accuracy:>10.3f}{chance:>10.3f}{loss:>10.3f}", file=out)
    print(f"\nprecision {result.precision}, jit_compile {result.jit_compile}, "
          f"{result.train_images_per_second:.0f} training images/s", file=out)
    print(f"\nRun directory:  {result.run_dir}", file=out)
    tensorboard = pathlib.Path(sys.executable).with_name("tensorboard")
    logs = result.run_dir.parent.parent
    print(f"TensorBoard:    {tensorboard if tensorboard.exists() else 'tensorboard'} --logdir {logs}",
          file=out)
    if result.export is not None:
        base = result.export.path.parent.resolve()
        name = base.name
        verified = result.export.verification
        status = "verified" if verified is not None and verified.ok else "NOT verified"
        print(f"SavedModel:     {result.export.path} ({status} as TF Serving loads it, "
              f"{result.export.seconds:.0f} s)", file=out)
        print("Serve it with TensorFlow Serving:", file=out)
        print(f"  docker run --rm -p 8500:8500 -p 8501:8501 -v {base}:/models/{name} "
              f"-e MODEL_NAME={name} tensorflow/serving:2.21.0", file=out)
        print(f"  {pathlib.Path(sys.executable).with_name('kerasfg')} predict "
              f"--server http://localhost:8501 --model {name} --input expression=1 FACE.png", file=out)
