"""Fine-tuning: start from the weights of another model, and keep some layers frozen.

```yaml
train:
  initial_weights: runs/pretrained/20260101-120000/model.keras   # layers matched by name
  skip_mismatch: true          # e.g. a classifier for other classes starts from its initializer
  freeze: ["stem_*", "stage1_*", "stage2_*"]                     # fnmatch patterns
```

A ``.keras`` file is loaded as a model and each layer of ours takes the weights of the layer of the
same name, so that a backbone trained on one task starts another (kerasfg's layer names are stable
across heads and tasks). A ``.weights.h5`` file holds no names a different model could match:
it loads into the same architecture only (Keras's `keras.Model.load_weights`).
"""

import logging
import pathlib

import keras

from kerasfg.config import ConfigError
from kerasfg.optimization import matching_layers

logger = logging.getLogger(__name__)

KEY = "train.initial_weights"


def freeze_layers(model, patterns):
    """Make the layers whose names match the ``fnmatch`` ``patterns`` non-trainable.

    Returns:
        The names of the frozen layers.

    Raises:
        ConfigError: naming ``train.freeze[i]`` for a pattern that matches no layer.
    """
    names = matching_layers(model, patterns, "train.freeze")
    for name in names:
        model.get_layer(name).trainable = False
    logger.info("froze %d layers (%s)", len(names), ", ".join(patterns))
    return names


def load_initial_weights(model, path, skip_mismatch=False):
    """Load the weights of ``path`` (``.keras`` or ``.weights.h5``) into ``model``.

    Args:
        model: the built model.
        path: a ``.keras`` model file (layers matched by name) or a ``.weights.h5`` file of the
            same architecture.
        skip_mismatch: leave layers whose weight shapes differ from the file's as initialized
            instead of raising.

    Returns:
        ``{"loaded": [...], "skipped": [...], "initialized": [...]}``: layer names that took the
        file's weights, that were left because their shapes differ, and that have no namesake in
        the file.

    Raises:
        ConfigError: naming ``train.initial_weights``: the file does not exist, is of another
            kind, or its layers do not fit the model.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{KEY}: {path} does not exist; expected a .keras or .weights.h5 file.")
    if path.name.endswith(".weights.h5"):
        return _load_same_architecture(model, path, skip_mismatch)
    if path.suffix != ".keras":
        raise ConfigError(f"{KEY}: {path} is neither a .keras model file nor a .weights.h5 file.")
    try:
        source = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"{KEY}: {path} could not be read as a Keras model: {error}") from error
    source_layers = {layer.name: layer for layer in source.layers}
    report = {"loaded": [], "skipped": [], "initialized": []}
    mismatches = []
    for layer in model.layers:
        if not layer.weights:
            continue
        namesake = source_layers.get(layer.name)
        if namesake is None:
            report["initialized"].append(layer.name)
            continue
        ours = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in namesake.weights]
        if ours != theirs:
            report["skipped"].append(layer.name)
            mismatches.append(f"{layer.name} {theirs} in the file, {ours} here")
            continue
        layer.set_weights(namesake.get_weights())
        report["loaded"].append(layer.name)
    if mismatches and not skip_mismatch:
        raise ConfigError(f"{KEY}: {len(mismatches)} layer(s) of {path} do not fit model "
                          f"{model.name!r}: {'; '.join(mismatches[:3])}; set train.skip_mismatch: "
                          f"true to leave them as initialized.")
    if not report["loaded"]:
        raise ConfigError(f"{KEY}: no layer of model {model.name!r} has a namesake with weights in "
                          f"{path} (ours: {[n for n in report['initialized'][:4]]}..., the file's: "
                          f"{[layer.name for layer in source.layers if layer.weights][:4]}...).")
    logger.info("initial weights from %s: %d layers loaded, %d skipped (shapes differ), %d "
                "initialized (not in the file)", path, *(len(v) for v in report.values()))
    return report


def _load_same_architecture(model, path, skip_mismatch):
    try:
        model.load_weights(path, skip_mismatch=skip_mismatch)
    except (ValueError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0].rstrip(".:")
        raise ConfigError(f"{KEY}: {path} does not fit model {model.name!r} ({first_line}); a .weights.h5 "
                          f"file loads into the same architecture only; to start a different model "
                          f"from it, give the .keras model file, whose layers are matched by "
                          f"name.") from error
    names = [layer.name for layer in model.layers if layer.weights]
    logger.info("initial weights from %s: %d layers", path, len(names))
    return {"loaded": names, "skipped": [], "initialized": []}
