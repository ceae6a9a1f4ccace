"""Run the cells of a grid, each an ordinary run directory, resumable at any point.

```
<out>/<paper>/<table>/<scale>/
  grid.yaml                the grid file as it was run
  cells/<cell id>/         an ordinary run directory (`kerasfg.training.fit`) ...
    log.txt                ... with its own log (one per cell)
    fingerprint.json       what the cell trains (`kerasfg.reproduce.references.References.fingerprint`),
                           written first
    result.json            written last, atomically: a cell without it is not finished
    logs/                  its TensorBoard logs, and its HParams session
  hparams/                 the grid's HParams experiment (`tensorboard --logdir` the grid directory)
  results.csv, results.md  the table: our mean and standard deviation over seeds beside the paper's
  <class table>.csv        a table breaking one entry down by class, if the grid has any (also in
                           results.md; `kerasfg.reproduce.class_tables`)
```

A finished cell (one with ``result.json``) is skipped; an unfinished one resumes from its newest
backup (`kerasfg.checkpoints.ResumableBackup`), so running the same command again continues the
grid where it stopped; a cell whose config changed since (the grid file was edited) is set aside as
``<cell id>.stale-<fingerprint>`` and trains again. Cells whose configs are identical (at smoke scale,
e.g. ResNet-101 and ResNet-152 in their smallest form on the same stand-in data) train once; the
others record the run they share, each reading its own metric from it (the columns of a table may be
several measures of one run). The same holds across grids under one ``out``: a cell identical to a finished cell of
another table (Table 3.1's baselines are cells of Table 3.3) shares that table's run.
"""

import contextlib
import dataclasses
import json
import logging
import pathlib
import shutil
import time

import keras

from kerasfg.config import ConfigError, get_key
from kerasfg.io_utils import write_json
from kerasfg.reproduce import hparams
from kerasfg.reproduce.grid import RESULT_FILE, TRANSFORMS, check_scale, grid_directory
from kerasfg.reproduce.references import References
from kerasfg.reproduce.results import write_results

logger = logging.getLogger(__name__)

LOG_FILE = "log.txt"
FINGERPRINT_FILE = "fingerprint.json"  # written when a cell starts: a resumed cell must still be the same


@dataclasses.dataclass
class GridRun:
    """What `run_grid` did.

    Attributes:
        directory: the grid directory.
        cells: every cell, in grid order (a derived table's entries, `kerasfg.reproduce.derived.Entry`).
        trained, skipped, shared: ids of the cells trained now, found finished, and sharing the run of
            an identical cell.
        results: ``{cell id: result dict}`` of every finished cell.
    """

    directory: pathlib.Path
    cells: list
    trained: list
    skipped: list
    shared: list
    results: dict



