"""The experiment grid of one results table: its YAML schema, validation, and its cells at a scale.

A grid file (``experiments/<paper>/<table>.yaml``) names the paper and the table, the metric a cell
reports, a base config, the axes of the grid, how rows and columns of the table are formed from the
axes, the overrides of each scale, and the published numbers as ``targets``::

    paper: "003"                                  # the folder under experiments/
    source: 003_ceae3a2973220ea9.txt              # the paper's file in papers/
    table: Table 1
    title: Top-1 error (%) on CIFAR-100 of ResNets and ABNs
    notes: NOTES-000-003.md                       # where the targets are copied from ...
    provenance: B5, Table 1 [paper]               # ... and where in it, with its provenance tag
    metric:                                       # a dotted path into a cell's metrics.json (the
      name: top-1 error (%)                       # first found of a list), and its transform:
      key: [test.perception_logits_accuracy, test.accuracy]   # identity, percent, error_percent
      transform: error_percent
    base: {data: ..., model: ..., train: ...}     # an ExperimentConfig shared by every cell
    axes:                                         # the grid: every combination of one value per axis
      depth:
        - {label: ResNet20, set: {model.options.depth: 20}}
      method:
        - {label: ResNet g(x), set: {model.name: cifar_resnet}}
        - {label: ABN Eq. 2, set: {model.name: abn_cifar_resnet}, smoke: {...}}
    rows: [depth]                                 # axes whose labels name the table's rows ...
    columns: [method]                             # ... and columns (every axis in one of them)
    repeats: [fold]                               # optional: axes averaged like seeds (CV folds)
    seeds: [0]                                    # each cell is run once per seed (train.seed)
    scales:                                       # overrides per scale, applied last
      smoke: {set: {...}}
      synthetic: {seeds: [0, 1, 2], set: {data.source: synthetic, ...}, only: {depth: [ResNet20]}}
      full: {set: {...}}
    targets:                                      # row label -> column label -> number
      ResNet20: {ResNet g(x): 31.47, ABN Eq. 2: 30.46}

A scale's ``only`` keeps the named labels of an axis at that scale (a budget: fewer cells on synthetic
faces). A ``set`` maps dotted config keys to values (``model.options.depth: 20``). An axis value may also hold
``smoke:``, ``synthetic:`` or ``full:`` blocks of dotted keys applied at that scale only, and an ``id``
(its part of the cell's directory name; a slug of the label by default). A row label is the row axes'
non-empty labels joined by ``" + "`` (``VGG-16 + CBAM``; an empty label, e.g. for no attention,
leaves ``VGG-16``), and the same for columns. The axes of ``repeats`` (the folds of a cross-validation)
name neither: their cells are averaged with the seeds into one table entry. A target is a number, null (not
in the paper, or lost), or ``{value: ..., tag: ..., note: ...}`` when its provenance differs from the file's.

A cell's config is, in order: ``base``; each axis value's ``set`` and its block of the scale; its
seed as ``train.seed``; at ``smoke`` scale, the stand-in (`SMOKE`: a tiny synthetic set, one epoch,
eager steps, and the model's smallest form, `kerasfg.models.registry.RegisteredModel.smallest`);
then the scale's ``set``, which has the last word. At ``full`` scale a relative
``data.dataset.root`` (and ``train.initial_weights``) is under ``--data-root``.

A metric key may name axes in braces (``final.binary.{score}``): each is replaced by the id of the cell's
value on that axis, so that one run gives several columns of a table (cells that differ only in such an
axis train once and each reads its own number).

``class_tables`` break one entry of the table down by class, summed over its folds and seeds: a confusion
matrix the cells record, or the accuracy of their models within each group of another task
(`kerasfg.reproduce.class_tables`).

``runner: pain`` makes the cells runs of the pain system (`kerasfg.pain.reproduce`): ``base`` is then a
`kerasfg.pain.config.PainExperimentConfig` and the seed is ``evaluation.seed``; the default runner,
``training``, is `kerasfg.training.fit`.
"""

import copy
import dataclasses
import functools
import json
import pathlib
import re


