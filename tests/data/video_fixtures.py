"""Writers of face-video fixtures in the published layouts: the UNBC-McMaster archive and CK+ with landmarks.

The frames are synthetic pain video (`kerasfg.data.synthetic_face_video`), so that images, landmarks and
labels written to disk can be compared with what the readers give back.
"""

import pathlib

import numpy as np
from PIL import Image


def _number(value):
    return f"   {value:.7e}\n"


def write_unbc(root, video, subjects, *, facs=True, sequence_labels=True, nested_images=False):
    """Write ``video`` (a synthetic `FaceVideo`) in the UNBC-McMaster layout under ``root``.

    Args:
        subjects: ``{video subject: archive subject folder name}`` (``"042-ll042"``).
        facs: write ``Frame_Labels/FACS`` files (frames with an action unit only, as the archive does).
        sequence_labels: write ``Sequence_Labels/{AFF,OPR,SEN,VAS}``.
        nested_images: put the frames under ``Images/Images`` as the zip extracts.

    Returns:
        ``{(archive subject, archive sequence): list of frame indices of video}``.
    """
    root = pathlib.Path(root)
    images = root / "Images" / "Images" if nested_images else root / "Images"
    written = {}
    for sequence, (start, stop) in zip(video.sequence_ids, video.sequence_bounds):
        subject = subjects[str(video.subjects[start])]
        code = subject.split("-")[1]
        name = f"{code}t{sequence[-1]}aaaff"
        written[(subject, name)] = list(range(start, stop))
        for k, index in enumerate(range(start, stop), start=1):
            stem = f"{name}{k:03d}"
            path = images / subject / name / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(video.frame(index)).save(path)
            marks = root / "AAM_landmarks" / subject / name / f"{stem}_aam.txt"
            marks.parent.mkdir(parents=True, exist_ok=True)
            marks.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in video.landmarks[index]))
            label = root / "Frame_Labels" / "PSPI" / subject / name / f"{stem}_facs.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(_number(video.labels["pspi"][index]))
            units = [(au, video.labels[f"au{au}"][index]) for au in (4, 6, 7, 9, 10, 43)]
            units = [(au, value) for au, value in units if value > 0]
            if facs and units:
                path = root / "Frame_Labels" / "FACS" / subject / name / f"{stem}_facs.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                # AU43 carries no intensity in the archive's FACS files
                path.write_text("".join(f"   {au:.7e}   {0.0 if au == 43 else v:.7e}   0.0000000e+00   "
                                        f"0.0000000e+00\n" for au, v in units))
        if sequence_labels:
            peak = float(video.labels["pspi"][start:stop].max())
            for scale, value in (("AFF", peak / 2), ("OPR", peak / 3), ("SEN", peak / 4), ("VAS", peak)):
                path = root / "Sequence_Labels" / scale / subject / f"{name}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_number(value))
    return written


def write_ckplus_sequences(root, video, emotions, *, unlabelled=()):
    """Write ``video``'s sequences in the CK+ layout with 68-point landmark files.

    Args:
        emotions: ``{video sequence id: CK+ emotion code 1..7}``.
        unlabelled: video sequence ids written without an emotion file.

    Returns:
        ``{CK+ "S###/###": video sequence id}``.
    """
    root = pathlib.Path(root)
    names = {}
    for number, (sequence, (start, stop)) in enumerate(zip(video.sequence_ids, video.sequence_bounds), start=1):
        subject = f"S{100 + int(str(video.subjects[start]).split('_')[-1]):03d}"
        seq = f"{number:03d}"
        names[f"{subject}/{seq}"] = sequence
        for k, index in enumerate(range(start, stop), start=1):
            stem = f"{subject}_{seq}_{k:08d}"
            path = root / "cohn-kanade-images" / subject / seq / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(video.frame(index)[..., 0]).save(path)  # CK+ frames are mostly grey
            points = video.landmarks[index]
            # 68 points: the two inner mouth corners (68-point 60 and 64) between their neighbours
            full = np.insert(points, 60, (points[48] + points[60]) / 2, axis=0)
            full = np.insert(full, 64, (points[54] + points[63]) / 2, axis=0)
            marks = root / "Landmarks" / subject / seq / f"{stem}_landmarks.txt"
            marks.parent.mkdir(parents=True, exist_ok=True)
            marks.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in full))
        if sequence not in unlabelled:
            label = root / "Emotion" / subject / seq / f"{subject}_{seq}_{stop - start:08d}_emotion.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(_number(float(emotions[sequence])))
    return names
