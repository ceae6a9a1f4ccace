"""The ``kerasfg cross-dataset`` command: an ensemble of saved age/gender models tested on another dataset.

Thesis chapter 3 tests the five Adience fold models on the Images of Groups (Table 3.8: age, 1-off and
gender accuracy; Table 3.10(b): gender accuracy per age group). The command loads the models (``.keras``
files or run directories), reads the dataset with its reader (``--dataset iog --root DIR``, the ``test``
part of its protocol by default: the age-balanced 1,050 faces), averages each output over the models that
have it (age and gender models may be separate runs), maps Adience's 8 age groups onto IoG's 7 (Table 3.2,
or ``--mapping``), and prints the accuracies and the row-normalized age confusion. ``--out`` also writes
them as JSON. It runs `kerasfg.age.cross_dataset_evaluation`.

``kerasfg/cli.py`` registers it with ``add_cross_dataset_parser(commands)``; TensorFlow is imported only
when the command runs.
"""

import pathlib


def add_cross_dataset_parser(commands):
    """Register ``cross-dataset`` on an ``argparse`` subparsers object."""
    p = commands.add_parser(
        "cross-dataset", help="test an ensemble of age/gender models on another dataset (thesis Table 3.8)",
        description="Averages the models' age and gender probabilities over a dataset's test faces, maps "
                    "the age groups (Adience -> Images of Groups by default, thesis Table 3.2) and prints "
                    "the age, 1-off and gender accuracies, gender accuracy per age group and the age "
                    "confusion.")
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="a .keras file, or a run or checkpoints directory (e.g. the five Adience fold runs "
                        "of each task)")
    p.add_argument("--dataset", default="iog", help="the dataset's reader name (default: iog)")
    p.add_argument("--root", required=True, metavar="DIR", help="the dataset's root folder")
    p.add_argument("--split", default="test",
                   help="the part tested: test (default; IoG's age-balanced faces), train, val or all")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a reader option, e.g. --option protocol=none (YAML values; repeatable)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                   help="the size the faces are resized to (default: the size their runs recorded in "
                        "preprocessing.json, or the models' input size)")
    p.add_argument("--mapping", default=None, metavar="GROUPS",
                   help="the dataset's age group of each of the models' age groups, comma-separated "
                        "(default: Table 3.2's Adience -> IoG, 0,1,2,3,4,5,5,6)")
    p.add_argument("--age-output", default="age", metavar="NAME",
                   help="the models' age output, scored against the dataset's age labels (default: age)")
    p.add_argument("--gender-output", default="gender", metavar="NAME",
                   help="the models' gender output (default: gender)")
    p.add_argument("--batch-size", type=int, default=32, help="faces per batch (default: 32)")
    p.add_argument("--out", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(handler=run_cross_dataset)
    return commands


def parse_mapping(text):
    """``"0,1,2,3,4,5,5,6"`` -> ``(0, 1, 2, 3, 4, 5, 5, 6)``."""
    try:
        mapping = tuple(int(part) for part in text.split(","))
    except ValueError:
        mapping = ()
    if not mapping or min(mapping) < 0:
        raise ValueError(f"--mapping: expected the target group of each source group as non-negative integers "
                         f"separated by commas (e.g. 0,1,2,3,4,5,5,6); received {text!r}.")
    return mapping


def parse_options(items):
    """``["protocol=none", "test_per_group=50"]`` -> ``{"protocol": "none", "test_per_group": 50}``."""
    import yaml

    options = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"--option: expected KEY=VALUE; received {item!r}.")
        options[key.strip()] = yaml.safe_load(value)
    return options


def ensemble_preprocessing(models, paths, image_size=None):
    """The one `kerasfg.data.preprocessing.Preprocessing` the models are fed with.

    Each model's is the one its run recorded (``preprocessing.json``), else the one its fixed input size
    implies; ``image_size`` (``--image-size``) replaces their sizes.

    Raises:
        ValueError: the models were trained on different preprocessings, or none fixes an image size.
    """
    import dataclasses

    from kerasfg.data.preprocessing import Preprocessing, recorded_preprocessing

    found = {}
    for model, path in zip(models, paths):
        shape = tuple(model.inputs[0].shape[1:])
        preprocessing = recorded_preprocessing(path)
        if preprocessing is None and (None not in shape[:2] or image_size):
            preprocessing = Preprocessing.pipeline(image_size or shape[:2], shape[2], origin=str(path))
        if preprocessing is not None and image_size:
            preprocessing = dataclasses.replace(preprocessing, image_size=tuple(image_size))
        if preprocessing is not None:
            found.setdefault(preprocessing, []).append(str(path))
    if not found:
        raise ValueError("the models take images of any size; give --image-size HEIGHT WIDTH.")
    if len(found) > 1:
        listed = "; ".join(f"{kind.summary()}: {', '.join(paths)}" for kind, paths in found.items())
        raise ValueError(f"the models take images of different sizes or preprocessings ({listed}); give "
                         f"--image-size to test them at one size, or test them separately.")
    return next(iter(found))


