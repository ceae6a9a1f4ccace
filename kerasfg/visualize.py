"""The ``kerasfg visualize`` command: heat maps of a saved model for image files, as PNGs and for TensorBoard.

``kerasfg/cli.py`` registers it with ``add_visualize_parser(subparsers)``; the command runs
`kerasfg.vis.Explainer` and writes with `kerasfg.callbacks.explanations.write_explanation`. TensorFlow
is imported only when the command runs, so that building the parser stays cheap.
"""

import pathlib
import sys

MODEL_FILES = ("model.keras", "checkpoints/best.keras", "checkpoints/last.keras", "best.keras", "last.keras")
"""The files looked for, in this order, when MODEL is a directory (a run or its checkpoints folder)."""


def add_visualize_parser(subparsers):
    """Register ``visualize`` on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "visualize", help="explain a saved model's predictions for image files with heat maps",
        description="Writes <image stem>_<method>.png overlays and TensorBoard event files "
                    "(tensorboard --logdir OUT) into OUT.")
    p.add_argument("model", metavar="MODEL",
                   help=f"a .keras file, or a run or checkpoints directory (looks for {', '.join(MODEL_FILES)})")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files (PNG, JPEG, ...), decoded and resized as the model's run recorded "
                        "(preprocessing.json)")
    p.add_argument("--method", action="append", metavar="NAME",
                   help="explanation method, repeatable or comma-separated (default: gradcam): "
                        "saliency, smoothgrad, guided_backprop, cam, gradcam, gradcam++, layercam, scorecam")
    p.add_argument("--layer", help="layer of gradcam, gradcam++, layercam and scorecam (default: the last 4-D layer)")
    p.add_argument("--output", help="the output (head) to explain (default: the first)")
    p.add_argument("--class", dest="class_index", type=int, metavar="INDEX",
                   help="the class to explain (default: each image's predicted class)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                   help="value of another model input for every image, e.g. --input expression=3 "
                        "(repeatable; inputs not given are 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the overlays and event files")
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the heat maps (default: 0.5)")
    p.add_argument("--colormap", default="jet", help="matplotlib colour map (default: jet)")
    p.set_defaults(handler=run_visualize)
    return subparsers


def model_file(source):
    """The .keras file of ``source``: the file itself, or the first of `MODEL_FILES` in a directory."""
    path = pathlib.Path(source)
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).exists():
                return path / name
        raise FileNotFoundError(f"{path} has none of {', '.join(MODEL_FILES)}")
    if path.suffix != ".keras" or not path.exists():
        raise FileNotFoundError(f"{source} is neither a directory with a model nor an existing .keras file")
    return path


def read_images(paths, preprocessing):
    """Decode and resize image files as the training pipeline does (its file decoder and
    :func:`kerasfg.data.preprocessing.resize`).

    Returns:
        ``(float32 pixels (n, height, width, channels) in 0..255, the paths read, {path: reason skipped})``.
    """
    import numpy as np
    import tensorflow as tf

    from kerasfg.data.pipeline import FileSource, decode_file
    from kerasfg.data.preprocessing import resize

    source = FileSource(paths)
    bad = source.find_bad(np.arange(len(paths)), preprocessing.channels)
    skipped = {path: bad[k] for k, path in enumerate(paths) if k in bad}
    read = [path for k, path in enumerate(paths) if k not in bad]
    pixels = [resize(decode_file(tf.constant(str(path)), preprocessing.channels, source.decoder),
                     preprocessing).numpy() for path in read]
    return (np.stack(pixels) if pixels else None), read, skipped


def _methods(values):
    from kerasfg.vis.explain import METHODS

    methods = [name.strip() for value in values or ["gradcam"] for name in value.split(",") if name.strip()]
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {sorted(METHODS)}")
    return methods


def _model_inputs(model, image_name, images, pairs):
    """The model's inputs: the images, and every other input filled with its ``--input`` value or 0."""
    import numpy as np

    if image_name is None:
        if pairs:
            raise ValueError(f"--input {pairs[0]}: the model has only the image input")
        return images
    others = {tensor.name: tensor for tensor in model.inputs if tensor.name != image_name}
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in others:
            raise ValueError(f"--input expects NAME=VALUE with NAME one of {sorted(others)}, got {pair!r}")
        values[name] = float(text)
    inputs = {image_name: images}
    for name, tensor in others.items():
        shape = (len(images), *(1 if size is None else size for size in tensor.shape[1:]))
        inputs[name] = np.full(shape, values.get(name, 0), dtype=tensor.dtype)
    return inputs


def run_visualize(args) -> int:
    from PIL import Image
    from tqdm import tqdm

    from kerasfg.callbacks.explanations import write_explanation
    from kerasfg.data.preprocessing import ASSUMED, assumption_note, model_preprocessing
    from kerasfg.errors import UserError
    from kerasfg.export.cli import load_keras_model
    from kerasfg.io_utils import atomic_file
    from kerasfg.tensorboard import summary
    from kerasfg.vis import render
    from kerasfg.vis.explain import LAYER_METHODS, Explainer

    methods = _methods(args.method)
    path = model_file(args.model)
    model = load_keras_model(path)
    explainer = Explainer(model)
    image_input = next(t for t in model.inputs if t.name == (explainer.image_name or model.inputs[0].name))
    preprocessing = model_preprocessing(path, tuple(image_input.shape[1:]))
    if preprocessing.origin == ASSUMED:
        print(f"kerasfg visualize: note: {assumption_note(path, preprocessing)}", file=sys.stderr)
    images, read, skipped = read_images(args.images, preprocessing)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    if images is None:
        raise UserError(f"none of the {len(args.images)} images could be read (see the lines above)")
    inputs = _model_inputs(model, explainer.image_name, images, args.input)
    output = explainer.output_name(args.output)
    out = pathlib.Path(args.out)
    writer = summary.file_writer(out)
    summary.probe_images(writer, images, 0)
    for method in tqdm(methods, desc="visualize", unit="method", disable=None, leave=False):
        layer = args.layer if method in LAYER_METHODS else None
        maps = write_explanation(writer, explainer, inputs, 0, method=method, output=output, layer=layer,
                                 classes=args.class_index, alpha=args.alpha, colormap=args.colormap)
        for name, picture in zip(read, render.overlay(images, maps, args.alpha, args.colormap)):
            with atomic_file(out / f"{pathlib.Path(name).stem}_{method}.png", mode="wb") as handle:
                Image.fromarray(picture).save(handle, format="PNG")
    writer.close()
    print(f"explained {len(read)} image(s) of {path} with {', '.join(methods)} (output {output}): "
          f"{len(read) * len(methods)} overlays in {out}; tensorboard --logdir {out}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped)}")
    return 0
