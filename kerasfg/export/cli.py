"""The ``kerasfg export``, ``kerasfg verify-export`` and ``kerasfg predict`` commands.

``kerasfg/cli.py`` registers them with ``add_export_parsers(subparsers)``; each parser's ``handler`` takes the
parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys

from kerasfg.export.preprocess import RESIZE_METHODS


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
    p.add_argument("--gradcam-layer", help="layer for Grad-CAM (default: the last 4-D layer)")
    p.add_argument("--resize", default="bilinear", choices=RESIZE_METHODS,
                   help="how serving_default resizes decoded images; must match training (default: bilinear)")
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


def _load_keras_model(path):
    import keras

    for package in ("kerasfg.layers", "kerasfg.models"):  # register kerasfg's serializable classes
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as err:
            if err.name != package:
                raise
    return keras.saving.load_model(path, compile=False)


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


def run_export(args) -> int:
    from kerasfg.export.preprocess import Preprocessing
    from kerasfg.export.savedmodel import export_saved_model

    model_file, name, run_dir = resolve_source(args.source)
    class_names = None
    names_file = pathlib.Path(args.class_names) if args.class_names else None
    if names_file is None and run_dir is not None and (run_dir / "class_names.json").exists():
        names_file = run_dir / "class_names.json"
    if names_file is not None:
        class_names = json.loads(names_file.read_text(encoding="utf-8"))
    base = pathlib.Path(args.base or pathlib.Path("saved_models") / name)
    model = _load_keras_model(model_file)
    images = [t for t in model.inputs if len(t.shape) == 4 and None not in t.shape[1:]]
    preprocessing = None  # export_saved_model explains what is wrong with the inputs
    if len(images) == 1:
        preprocessing = Preprocessing(tuple(images[0].shape[1:3]), images[0].shape[3], args.resize)
    result = export_saved_model(model, base, args.version, class_names=class_names, explain=args.explain,
                                gradcam_layer=args.gradcam_layer, preprocessing=preprocessing,
                                warmup=args.warmup, verify=args.verify)
    print(f"exported {model_file} -> {result.path} in {result.seconds:.1f} s")
    for signature, info in result.signatures.items():
        inputs = ", ".join(f"{k}: {v['dtype']}{tuple(v['shape'])}" for k, v in info["inputs"].items())
        print(f"  {signature}({inputs}) -> {', '.join(info['outputs'])}")
    if result.verification is not None:
        print(result.verification.summary())
    return 0


# === verify-export ===


def run_verify(args) -> int:
    from kerasfg.export.savedmodel import list_versions
    from kerasfg.export.verify import verify_export

    path = pathlib.Path(args.path)
    if not (path / "saved_model.pb").exists() and list_versions(path):
        path = path / str(list_versions(path)[-1])
    model = _load_keras_model(args.model) if args.model else None
    report = verify_export(path, model=model, rtol=args.rtol, atol=args.atol)
    print(report.summary())
    return 0 if report.ok else 1


# === predict ===


def _parse_inputs(pairs, batch):
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--input expects NAME=VALUE, got {pair!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        values[name] = [value] * batch
    return values


def run_predict(args) -> int:
    import numpy as np

    from kerasfg.export.serving import ServingClient, ServingError

    with ServingClient(args.server, args.model, version=args.version, label=args.label,
                       timeout=args.timeout) as client:
        try:
            outputs = client.predict_images(args.images, args.signature,
                                            **_parse_inputs(args.input, len(args.images)))
        except (ServingError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
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


def main(argv=None) -> int:
    """Stand-alone entry for the three commands (``python -m kerasfg.export.cli export ...``)."""
    parser = argparse.ArgumentParser(prog="kerasfg")
    add_export_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
