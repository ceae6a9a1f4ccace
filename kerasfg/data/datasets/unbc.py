"""The UNBC-McMaster Shoulder Pain Expression Archive (Lucey et al. 2011) in its distributed layout::

    root/Images/042-ll042/ll042t1aaaff/ll042t1aaaff001.png ...               the frames (320x240 PNG)
    root/AAM_landmarks/042-ll042/ll042t1aaaff/ll042t1aaaff001_aam.txt        66 "x y" lines per frame
    root/Frame_Labels/PSPI/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt   the frame's PSPI (one number)
    root/Frame_Labels/FACS/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt   "AU intensity ..." lines (optional)
    root/Sequence_Labels/{AFF,OPR,SEN,VAS}/042-ll042/ll042t1aaaff.txt         self-report and observer scores
                                                                             (optional, one number each)

25 subjects, 200 sequences, 48,398 frames (the archive's ``Images`` folder may sit one level down, as
``Images/Images/``, when the zip is extracted as is). A frame is used when its image, its 66 landmarks and its
PSPI are all there; anything else is skipped and reported with the path and the reason.

Returns a `kerasfg.data.video.FaceVideo` whose frame labels are ``pspi`` (float, 0..16) and, with the FACS
folder, the PSPI action units ``au4``, ``au6``, ``au7``, ``au9``, ``au10`` (intensities 0..5) and ``au43``
(eyes closed, 0 or 1), so that ``PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43``; its sequence labels
are the four scales present (``aff``, ``opr``, ``sen``, ``vas``, NaN where a file is missing). Frames are
in sequence order, sequences in subject order.

The protocol is leave-one-subject-out (`kerasfg.data.splits.leave_one_subject_out` on
``video.subjects``); the thesis numbers the subjects 0-24 in sorted order (its Table 2.5).
"""

import logging
import re

import numpy as np

from kerasfg.data.datasets._common import find_first, is_image_name, list_files, require_dir
from kerasfg.data.landmarks import NUM_POINTS
from kerasfg.data.report import DataReport
from kerasfg.data.video import FaceVideo, FileFrames

log = logging.getLogger(__name__)

EXPECTED = ("Images/<subject>/<sequence>/<frame>.png, AAM_landmarks/<subject>/<sequence>/<frame>_aam.txt and "
            "Frame_Labels/PSPI/<subject>/<sequence>/<frame>_facs.txt")
PSPI_ACTION_UNITS = (4, 6, 7, 9, 10, 43)
SEQUENCE_SCALES = ("aff", "opr", "sen", "vas")


def pspi(au4, au6, au7, au9, au10, au43):
    """The Prkachin and Solomon Pain Intensity: ``AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43``."""
    return (np.asarray(au4) + np.maximum(au6, au7) + np.maximum(au9, au10) + np.asarray(au43)).astype(np.float32)


def read_unbc(root, *, channels=3, report=None):
    """Read the archive; see the module docstring.

    Args:
        root: the folder holding ``Images``, ``AAM_landmarks`` and ``Frame_Labels``.
        channels: 3 (the thesis keeps colour) or 1.
        report: a `kerasfg.data.DataReport` to add to (a new one by default).

    Returns:
        A `kerasfg.data.video.FaceVideo` named ``"unbc"``.

    Raises:
        kerasfg.data.DatasetLayoutError: if a folder of the layout is missing or no frame is usable.
    """
    root = require_dir(root, EXPECTED)
    images_dir = find_first(root, ["Images/Images", "Images"], "Images folder", EXPECTED)
    landmarks_dir = find_first(root, ["AAM_landmarks/AAM_landmarks", "AAM_landmarks"], "AAM_landmarks folder",
                               EXPECTED)
    labels_dir = find_first(root, ["Frame_Labels/Frame_Labels", "Frame_Labels"], "Frame_Labels folder", EXPECTED)
    pspi_dir = find_first(labels_dir, ["PSPI"], "Frame_Labels/PSPI folder", EXPECTED)
    facs_dir = labels_dir / "FACS" if (labels_dir / "FACS").is_dir() else None
    sequence_dir = next((p for p in (root / "Sequence_Labels/Sequence_Labels", root / "Sequence_Labels")
                         if p.is_dir()), None)
    report = report or DataReport("unbc", root)

    paths, points, subjects, sequences, scores, units = [], [], [], [], [], []
    sequence_ids = []
    for subject_dir in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        for seq_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            frames = sorted((f for f in list_files(seq_dir) if is_image_name(f)), key=_frame_order)
            if not frames:
                report.count_read()
                report.skip(seq_dir, "sequence folder has no image frames")
                continue
            used = 0
            for frame in frames:
                report.count_read()
                relative = frame.relative_to(images_dir).with_suffix("")
                marks = _read_landmarks(landmarks_dir / f"{relative}_aam.txt", report, frame)
                if marks is None:
                    continue
                score = _read_number(pspi_dir / f"{relative}_facs.txt", report, frame, "PSPI label")
                if score is None:
                    continue
                aus = _read_facs(facs_dir / f"{relative}_facs.txt", report, frame) if facs_dir else {}
                if aus is None:
                    continue
                paths.append(frame)
                points.append(marks)
                subjects.append(subject_dir.name)
                sequences.append(seq_dir.name)
                scores.append(score)
                units.append(aus)
                used += 1
            if used:
                sequence_ids.append((subject_dir.name, seq_dir.name))
    if not paths:
        from kerasfg.data.dataset import DatasetLayoutError

        raise DatasetLayoutError(f"{root}: no usable UNBC-McMaster frame (read {report.read}, skipped "
                                 f"{report.skipped}: {report.skips[0].reason if report.skips else 'none found'}); "
                                 f"expected {EXPECTED}")
    labels = {"pspi": np.asarray(scores, np.float32)}
    if facs_dir is not None:
        for au in PSPI_ACTION_UNITS:
            labels[f"au{au}"] = np.asarray([u.get(au, 0.0) for u in units], np.float32)
    sequence_labels = _read_sequence_labels(sequence_dir, sequence_ids, report) if sequence_dir else {}
    video = FaceVideo(name="unbc", frames=FileFrames(paths, channels), landmarks=np.stack(points),
                      subjects=subjects, sequences=sequences, labels=labels, sequence_labels=sequence_labels,
                      report=report, info={"root": str(root), "protocol": "leave-one-subject-out"})
    log.info("read %s", video)
    return video


