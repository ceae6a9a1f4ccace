"""The pain system as the runner of ``kerasfg reproduce`` grids that say ``runner: pain``.

A pain grid's ``base`` is a `kerasfg.pain.config.PainExperimentConfig` (``kerasfg pain``'s config), and each
cell one `kerasfg.pain.system.run` over the protocol in the cell's directory; its ``metrics.json`` holds the
scores of both models, and ``final`` those of the last one (the LSTM when the cell trains it), which the
thesis's tables report. The seed of a cell is ``evaluation.seed``.

Scales: ``full`` puts relative ``data.root`` and ``cnn.weights`` under ``--data-root``; ``smoke`` replaces
the data with a few frames of synthetic face video (pain, or CK+-like expression sequences for an
expression grid), one epoch of a narrow CNN and LSTM, and one fold.
"""

import copy
import logging
import pathlib
import time

from kerasfg import config as config_lib

log = logging.getLogger(__name__)

SEED_KEY = "evaluation.seed"

SMOKE = {
    "data.source": "synthetic",
    "data.root": "",
    "data.synthetic.num_subjects": 3,
    "data.synthetic.sequences_per_subject": 1,
    "data.synthetic.frames_per_sequence": 12,
    "data.synthetic.image_size": 48,
    "data.registration.size": 32,
    "data.registration.face_fraction": 0.8,
    "cnn.weights": None,
    "cnn.epochs": 1,
    "cnn.batch_size": 8,
    "cnn.filters": [4, 4, 8, 8, 8],
    "cnn.fc_units": 8,
    "cnn.precision": "float32",
    "temporal.epochs": 1,
    "temporal.units": 4,
    "evaluation.skew_repeats": 2,
    "evaluation.saliency_frames": 4,
    "verbose": 0,
}
"""The smoke stand-in: the same protocol and models, tiny."""


def smoke_stand_in(data):
    """A pain config mapping on the smoke stand-in (`SMOKE`), one fold of its protocol."""
    from kerasfg.data.face_video import EXPRESSION_SEQUENCES
    from kerasfg.pain.config import PainExperimentConfig

    config = config_lib.from_dict(copy.deepcopy(data), PainExperimentConfig).to_dict()
    config_lib.set_keys(config, SMOKE)
    if config["evaluation"]["target"] == "expression":
        config_lib.set_keys(config, {"data.synthetic.expressions": list(EXPRESSION_SEQUENCES),
                                     "evaluation.protocol": "folds", "evaluation.num_folds": 3,
                                     "evaluation.subjects": ["0"]})
    else:
        config_lib.set_keys(config, {"data.synthetic.expressions": None,
                                     "evaluation.protocol": "leave_one_subject_out",
                                     "evaluation.subjects": ["subject_002"]})
    return config


def cell_config(data, scale, data_root):
    """The `PainExperimentConfig` of a cell's mapping; at full scale, relative data paths under ``data_root``."""
    from kerasfg.pain.config import PainExperimentConfig

    config = config_lib.from_dict(data, PainExperimentConfig)
    if scale == "full":
        root = pathlib.Path(data_root).expanduser()
        if config.data.source != "synthetic" and not pathlib.Path(config.data.root).expanduser().is_absolute():
            config.data.root = str(root / config.data.root)
        if config.cnn.weights and not pathlib.Path(config.cnn.weights).expanduser().is_absolute():
            config.cnn.weights = str(root / config.cnn.weights)
    return config


def fingerprint(config):
    """A hash of what a cell trains and scores (`kerasfg.config.fingerprint`): cells with the same one share
    a run."""
    from kerasfg.pain.config import PainExperimentConfig

    def described(config):
        described = config.to_dict()
        del described["name"], described["runs_dir"], described["verbose"]
        described["data"].pop("synthetic" if config.data.source != "synthetic" else "root")
        return described

    return config_lib.fingerprint(described(config), described(PainExperimentConfig()))


def check_data(cells):
    """Read every dataset the cells use, once each, before any training (a wrong layout fails here).

    Raises:
        kerasfg.data.DatasetLayoutError: naming the path and the layout expected.
        FileNotFoundError: a VGG-Face weights file that does not exist.
    """
    from kerasfg.pain.system import load_video

    seen = set()
    for cell in cells:
        data = cell.config.data
        weights = cell.config.cnn.weights
        if weights and not pathlib.Path(weights).expanduser().is_file():
            raise FileNotFoundError(f"cnn.weights: the VGG-Face weights file {weights} does not exist.")
        if data.source == "synthetic" or (data.source, data.root) in seen:
            continue
        seen.add((data.source, data.root))
        log.info("checking %s at %s", data.source, data.root)
        load_video(data)


def summary(metrics):
    """The scalars of a run's metrics for the grid's HParams sessions (``{name: float}``)."""
    scalars = {}
    for model in ("cnn", "lstm"):
        scores = metrics.get(model)
        if not scores:
            continue
        if "accuracy" in scores:
            scalars[f"{model}_accuracy"] = scores["accuracy"]
            continue
        for group in ("binary", "continuous"):
            for name, value in scores[group].items():
                if isinstance(value, (int, float)):
                    scalars[f"{model}_{name}"] = float(value)
    return scalars


def train_cell(cell, cell_dir):
    """Run a cell's protocol in ``cell_dir``; returns ``(metrics, run directory)``."""
    from kerasfg.pain import system

    start = time.perf_counter()
    result = system.run(cell.config, run_dir=cell_dir)
    log.info("cell %s: %s (%.0f s)", cell.id, system.summary_line(result.metrics), time.perf_counter() - start)
    return result.metrics, result.run_dir


__all__ = ["SEED_KEY", "SMOKE", "cell_config", "check_data", "fingerprint", "smoke_stand_in",
           "summary", "train_cell"]
