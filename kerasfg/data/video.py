"""``FaceVideo``: the frames of face video sequences, their landmarks and labels, in temporal order.

The pain system of ``002_c1e3dd09777d292a.txt`` (UNBC-McMaster, CK+ as sequences, the synthetic face
video) works on whole sequences: registration needs every frame's landmarks, the LSTM needs the frames of
a sequence in order, and the protocols hold whole subjects out. A `FaceVideo` keeps all frames of a
sequence together and in order (the constructor checks it), with per-frame arrays:

- ``landmarks``: ``(N, K, 2)`` float32 ``(x, y)`` pixels (the 66-point AAM order of
  `kerasfg.data.landmarks`);
- ``subjects`` and ``sequences``: the person and the sequence of each frame;
- ``labels``: per-frame labels (``pspi``, action-unit intensities...), and ``sequence_labels`` per
  sequence (``expression`` at CK+'s peak, the UNBC self-reports), aligned with ``sequence_ids``.

Frames come from a source that decodes them on demand (`FileFrames`) or from memory (`ArrayFrames`), so
that the 48,398 UNBC frames need not fit in memory; `kerasfg.data.registration.register_video` reads them
once and caches the warped frames.
"""

import dataclasses
import hashlib

import numpy as np

from kerasfg.data.report import DataReport


