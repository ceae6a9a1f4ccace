"""The ``kerasfg`` command.

**Adding a command.** Write ``add_<name>_parser(commands)`` in the module that implements the command: it calls
``commands.add_parser(...)`` and ``set_defaults(handler=run_<name>)``; the handler takes the parsed arguments
and returns the exit status (0, or 1 when the command ran but its verdict is negative, as ``verify-export`` on
an export that fails). Register it in :func:`build_parser`, and add a row for it to
``tests/test_cli_errors.py``. Import TensorFlow and Keras inside the handler, never at module level, so that
``kerasfg --help`` answers without loading them.

**Errors.** Handlers raise ordinary exceptions with clear messages (the input, the expected form, what was
received). :func:`main` prints a user error (:data:`kerasfg.errors.USER_ERRORS`: ``ValueError`` such as
``ConfigError``, ``DatasetLayoutError`` or ``ExportError``; ``OSError`` such as ``FileNotFoundError``; and
``kerasfg.errors.UserError``) as one line ``kerasfg <command>: error: <message>`` on stderr and exits with
status 2, as argparse does for a bad command line; ``--debug`` shows the traceback instead. Any other
exception is a bug and keeps its traceback.

**Output.** Results go to stdout; the library's ``logging`` records (INFO and up for kerasfg, WARNING and up for
other libraries) and progress bars go to stderr. TensorFlow's start-up lines (oneDNN, CUDA, cpu_feature_guard)
are hidden unless ``--verbose`` is given or ``TF_CPP_MIN_LOG_LEVEL`` is set in the environment.
"""

import argparse
import logging
import os
import sys
import traceback

import kerasfg
from kerasfg.errors import USER_ERRORS
from kerasfg.tf_startup import hide_startup_lines

EXIT_USER_ERROR = 2  # argparse's status for a bad command line
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def _train(args):
    if args.config is None and args.resume is None:
        raise ValueError("give a CONFIG file, or --resume RUN_DIR")
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


def _add_output_options(parser, default):
    """``--verbose`` and ``--debug``, accepted before and after the command name."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="show debug logging and TensorFlow's start-up messages")
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the Python traceback of an error")


def build_parser():
    """The argument parser of the ``kerasfg`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="kerasfg", description="Face classification with attention and visual explanations.")
    parser.add_argument("--version", action="version", version=f"kerasfg {kerasfg.__version__}")
    _add_output_options(parser, default=False)
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

    from kerasfg.cross_dataset import add_cross_dataset_parser
    from kerasfg.data.prepare import add_prepare_faces_parser
    from kerasfg.export.cli import add_export_parsers
    from kerasfg.pain.cli import add_pain_parser
    from kerasfg.reproduce.cli import add_reproduce_parser
    from kerasfg.visualize import add_visualize_parser

    add_cross_dataset_parser(commands)
    add_export_parsers(commands)
    add_pain_parser(commands)
    add_prepare_faces_parser(commands)
    add_reproduce_parser(commands)
    add_visualize_parser(commands)

    # The output options also work after the command name; SUPPRESS keeps a value given before it.
    for command in {id(p): p for p in commands.choices.values()}.values():
        _add_output_options(command, default=argparse.SUPPRESS)
    return parser


def configure_output(verbose):
    """Route logging to stderr; hide TensorFlow's start-up lines unless ``verbose`` or the environment sets
    ``TF_CPP_MIN_LOG_LEVEL`` (see :mod:`kerasfg.tf_startup`). Runs before TensorFlow is imported."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    elif "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        hide_startup_lines()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kerasfg").setLevel(logging.DEBUG if verbose else logging.INFO)


def report_error(command, error, file=None):
    """Print ``error`` as ``kerasfg <command>: error: <message>`` (further lines of the message indented)."""
    first, *rest = (str(error).strip() or type(error).__name__).splitlines()
    lines = [f"kerasfg {command}: error: {first}", *(f"  {line}" for line in rest)]
    print("\n".join(lines), file=file or sys.stderr)


def main(argv=None):
    """Run the ``kerasfg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_output(args.verbose)
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        if args.debug:
            raise
        report_error(args.command, error)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"kerasfg {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
