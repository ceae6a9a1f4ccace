"""The ``kerasfg`` command."""

import argparse
import logging
import sys

import kerasfg


def _train(args):
    if args.config is None and args.resume is None:
        raise SystemExit("kerasfg train: give a CONFIG file, or --resume RUN_DIR.")
    from kerasfg import config as config_lib
    from kerasfg import training
    from kerasfg.distributed import cluster_from_flags

    try:
        cluster = cluster_from_flags(args.workers, args.worker_index)
    except ValueError as error:
        print(f"kerasfg train: error: {error}", file=sys.stderr)
        return 2
    path = args.config or f"{args.resume}/config.yaml"
    config = config_lib.load(path, [*(["train.distribute=multi_worker"] if cluster else []), *args.set])
    result = training.fit(config, resume=args.resume, cluster=cluster)
    print(f"test metrics: {result.test_metrics}")
    if result.run_dir is None:
        print("run directory: written by the chief (worker 0)")
    else:
        print(f"run directory: {result.run_dir}")
    return 0


def _quickstart(args):
    from kerasfg import quickstart

    quickstart.report(quickstart.run(args.set))
    return 0


def build_parser():
    """The argument parser of the ``kerasfg`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="kerasfg", description="Face classification with attention and visual explanations.")
    parser.add_argument("--version", action="version", version=f"kerasfg {kerasfg.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    override_help = "override a config value, e.g. --set train.epochs=3 (repeatable)"
    train = commands.add_parser("train", help="train from a YAML config")
    train.add_argument("config", nargs="?", help="experiment config (YAML)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=override_help)
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue a killed run from its newest backup")
    train.add_argument("--workers", metavar="HOST:PORT,...",
                       help="train on several machines: every worker's address, the chief first (the "
                            "same list on every worker; sets train.distribute=multi_worker)")
    train.add_argument("--worker-index", type=int, metavar="N",
                       help="this worker's position in --workers (0 is the chief, which writes the run)")
    train.set_defaults(handler=_train)

    quick = commands.add_parser(
        "quickstart", help="train a CBAM ResNet on synthetic faces, record for TensorBoard, export")
    quick.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=override_help)
    quick.set_defaults(handler=_quickstart)

    from kerasfg.data.prepare import add_prepare_faces_parser
    from kerasfg.export.cli import add_export_parsers
    from kerasfg.visualize import add_visualize_parser

    add_export_parsers(commands)
    add_prepare_faces_parser(commands)
    add_visualize_parser(commands)
    return parser


def main(argv=None):
    """Run the ``kerasfg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from kerasfg.config import ConfigError

    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"kerasfg {args.command}: config error: {error}", file=sys.stderr)
        return 2
