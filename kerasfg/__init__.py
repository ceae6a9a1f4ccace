"""kerasfg: face classification with attention and visual explanations for Keras 3.

Subpackages are imported on first access (``kerasfg.layers``, ``kerasfg.data``, ...), so that
``import kerasfg`` stays cheap for the command line and for TensorBoard, which loads kerasfg's plugin
without TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "age",
    "callbacks",
    "checkpoints",
    "cli",
    "codes",
    "config",
    "convergence",
    "cross_dataset",
    "data",
    "distributed",
    "errors",
    "export",
    "fine_tuning",
    "initialization",
    "io_utils",
    "layers",
    "losses",
    "metrics",
    "models",
    "objectives",
    "optimization",
    "pain",
    "precision",
    "quickstart",
    "regularizers",
    "reproduce",
    "tensorboard",
    "tf_startup",
    "training",
    "vis",
    "visualize",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
