"""References to another cell's network (`kerasfg.reproduce.references`): resolution under ``--out`` and
``--scale``, and the errors before training. The source cells are folders written by hand (finished: a
``result.json``; half-written: a ``fingerprint.json`` and a log only); nothing trains."""

import json
import pathlib

import pytest
import yaml

from kerasfg import cli
from kerasfg.config import ConfigError
from kerasfg.reproduce import load_grid, run_grid
from kerasfg.reproduce.grid import RESULT_FILE, grid_directory
from kerasfg.reproduce.references import References

REPO = pathlib.Path(__file__).resolve().parents[2]
CODE = "model.options.output_codes.identity"
SIMILARITY = f"{CODE}.similarity"


def grid_file(folder, name, codes):
    """A two-row grid of output-code cifar_quick runs on synthetic faces (``codes``: ``{id: set}``)."""
    path = folder / name
    path.write_text(yaml.safe_dump({
        "paper": "999", "table": name, "title": "codes", "metric": {"name": "accuracy", "key": "test.accuracy"},
        "base": {"data": {"source": "synthetic", "targets": ["identity"],
                          "synthetic": {"num_identities": 4, "image_size": 32}},
                 "model": {"name": "cifar_quick", "attention": None,
                           "options": {"output_codes": {"identity": {"bits": 3}}}}},
        "axes": {"code": [{"label": code, "id": code, "set": values} for code, values in codes.items()]},
        "rows": ["code"], "columns": [], "targets": {}}))
    return path


def data_based(grid, cell):
    return {f"{CODE}.design": "data_based", SIMILARITY: {"cell": {"grid": grid, "id": cell}, "layer": "ip1"}}


@pytest.fixture
def grids(tmp_path):
    """``(source grid, user grid, out)``: the user grid's data-based cell takes ip1 of the source's cell."""
    source = load_grid(grid_file(tmp_path, "source.yaml", {"gaussian": {f"{CODE}.design": "gaussian"},
                                                           "dense": {f"{CODE}.design": "dense_random"}}))
    user = load_grid(grid_file(tmp_path, "user.yaml", {"data": data_based("source.yaml", "gaussian__seed0")}))
    return source, user, tmp_path / "out"


def finish(grid, cell_id, out, **result):
    """Write a finished cell folder (``result.json`` with the cell's current fingerprint, unless given)."""
    cell = next(cell for cell in grid.cells("full") if cell.id == cell_id)
    cell_dir = grid_directory(grid, "full", out) / "cells" / cell_id
    cell_dir.mkdir(parents=True)
    (cell_dir / RESULT_FILE).write_text(json.dumps(
        {"cell": cell_id, "run_dir": str(cell_dir), "shared_with": None, "fingerprint": cell.fingerprint, **result}))
    return cell_dir


def test_the_thesis_grids_name_cells_of_their_sources():
    references = {}
    for name in ("table-6-1-data-based.yaml", "table-6-2.yaml"):
        grid = load_grid(REPO / "experiments" / "002" / name)
        found = References(grid, grid.cells("full"), "full", "out", run_first=[grid.path.parent / "table-6-1.yaml"])
        references.update({(name, cell): [(ref.grid.id, ref.id, ref.layer) for ref in refs]
                           for cell, refs in found.by_cell.items() if refs})
    assert references == {
        **{("table-6-1-data-based.yaml", f"{binarization}__bits{bits}__seed0"):
           [("table-6-1", "bits100__one-hot__seed0", "ip1")]
           for binarization in ("raw", "zero", "median") for bits in (66, 99)},
        ("table-6-2.yaml", "data-based__seed0"): [("table-6-2", "gaussian__seed0", "features")]}


def test_a_finished_cell_resolves_to_its_run_directory_under_out(grids):
    source, user, out = grids
    cell_dir = finish(source, "gaussian__seed0", out)
    [cell] = user.cells("full")
    before = cell.fingerprint
    config = References(user, [cell], "full", out).config(cell)
    assert config.model.options["output_codes"]["identity"]["similarity"] == {"model": str(cell_dir.absolute()),
                                                                              "layer": "ip1"}
    assert cell.config.model.options["output_codes"]["identity"]["similarity"]["cell"]["id"] == "gaussian__seed0"
    assert cell.fingerprint == before  # the reference, not the folder, is what the cell trains


def test_a_cell_that_shared_a_run_resolves_to_that_run(grids):
    source, user, out = grids
    finish(source, "gaussian__seed0", out, shared_with="other", run_dir="/runs/other")
    [cell] = user.cells("full")
    similarity = References(user, [cell], "full", out).config(cell).model.options["output_codes"]["identity"]
    assert similarity["similarity"]["model"] == "/runs/other"


@pytest.mark.parametrize("state", ["half-written", "stale"])
def test_an_unfinished_cell_stops_the_grid_before_training(grids, state):
    source, user, out = grids
    if state == "stale":
        finish(source, "gaussian__seed0", out, fingerprint="0123abcd")
    else:  # a cell killed while training: its fingerprint and log, no result.json
        cell_dir = grid_directory(source, "full", out) / "cells" / "gaussian__seed0"
        cell_dir.mkdir(parents=True)
        (cell_dir / "fingerprint.json").write_text('{"fingerprint": "x"}')
        (cell_dir / "log.txt").write_text("epoch 1")
    with pytest.raises(FileNotFoundError) as error:
        run_grid(user, "full", out=out)
    message = str(error.value)
    assert "\n" not in message
    assert "cell gaussian__seed0 of" in message and ("has not finished" if state == "half-written" else
                                                     "earlier version of that grid file") in message
    assert f"run `kerasfg reproduce {source.path} --scale full --out {out}` first" in message
    assert not grid_directory(user, "full", out).exists()