def format_report(result, dataset, num_faces, counts):
    """The printed report: accuracies in %, gender per age group and the row-normalized age confusion."""
    import numpy as np

    groups = dataset.class_names.get("age")
    models = {task: f"{n} model{'' if n == 1 else 's'}" for task, n in counts.items()}
    lines = [f"{dataset.name}, {num_faces} faces; age from {models['age']}, gender from {models['gender']}"]
    for key, label in (("age_accuracy", "age accuracy"), ("age_one_off_accuracy", "age 1-off accuracy"),
                       ("gender_accuracy", "gender accuracy")):
        if key in result:
            lines.append(f"  {label:<20} {100 * result[key]:6.1f} %")
    names = groups or [str(k) for k in range(len(result.get("age_confusion", result.get(
        "gender_accuracy_per_age_group", []))))]
    width = max([6, *(len(name) + 1 for name in names)])
    header = "".join(f"{name:>{width}}" for name in names)
    if "gender_accuracy_per_age_group" in result:
        values = "".join(f"{'-' if np.isnan(v) else f'{100 * v:.1f}':>{width}}"
                         for v in result["gender_accuracy_per_age_group"])
        lines += ["gender accuracy per age group (%):", f"  {header}", f"  {values}"]
    if "age_confusion" in result:
        confusion = np.asarray(result["age_confusion"], np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            percent = 100 * confusion / confusion.sum(axis=1, keepdims=True)
        label_width = max(len(name) for name in names) + 2
        lines += ["age confusion (% of each true group; rows true, columns predicted):",
                  f"  {'':<{label_width}}{header}"]
        for name, row in zip(names, percent):
            lines.append(f"  {name:<{label_width}}" + "".join(
                f"{'-' if np.isnan(v) else f'{v:.1f}':>{width}}" for v in row))
    return "\n".join(lines)


def _plain(value):
    """A result value as JSON: arrays as lists, NaN (a group without faces) as null."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return [None if isinstance(v, float) and np.isnan(v) else v for v in value.tolist()] if value.ndim == 1 \
            else value.tolist()
    return value


def run_cross_dataset(args) -> int:

    from kerasfg import age
    from kerasfg.data.loading import load_dataset
    from kerasfg.export.cli import load_keras_model
    from kerasfg.io_utils import write_json
    from kerasfg.visualize import model_file

    mapping = age.ADIENCE_TO_IOG if args.mapping is None else parse_mapping(args.mapping)
    options = parse_options(args.option)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive number of faces; received {args.batch_size}.")
    paths = [model_file(source) for source in args.models]
    models = [load_keras_model(path) for path in paths]
    outputs = {"age": args.age_output, "gender": args.gender_output}
    for model, path in zip(models, paths):
        if not set(outputs.values()) & set(model.output_names):
            raise ValueError(f"{path} has neither an age output {args.age_output!r} nor a gender output "
                             f"{args.gender_output!r}; its outputs are {model.output_names} (name them with "
                             f"--age-output and --gender-output).")
    preprocessing = ensemble_preprocessing(models, paths, args.image_size)
    split = None if args.split == "all" else args.split
    try:
        dataset = load_dataset(args.dataset, args.root, split, image_size=preprocessing.image_size,
                               channels=preprocessing.channels, resize_method=preprocessing.resize_method,
                               antialias=preprocessing.antialias, **options)
    except TypeError as error:  # a reader option it does not take
        raise ValueError(f"--option: {error}") from error
    if not len(dataset):
        raise ValueError(f"the {args.split!r} part of {args.dataset} at {args.root} has no faces.")
    # The dataset's labels under the models' output names (a synthetic run's age output is age_group).
    labelled = dataset.as_dataset(args.batch_size).map(
        lambda images, labels: (images, {outputs.get(task, task): value for task, value in labels.items()}))
    result = age.cross_dataset_evaluation(models, labelled, age=outputs["age"], gender=outputs["gender"],
                                          mapping=mapping)
    counts = {task: sum(name in model.output_names for model in models) for task, name in outputs.items()}
    print(format_report(result, dataset, len(dataset), counts))
    if args.out:
        write_json(pathlib.Path(args.out), {
            "dataset": args.dataset, "root": str(args.root), "split": args.split, "faces": len(dataset),
            "models": [str(path) for path in paths], "mapping": list(mapping),
            "preprocessing": preprocessing.describe(),
            "age_groups": dataset.class_names.get("age"),
            **{key: _plain(value) for key, value in result.items()}})
    return 0
