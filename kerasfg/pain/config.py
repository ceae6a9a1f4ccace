"""The settings of a pain-system run, parsed from YAML with the checks of `kerasfg.config`.

```yaml
name: pain_quick
data:
  source: synthetic          # synthetic | unbc | ckplus
  synthetic: {num_subjects: 4, frames_per_sequence: 48, image_size: 96}
  registration: {method: aligned_crop, size: 64}
cnn: {epochs: 4, filters: [8, 8, 16, 16, 16], fc_units: 128}
temporal: {length: 16, units: 32}
evaluation: {protocol: leave_one_subject_out, subjects: [subject_003]}
```

Every default is the thesis's where it gives one (rho = 16, ADAM, threshold 1, 224x224 frames, flip 0.5),
and the author's code's or a stated decision where it does not (docs/pain.md lists them).
"""

import dataclasses
import pathlib


from kerasfg import config as config_lib
from kerasfg.config import ConfigError
from kerasfg.data import landmarks as landmarks_lib

SOURCES = ("synthetic", "unbc", "ckplus")
METHODS = ("aligned_crop", "frontalize")
PROTOCOLS = ("leave_one_subject_out", "folds")
TARGETS = ("pspi", "pain_levels", "expression")
FEATURE_LAYERS = ("fc6", "fc7")


@dataclasses.dataclass
class SyntheticVideoConfig:
    """`kerasfg.data.synthetic_face_video`'s arguments (``expressions``: CK+-like sequences that peak at these
    expressions, the stand-in for CK+; null for pain video)."""

    num_subjects: int = 6
    sequences_per_subject: int = 2
    frames_per_sequence: int = 64
    image_size: int = 96
    difficulty: float = 0.3
    expressions: list[str] | None = None
    seed: int = 0
    identity_seed: int = 0


@dataclasses.dataclass
class RegistrationConfig:
    """`kerasfg.data.registration.Registration`'s settings (``subset``: null for the coarse default;
    ``face_fraction`` and ``mask``: null for the method's default)."""

    method: str = "aligned_crop"
    size: int = 224
    face_fraction: float | None = None
    subset: list[int] | None = None
    mask: bool | None = None


@dataclasses.dataclass
class PainDataConfig:
    """Where the face video comes from.

    Attributes:
        source: ``"synthetic"`` (pain, or expressions: ``synthetic.expressions``), ``"unbc"`` (the archive at
            ``root``) or ``"ckplus"`` (CK+ at ``root``).
        root: the dataset's root folder.
        synthetic: the synthetic video's settings.
        registration: how frames are registered.
        cache_dir: where warped frames are cached (``<runs_dir>/cache`` when null: runs of the same data
            and registration share them).
    """

    source: str = "synthetic"
    root: str = ""
    synthetic: SyntheticVideoConfig = dataclasses.field(default_factory=SyntheticVideoConfig)
    registration: RegistrationConfig = dataclasses.field(default_factory=RegistrationConfig)
    cache_dir: str | None = None


@dataclasses.dataclass
class CNNConfig:
    """The frame CNN (`kerasfg.models.frame_cnn.pain_cnn`) and its fine-tuning.

    Attributes:
        weights: a VGG-Face weights file for the trunk (keras-vggface ``.h5`` or MatConvNet ``.mat``); null
            trains from scratch (synthetic runs).
        epochs, batch_size, learning_rate: Adam's fine-tuning (not given in the thesis).
        filters, fc_units, dropout: the VGG-Face trunk (the defaults are VGG-Face's; smaller for smoke and
            synthetic runs).
        contrast, contrast_scale: global contrast normalization after the per-pixel mean.
        balance: undersample the no-pain training frames to the pain frames' number (classification:
            no balancing).
        flip: horizontal flips with probability 0.5.
        landmark_noise: standard deviation (output pixels) of the noise on the reference landmarks before
            each training warp (frontalization only; 0 for none).
        train_frames: the last N frames of each training sequence (3 for CK+), or null for all.
        record_every: record the saliency maps of 8 held-out frames every this many epochs with
            `kerasfg.callbacks.Saliency` (TensorBoard, ``logs/<fold>/cnn/vis``); 0 for none.
        precision: the CNN's training precision, one of `kerasfg.config.PRECISIONS`: ``"auto"`` (the fastest
            for the device, `kerasfg.precision.resolve`), ``"float32"``, ``"mixed_bfloat16"``, ``"mixed_float16"``
            or ``"onednn_bfloat16"``.
    """

    weights: str | None = None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-4
    filters: list[int] = dataclasses.field(default_factory=lambda: [64, 128, 256, 512, 512])
    fc_units: int = 4096
    dropout: float = 0.5
    contrast: bool = True
    contrast_scale: float = 64.0
    balance: bool = True
    flip: bool = True
    landmark_noise: float = 0.0
    train_frames: int | None = None
    record_every: int = 0
    precision: str = "auto"


