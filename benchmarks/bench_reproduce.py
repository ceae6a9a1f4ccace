"""Every grid in ``experiments/`` at ``--scale smoke``, against one smoke cell measured in the same run.

Budget (issue 14): all tables at smoke scale in under 5 minutes on 2 cores. Prints per grid the cells,
how many trained (the others share the run of an identical cell at their smallest form), the wall and
CPU seconds; then the total against the budget, and against the baseline: one smoke cell of the quick
start's model through `kerasfg.training.fit` (the unit every trained cell costs about once).

    python -m benchmarks.bench_reproduce [--grids experiments/003/table-1.yaml ...]
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
BUDGET_SECONDS = 300.0


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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        baseline_cell(pathlib.Path(out) / "warmup")  # imports and first traces out of the timings
        _, base_wall, base_cpu = timed(lambda: baseline_cell(pathlib.Path(out) / "baseline"))
        rows, total_wall, total_cpu = [], 0.0, 0.0
        for path in args.grids:
            grid = load_grid(path)
            run, wall, cpu = timed(lambda grid=grid: run_grid(grid, "smoke", out=pathlib.Path(out) / "grids"))
            total_wall += wall
            total_cpu += cpu
            rows.append([str(path.relative_to(REPO) if path.is_relative_to(REPO) else path), len(run.cells),
                         len(run.trained), f"{wall:.1f}", f"{cpu:.1f}", f"{wall / base_wall:.1f}"])
    print_table(rows, ["grid", "cells", "trained", "wall s", "cpu s", "x one cell"])
    print(f"\nbaseline: one smoke cell of the quick start's model, {base_wall:.2f} s wall, {base_cpu:.2f} s CPU")
    print(f"all {len(rows)} grids: {total_wall:.1f} s wall ({total_wall / base_wall:.1f} x one cell), "
          f"{total_cpu:.1f} s CPU; budget {BUDGET_SECONDS:.0f} s: {total_wall / BUDGET_SECONDS:.2f} of it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