def run_grid(grid, scale="full", *, data_root=".", out="runs/reproduce", callbacks=(), progress=False):
    """Run every cell of ``grid`` at ``scale`` and write the table (a derived table is computed from its
    source grid's finished cells, `kerasfg.reproduce.derived`).

    Args:
        grid: a `kerasfg.reproduce.Grid` (`kerasfg.reproduce.load_grid`).
        scale: ``"smoke"``, ``"synthetic"`` or ``"full"``.
        data_root: the folder relative dataset roots are under (full scale).
        out: the parent of all grid directories.
        callbacks: extra Keras callbacks for every cell's ``fit``.
        progress: show a progress bar over the cells.

    Returns:
        A `GridRun`.

    Raises:
        ConfigError: when a cell's config is invalid (before any training).
        DatasetLayoutError: when a dataset is missing or malformed (before any training).
        FileNotFoundError: when a derived table's source cells, or a cell of another grid whose network
            a cell uses (`kerasfg.reproduce.references`), have not finished.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    check_scale(scale)
    if grid.runner == "derived":  # computed from another grid's cells (`kerasfg.reproduce.derived`)
        from kerasfg.reproduce.derived import write_derived

        directory, entries, values = write_derived(grid, scale, out)
        return GridRun(directory, entries, [], [], [], values)
    cells = grid.cells(scale, data_root)
    references = References(grid, cells, scale, out, data_root)
    if grid.runner == "pain":
        from kerasfg.pain.reproduce import check_data

        check_data(cells)
    else:
        check_datasets(cells)
    for table in grid.class_tables:
        table.check_data(cells, data_root)
    directory = grid_directory(grid, scale, out)
    (directory / "cells").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(grid.path, directory / "grid.yaml")
    run = GridRun(directory, cells, [], [], [], {})
    first_of = {}
    elsewhere = finished_runs(out, scale, besides=directory)
    bar = tqdm(cells, desc=f"reproduce {grid.paper} {grid.table} [{scale}]", unit="cell",
               disable=not progress)
    with logging_redirect_tqdm(), bar:  # log lines above the bar, not through it
        for cell in bar:
            bar.set_postfix_str(cell.id, refresh=True)
            fingerprint = references.fingerprint(cell)
            shared = first_of.setdefault(fingerprint, cell)
            _run_cell(run, cell, run.results[shared.id] if shared is not cell else elsewhere.get(fingerprint),
                      fingerprint, callbacks, references)
    _class_table_counts(grid, directory, cells, run.results, data_root)
    hparams.write_experiment(directory / "hparams", grid, cells, run.results)
    write_results(directory, grid, cells, run.results, scale)
    return run


def _class_table_counts(grid, directory, cells, results, data_root):
    """The post-step of the grid's ``accuracy_by`` and ``code_attributes`` tables
    (`kerasfg.reproduce.class_tables`): each finished cell of their entries whose per-group counts (or
    code correlations) are missing is evaluated once."""
    from kerasfg.config import ExperimentConfig

    for table in grid.class_tables:
        for cell in cells:
            cell_dir = directory / "cells" / cell.id
            if (cell.id in results and isinstance(cell.config, ExperimentConfig)
                    and table.needs_evaluation(cell, cell_dir)):
                with _cell_log(cell_dir / LOG_FILE):
                    table.evaluate(cell, cell_dir, results[cell.id]["run_dir"], data_root)
                keras.utils.clear_session(free_memory=False)


def _run_cell(run, cell, shared, fingerprint, callbacks, references):
    """Skip a finished cell, share ``shared`` (the result of the first cell with the same fingerprint,
    in this grid or in another grid under the same ``out``), or train it (its config's references to
    other cells resolved by ``references``, a `kerasfg.reproduce.references.References`)."""
    cell_dir = run.directory / "cells" / cell.id
    _set_aside_if_stale(cell, cell_dir, fingerprint)
    if (cell_dir / RESULT_FILE).is_file():
        run.skipped.append(cell.id)
    elif shared is not None:
        _share(cell, shared, cell_dir)
        run.shared.append(cell.id)
    else:
        _train(cell, references.config(cell), cell_dir, fingerprint, callbacks)
        run.trained.append(cell.id)
    result = json.loads((cell_dir / RESULT_FILE).read_text())
    run.results[cell.id] = result
    hparams.write_session(cell_dir / "logs", cell, result)


def _set_aside_if_stale(cell, cell_dir, fingerprint):
    """A cell directory whose run has another fingerprint (the grid file changed since: a recalibrated
    scale, another optimizer) would be skipped, or resumed, with a config that is no longer the cell's:
    rename it to ``<cell id>.stale-<its fingerprint>`` (kept, never read as this cell) so the cell trains
    afresh."""
    recorded = next((json.loads(path.read_text()).get("fingerprint") for path in (
        cell_dir / RESULT_FILE, cell_dir / FINGERPRINT_FILE) if path.is_file()), None)
    if recorded is None or recorded == fingerprint:
        return
    stale = cell_dir.with_name(f"{cell_dir.name}.stale-{recorded}")
    if stale.exists():
        shutil.rmtree(stale)
    cell_dir.rename(stale)
    logger.warning("cell %s: its config changed since it ran (fingerprint %s, now %s); the old run is kept "
                   "as %s and the cell trains again", cell.id, recorded, fingerprint, stale.name)


def _train(cell, config, cell_dir, fingerprint, callbacks):
    from kerasfg import training
    from kerasfg.config import ExperimentConfig

    cell_dir.mkdir(parents=True, exist_ok=True)
    write_json(cell_dir / FINGERPRINT_FILE, {"cell": cell.id, "fingerprint": fingerprint})
    with _cell_log(cell_dir / LOG_FILE):
        logger.info("cell %s: %s, seed %d", cell.id, cell.labels, cell.seed)
        start = time.perf_counter()
        if isinstance(config, ExperimentConfig):
            run_dir = training.fit(config, resume=cell_dir, callbacks=[EpochLog(), *callbacks]).run_dir
            metrics = json.loads((cell_dir / "metrics.json").read_text())
            test, epochs = metrics["test"], metrics["epochs_completed"]
        else:  # the pain system (runner: pain)
            from kerasfg.pain import reproduce as pain_runner

            metrics, run_dir = pain_runner.train_cell(cell, cell_dir)
            test, epochs = pain_runner.summary(metrics), config.cnn.epochs
        value = read_metric(metrics, cell.metric)
        logger.info("cell %s: %s = %.4f (%.0f s)", cell.id, cell.metric["name"], value,
                    time.perf_counter() - start)
    keras.utils.clear_session(free_memory=False)
    write_json(cell_dir / RESULT_FILE, {
        "cell": cell.id, "labels": cell.labels, "seed": cell.seed, "row": cell.row, "column": cell.column,
        "value": value, "metric": cell.metric["name"], "test": test,
        "epochs_completed": epochs, "run_dir": str(run_dir), "shared_with": None,
        "fingerprint": fingerprint,
    })


def _share(cell, result, cell_dir):
    """A cell whose config is identical to a finished cell's records that cell's result, its own
    metric read from that run's ``metrics.json`` (a column may read another measure of one run)."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    metrics = json.loads((pathlib.Path(result["run_dir"]) / "metrics.json").read_text())
    write_json(cell_dir / RESULT_FILE, {**result, "cell": cell.id, "labels": cell.labels, "seed": cell.seed,
                                        "row": cell.row, "column": cell.column, "shared_with": result["cell"],
                                        "value": read_metric(metrics, cell.metric),
                                        "metric": cell.metric["name"]})


