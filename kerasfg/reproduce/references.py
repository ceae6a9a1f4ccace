"""A network one cell trained, used by another cell: a reference to a grid's cell, resolved under the
``--out`` and ``--scale`` of the grid being run.

A data-based output code (`kerasfg.codes.resolve_similarities`) takes its class similarity from the
features of a trained network. In a grid file that network is a cell of a grid, named by the grid file
(relative to this one, as a derived table's ``derived.from``) and the cell's id::

    model.options.output_codes.label.similarity:
      cell: {grid: table-6-1.yaml, id: bits100__one-hot__seed0}
      layer: ip1

`kerasfg.reproduce.run_grid` checks every such reference before anything trains: the cell must be one
of that grid's cells at the scale being run; a cell of another grid must have finished under the same
``--out`` (its ``result.json``, written last, from the grid file as it is now: a run of an earlier
version is stale), or the run stops with one line naming the grid to run first; a cell of the same grid
must come before the cells that use it (cells train in grid order). When a cell trains, the reference
becomes ``{model: <the cell's run directory>, layer: ip1}``, which is what the run's ``config.yaml``
records. The cell's fingerprint holds the reference and the fingerprint of the cell it names, not the
folder: another ``--out`` does not make it stale, an edited source cell does (it trains again after its
source). A cell named must take no network from a cell itself. ``{model: <run directory or .keras file>,
layer: ...}`` still names a network of one's own.
"""

import copy
import dataclasses
import hashlib
import json
import pathlib
import shlex

from kerasfg.config import ConfigError, ExperimentConfig, check_mapping
from kerasfg.reproduce.grid import RESULT_FILE, grid_directory, load_grid

SPELLING = "{cell: {grid: <grid file, relative to this one>, id: <cell id>}, layer: <layer name>}"


@dataclasses.dataclass(frozen=True)
class CellReference:
    """A cell's network that a config value names.

    Attributes:
        task: the output whose code's similarity it gives (``model.options.output_codes.<task>``).
        grid: the `kerasfg.reproduce.Grid` of the cell named.
        id: that cell's id.
        layer: the layer whose features give the similarity.
    """

    task: str
    grid: object
    id: str
    layer: str

    @property
    def key(self):
        return f"model.options.output_codes.{self.task}.similarity"


