"""Backbones and face networks, built by name with `build_model`."""

from kerasfg.models import face_resnet as _face_resnet  # noqa: F401  (registers "face_resnet")
from kerasfg.models.registry import available_models, build_model, register_model

__all__ = ["available_models", "build_model", "register_model"]
