"""CK+ (Extended Cohn-Kanade, Lucey et al. 2010), in the layout of the distributed archives::

    root/cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png   (extended-cohn-kanade-images.zip)
    root/Emotion/S005/001/S005_001_00000011_emotion.txt                                 (Emotion_labels.zip)

Each emotion file holds one number (``   3.0000000e+00``): 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear,
5 happy, 6 sadness, 7 surprise. Only 327 of the 593 sequences have one; the others are unlabelled and are
reported as skipped (one entry per sequence). Frames go from neutral (first) to the peak (last).

Protocol (as the papers use it): the last ``peak_frames`` frames of each labelled sequence take its emotion,
and with ``neutral_first_frame`` the first frame is a "neutral" example. Contempt is dropped by default (the
FER paper's 7 classes, :data:`kerasfg.data.EXPRESSIONS`); ``include_contempt=True`` gives 8 classes.
Subjects are ``S005`` etc.; there is no published split, so splits are subject-disjoint (the thesis uses 10
subject-exclusive folds: ``fold=k, num_folds=10``). Defaults: 48x48 grayscale.

`read_ckplus_sequences` reads the labelled sequences whole, as ``002_c1e3dd09777d292a.txt`` uses them: a
`kerasfg.data.video.FaceVideo` with every frame in order, its 68 landmarks (``Landmarks.zip``:
``root/Landmarks/S005/001/S005_001_00000001_landmarks.txt``, 68 "x y" lines) reduced to the 66-point AAM
order of `kerasfg.data.landmarks`, and the sequence's emotion (the label of its last, peak frame) as the
sequence label ``expression`` over the thesis's seven classes (anger, contempt, disgust, fear, happy,
sadness, surprise). `ckplus_folds` gives its 10 subject-exclusive folds.
"""

import numpy as np

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    find_first,
    index_of,
    is_image_name,
    list_files,
    require_dir,
)
from kerasfg.data.labels import EXPRESSIONS
from kerasfg.data.landmarks import from_68
from kerasfg.data.report import DataReport
from kerasfg.data.splits import kfold
from kerasfg.data.video import FaceVideo, FileFrames

CODES = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
EXPECTED = ("cohn-kanade-images/<subject>/<sequence>/*.png and "
            "Emotion/<subject>/<sequence>/*_emotion.txt")
EXPECTED_SEQUENCES = EXPECTED + " and Landmarks/<subject>/<sequence>/*_landmarks.txt"
SEQUENCE_EMOTIONS = CODES[1:]
"""The thesis's seven CK+ classes (no neutral: a sequence ends at its peak)."""


def read_ckplus(root, *, peak_frames=3, neutral_first_frame=True, include_contempt=False,
                image_size=(48, 48), channels=1, report=None):
    """Read CK+; see the module docstring."""
    root = require_dir(root, EXPECTED)
    images_dir = find_first(root, ["cohn-kanade-images", "extended-cohn-kanade-images/cohn-kanade-images"],
                            "image folder", EXPECTED)
    emotion_dir = find_first(root, ["Emotion", "Emotion_labels/Emotion"], "Emotion label folder", EXPECTED)
    names = tuple(sorted(EXPRESSIONS + ("contempt",))) if include_contempt else EXPRESSIONS
    lookup = index_of(names)
    collector = Collector("ck+", root, [Task("expression", "class", names)], report)
    sequences = sorted(p for s in images_dir.iterdir() if s.is_dir() for p in s.iterdir() if p.is_dir())
    seen = set()
    for seq in sequences:
        subject, number = seq.parent.name, seq.name
        label_dir = emotion_dir / subject / number
        label_files = [f for f in list_files(label_dir) if f.name.endswith("_emotion.txt")] \
            if label_dir.is_dir() else []
        seen.add((subject, number))
        if not label_files:
            collector.skip(seq, "no emotion label file (unlabelled sequence)")
            continue
        frames = [f for f in list_files(seq) if is_image_name(f)]
        if not frames:
            collector.skip(seq, "sequence folder has no image frames")
            continue
        try:
            value = float(label_files[0].read_text().split()[0])
        except (ValueError, IndexError):
            collector.skip(label_files[0], "unparsable emotion label file")
            continue
        if value != int(value) or not 0 <= int(value) < len(CODES):
            collector.skip(label_files[0], f"label out of range: emotion code {value:g}, expected 0..7")
            continue
        emotion = CODES[int(value)]
        # The peak frames never include the first frame when that one is used as "neutral".
        peak = (frames[1:] if neutral_first_frame else frames)[-peak_frames:]
        for frame in peak:
            if emotion not in lookup:
                collector.skip(frame, f"{emotion} excluded (7-class protocol; include_contempt=True keeps it)")
            else:
                collector.add(frame, {"expression": lookup[emotion]}, subject=subject)
        if neutral_first_frame:
            collector.add(frames[0], {"expression": lookup["neutral"]}, subject=subject)
    for subject_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
        for seq_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            if (subject_dir.name, seq_dir.name) not in seen:
                collector.skip(seq_dir, "emotion label without an image sequence")
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED,
                           info={"peak_frames": peak_frames, "neutral_first_frame": neutral_first_frame})



