"""Grids of ``experiments/`` at a scale, against one smoke cell measured in the same run.

Budgets (issue 14): all tables at ``--scale smoke`` in under 5 minutes on 2 cores (this runs in CI); the
``001`` attention comparison (Table 3.3 at ``--scale synthetic``: no attention, SE, ECA, CBAM, 3 seeds)
in under 30 minutes. Prints per grid the cells, how many trained (the others share the run of an
identical cell, in the grid or in an earlier grid of the run), the wall and CPU seconds; then the total
against the budget, and against the baseline: one smoke cell of the quick start's model through
`kerasfg.training.fit` (the unit every trained smoke cell costs about once).

    python -m benchmarks.bench_reproduce                        # every grid at smoke scale
    python -m benchmarks.bench_reproduce --scale synthetic --grids experiments/001/table-3-3.yaml \
        --out runs/reproduce                                    # keep the cells (for --report)
"""

import argparse
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.timing import print_table
from kerasfg.reproduce import load_grid, run_grid
from kerasfg.reproduce.grid import smoke_stand_in

REPO = pathlib.Path(__file__).resolve().parents[1]
BUDGET_SECONDS = {"smoke": 300.0, "synthetic": 1800.0}


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def baseline_cell(out):
    """One smoke cell of the quick start's model, as `run_grid` trains it."""
    from kerasfg import config as config_lib
    from kerasfg import training
    from kerasfg.quickstart import default_config

    data = smoke_stand_in(default_config().to_dict())
    data["runs_dir"] = str(out)
    return training.fit(config_lib.from_dict(data))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", nargs="*", type=pathlib.Path,
                        default=sorted((REPO / "experiments").glob("*/*.yaml")))
    parser.add_argument("--scale", choices=sorted(BUDGET_SECONDS), default="smoke")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="parent of the grid directories (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        baseline_cell(pathlib.Path(out) / "warmup")  # imports and first traces out of the timings
        _, base_wall, base_cpu = timed(lambda: baseline_cell(pathlib.Path(out) / "baseline"))
        grids_out = args.out or pathlib.Path(out) / "grids"
        rows, total_wall, total_cpu = [], 0.0, 0.0
        for path in args.grids:
            grid = load_grid(path)
            run, wall, cpu = timed(lambda grid=grid: run_grid(grid, args.scale, out=grids_out))
            total_wall += wall
            total_cpu += cpu
            rows.append([str(path.relative_to(REPO) if path.is_relative_to(REPO) else path), len(run.cells),
                         len(run.trained), f"{wall:.1f}", f"{cpu:.1f}", f"{wall / base_wall:.1f}"])
    print_table(rows, ["grid", "cells", "trained", "wall s", "cpu s", "x one cell"])
    print(f"\nbaseline: one smoke cell of the quick start's model, {base_wall:.2f} s wall, {base_cpu:.2f} s CPU")
    budget = BUDGET_SECONDS[args.scale]
    print(f"all {len(rows)} grids at {args.scale} scale: {total_wall:.1f} s wall ({total_wall / base_wall:.1f} x "
          f"one smoke cell), {total_cpu:.1f} s CPU; budget {budget:.0f} s: {total_wall / budget:.2f} of it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