from kerasfg import config as config_lib
from kerasfg.config import ConfigError, check_mapping
from kerasfg.reproduce.claims import parse_claims
from kerasfg.reproduce.class_tables import parse_class_tables

SCALES = ("smoke", "synthetic", "full")
TRANSFORMS = {
    "identity": lambda value: value,
    "percent": lambda value: 100.0 * value,
    "error_percent": lambda value: 100.0 * (1.0 - value),
    "minutes": lambda value: value / 60.0,
}
REQUIRED = ("paper", "table", "title", "metric", "base", "axes", "rows", "columns", "targets")
OPTIONAL = ("source", "notes", "provenance", "seeds", "scales", "description", "repeats", "claims", "runner",
            "class_tables")
RUNNERS = ("training", "pain")
TARGET_KEYS = ("value", "tag", "note")

# The smoke stand-in: the same builders and objectives on a tiny synthetic set, one step an epoch.
SMOKE = {
    "data.source": "synthetic",
    "data.batch_size": 8,
    "data.synthetic.num_identities": 4,
    "data.synthetic.train_images": 8,
    "data.synthetic.val_images": 8,
    "data.synthetic.test_images": 8,
    "data.synthetic.difficulty": 0.0,
    "train.epochs": 1,
    "train.run_eagerly": True,
    "train.checkpoints": False,  # a one-step run's table needs neither last.keras nor best.keras
    "train.precision": "float32",
    "train.jit_compile": False,
    "train.distribute": "none",
    "train.verbose": 0,
    "train.early_stopping_patience": None,
    "train.initial_weights": None,
    "export.enabled": False,
}


