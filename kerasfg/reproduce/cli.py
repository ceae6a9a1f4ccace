"""``kerasfg reproduce GRID.yaml... [--scale smoke|synthetic|full] [--data-root DIR] [--out DIR]
[--report FILE]``."""

import pathlib
import shlex
import sys

from kerasfg.reproduce.grid import SCALES

EVERY_GRID = "experiments/*/*.yaml"


def add_reproduce_parser(commands):
    """Add the ``reproduce`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "reproduce", help="run the grid of a paper's results table; write our numbers beside the paper's",
        description="Run every cell of experiment grids (experiments/<paper>/<table>.yaml) and write each "
                    "one's results.md and results.csv: our mean and standard deviation over seeds beside "
                    "the paper's number. Finished cells are skipped and a killed cell resumes, so running "
                    "the command again continues the grid. With --report, train nothing: write the "
                    "reproduction report (the tables' claims and what the finished cells show).")
    parser.add_argument("grids", nargs="+", metavar="grid",
                        help="grid files, e.g. experiments/003/table-1.yaml (several run one after another)")
    parser.add_argument("--scale", choices=SCALES, default="full",
                        help="full: the paper's setting on your data; synthetic: the comparison on "
                             "synthetic faces; smoke: one step of every cell on tiny stand-ins (default: full)")
    parser.add_argument("--data-root", default=".", metavar="DIR",
                        help="the folder the grid's relative dataset roots are under (default: .)")
    parser.add_argument("--out", default="runs/reproduce", metavar="DIR",
                        help="parent of the grid directories (default: runs/reproduce)")
    parser.add_argument("--report", default=None, metavar="FILE",
                        help="write the reproduction report of the grids' finished cells at --scale to FILE "
                             "(e.g. docs/reproduction.md) instead of running them")
    parser.set_defaults(handler=run_reproduce)


def run_reproduce(args, out=None):
    """Run the grids, or write their report (the ``reproduce`` handler); prints what it did."""
    from kerasfg.reproduce import load_grid

    out = out or sys.stdout

    grids = [load_grid(path) for path in args.grids]  # every file is checked before anything runs
    if args.report:
        from kerasfg.reproduce.report import write_report

        every = sorted(str(path) for path in pathlib.Path().glob(EVERY_GRID))
        shown = [EVERY_GRID] if sorted(map(str, args.grids)) == every else map(shlex.quote, map(str, args.grids))
        command = " ".join(["kerasfg reproduce", "--report", shlex.quote(args.report), "--scale", args.scale,
                            *(["--out", shlex.quote(args.out)] if args.out != "runs/reproduce" else []), *shown])
        write_report(args.report, grids, args.scale, args.out, command)
        print(f"Report of {len(grids)} grids at {args.scale} scale: {args.report}", file=out)
        return 0
    from kerasfg.reproduce import run_grid
    from kerasfg.reproduce.references import References

    for i, grid in enumerate(grids):  # the cells whose networks other cells use, before anything trains
        if grid.runner != "derived":
            References(grid, grid.cells(args.scale, args.data_root), args.scale, args.out, args.data_root,
                       run_first=[earlier.path for earlier in grids[:i]])
    for grid in grids:
        run = run_grid(grid, args.scale, data_root=args.data_root, out=args.out, progress=True)
        if grid.runner == "derived":
            print(f"\nNothing trained: computed from the finished cells of {grid.grid.path}.\n", file=out)
        else:
            print(f"\n{len(run.trained)} cells trained, {len(run.skipped)} already finished, {len(run.shared)} "
                  f"shared an identical cell's run.\n", file=out)
        print((run.directory / "results.md").read_text(), file=out)
        print(f"Grid directory: {run.directory}", file=out)
        if grid.runner != "derived":
            print(f"TensorBoard:    tensorboard --logdir {run.directory}   (HParams tab: one session per cell)",
                  file=out)
    return 0
