"""Export to SavedModel for TensorFlow Serving, offline verification, warmup records, server config and a client.

Modules are imported on first use so that ``kerasfg.export.serving`` (the client) does not load Keras.
"""

import importlib

_EXPORTS = {
    "export_saved_model": "savedmodel",
    "ExportError": "savedmodel",
    "ExportResult": "savedmodel",
    "list_versions": "versions",
    "next_version": "versions",
    "read_metadata": "savedmodel",
    "Preprocessing": "preprocess",
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
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