def _frame_order(path):
    match = re.search(r"(\d+)$", path.stem)
    return (int(match.group(1)) if match else -1, path.name)


def _read_numbers(path):
    return [float(v) for v in path.read_text().split()]


def _read_landmarks(path, report, frame):
    if not path.is_file():
        report.skip(frame, f"no AAM landmark file {path.name}")
        return None
    try:
        values = _read_numbers(path)
    except ValueError:
        report.skip(frame, f"unparsable AAM landmark file {path.name}")
        return None
    if len(values) != 2 * NUM_POINTS:
        report.skip(frame, f"AAM landmark file {path.name} holds {len(values)} numbers, expected "
                           f"{2 * NUM_POINTS} (66 x, y pairs)")
        return None
    return np.asarray(values, np.float32).reshape(NUM_POINTS, 2)


def _read_number(path, report, frame, what):
    if not path.is_file():
        report.skip(frame, f"no {what} file {path.name}")
        return None
    try:
        values = _read_numbers(path)
    except ValueError:
        values = []
    if len(values) != 1 or not np.isfinite(values[0]):
        report.skip(frame, f"unparsable {what} file {path.name}: expected one number")
        return None
    return values[0]


def _read_facs(path, report, frame):
    """``{AU: intensity}`` of a FACS file; AU43 (eyes closed) is coded without intensity: present = 1."""
    if not path.is_file():
        return {}  # the FACS folder lists only frames with an action unit
    units = {}
    try:
        for line in path.read_text().splitlines():
            values = [float(v) for v in line.split()]
            if not values:
                continue
            au = int(values[0])
            units[au] = 1.0 if au == 43 else (values[1] if len(values) > 1 else 0.0)
    except ValueError:
        report.skip(frame, f"unparsable FACS file {path.name}")
        return None
    return units


def _read_sequence_labels(folder, sequence_ids, report):
    labels = {}
    for scale in SEQUENCE_SCALES:
        scale_dir = next((p for p in folder.iterdir() if p.is_dir() and p.name.lower() == scale), None)
        if scale_dir is None:
            continue
        values = []
        for subject, sequence in sequence_ids:
            path = scale_dir / subject / f"{sequence}.txt"
            value = np.nan
            if path.is_file():
                try:
                    numbers = _read_numbers(path)
                    value = numbers[0] if len(numbers) == 1 else np.nan
                except ValueError:
                    pass
                if np.isnan(value):
                    report.note(f"{path}: unparsable {scale.upper()} score; NaN used")
            values.append(value)
        labels[scale] = np.asarray(values, np.float32)
    return labels


def unbc_subject_numbers(subjects):
    """The thesis's subject numbers (0-24 in sorted order of the archive's folder names) of ``subjects``."""
    subjects = np.asarray(subjects).astype(str)
    order = {s: i for i, s in enumerate(sorted(set(subjects.tolist())))}
    return np.asarray([order[s] for s in subjects], np.int64)


__all__ = ["PSPI_ACTION_UNITS", "SEQUENCE_SCALES", "pspi", "read_unbc", "unbc_subject_numbers"]
