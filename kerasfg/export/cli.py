"""The ``kerasfg export``, ``kerasfg verify-export`` and ``kerasfg predict`` commands.

``kerasfg/cli.py`` registers them with ``add_export_parsers(subparsers)``; each parser's ``handler`` takes the
parsed arguments and returns the exit status, and raises the user errors that ``kerasfg.cli`` reports in one
line (``ValueError``, ``OSError``, ``kerasfg.errors.UserError``).
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

from kerasfg.data.preprocessing import PREPROCESSING_FILE, RESIZE_METHODS


def add_export_parsers(subparsers):
    """Register ``export``, ``verify-export`` and ``predict`` on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "export", help="export a trained model as a TF Serving SavedModel version",
        description="Write <base>/<next version>/ atomically, verified as TF Serving would load it.")
    p.add_argument("source", metavar="RUN_OR_MODEL",
                   help="a run directory (runs/<name>/<timestamp>/ with model.keras) or a .keras file")
    p.add_argument("--base", help="model base path (default: saved_models/<run or model name>)")
    p.add_argument("--version", type=int, help="version number (default: the next integer)")
    p.add_argument("--class-names", metavar="JSON",
                   help='JSON file {"head": ["name", ...]} (default: class_names.json in the run directory)')
    p.add_argument("--explain", choices=["gradcam", "attention"], help="add the explain signature")
    p.add_argument("--gradcam-layer", help="layer for Grad-CAM (default: the last spatial layer before the head, "
                   "the layer TensorBoard's Grad-CAM weighs)")
    how = p.add_argument_group(
        "preprocessing", "How training turned images into pixels, for a model whose run did not record it "
                         f"({PREPROCESSING_FILE}); serving_default then does the same.")
    how.add_argument("--preprocessing", metavar="JSON", help=f"a {PREPROCESSING_FILE} to use")
    how.add_argument("--resize", choices=RESIZE_METHODS, help="the resize method (default: bilinear)")
    how.add_argument("--antialias", action="store_true", help="resize with antialiasing")
    how.add_argument("--round", dest="quantize", action="store_true",
                     help="round resized pixels to integers (pipelines that cache uint8 images)")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the verification")
    p.add_argument("--no-warmup", dest="warmup", action="store_false", help="write no warmup records")
    p.set_defaults(handler=run_export)

    p = subparsers.add_parser(
        "verify-export", help="check that an exported version serves as TF Serving would serve it",
        description="Load in a process without keras/kerasfg, walk every op, run every signature through "
                    "the TF2 and TF1 loaders and compare with the Keras outputs recorded at export.")
    p.add_argument("path", help="a version directory <base>/<version>, or a base path (latest version)")
    p.add_argument("--model", help="a .keras file to recompute the expected outputs from")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: recorded at export)")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: recorded at export)")
    p.set_defaults(handler=run_verify)

    p = subparsers.add_parser(
        "predict", help="send images to a TF Serving model (REST or gRPC)",
        description="Prints one JSON object per image with each output of the signature.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, ...)")
    p.add_argument("--server", required=True, help="http://HOST:8501 (REST) or grpc://HOST:8500")
    p.add_argument("--model", required=True, help="the model name in TF Serving")
    p.add_argument("--signature", default="serving_default")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--version", type=int)
    group.add_argument("--label")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                   help="an extra input for every image, e.g. --input expression=3 (repeatable)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(handler=run_predict)
    return subparsers


# === export ===


def load_keras_model(path):
    """Load a ``.keras`` file without its training configuration, with kerasfg's layers registered.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a readable ``.keras`` file (names the file and the reason).
    """
    import zipfile

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras model file: expected the zip archive that model.save() "
                         "writes")
    import keras

    for package in ("kerasfg.layers", "kerasfg.models"):  # register kerasfg's serializable classes
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as err:
            if err.name != package:
                raise
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: the .keras model file cannot be loaded ({type(error).__name__}: {reason})") \
            from error


def resolve_source(source):
    """``(model_file, name, run_dir or None)`` for a run directory or a .keras file."""
    path = pathlib.Path(source)
    if path.is_dir():
        model_file = path / "model.keras"
        if not model_file.exists():
            raise FileNotFoundError(f"{path} is not a run directory: it has no model.keras")
        # runs/<name>/<timestamp>/ -> <name>
        name = path.resolve().parent.name if (path / "config.yaml").exists() else path.resolve().name
        return model_file, name, path
    if path.suffix != ".keras" or not path.exists():
        raise FileNotFoundError(f"{source} is neither a run directory nor an existing .keras file")
    return path, path.stem, None


def read_json(path, what):
    """The JSON document in ``path``; ``what`` names it in the error of a file that is not JSON."""
    path = pathlib.Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: expected {what} in JSON, but it does not parse ({error})") from None


