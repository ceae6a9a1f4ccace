"""The quick start: train, evaluate, record for TensorBoard and export, on the built-in synthetic faces."""

import importlib.resources
import json
import pathlib
import sys

from kerasfg import config as config_lib


def default_config(overrides=()):
    """The quick start's config (``kerasfg/configs/quickstart.yaml``) with ``key=value`` overrides."""
    path = importlib.resources.files("kerasfg") / "configs" / "quickstart.yaml"
    with importlib.resources.as_file(path) as file:
        return config_lib.load(file, overrides)


def recordings(config):
    """Every kerasfg recording callback, each at its default cadence, as the quick start uses them.

    Per-batch progress; attention maps (when the model has attention); saliency, guided
    backpropagation, Grad-CAM and Grad-CAM++ heat maps; stage activations; deconvolutions; deep
    visualizations of the first classes with each of the four presets, the faithfulness table and the
    sanity checks (when training ends); confusion matrices; and the projector's embeddings. Under
    `kerasfg.training.fit` the recordings of the last epoch and of the end of training are made while the model
    is tested and exported (`kerasfg.callbacks.context.DeferredRecordings`). What they cost:
    ``benchmarks/bench_callbacks.py``, ``benchmarks/bench_recording_costs.py`` and docs/explanations.md.
    """
    from kerasfg import callbacks
    from kerasfg.vis import PRESETS

    chosen = [callbacks.TrainingProgress(every_n_batches=5)]
    if config.model.attention not in (None, "none"):
        chosen.append(callbacks.AttentionMaps())
    chosen += [
        callbacks.Saliency(), callbacks.Saliency(method="guided_backprop"),
        callbacks.GradCAM(), callbacks.GradCAM(method="gradcam++"),
        callbacks.LayerActivations(), callbacks.Deconvolution(), callbacks.DeepVisualization(settings=list(PRESETS)),
        callbacks.ConfusionMatrix(), callbacks.Faithfulness(), callbacks.SanityChecks(), callbacks.Embeddings(),
    ]
    return chosen


def run(overrides=()):
    """Train, evaluate, record every visualization (`recordings`) and export, with the quick start's config.

    Args:
        overrides: ``key=value`` config overrides.

    Returns:
        The `kerasfg.training.RunResult`.
    """
    from kerasfg import training

    config = default_config(overrides)
    result = training.fit(config, callbacks=recordings(config))
    write_sample_faces(config, result.run_dir / "samples")
    return result


def write_sample_faces(config, folder, count=4):
    """Save ``count`` unseen faces of the run's people as PNG files, to try the served model on.

    ``labels.json`` beside them maps each file name to the labels of every task (class indices, the age
    in years, and the 0/1 list of the attributes).
    """
    from PIL import Image

    from kerasfg.data.synthetic import TASKS, synthetic_faces
    from kerasfg.io_utils import write_json

    synthetic = config.data.synthetic
    faces = synthetic_faces(count, num_identities=synthetic.num_identities,
                            image_size=synthetic.image_size, difficulty=synthetic.difficulty,
                            seed=synthetic.seed * 3 + 3, identity_seed=synthetic.identity_seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for k, image in enumerate(faces.images):
        Image.fromarray(image).save(folder / f"face_{k}.png")
        labels[f"face_{k}.png"] = {task: faces.labels[task][k].tolist() for task in TASKS}
    write_json(folder / "labels.json", labels)


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


def curl_command(model, name, face, labels):
    """A curl request to TF Serving's REST API that classifies the sample ``face`` (a PNG file).

    Args:
        model: the exported model; its inputs other than ``image`` are filled in from ``labels``.
        name: the served model name.
        face: path of the PNG file.
        labels: class index per task of that face (see `write_sample_faces`).
    """
    inputs = model.input if isinstance(model.input, dict) else {}
    instance = {"image_bytes": {"b64": "<b64>"}, **{key: labels[key] for key in inputs if key != "image"}}
    body = json.dumps({"instances": [instance]}).replace('"<b64>"', f'"\'"$(base64 -w0 {face})"\'"')
    return f"curl -s -X POST http://localhost:8501/v1/models/{name}:predict -d '{body}'"


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
        samples = result.run_dir / "samples"
        if (samples / "labels.json").is_file():
            labels = json.loads((samples / "labels.json").read_text())
            print(f"Then classify one of the faces in {samples}:", file=out)
            print(f"  {curl_command(result.model, name, samples / 'face_0.png', labels['face_0.png'])}",
                  file=out)
