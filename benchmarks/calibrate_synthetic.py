"""Calibrate a grid's synthetic scale: the baseline cell's value at several difficulties of the faces.

``--scale synthetic`` must not saturate: the baseline of each table's comparison should land between 40%
and 85% accuracy (the quick start's identity task is at 100%, where no method can beat another; a table
that reports an error is checked on 100 - error). This script runs
the grid's baseline cell(s) at synthetic scale with ``data.synthetic.difficulty`` set to each level and
prints the value beside the band, and the seconds per cell (the budget of a full synthetic grid):

    python -m benchmarks.calibrate_synthetic experiments/001/table-3-3.yaml --only attention= \\
        --difficulty 0.5 0.7 0.9 --seeds 0

``--only AXIS=LABEL`` keeps one value of an axis (repeatable; an empty label is the "none" value);
``--set KEY=YAML`` overrides the scale's config further (``data.synthetic.image_size=48``).
"""

import argparse
import os
import pathlib
import statistics
import tempfile
import time

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.timing import print_table
from kerasfg.reproduce import load_grid, run_grid

BAND = (40.0, 85.0)
# The band bounds the baseline's accuracy (%), whatever the table reports: its value mapped to accuracy.
AS_ACCURACY = {"percent": lambda value: value, "error_percent": lambda value: 100.0 - value,
               "identity": lambda value: 100.0 * value}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=pathlib.Path)
    parser.add_argument("--difficulty", nargs="+", default=["0.5", "0.7", "0.9"],
                        help="levels of data.synthetic.difficulty (a number, or YAML such as "
                             "'{default: 0.7, expression: 0.9}')")
    parser.add_argument("--only", action="append", default=[], metavar="AXIS=LABEL")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        out = args.out or pathlib.Path(temp)
        for level in args.difficulty:
            grid = load_grid(args.grid)
            scale = grid.scales.setdefault("synthetic", {"set": {}, "only": {}})
            only = {}
            for item in args.only:
                axis, label = item.split("=", 1)
                only.setdefault(axis, []).append(label)
            scale["only"] = {**scale.get("only", {}), **only}
            scale["seeds"] = list(args.seeds)
            overrides = dict(scale.get("set", {}))
            synthetic = dict(overrides.get("data.synthetic", {}))
            synthetic["difficulty"] = yaml.safe_load(level)
            overrides["data.synthetic"] = synthetic
            for item in args.set:
                key, value = item.split("=", 1)
                overrides[key] = yaml.safe_load(value)
            scale["set"] = overrides
            start = time.perf_counter()
            run = run_grid(grid, "synthetic", out=out / f"difficulty-{level}")
            seconds = (time.perf_counter() - start) / max(1, len(run.trained))
            by_cell = {}
            for cell in run.cells:
                by_cell.setdefault(f"{cell.row} / {cell.column}".strip(" /"), []).append(run.results[cell.id]["value"])
            for name, values in by_cell.items():
                mean = statistics.fmean(values)
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                to_accuracy = AS_ACCURACY.get(grid.metric["transform"])
                accuracy = to_accuracy(mean) if to_accuracy else None
                inside = "n/a" if accuracy is None else "yes" if BAND[0] <= accuracy <= BAND[1] else "no"
                rows.append([level, name, f"{mean:.1f} ± {spread:.1f} (n={len(values)})",
                             "n/a" if accuracy is None else f"{accuracy:.1f}", inside, f"{seconds:.0f}"])
    print_table(rows, ["difficulty", "cell", grid.metric["name"], "accuracy %",
                       f"in {BAND[0]:.0f}-{BAND[1]:.0f}%", "s per cell"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