class ArrayFrames:
    """Frames held in memory: uint8 ``(N, H, W, C)``."""

    def __init__(self, images):
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] not in (1, 3):
            raise ValueError(f"frames must be uint8 (N, H, W, 1 or 3); received {images.dtype} {images.shape}.")
        self.images = images
        self.channels = images.shape[-1]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index]

    def subset(self, indices):
        return ArrayFrames(self.images[indices])

    def fingerprint(self):
        return hashlib.sha1(np.ascontiguousarray(self.images[:: max(1, len(self.images) // 64)]).tobytes()).hexdigest()


class FileFrames:
    """Frames in image files, decoded with Pillow when read (to RGB, or grayscale for ``channels=1``)."""

    def __init__(self, paths, channels=3):
        self.paths = np.asarray([str(p) for p in paths], dtype=object)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3; received {channels!r}.")
        self.channels = channels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            array = np.asarray(image.convert("RGB" if self.channels == 3 else "L"), np.uint8)
        return array if array.ndim == 3 else array[..., None]

    def subset(self, indices):
        return FileFrames(self.paths[indices], self.channels)

    def fingerprint(self):
        return hashlib.sha1("\n".join(self.paths.tolist()).encode()).hexdigest()


@dataclasses.dataclass
class FaceVideo:
    """Face video sequences; see the module docstring.

    Attributes:
        name: dataset name (``"unbc"``, ``"ck+"``, ``"synthetic_pain"``).
        frames: an `ArrayFrames` or `FileFrames`.
        landmarks: ``(N, K, 2)`` float32.
        subjects: ``(N,)`` str, the person of each frame.
        sequences: ``(N,)`` str, the sequence of each frame (unique across subjects).
        labels: ``{name: (N,) array}`` per-frame labels.
        sequence_labels: ``{name: (S,) array}`` per-sequence labels, in the order of ``sequence_ids``.
        class_names: ``{label name: class names}`` for class labels.
        masks: ``{name: (N, H, W) bool}`` evidence masks (synthetic video), or None.
        report: what the reader read and skipped.
        info: free-form facts about the data (protocol, sizes).
    """

    name: str
    frames: object
    landmarks: np.ndarray
    subjects: np.ndarray
    sequences: np.ndarray
    labels: dict = dataclasses.field(default_factory=dict)
    sequence_labels: dict = dataclasses.field(default_factory=dict)
    class_names: dict = dataclasses.field(default_factory=dict)
    masks: dict | None = None
    report: DataReport | None = None
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.frames)
        self.landmarks = np.asarray(self.landmarks, np.float32)
        self.subjects = np.asarray(self.subjects).astype(str)
        self.sequences = np.asarray(self.sequences).astype(str)
        if self.landmarks.shape[0] != n or self.landmarks.ndim != 3 or self.landmarks.shape[-1] != 2:
            raise ValueError(f"{self.name}: landmarks must be ({n}, K, 2); received {self.landmarks.shape}.")
        for field in ("subjects", "sequences"):
            if len(getattr(self, field)) != n:
                raise ValueError(f"{self.name}: {field} has {len(getattr(self, field))} entries for {n} frames.")
        for label, values in self.labels.items():
            if len(values) != n:
                raise ValueError(f"{self.name}: labels[{label!r}] has {len(values)} entries for {n} frames.")
        starts = np.flatnonzero(np.r_[True, self.sequences[1:] != self.sequences[:-1]]) if n else np.zeros(0, int)
        ids = self.sequences[starts]
        if len(set(ids.tolist())) != len(ids):
            raise ValueError(f"{self.name}: the frames of a sequence must be contiguous (in temporal order); "
                             f"sequences {sorted({s for s in ids.tolist() if (ids == s).sum() > 1})[:5]} "
                             f"come back after others.")
        self._starts = starts
        for label, values in self.sequence_labels.items():
            if len(values) != len(ids):
                raise ValueError(f"{self.name}: sequence_labels[{label!r}] has {len(values)} entries for "
                                 f"{len(ids)} sequences.")
        if self.report is None:
            self.report = DataReport(self.name)

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return (f"FaceVideo({self.name!r}, {len(self)} frames, {len(self.sequence_ids)} sequences, "
                f"{len(self.subject_ids)} subjects, labels={sorted(self.labels)}, "
                f"sequence_labels={sorted(self.sequence_labels)})")

    # --- structure ---

    @property
    def channels(self):
        return self.frames.channels

    @property
    def sequence_ids(self):
        """The sequence ids in storage order."""
        return self.sequences[self._starts]

    @property
    def sequence_bounds(self):
        """``(S, 2)`` int: first frame and end (exclusive) of every sequence, in ``sequence_ids`` order."""
        return np.stack([self._starts, np.r_[self._starts[1:], len(self)]], axis=1).astype(np.int64)

    @property
    def subject_ids(self):
        """The subjects, sorted."""
        return np.unique(self.subjects)

    @property
    def sequence_subjects(self):
        """The subject of every sequence, in ``sequence_ids`` order."""
        return self.subjects[self._starts]

    @property
    def frame_index(self):
        """``(N,)`` the position of every frame in its sequence (0 for the first)."""
        index = np.arange(len(self))
        return index - np.repeat(self._starts, np.diff(np.r_[self._starts, len(self)]))

    @property
    def cache_name(self):
        """A file-name-safe id of these frames, for caches of work done on them."""
        digest = hashlib.sha1(f"{len(self)}:{self.frames.fingerprint()}".encode()).hexdigest()[:12]
        return f"{''.join(c if c.isalnum() else '_' for c in self.name)}-{len(self)}-{digest}"

    def frame(self, index):
        """Frame ``index`` as uint8 ``(H, W, C)``."""
        return self.frames[int(index)]

    def frame_labels_of_sequences(self, name):
        """Per-sequence label ``name`` spread to every frame of its sequence: ``(N,)``."""
        return np.repeat(np.asarray(self.sequence_labels[name]), np.diff(self.sequence_bounds, axis=1)[:, 0])

    # --- selection ---

    def select_sequences(self, keep, name=None):
        """The sequences where boolean ``keep`` ``(S,)`` is True (or whose ids are listed), whole and in order."""
        ids = self.sequence_ids
        keep = np.asarray(keep)
        if keep.dtype != bool:
            wanted = set(np.asarray(keep).astype(str).tolist())
            unknown = sorted(wanted - set(ids.tolist()))
            if unknown:
                raise ValueError(f"{self.name} has no sequence(s) {unknown[:5]}.")
            keep = np.isin(ids, list(wanted))
        if len(keep) != len(ids):
            raise ValueError(f"keep has {len(keep)} entries for {len(ids)} sequences.")
        frames = np.isin(self.sequences, ids[keep])
        index = np.flatnonzero(frames)
        return FaceVideo(
            name=name or self.name, frames=self.frames.subset(index), landmarks=self.landmarks[index],
            subjects=self.subjects[index], sequences=self.sequences[index],
            labels={k: np.asarray(v)[index] for k, v in self.labels.items()},
            sequence_labels={k: np.asarray(v)[keep] for k, v in self.sequence_labels.items()},
            class_names=dict(self.class_names),
            masks=None if self.masks is None else {k: v[index] for k, v in self.masks.items()},
            report=self.report, info=dict(self.info))

    def select_subjects(self, subjects, name=None):
        """The sequences of the listed subjects."""
        subjects = set(np.atleast_1d(np.asarray(subjects)).astype(str).tolist())
        unknown = sorted(subjects - set(self.subject_ids.tolist()))
        if unknown:
            raise ValueError(f"{self.name} has no subject(s) {unknown[:5]}; its subjects are "
                             f"{self.subject_ids.tolist()[:10]}...")
        return self.select_sequences(np.isin(self.sequence_subjects, list(subjects)), name=name)
