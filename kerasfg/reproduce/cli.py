"""``kerasfg reproduce GRID.yaml [GRID.yaml ...] [--scale smoke|synthetic|full] [--data-root DIR] [--out DIR]
[--report PAGE.md]``."""

import shlex
import sys

from kerasfg.reproduce.grid import SCALES


def add_reproduce_parser(commands):
    """Add the ``reproduce`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "reproduce", help="run the grid of a paper's results table; write our numbers beside the paper's",
        description="Run every cell of experiment grids (experiments/<paper>/<table>.yaml) and write each "
                    "grid's results.md and results.csv: our mean and standard deviation over seeds beside the "
                    "paper's number. Finished cells are skipped and a killed cell resumes, so running the "
                    "command again continues the grid. With --report, train nothing: write the page of the "
                    "grids' claims and what their finished cells show.")
    parser.add_argument("grids", nargs="+", metavar="grid",
                        help="grid files, e.g. experiments/003/table-1.yaml (run in the order given)")
    parser.add_argument("--scale", choices=SCALES, default="full",
                        help="full: the paper's setting on your data; synthetic: the comparison on "
                             "synthetic faces; smoke: one step of every cell on tiny stand-ins (default: full)")
    parser.add_argument("--data-root", default=".", metavar="DIR",
                        help="the folder the grid's relative dataset roots are under (default: .)")
    parser.add_argument("--out", default="runs/reproduce", metavar="DIR",
                        help="parent of the grid directories (default: runs/reproduce)")
    parser.add_argument("--report", metavar="PAGE.md",
                        help="train nothing; write the reproduction page (each paper's claims, checked on the "
                             "grids' finished cells at --scale, and their tables) to this file, e.g. "
                             "docs/reproduction.md")
    parser.set_defaults(handler=run_reproduce)


def run_reproduce(args, out=sys.stdout):
    """Run the grids, or write their report (the ``reproduce`` handler)."""
    from kerasfg.reproduce import load_grid

    grids = [load_grid(path) for path in args.grids]  # every file is checked before anything runs
    if args.report:
        from kerasfg.reproduce.report import write_report

        command = shlex.join(["kerasfg", "reproduce", *args.grids, "--scale", args.scale, "--out", args.out,
                              "--report", args.report])
        path = write_report(args.report, grids, args.scale, args.out, command)
        print(f"Wrote {path} ({len(grids)} grid{'s' if len(grids) > 1 else ''}, {args.scale} scale, runs under "
              f"{args.out}).", file=out)
        return 0
    from kerasfg.reproduce import run_grid

    for grid in grids:
        run = run_grid(grid, args.scale, data_root=args.data_root, out=args.out, progress=True)
        print(f"\n{len(run.trained)} cells trained, {len(run.skipped)} already finished, {len(run.shared)} "
              f"shared an identical cell's run.\n", file=out)
        print((run.directory / "results.md").read_text(), file=out)
        print(f"Grid directory: {run.directory}", file=out)
        print(f"TensorBoard:    tensorboard --logdir {run.directory}   (HParams tab: one session per cell)",
              file=out)
    return 0
