"""``kerasfg pain``: run the pain system on a config (the packaged synthetic quick run by default)."""

import importlib.resources


def quick_config_path():
    """The packaged quick-run config (``kerasfg/configs/pain_quick.yaml``)."""
    return importlib.resources.files("kerasfg") / "configs" / "pain_quick.yaml"


def add_pain_parser(commands):
    """Add ``kerasfg pain CONFIG [--set KEY=VALUE ...]`` to the command's subparsers."""
    parser = commands.add_parser(
        "pain", help="the pain-intensity system of thesis ch. 2: register, frame CNN, LSTM, the thesis's scores")
    parser.add_argument("config", nargs="?",
                        help="pain-system config (YAML); the packaged synthetic quick run when left out")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set cnn.epochs=3 (repeatable)")
    parser.set_defaults(handler=run_pain)


def run_pain(args):
    """Run the config (or the quick run), print the main scores and the run directory; status 0."""
    from kerasfg.pain import config as config_lib
    from kerasfg.pain import system

    config = config_lib.load(args.config or quick_config_path(), args.set)
    result = system.run(config)
    print(system.summary_line(result.metrics))
    print(f"run directory: {result.run_dir}")
    return 0
