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
"""

from kerasfg.data.labels import EXPRESSIONS
from kerasfg.data.datasets._common import (
    Collector,
    Task,
    find_first,
    index_of,
    is_image_name,
    list_files,
    require_dir,
)

CODES = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
EXPECTED = ("cohn-kanade-images/<subject>/<sequence>/*.png and "
            "Emotion/<subject>/<sequence>/*_emotion.txt")


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

