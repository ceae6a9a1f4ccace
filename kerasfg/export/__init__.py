"""Export to SavedModel for TensorFlow Serving, offline verification, warmup records, server config and a client.

Modules, by job (names are imported on first use, so that the client does not load Keras):

- ``served``: what a model serves (image input, extra inputs, heads, map outputs); ``plan``:
  :class:`ExportPlan`, the one description of an export that the modules below are built from;
- ``signatures``: the serving functions and the SavedModel archive; ``explain``: the served Grad-CAM and the
  Keras-graph lookups export needs (its only use of Keras internals);
- ``reference``: the Keras model's outputs and the tolerances that verification compares with;
- ``metadata``: ``assets/kerasfg_export.json`` and extra assets; ``warmup``: the warmup records;
- ``savedmodel``: :func:`export_saved_model`, which writes, verifies and publishes a version atomically;
  ``versions``: the version directories of a base path;
- ``verify`` (+ the Keras-free ``_verify_worker``): the offline stand-in for TF Serving loading a version;
- ``config``: ``models.config`` files; ``protocol`` and ``serving``: TF Serving's wire formats and a client;
- ``cli``: the ``export``, ``verify-export`` and ``predict`` commands.
"""

import importlib

_EXPORTS = {
    "export_saved_model": "savedmodel",
    "ExportError": "served",
    "ExportPlan": "plan",
    "ExportResult": "savedmodel",
    "list_versions": "versions",
    "next_version": "versions",
    "read_metadata": "metadata",
    "Preprocessing": "kerasfg.data.preprocessing",
    "verify_export": "verify",
    "VerifyReport": "verify",
    "WarmupRequest": "warmup",
    "read_warmup": "warmup",
    "write_warmup": "warmup",
    "ModelServerEntry": "config",
    "write_models_config": "config",
    "read_models_config": "config",
    "ServingClient": "serving",
    "ServingError": "serving",
}

__all__ = [
    "ExportError",
    "ExportPlan",
    "ExportResult",
    "ModelServerEntry",
    "Preprocessing",
    "ServingClient",
    "ServingError",
    "VerifyReport",
    "WarmupRequest",
    "export_saved_model",
    "list_versions",
    "next_version",
    "read_metadata",
    "read_models_config",
    "read_warmup",
    "verify_export",
    "write_models_config",
    "write_warmup",
]


def __getattr__(name):
    if name in _EXPORTS:
        module = _EXPORTS[name]
        return getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
