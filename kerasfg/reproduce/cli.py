"""``kerasfg reproduce GRID.yaml [--scale smoke|synthetic|full] [--data-root DIR] [--out DIR]``."""

import sys

from kerasfg.reproduce.grid import SCALES


def add_reproduce_parser(commands):
    """Add the ``reproduce`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "reproduce", help="run the grid of a paper's results table; write our numbers beside the paper's",
        description="Run every cell of an experiment grid (experiments/<paper>/<table>.yaml) and write "
                    "results.md and results.csv: our mean and standard deviation over seeds beside the "
                    "paper's number. Finished cells are skipped and a killed cell resumes, so running the "
                    "command again continues the grid.")
    parser.add_argument("grid", help="the grid file, e.g. experiments/003/table-1.yaml")
    parser.add_argument("--scale", choices=SCALES, default="full",
                        help="full: the paper's setting on your data; synthetic: the comparison on "
                             "synthetic faces; smoke: one step of every cell on tiny stand-ins (default: full)")
    parser.add_argument("--data-root", default=".", metavar="DIR",
                        help="the folder the grid's relative dataset roots are under (default: .)")
    parser.add_argument("--out", default="runs/reproduce", metavar="DIR",
                        help="parent of the grid directories (default: runs/reproduce)")
    parser.set_defaults(handler=run_reproduce)


def run_reproduce(args, out=sys.stdout):
    """Run the grid (the ``reproduce`` handler); prints the table and where the runs are."""
    from kerasfg.reproduce import load_grid, run_grid

    run = run_grid(load_grid(args.grid), args.scale, data_root=args.data_root, out=args.out, progress=True)
    print(f"\n{len(run.trained)} cells trained, {len(run.skipped)} already finished, {len(run.shared)} shared "
          f"an identical cell's run.\n", file=out)
    print((run.directory / "results.md").read_text(), file=out)
    print(f"Grid directory: {run.directory}", file=out)
    print(f"TensorBoard:    tensorboard --logdir {run.directory}   (HParams tab: one session per cell)", file=out)
    return 0