def test_the_command_checks_the_references_before_any_grid_runs(grids, capsys):
    source, user, out = grids
    # the source grid after the grid that needs it: nothing runs, one line names the grid to run first
    assert cli.main(["reproduce", str(user.path), str(source.path), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("kerasfg reproduce: error: ") and "\n" not in error and "source.yaml --scale full" in error
    assert not out.exists()
    # before it, the cell may train first
    References(user, user.cells("full"), "full", out, run_first=[source.path])


def test_the_runner_trains_the_cell_on_the_resolved_network(grids, monkeypatch):
    from kerasfg import training

    source, user, out = grids
    source_dir = finish(source, "gaussian__seed0", out)
    trained = []

    def fit(config, **kwargs):
        trained.append(config)
        raise InterruptedError("stop before training")

    monkeypatch.setattr(training, "fit", fit)
    with pytest.raises(InterruptedError):
        run_grid(user, "full", out=out)
    [config] = trained
    assert config.model.options["output_codes"]["identity"]["similarity"]["model"] == str(source_dir.absolute())
    cell_dir = grid_directory(user, "full", out) / "cells" / "data__seed0"
    recorded = json.loads((cell_dir / "fingerprint.json").read_text())["fingerprint"]
    [cell] = user.cells("full")
    assert recorded == References(user, [cell], "full", out).fingerprint(cell) != cell.fingerprint


def test_a_cell_trains_again_when_the_cell_it_names_changes(grids):
    source, user, out = grids
    [cell] = user.cells("full")
    before = References(user, [cell], "full", out, run_first=[source.path]).fingerprint(cell)
    elsewhere = References(user, [cell], "full", out / "elsewhere", run_first=[source.path])
    assert elsewhere.fingerprint(cell) == before  # not where the network is
    grid_file(source.path.parent, "source.yaml", {"gaussian": {f"{CODE}.design": "gaussian", f"{CODE}.seed": 7}})
    after = References(user, [cell], "full", out, run_first=[source.path]).fingerprint(cell)
    assert after != before and cell.fingerprint == user.cells("full")[0].fingerprint


def test_a_cell_of_the_same_grid_must_train_before_the_cells_that_use_it(tmp_path):
    grid = load_grid(grid_file(tmp_path, "self.yaml", {"gaussian": {f"{CODE}.design": "gaussian"},
                                                       "data": data_based("self.yaml", "gaussian__seed0")}))
    out = tmp_path / "out"
    references = References(grid, grid.cells("full"), "full", out)  # not finished yet: it trains first
    cell_dir = finish(grid, "gaussian__seed0", out)
    data = grid.cells("full")[1]
    assert references.config(data).model.options["output_codes"]["identity"]["similarity"]["model"] == str(
        cell_dir.absolute())
    later = load_grid(grid_file(tmp_path, "later.yaml", {"data": data_based("later.yaml", "gaussian__seed0"),
                                                         "gaussian": {f"{CODE}.design": "gaussian"}}))
    with pytest.raises(ConfigError, match=r"later.yaml: cell data__seed0: .*similarity.cell.id: 'gaussian__seed0' "
                                          r"is not a cell of this grid before data__seed0"):
        References(later, later.cells("full"), "full", out)


def test_a_cell_named_takes_no_network_from_a_cell_itself(grids):
    source, _, out = grids
    grid_file(source.path.parent, "middle.yaml", {"data": data_based("source.yaml", "gaussian__seed0")})
    user = load_grid(grid_file(source.path.parent, "chain.yaml", {"data": data_based("middle.yaml", "data__seed0")}))
    with pytest.raises(ConfigError, match="cell data__seed0 of middle.yaml takes a network from a cell itself"):
        References(user, user.cells("full"), "full", out, run_first=[source.path.parent / "middle.yaml"])


@pytest.mark.parametrize("similarity, match", [
    ({"cell": {"grid": "source.yaml", "id": "gaussian__seed9"}, "layer": "ip1"},
     r"similarity.cell.id: 'gaussian__seed9' is not a cell of source.yaml at full scale; its cells are "
     r"\['gaussian__seed0', 'dense__seed0'\]"),
    ({"cell": {"grid": "missing.yaml", "id": "gaussian__seed0"}, "layer": "ip1"}, r"similarity.cell.grid: .*missing"),
    ({"cell": "source.yaml:gaussian__seed0", "layer": "ip1"}, r"similarity: expected \{cell: \{grid: "),
    ({"cell": {"grid": "source.yaml", "id": "gaussian__seed0"}}, r"similarity: expected \{cell: "),
    ({"cell": {"grid": "source.yaml", "id": "gaussian__seed0"}, "layer": "ip1", "kernel": "cosine"},
     r"similarity.kernel: unknown key"),
])
def test_a_malformed_reference_names_its_key(grids, similarity, match):
    source, _, out = grids
    user = load_grid(grid_file(source.path.parent, "bad.yaml", {"data": {SIMILARITY: similarity}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: cell data__seed0: model.options.output_codes.identity." + match):
        References(user, user.cells("full"), "full", out)


def test_a_network_of_ones_own_is_left_as_it_is(grids):
    source, _, out = grids
    user = load_grid(grid_file(source.path.parent, "own.yaml",
                               {"data": {SIMILARITY: {"model": "my/run", "layer": "ip1"}}}))
    [cell] = user.cells("full")
    assert References(user, [cell], "full", out).config(cell) is cell.config