def finished_runs(out, scale, besides=None):
    """``{fingerprint: result}`` of the cells trained by the grids under ``out`` at ``scale`` (the
    grid directory ``besides`` left out): a cell identical to one of them shares its run, so that
    tables repeating another's cells (Table 3.1's baselines are Table 3.3's cells without attention)
    train them once."""
    runs = {}
    for path in sorted(pathlib.Path(out).glob(f"*/*/{scale}/cells/*/{RESULT_FILE}")):
        if besides is not None and path.parents[2] == pathlib.Path(besides):
            continue
        result = json.loads(path.read_text())
        if result.get("fingerprint") and not result.get("shared_with"):
            runs.setdefault(result["fingerprint"], result)
    return runs


def read_metric(metrics, metric):
    """The table's value of a cell: the first of ``metric["key"]`` (dotted paths) found in its
    ``metrics.json``, transformed. A list (a ``history`` entry, one value per epoch) gives its
    final epoch's value.

    Raises:
        ConfigError: naming the keys looked for and the test metrics there are.
    """
    for key in metric["key"]:
        node = get_key(metrics, key)
        if isinstance(node, list):
            node = node[-1] if node else None
        if node is not None:
            return TRANSFORMS[metric["transform"]](float(node))
    raise ConfigError(f"metric.key: none of {metric['key']} is in the run's metrics.json; its test metrics "
                      f"are {sorted(metrics.get('test', {}))}, its history "
                      f"{sorted(metrics.get('history', {}))}.")


def check_datasets(cells):
    """Read the labels of every dataset the cells use, once each, before any training.

    Raises:
        DatasetLayoutError: naming the path looked at and the layout expected.
    """
    from kerasfg.data import load_dataset

    seen = set()
    for cell in cells:
        spec = cell.config.data.dataset
        if cell.config.data.source != "dataset":
            continue
        key = json.dumps([spec.name, spec.root, spec.options], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        logger.info("checking dataset %s at %s", spec.name, spec.root)
        load_dataset(spec.name, spec.root, None, validate=False, **spec.options)


class EpochLog(keras.callbacks.Callback):
    """Log each epoch's metrics (into the cell's log file)."""

    def on_epoch_end(self, epoch, logs=None):
        values = ", ".join(f"{key} {value:.4f}" for key, value in sorted((logs or {}).items()))
        logger.info("epoch %d: %s", epoch + 1, values)


@contextlib.contextmanager
def _cell_log(path):
    """Send the logging records of the block to ``path`` as well."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root, package = logging.getLogger(), logging.getLogger("kerasfg")
    previous = package.level
    root.addHandler(handler)
    package.setLevel(logging.INFO)  # kerasfg's own records, whatever the console shows
    try:
        yield
    finally:
        root.removeHandler(handler)
        package.setLevel(previous)
        handler.close()