@dataclasses.dataclass
class TemporalConfig:
    """The LSTM over frame features (`kerasfg.models.temporal.temporal_lstm`).

    Attributes:
        enabled: train it (the "+ LSTM" rows).
        layer: the CNN layer whose activations are the features: ``fc6`` (the thesis's best) or ``fc7``.
        length, stride: the windows (rho = 16, stride 1; CK+ 10).
        end_frames: windows end only at the last N frames of each sequence (3 for CK+), or null.
        units, num_layers, dropout: the LSTM (the author's code's defaults: 256, 1, 0).
        epochs, batch_size, learning_rate: Adam's training.
        balance: balance the training windows at the sequence level (regression only).
    """

    enabled: bool = True
    layer: str = "fc6"
    length: int = 16
    stride: int = 1
    end_frames: int | None = None
    units: int = 256
    num_layers: int = 1
    dropout: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    balance: bool = True


@dataclasses.dataclass
class EvaluationConfig:
    """The protocol and the scores.

    Attributes:
        protocol: ``leave_one_subject_out`` (UNBC) or ``folds`` (CK+'s subject-exclusive folds).
        num_folds: folds of the ``folds`` protocol (10).
        subjects: run only the folds that hold out these subjects (``leave_one_subject_out``) or these fold
            numbers (``folds``); null runs them all.
        target: ``pspi`` (0..16), ``pain_levels`` (merged 0..5, the continuous evaluation) or
            ``expression`` (CK+).
        threshold: pain when the prediction is at least this (1).
        skew_repeats: draws of the skew-normalized scores.
        icc_form: ``"3,1"``, ``"2,1"`` or ``"1,1"``.
        saliency_frames: held-out frames whose saliency each fold averages (Figure 2.5, in TensorBoard
            under ``logs/<fold>/saliency``); 0 for none.
        seed: seeds the folds, balancing, draws and weights.
    """

    protocol: str = "leave_one_subject_out"
    num_folds: int = 10
    subjects: list[str | int] | None = None
    target: str = "pspi"
    threshold: float = 1.0
    skew_repeats: int = 10
    icc_form: str = "3,1"
    saliency_frames: int = 64
    seed: int = 0


@dataclasses.dataclass
class PainExperimentConfig:
    """A whole run of the pain system.

    Attributes:
        name: run name; results go to ``<runs_dir>/<name>/<timestamp>/``.
        runs_dir: parent folder of the runs.
        data, cnn, temporal, evaluation: the sections above.
        verbose: Keras progress output.
    """

    name: str = "pain"
    runs_dir: str = "runs"
    data: PainDataConfig = dataclasses.field(default_factory=PainDataConfig)
    cnn: CNNConfig = dataclasses.field(default_factory=CNNConfig)
    temporal: TemporalConfig = dataclasses.field(default_factory=TemporalConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    verbose: int = 0

    def __post_init__(self):
        choices = (("data.source", self.data.source, SOURCES),
                   ("cnn.precision", self.cnn.precision, config_lib.PRECISIONS),
                   ("data.registration.method", self.data.registration.method, METHODS),
                   ("evaluation.protocol", self.evaluation.protocol, PROTOCOLS),
                   ("evaluation.target", self.evaluation.target, TARGETS),
                   ("temporal.layer", self.temporal.layer, FEATURE_LAYERS))
        for key, value, allowed in choices:
            if value not in allowed:
                raise ConfigError(f"{key}: expected one of {list(allowed)}, got {value!r}.")
        if self.data.source != "synthetic" and not self.data.root:
            raise ConfigError(f"data.root: expected the dataset's folder for data.source "
                              f"{self.data.source!r}, got {self.data.root!r}.")
        classification = self.evaluation.target == "expression"
        expressions = self.data.source == "ckplus" or (self.data.source == "synthetic"
                                                       and self.data.synthetic.expressions is not None)
        if classification != expressions:
            raise ConfigError(f"evaluation.target: {self.evaluation.target!r} does not fit data.source "
                              f"{self.data.source!r} (expression is the label of CK+ and of synthetic video with "
                              f"data.synthetic.expressions; pspi and pain_levels are pain's).")
        if len(self.cnn.filters) != 5:
            raise ConfigError(f"cnn.filters: expected the widths of the 5 VGG blocks, got {self.cnn.filters!r}.")
        for key in ("cnn.epochs", "cnn.batch_size", "temporal.epochs", "temporal.batch_size", "temporal.length",
                    "temporal.units", "data.registration.size", "cnn.fc_units"):
            section, *path = key.split(".")
            value = getattr(self, section)
            for part in path:
                value = getattr(value, part)
            if value < 1:
                raise ConfigError(f"{key}: expected a positive integer, got {value!r}.")
        subset = self.data.registration.subset
        if subset is not None:
            try:
                landmarks_lib.check_subset(subset)
            except ValueError as error:
                raise ConfigError(f"data.registration.subset: {error}") from error

    @property
    def task(self):
        """``"classification"`` for CK+'s expressions, ``"regression"`` for pain."""
        return "classification" if self.evaluation.target == "expression" else "regression"

    def to_dict(self):
        return dataclasses.asdict(self)


def load(path, overrides=()):
    """Load a pain-system YAML file with ``key=value`` overrides (`kerasfg.config.apply_overrides`)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    data = config_lib.read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}.")
    return config_lib.from_dict(config_lib.apply_overrides(data, overrides), PainExperimentConfig)
