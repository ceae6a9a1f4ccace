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

    path = args.config or f"{args.resume}/config.yaml"
    config = config_lib.load(path, args.set)
    result = training.fit(config, resume=args.resume)
    print(f"test metrics: {result.test_metrics}")
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
