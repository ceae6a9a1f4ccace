"""TF Serving ``models.config`` (a text-format ``ModelServerConfig``): several models, version policies, labels.

The file is built with the official proto (``tensorflow_serving.config.model_server_config_pb2``), written
atomically, and parsed back before it is published, so what we write is what ``tensorflow_model_server
--model_config_file=...`` reads.
"""

from __future__ import annotations

import dataclasses
import pathlib

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasfg.io_utils import write_text


@dataclasses.dataclass
class ModelServerEntry:
    """One served model.

    Args:
        name: the model name in request URLs (``/v1/models/<name>``) and ``model_spec.name``.
        base_path: the directory holding the integer versions, as the server sees it (in Docker, e.g.
            ``/models/<name>``).
        versions: ``None`` or ``"latest"`` (the newest version; TF Serving's default), ``"all"``, or a list
            of version numbers to serve.
        latest: with ``versions="latest"``, how many of the newest versions to serve.
        labels: ``{"stable": 1, "canary": 2}``; each label must name a served version when ``versions`` is a
            list (TF Serving refuses labels of unavailable versions by default).
    """

    name: str
    base_path: str
    versions: str | list | None = None
    latest: int = 1
    labels: dict = dataclasses.field(default_factory=dict)

    def to_proto(self) -> model_server_config_pb2.ModelConfig:
        if not self.name or "/" in self.name or ":" in self.name:
            raise ValueError(f"model name must be non-empty without '/' or ':', got {self.name!r}")
        config = model_server_config_pb2.ModelConfig(name=self.name, base_path=str(self.base_path),
                                                     model_platform="tensorflow")
        policy = config.model_version_policy
        if self.versions in (None, "latest"):
            if self.latest < 1:
                raise ValueError(f"{self.name}: latest must be >= 1, got {self.latest}")
            if self.latest != 1:
                policy.latest.num_versions = self.latest
        elif self.versions == "all":
            policy.all.SetInParent()
        elif isinstance(self.versions, (list, tuple)) and self.versions:
            versions = [int(v) for v in self.versions]
            if any(v < 0 for v in versions) or len(set(versions)) != len(versions):
                raise ValueError(f"{self.name}: versions must be distinct non-negative integers, got {versions}")
            policy.specific.versions.extend(versions)
        else:
            raise ValueError(f"{self.name}: versions must be 'latest', 'all' or a non-empty list of "
                             f"integers, got {self.versions!r}")
        if not isinstance(self.labels, dict):
            raise ValueError(f"{self.name}: labels must be {{label: version}}, e.g. {{'stable': 1}}, got "
                             f"{type(self.labels).__name__}")
        for label, version in self.labels.items():
            if not label or not str(label).replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"{self.name}: label {label!r} must be alphanumeric")
            if isinstance(self.versions, (list, tuple)) and int(version) not in [int(v) for v in self.versions]:
                raise ValueError(f"{self.name}: label {label!r} points to version {version}, which is not "
                                 f"served (versions {list(self.versions)})")
            config.version_labels[label] = int(version)
        return config


def _entry(entry):
    if isinstance(entry, ModelServerEntry):
        return entry
    if isinstance(entry, dict):
        try:
            return ModelServerEntry(**entry)
        except TypeError:
            fields = [f.name for f in dataclasses.fields(ModelServerEntry)]
            raise ValueError(f"a models.config entry given as a dict takes the keys {fields}, got {sorted(entry)}") \
                from None
    raise ValueError(f"models.config entries must be ModelServerEntry objects (or dicts of their fields), got "
                     f"{type(entry).__name__}")


def models_config_proto(entries) -> model_server_config_pb2.ModelServerConfig:
    """The ``ModelServerConfig`` of ``entries``: a list of :class:`ModelServerEntry` (or of dicts of its
    fields), or one entry."""
    entries = [_entry(e) for e in ([entries] if isinstance(entries, (ModelServerEntry, dict)) else entries)]
    if not entries:
        raise ValueError("models.config needs at least one model")
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"model names must be unique in models.config, repeated: {duplicates}")
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.extend(e.to_proto() for e in entries)
    return config


def write_models_config(path, entries) -> pathlib.Path:
    """Write ``entries`` (see :func:`models_config_proto`) as a text-format ``models.config`` at ``path``,
    atomically."""
    config = models_config_proto(entries)
    text = text_format.MessageToString(config)
    parsed = read_models_config_text(text)  # the official parser is the validator
    if parsed != config:
        raise AssertionError("models.config does not round-trip through the ModelServerConfig parser")
    path = pathlib.Path(path)
    write_text(path, text)
    return path


def read_models_config_text(text) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def read_models_config(path) -> model_server_config_pb2.ModelServerConfig:
    """Parse a ``models.config`` file with the official proto (raises ``text_format.ParseError``)."""
    return read_models_config_text(pathlib.Path(path).read_text(encoding="utf-8"))