def serving_preprocessing(args, model_file, image_input):
    """The preprocessing ``serving_default`` uses: the one the run recorded, the one the command line states,
    or, for a model whose training preprocessing is unknown, an assumption, said in a note on stderr."""
    from kerasfg.data.preprocessing import ASSUMED, Preprocessing, assumption_note, model_preprocessing

    stated = [flag for flag, given in (("--preprocessing", args.preprocessing), ("--resize", args.resize),
                                       ("--antialias", args.antialias), ("--round", args.quantize)) if given]
    shape = tuple(image_input.shape[1:]) if image_input is not None else ()
    if len(shape) != 3 or None in shape:
        return None  # export_saved_model names what is wrong with the inputs
    preprocessing = model_preprocessing(model_file, shape)
    if preprocessing.origin != ASSUMED:
        if stated:
            raise ValueError(f"{preprocessing.origin} records how this model was trained "
                             f"({preprocessing.summary()}); {', '.join(stated)} would serve other pixels. "
                             "Export a copy of the .keras file outside its run directory to override it")
        return preprocessing
    if args.preprocessing:
        return Preprocessing.read(args.preprocessing)
    if stated:
        return Preprocessing(shape[:2], shape[2], args.resize or "bilinear", args.antialias, args.quantize,
                             origin="given on the command line")
    print(f"kerasfg export: note: {assumption_note(model_file, preprocessing)}. State it with --resize, "
          "--antialias and --round, or --preprocessing FILE", file=sys.stderr)
    return preprocessing


def run_export(args) -> int:
    model_file, name, run_dir = resolve_source(args.source)
    class_names = None
    names_file = pathlib.Path(args.class_names) if args.class_names else None
    if names_file is None and run_dir is not None and (run_dir / "class_names.json").exists():
        names_file = run_dir / "class_names.json"
    if names_file is not None:
        class_names = read_json(names_file, '{"head": ["class name", ...]}')
    from kerasfg.export.savedmodel import export_saved_model

    base = pathlib.Path(args.base or pathlib.Path("saved_models") / name)
    model = load_keras_model(model_file)
    images = [t for t in model.inputs if len(t.shape) == 4]
    preprocessing = serving_preprocessing(args, model_file, images[0] if len(images) == 1 else None)
    result = export_saved_model(model, base, args.version, class_names=class_names, explain=args.explain,
                                gradcam_layer=args.gradcam_layer, preprocessing=preprocessing,
                                warmup=args.warmup, verify=args.verify, progress=True)
    print(f"exported {model_file} -> {result.path} in {result.seconds:.1f} s")
    pre = result.plan.preprocessing
    print(f"  serving_default preprocessing: {pre.summary()} ({pre.origin or 'given'})")
    for signature, info in result.signatures.items():
        inputs = ", ".join(f"{k}: {v['dtype']}{tuple(v['shape'])}" for k, v in info["inputs"].items())
        print(f"  {signature}({inputs}) -> {', '.join(info['outputs'])}")
    if result.verification is not None:
        print(result.verification.summary())
    return 0


# === verify-export ===


def run_verify(args) -> int:
    from kerasfg.export.versions import list_versions

    path = pathlib.Path(args.path)
    if not (path / "saved_model.pb").exists():
        versions = list_versions(path)
        if not versions:
            raise FileNotFoundError(f"{path} is neither a SavedModel version directory (with saved_model.pb) "
                                    "nor a model base path with integer version directories")
        path = path / str(versions[-1])
    from kerasfg.export.verify import verify_export

    model = load_keras_model(args.model) if args.model else None
    report = verify_export(path, model=model, rtol=args.rtol, atol=args.atol)
    print(report.summary())
    return 0 if report.ok else 1


# === predict ===


def _parse_inputs(pairs, batch):
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--input expects NAME=VALUE, got {pair!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        values[name] = [value] * batch
    return values


def run_predict(args) -> int:
    import numpy as np

    from kerasfg.export.serving import ServingClient

    extra_inputs = _parse_inputs(args.input, len(args.images))
    with ServingClient(args.server, args.model, version=args.version, label=args.label,
                       timeout=args.timeout) as client:
        outputs = client.predict_images(args.images, args.signature, **extra_inputs)
    for k, image in enumerate(args.images):
        row = {"image": image}
        for name, value in sorted(outputs.items()):
            item = value[k]
            if isinstance(item, bytes):
                item = item.decode("utf-8", errors="replace")
            elif isinstance(item, np.ndarray):
                item = np.round(item.astype(float), 6).tolist() if item.dtype.kind == "f" else item.tolist()
            elif isinstance(item, np.generic):
                item = item.item()
            row[name] = item
        print(json.dumps(row))
    return 0