class References:
    """The cell references of a grid's cells at one scale under one ``out``, checked on construction.

    Args:
        grid: the `kerasfg.reproduce.Grid` being run.
        cells: its cells at ``scale`` (`kerasfg.reproduce.Grid.cells`).
        scale, out, data_root: as for `kerasfg.reproduce.run_grid` (the data root is part of a full-scale
            cell's fingerprint).
        run_first: grid files that run before this grid (`kerasfg reproduce` of several grids): their
            cells need not have finished yet.

    Raises:
        ConfigError: naming the grid file, the cell and the key of a reference that names no cell.
        FileNotFoundError: one line naming the grid whose cell has not finished, and the command that
            runs it.
    """

    def __init__(self, grid, cells, scale, out, data_root=".", *, run_first=()):
        self.grid, self.scale, self.out, self.data_root = grid, scale, out, data_root
        self._grids = {grid.path.resolve(): grid}
        self._cells = {grid.path.resolve(): {cell.id: cell for cell in cells}}  # {grid file: {id: cell}}
        self.by_cell = {}
        for cell in cells:
            try:
                self.by_cell[cell.id] = [self._reference(task, spec, cell.id)
                                         for task, spec in _similarities(cell.config)]
            except ConfigError as error:
                raise ConfigError(f"{grid.path}: cell {cell.id}: {error}") from error
        pending = {grid.path.resolve(), *(pathlib.Path(path).resolve() for path in run_first)}
        for reference in {(ref.grid.path, ref.id): ref for refs in self.by_cell.values() for ref in refs
                          if ref.grid.path.resolve() not in pending}.values():
            self.run_directory(reference)

    def _reference(self, task, spec, cell_id):
        key = f"model.options.output_codes.{task}.similarity"
        check_mapping(key, spec, ("cell", "layer"))
        named = spec["cell"]
        if (not isinstance(named, dict) or set(named) != {"grid", "id"} or not str(named["grid"]).endswith(".yaml")
                or not isinstance(named["id"], str) or not isinstance(spec.get("layer"), str) or not spec["layer"]):
            raise ConfigError(f"{key}: expected {SPELLING}, got {spec!r}.")
        path = (self.grid.path.parent / named["grid"]).resolve()
        if path == self.grid.path.resolve():
            before = list(self._cells[path])
            before = before[:before.index(cell_id)]
            if named["id"] not in before:
                raise ConfigError(f"{key}.cell.id: {named['id']!r} is not a cell of this grid before {cell_id} "
                                  f"(cells train in grid order); those are {before}.")
        elif path not in self._grids:
            if not path.is_file():
                raise ConfigError(f"{key}.cell.grid: {self.grid.path.parent / named['grid']} does not exist.")
            self._grids[path] = source = load_grid(self.grid.path.parent / named["grid"])
            if source.runner != "training":
                raise ConfigError(f"{key}.cell.grid: {path.name} must be a grid of training runs.")
            self._cells[path] = {cell.id: cell for cell in source.cells(self.scale, self.data_root)}
        if named["id"] not in self._cells[path]:
            raise ConfigError(f"{key}.cell.id: {named['id']!r} is not a cell of {path.name} at {self.scale} "
                              f"scale; its cells are {list(self._cells[path])}.")
        if _similarities(self._cells[path][named["id"]].config):
            raise ConfigError(f"{key}.cell.id: cell {named['id']} of {path.name} takes a network from a cell "
                              f"itself; name a cell that trains without one.")
        return CellReference(task, self._grids[path], named["id"], spec["layer"])

    def run_directory(self, reference):
        """The run directory of the finished cell ``reference`` names (a cell that shared an identical
        cell's run: that run's directory).

        Raises:
            FileNotFoundError: when the cell has not finished, or finished with an earlier version of its
                grid file (one line naming the grid to run first).
        """
        cell_dir = grid_directory(reference.grid, self.scale, self.out) / "cells" / reference.id
        result = json.loads((cell_dir / RESULT_FILE).read_text()) if (cell_dir / RESULT_FILE).is_file() else None
        if result is None:
            state = "has not finished"
        elif result.get("fingerprint") not in (None, self._fingerprint(reference)):
            state = "ran with an earlier version of that grid file (its config has changed since)"
        else:
            return pathlib.Path(result["run_dir"]) if result.get("shared_with") else cell_dir.absolute()
        command = shlex.join(["kerasfg", "reproduce", str(reference.grid.path), "--scale", self.scale,
                              *(["--data-root", str(self.data_root)] if str(self.data_root) != "." else []),
                              "--out", str(self.out)])
        raise FileNotFoundError(
            f"{self.grid.path} takes {reference.key} from cell {reference.id} of {reference.grid.path}, which "
            f"{state} at {self.scale} scale under {self.out}; run `{command}` first.")

    def _fingerprint(self, reference):
        return self._cells[reference.grid.path.resolve()][reference.id].fingerprint

    def fingerprint(self, cell):
        """What ``cell`` trains (`kerasfg.reproduce.grid.Cell.fingerprint`, its references as written)
        and what the cells it names train: when one of those changes (its grid file was edited), the
        cells that use its network train again."""
        sources = [self._fingerprint(reference) for reference in self.by_cell.get(cell.id, [])]
        if not sources:
            return cell.fingerprint
        return hashlib.sha256(json.dumps([cell.fingerprint, *sources]).encode()).hexdigest()[:16]

    def config(self, cell):
        """``cell``'s config with each reference replaced by ``{model: <run directory>, layer: ...}``
        (the config itself when it has none)."""
        if not self.by_cell.get(cell.id):
            return cell.config
        config = copy.deepcopy(cell.config)
        for reference in self.by_cell[cell.id]:
            config.model.options["output_codes"][reference.task]["similarity"] = {
                "model": str(self.run_directory(reference)), "layer": reference.layer}
        return config


def _similarities(config):
    """``[(task, similarity)]`` of the config's output codes whose similarity is a cell reference."""
    if not isinstance(config, ExperimentConfig):  # the pain runner's configs have no output codes
        return []
    return [(task, spec["similarity"]) for task, spec in (config.model.options.get("output_codes") or {}).items()
            if isinstance(spec, dict) and isinstance(spec.get("similarity"), dict) and "cell" in spec["similarity"]]