def _emotion_code(label_files):
    """The emotion code of a sequence's label file, or the reason it cannot be used."""
    if not label_files:
        return None, "no emotion label file (unlabelled sequence)"
    try:
        value = float(label_files[0].read_text().split()[0])
    except (ValueError, IndexError):
        return None, "unparsable emotion label file"
    if value != int(value) or not 1 <= int(value) < len(CODES):
        return None, f"label out of range: emotion code {value:g}, expected 1..7"
    return int(value), None


def read_ckplus_sequences(root, *, include_contempt=True, channels=3, report=None):
    """Read CK+'s labelled sequences whole, with landmarks; see the module docstring.

    Args:
        root: the folder holding ``cohn-kanade-images``, ``Emotion`` and ``Landmarks``.
        include_contempt: keep the contempt sequences (the thesis's 7 classes); False drops them.
        channels: 3 (VGG-Face takes colour; grey frames are repeated) or 1.
        report: a `kerasfg.data.DataReport` to add to.

    Returns:
        A `kerasfg.data.video.FaceVideo` named ``"ck+"`` with the sequence label ``expression``.

    Raises:
        kerasfg.data.DatasetLayoutError: if a folder is missing or no sequence is usable.
    """
    root = require_dir(root, EXPECTED_SEQUENCES)
    images_dir = find_first(root, ["cohn-kanade-images", "extended-cohn-kanade-images/cohn-kanade-images"],
                            "image folder", EXPECTED_SEQUENCES)
    emotion_dir = find_first(root, ["Emotion", "Emotion_labels/Emotion"], "Emotion label folder",
                             EXPECTED_SEQUENCES)
    landmarks_dir = find_first(root, ["Landmarks", "Landmarks/Landmarks"], "Landmarks folder", EXPECTED_SEQUENCES)
    names = SEQUENCE_EMOTIONS if include_contempt else tuple(n for n in SEQUENCE_EMOTIONS if n != "contempt")
    lookup = index_of(names)
    report = report or DataReport("ck+", root)
    paths, points, subjects, sequences, emotions = [], [], [], [], []
    for seq in sorted(p for s in images_dir.iterdir() if s.is_dir() for p in s.iterdir() if p.is_dir()):
        report.count_read()
        label_dir = emotion_dir / seq.parent.name / seq.name
        label_files = [f for f in list_files(label_dir) if f.name.endswith("_emotion.txt")] \
            if label_dir.is_dir() else []
        code, problem = _emotion_code(label_files)
        if problem is None and CODES[code] not in lookup:
            problem = f"{CODES[code]} excluded (include_contempt=False)"
        frames = [f for f in list_files(seq) if is_image_name(f)]
        if problem is None and not frames:
            problem = "sequence folder has no image frames"
        marks = [] if problem else [_read_ck_landmarks(landmarks_dir / seq.parent.name / seq.name /
                                                       f"{frame.stem}_landmarks.txt") for frame in frames]
        if problem is None and any(isinstance(m, str) for m in marks):
            problem = next(m for m in marks if isinstance(m, str))
        if problem:
            report.skip(seq, problem)
            continue
        paths += frames
        points += marks
        subjects += [seq.parent.name] * len(frames)
        sequences += [f"{seq.parent.name}/{seq.name}"] * len(frames)
        emotions.append(lookup[CODES[code]])
    if not paths:
        raise DatasetLayoutError(f"{root}: no usable CK+ sequence (read {report.read}, skipped {report.skipped}); "
                                 f"expected {EXPECTED_SEQUENCES}")
    return FaceVideo(name="ck+", frames=FileFrames(paths, channels), landmarks=np.stack(points), subjects=subjects,
                     sequences=sequences, sequence_labels={"expression": np.asarray(emotions, np.int64)},
                     class_names={"expression": names}, report=report,
                     info={"root": str(root), "protocol": "10 subject-exclusive folds"})


def _read_ck_landmarks(path):
    """68 landmarks of one frame in the 66-point order, or the reason they cannot be used."""
    if not path.is_file():
        return f"no landmark file {path.name}"
    try:
        values = [float(v) for v in path.read_text().split()]
    except ValueError:
        return f"unparsable landmark file {path.name}"
    if len(values) != 136:
        return f"landmark file {path.name} holds {len(values)} numbers, expected 136 (68 x, y pairs)"
    return from_68(np.asarray(values, np.float32).reshape(68, 2))


def ckplus_folds(video, num_folds=10, seed=0):
    """The thesis's CK+ protocol: subjects dealt at random (seeded) into ``num_folds`` groups.

    Args:
        video: `read_ckplus_sequences`' video (or any `FaceVideo`).
        num_folds: 10 in the thesis.
        seed: the shuffle of the subjects.

    Returns:
        A list of ``num_folds`` boolean arrays over ``video.sequence_ids``: the test sequences of each fold
        (a subject's sequences all in one fold; folds balanced in sequences).
    """
    folds = kfold(video.sequence_subjects, num_folds, seed)
    masks = []
    for test in folds:
        mask = np.zeros(len(video.sequence_ids), bool)
        mask[test] = True
        masks.append(mask)
    return masks