@dataclasses.dataclass(frozen=True)
class AxisValue:
    """One value of an axis: its label, directory id, overrides (all scales, and per scale), and the
    keys of the grid's metric it replaces (a column that reads another measure of the same run)."""

    label: str
    id: str
    set: dict
    per_scale: dict
    metric: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Target:
    """A published number and where it comes from."""

    value: float | None
    tag: str | None = None
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of the grid.

    Attributes:
        id: its directory name (axis ids and the seed).
        labels: ``{axis: label}``.
        seed: its seed.
        row, column: the table row and column it belongs to.
        config: its `kerasfg.config.ExperimentConfig` (a `kerasfg.pain.config.PainExperimentConfig` for the
            pain runner).
        metric: what it contributes to the table (the grid's ``metric``, with its axis values'
            ``metric`` keys, and the cell's axis ids in place of the axes its keys name in braces).
    """

    id: str
    labels: dict
    seed: int
    row: str
    column: str
    config: object
    metric: dict = dataclasses.field(default_factory=dict)

    @property
    def fingerprint(self):
        """A hash of what the cell trains: cells with the same one train the same network on the same
        data (the registered name counts by the network it builds, the unused data section not at all;
        only the entries that differ from the config's defaults count, `kerasfg.config.fingerprint`)."""
        from kerasfg.models.registry import registered_model

        if not isinstance(self.config, config_lib.ExperimentConfig):
            from kerasfg.pain.reproduce import fingerprint

            return fingerprint(self.config)

        def described(config):
            described = config.to_dict()
            del described["name"], described["runs_dir"]  # where the run is written, not what it trains
            del described["train"]["verbose"], described["train"]["checkpoints"]
            described["data"].pop("dataset" if config.data.source == "synthetic" else "synthetic")
            model = described["model"]
            model["name"], model["options"] = registered_model(model["name"]).network(model["options"])
            return described

        return config_lib.fingerprint(described(self.config), described(config_lib.ExperimentConfig()))


@dataclasses.dataclass
class Grid:
    """A loaded and validated grid file (see the module docstring).

    Attributes:
        path: the file.
        paper, table, title, source, notes, provenance, description: what it reproduces.
        metric: ``{"name", "key", "transform"}``.
        base: the base config (a mapping).
        axes: ``{axis: [AxisValue]}`` in file order.
        rows, columns: the axes forming the table's rows and columns.
        seeds: the seeds of every cell.
        repeats: the axes averaged with the seeds (cross-validation folds).
        runner: ``"training"`` (`kerasfg.training.fit`) or ``"pain"`` (`kerasfg.pain.reproduce`).
        scales: ``{scale: {"set": {...}, "seeds": [...]}}``.
        targets: ``{row label: {column label: Target}}``.
        claims: the table's claims (`kerasfg.reproduce.claims.Claim`).
        class_tables: tables breaking one entry down by class (`kerasfg.reproduce.class_tables`).
    """

    path: pathlib.Path
    paper: str
    table: str
    title: str
    metric: dict
    base: dict
    axes: dict
    rows: list
    columns: list
    seeds: list
    scales: dict
    targets: dict
    source: str | None = None
    notes: str | None = None
    provenance: str | None = None
    description: str | None = None
    repeats: list = dataclasses.field(default_factory=list)
    claims: list = dataclasses.field(default_factory=list)
    runner: str = "training"
    class_tables: list = dataclasses.field(default_factory=list)

    @property
    def id(self):
        """The grid file's name without ``.yaml`` (``table-3-3``): the grid directory's name."""
        return self.path.stem

    def row_labels(self):
        """The table's row labels, in grid order."""
        return _labels(self.axes, self.rows)

    def column_labels(self):
        """The table's column labels, in grid order."""
        return _labels(self.axes, self.columns)

    def seeds_at(self, scale):
        return list(self.scales.get(scale, {}).get("seeds", self.seeds))

    def cells(self, scale="full", data_root="."):
        """Every cell of the grid at ``scale``, in grid order (the last axis varies fastest).

        Raises:
            ConfigError: naming the grid file and the cell when a cell's config is invalid.
        """
        check_scale(scale)
        pain = self.runner == "pain"
        if pain:
            from kerasfg.pain import reproduce as pain_runner
        only = self.scales.get(scale, {}).get("only", {})
        cells = []
        for values in _product([[v for v in values if axis not in only or v.label in only[axis]]
                                for axis, values in self.axes.items()]):
            labels = {axis: value.label for axis, value in zip(self.axes, values)}
            ids = {axis: value.id for axis, value in zip(self.axes, values)}
            metric = dict(self.metric)
            for value in values:
                metric.update(value.metric)
            metric["key"] = [key.format(**ids) for key in metric["key"]]
            for seed in self.seeds_at(scale):
                cell_id = "__".join([*(value.id for value in values), f"seed{seed}"])
                data = copy.deepcopy(self.base)
                for value in values:
                    config_lib.set_keys(data, value.set)
                    config_lib.set_keys(data, value.per_scale.get(scale, {}))
                config_lib.set_keys(data, {pain_runner.SEED_KEY if pain else "train.seed": seed, "name": cell_id})
                try:
                    if scale == "smoke":
                        data = pain_runner.smoke_stand_in(data) if pain else smoke_stand_in(data)
                    config_lib.set_keys(data, self.scales.get(scale, {}).get("set", {}))
                    config = (pain_runner.cell_config(data, scale, data_root) if pain
                              else _at_scale(config_lib.from_dict(data), scale, data_root))
                except ConfigError as error:
                    raise ConfigError(f"{self.path}: cell {cell_id}: {error}") from error
                cells.append(Cell(cell_id, labels, seed, _join(labels, self.rows),
                                  _join(labels, self.columns), config, metric))
        return cells


def slug(text):
    """``"Table 3.3"`` -> ``"table-3-3"``: lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "none"


def check_scale(scale):
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {list(SCALES)}; received {scale!r}.")


def load_grid(path):
    """Load and validate a grid file, or a derived table's (`load_derived`).

    Returns:
        A `Grid` (a `DerivedTable` for a file with ``derived:``).

    Raises:
        FileNotFoundError: if the file does not exist.
        ConfigError: naming the file and the dotted key of what is wrong.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grid file {path} does not exist; expected experiments/<paper>/<table>.yaml.")
    data = config_lib.read_yaml(path)
    if is_derived(data):
        return load_derived(path, data)
    try:
        grid = _parse(path, data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    grid.cells("full")  # every cell's config is valid (its error names the cell)
    return grid


def check_header(data, required, optional, what="a grid"):
    """Check a table file's keys and the strings naming what it reproduces (paper, table, title...).

    Raises:
        ConfigError: naming the unknown, missing or empty key.
    """
    check_mapping("", data, required + optional)
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(f"{missing[0]}: missing; {what} needs {list(required)}.")
    for key in ("paper", "table", "title", *(k for k in ("source", "notes", "provenance", "description")
                                             if k in data)):
        if not isinstance(data[key], str) or not data[key]:
            raise ConfigError(f"{key}: expected a non-empty string, got {data[key]!r}.")


def _parse(path, data):
    check_header(data, REQUIRED, OPTIONAL)
    metric = _metric(data["metric"])
    check_mapping("base", data["base"])
    axes = _axes(data["axes"])
    rows, columns = _axis_list("rows", data["rows"], axes), _axis_list("columns", data["columns"], axes)
    repeats = _axis_list("repeats", data.get("repeats", []), axes)
    for key, first, second in (("columns", columns, rows), ("repeats", repeats, rows + columns)):
        both = sorted(set(first) & set(second))
        if both:
            raise ConfigError(f"{key}: axis {both[0]!r} is also in rows or columns; each axis belongs to one of "
                              f"rows, columns and repeats.")
    left = [axis for axis in axes if axis not in rows + columns + repeats]
    if left:
        raise ConfigError(f"rows: axis {left[0]!r} is in neither rows nor columns (nor repeats).")
    seeds = _seeds("seeds", data.get("seeds", [0]))
    scales = _scales(data.get("scales") or {}, axes)
    runner = data.get("runner", "training")
    if runner not in RUNNERS:
        raise ConfigError(f"runner: expected one of {list(RUNNERS)}, got {runner!r}.")
    for key in metric["key"]:
        named = re.findall(r"{([^{}]*)}", key)
        unknown = [axis for axis in named if axis not in axes]
        if unknown:
            raise ConfigError(f"metric.key: {key!r} names {unknown[0]!r}, which is not an axis; the axes are "
                              f"{list(axes)}.")
    grid = Grid(path=path, paper=data["paper"], table=data["table"], title=data["title"], metric=metric,
                base=data["base"], axes=axes, rows=rows, columns=columns, seeds=seeds, scales=scales,
                targets={}, repeats=repeats, runner=runner,
                **{key: data.get(key) for key in ("source", "notes", "provenance", "description")})
    grid.targets = _targets(data["targets"], grid)
    grid.claims = parse_claims(data.get("claims") or [], grid.row_labels(), grid.column_labels(),
                               metric["transform"])
    grid.class_tables = parse_class_tables(data.get("class_tables") or [], grid.row_labels(),
                                           grid.column_labels(), slug)
    return grid


def _metric(metric, key="metric", partial=False):
    """The grid's metric (``partial``: an axis value's, which replaces some of its keys)."""
    check_mapping(key, metric, ("name", "key", "transform"))
    parsed = {}
    if not partial or "name" in metric:
        if not isinstance(metric.get("name"), str) or not metric["name"]:
            raise ConfigError(f"{key}.name: expected a non-empty string, got {metric.get('name')!r}.")
        parsed["name"] = metric["name"]
    if not partial or "key" in metric:
        keys = [metric.get("key")] if isinstance(metric.get("key"), str) else metric.get("key")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise ConfigError(f"{key}.key: expected a dotted path into the cell's metrics.json (e.g. "
                              f"test.accuracy or history.val_accuracy), or a list of them (the first "
                              f"found is read), got {metric.get('key')!r}.")
        parsed["key"] = keys
    if not partial or "transform" in metric:
        transform = metric.get("transform", "identity")
        if transform not in TRANSFORMS:
            raise ConfigError(f"{key}.transform: expected one of {sorted(TRANSFORMS)}, got {transform!r}.")
        parsed["transform"] = transform
    return parsed


def _overrides(key, value):
    check_mapping(key, value)
    for name in value:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{key}: expected dotted config keys such as model.options.depth, got {name!r}.")
    return dict(value)


def _axes(axes):
    check_mapping("axes", axes)
    if not axes:
        raise ConfigError("axes: expected at least one axis, got {}.")
    parsed = {}
    for axis, values in axes.items():
        key = f"axes.{axis}"
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{key}: expected a non-empty list of values, got {values!r}.")
        parsed[axis], seen = [], set()
        for i, value in enumerate(values):
            item = f"{key}[{i}]"
            check_mapping(item, value, ("label", "id", "set", "metric", *SCALES))
            label = value.get("label")
            if not isinstance(label, str):
                raise ConfigError(f"{item}.label: expected a string (may be empty), got {label!r}.")
            value_id = str(value.get("id") or slug(label))
            if label in seen or value_id in {v.id for v in parsed[axis]}:
                raise ConfigError(f"{item}.label: {label!r} (id {value_id!r}) appears twice in axis {axis!r}.")
            seen.add(label)
            parsed[axis].append(AxisValue(
                label, value_id, _overrides(f"{item}.set", value.get("set") or {}),
                {scale: _overrides(f"{item}.{scale}", value[scale] or {}) for scale in SCALES if scale in value},
                _metric(value.get("metric") or {}, f"{item}.metric", partial=True)))
    return parsed


def _axis_list(key, value, axes):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of axis names, got {value!r}.")
    for i, axis in enumerate(value):
        if axis not in axes:
            raise ConfigError(f"{key}[{i}]: {axis!r} is not an axis; the axes are {list(axes)}.")
    return list(value)


def _seeds(key, seeds):
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{key}: expected a non-empty list of integer seeds, got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{key}: seeds repeat in {seeds!r}.")
    return list(seeds)


def _scales(scales, axes):
    check_mapping("scales", scales)
    parsed = {}
    for scale, block in scales.items():
        key = f"scales.{scale}"
        if scale not in SCALES:
            raise ConfigError(f"{key}: unknown scale; expected one of {list(SCALES)}.")
        block = check_mapping(key, block or {}, ("set", "seeds", "only"))
        parsed[scale] = {"set": _overrides(f"{key}.set", block.get("set") or {}),
                         "only": _only(f"{key}.only", block.get("only") or {}, axes)}
        if "seeds" in block:
            parsed[scale]["seeds"] = _seeds(f"{key}.seeds", block["seeds"])
    return parsed


def _only(key, only, axes):
    check_mapping(key, only)
    for axis, labels in only.items():
        if axis not in axes:
            raise ConfigError(f"{key}.{axis}: not an axis; the axes are {list(axes)}.")
        known = [value.label for value in axes[axis]]
        if not isinstance(labels, list) or not labels or any(label not in known for label in labels):
            raise ConfigError(f"{key}.{axis}: expected a non-empty list of its labels {known}, got {labels!r}.")
    return {axis: list(labels) for axis, labels in only.items()}


def _targets(targets, grid):
    """``{row: {column: Target}}`` of a file's ``targets`` (``grid``: a `Grid` or a `DerivedTable`)."""
    check_mapping("targets", targets)
    rows, columns = grid.row_labels(), grid.column_labels()
    parsed = {}
    for row, values in targets.items():
        key = f"targets.{row}"
        if row not in rows:
            raise ConfigError(f"{key}: {row!r} is not a row of the grid; its rows are {rows}.")
        check_mapping(key, values)
        parsed[row] = {}
        for column, target in values.items():
            item = f"{key}.{column}"
            if column not in columns:
                raise ConfigError(f"{item}: {column!r} is not a column of the grid; its columns are {columns}.")
            parsed[row][column] = _target(item, target)
    return parsed


def _target(key, target):
    if isinstance(target, dict):
        unknown = sorted(set(target) - set(TARGET_KEYS))
        if unknown or "value" not in target:
            raise ConfigError(f"{key}: expected a number, null or a mapping with value (and tag, note), "
                              f"got {target!r}.")
        return Target(_number(f"{key}.value", target["value"]), target.get("tag"), target.get("note"))
    return Target(_number(key, target))


def _number(key, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: expected a number or null, got {value!r}.")
    return float(value)


def _labels(axes, names):
    return [_join(dict(zip(names, combination)), names)
            for combination in _product([[v.label for v in axes[name]] for name in names])]


def _join(labels, names):
    return " + ".join(labels[name] for name in names if labels[name])


def _product(lists):
    combinations = [[]]
    for values in lists:
        combinations = [[*combination, value] for combination in combinations for value in values]
    return combinations


def _at_scale(config, scale, data_root):
    """Check the smoke stand-in's tasks and that the synthetic scale is on synthetic faces, or put a
    full-scale config's data paths under ``data_root``."""
    if scale == "synthetic" and config.data.source != "synthetic":
        raise ConfigError("data.source: the synthetic scale runs on the synthetic faces; set data.source: "
                          "synthetic (and their difficulty, sizes and task) in the grid's scales.synthetic.set, "
                          f"got {config.data.source!r}.")
    if scale == "smoke":
        tasks = synthetic_tasks(config.data.synthetic.kind)
        missing = [task for task in [*config.data.targets, *config.data.inputs]
                   if task != "image" and task not in tasks]
        if missing:
            raise ConfigError(f"data.targets: {missing} are not tasks of the synthetic {config.data.synthetic.kind} "
                              f"{sorted(tasks)}; the smoke stand-in needs them (set them in the grid's "
                              "scales.smoke.set).")
    if scale == "full":
        root = pathlib.Path(data_root).expanduser()
        if config.data.source == "dataset" and not pathlib.Path(config.data.dataset.root).expanduser().is_absolute():
            config.data.dataset.root = str(root / config.data.dataset.root)
        weights = config.train.initial_weights
        if weights and not pathlib.Path(weights).expanduser().is_absolute():
            config.train.initial_weights = str(root / weights)
    return config


def smoke_stand_in(data):
    """A config mapping on the smoke stand-in (`SMOKE`): the same builder in its smallest form and the
    same objectives, one epoch on a few synthetic faces of the smallest size the model takes."""
    from kerasfg.models.registry import registered_model

    config = config_lib.from_dict(copy.deepcopy(data))
    try:
        registered = registered_model(config.model.name)
    except ValueError as error:
        raise ConfigError(f"model.name: {error}") from error
    data = config.to_dict()
    config_lib.set_keys(data, SMOKE)
    config_lib.set_keys(data, {"data.synthetic.image_size": registered.smoke_image_size,
                  "model.options": registered.smallest(dict(config.model.options))})
    return data


@functools.lru_cache(maxsize=2)
def synthetic_tasks(kind="faces"):
    """The tasks the synthetic faces (or digits, ``kind="digits"``) provide."""
    if kind == "digits":
        from kerasfg.data.synthetic_digits import TASK

        return (TASK,)
    from kerasfg.data.synthetic import synthetic_faces

    return tuple(synthetic_faces(1, num_identities=2, image_size=16).labels)


# === Where the cells' results are ===

RESULT_FILE = "result.json"


def grid_directory(grid, scale, out="runs/reproduce"):
    """``<out>/<paper>/<table>/<scale>``."""
    return pathlib.Path(out) / grid.paper / grid.id / scale


def finished_results(grid, scale, out):
    """``(cells, {cell id: result})`` of the grid's finished cells at ``scale`` under ``out``."""
    cells = grid.cells(scale)
    directory = grid_directory(grid, scale, out) / "cells"
    results = {}
    for cell in cells:
        path = directory / cell.id / RESULT_FILE
        if path.is_file():
            results[cell.id] = json.loads(path.read_text())
    return cells, results


# === Derived tables: loaded here, computed by `kerasfg.reproduce.derived` ===

DERIVED_REQUIRED = ("paper", "table", "title", "derived", "targets")
DERIVED_OPTIONAL = ("source", "notes", "provenance", "description", "claims")
DERIVED_KEYS = ("from", "compute", "baseline", "average")
COMPUTATIONS = ("accuracy_per_million_parameters",)


@dataclasses.dataclass
class DerivedTable:
    """A loaded derived table (module docstring).

    Attributes:
        path: its file.
        paper, table, title, source, notes, provenance, description: what it reproduces.
        grid: the source `kerasfg.reproduce.Grid`.
        compute: the computation's name (`COMPUTATIONS`).
        baseline: the row the others are measured against.
        average: the label of the column of row means, or None.
        targets: ``{row: {column: kerasfg.reproduce.grid.Target}}``.
        claims: the table's claims (`kerasfg.reproduce.claims.Claim`).
    """

    path: pathlib.Path
    paper: str
    table: str
    title: str
    grid: object
    compute: str
    baseline: str
    average: str | None
    targets: dict = dataclasses.field(default_factory=dict)
    source: str | None = None
    notes: str | None = None
    provenance: str | None = None
    description: str | None = None
    claims: list = dataclasses.field(default_factory=list)
    metric: dict = dataclasses.field(default_factory=lambda: {
        "name": "accuracy increment (%) per million parameters", "transform": "identity"})
    repeats: list = dataclasses.field(default_factory=list)
    class_tables: list = dataclasses.field(default_factory=list)
    runner: str = "derived"

    @property
    def id(self):
        return self.path.stem

    @property
    def rows(self):
        return self.grid.rows

    def row_labels(self):
        return self.grid.row_labels()

    def column_labels(self):
        return [*self.grid.column_labels(), *([self.average] if self.average else [])]

    def seeds_at(self, scale):
        return self.grid.seeds_at(scale)

    def metric_line(self, scale, seeds):
        """The results' line saying what was measured: the source grid and its seeds."""
        return (f"Computed from the finished cells of `{self.grid.path.as_posix()}` ({self.compute}, baseline "
                f"{self.baseline}). Scale: {scale}, seeds {seeds}.")


def is_derived(data):
    """Whether a table file's mapping is a derived table (it has ``derived:``)."""
    return isinstance(data, dict) and "derived" in data


def load_derived(path, data=None):
    """Load and validate a derived table file and its source grid.

    Raises:
        ConfigError: naming the file and the key of what is wrong.
    """
    path = pathlib.Path(path)
    data = config_lib.read_yaml(path) if data is None else data
    try:
        check_header(data, DERIVED_REQUIRED, DERIVED_OPTIONAL, "a derived table")
        spec = check_mapping("derived", data["derived"], DERIVED_KEYS)
        if not isinstance(spec.get("from"), str) or not spec["from"].endswith(".yaml"):
            raise ConfigError(f"derived.from: expected the source grid file (e.g. table-4-3.yaml, relative to "
                              f"this file), got {spec.get('from')!r}.")
        source = path.parent / spec["from"]
        if not source.is_file():
            raise ConfigError(f"derived.from: {source} does not exist.")
        if spec.get("compute") not in COMPUTATIONS:
            raise ConfigError(f"derived.compute: expected one of {list(COMPUTATIONS)}, got {spec.get('compute')!r}.")
        grid = load_grid(source)
        if grid.runner != "training" or grid.repeats:
            raise ConfigError(f"derived.from: {source.name} must be a grid of training runs without repeats.")
        if spec.get("baseline") not in grid.row_labels():
            raise ConfigError(f"derived.baseline: expected a row of {source.name} {grid.row_labels()}, got "
                              f"{spec.get('baseline')!r}.")
        average = spec.get("average")
        if average is not None and (not isinstance(average, str) or average in grid.column_labels()):
            raise ConfigError(f"derived.average: expected a new column label, got {average!r}.")
        table = DerivedTable(path, data["paper"], data["table"], data["title"], grid, spec["compute"],
                             spec["baseline"], average,
                             **{key: data.get(key) for key in ("source", "notes", "provenance", "description")})
        table.targets = _targets(data["targets"], table)
        table.claims = parse_claims(data.get("claims") or [], table.row_labels(), table.column_labels(), "identity")
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return table
