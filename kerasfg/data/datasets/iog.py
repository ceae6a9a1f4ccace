"""The Images of Groups dataset (Gallagher and Chen, CVPR 2009), as distributed::

    root/Wed2a/PersonData.txt  root/Wed2a/<image>.jpg ...     (also Wed3a Wed5a Fam2a Fam4a Fam5a Fam8a
                                                               Group2a Group4a Group5a Group8a)

Each folder's ``PersonData.txt`` holds IMAGE rows (an image file name of that folder) each followed by its
FACE rows: six tab-separated numbers, the left eye's x and y, the right eye's x and y (pixels of the
group photo), the age category and the gender. The age category is written as a representative age
(1, 5, 10, 16, 28, 51, 75 for the groups 0-2, 3-7, 8-12, 13-19, 20-36, 37-65, 66+); any age inside a
group's range is read as that group. Gender is 1 (female) or 2 (male) (``gender_codes`` changes this);
other values are skipped and reported.

Faces are not cropped in the distribution: every face is cut out of its photo by a similarity transform
that puts its eyes where `kerasfg.data.align`'s template puts them (``margin`` adds context around the
face), straight at ``image_size`` (112x112 by default), with the same transform that aligns detected faces.
Many faces are small (the median has 18.5 pixels between the eyes), so most crops are upsampled.

Tasks: ``age`` (the 7 groups, `kerasfg.age.IOG_GROUPS`) and ``gender`` (female, male). The subject of a
face is its photo, so that the seeded splits keep a photo's faces together.

Protocol (``protocol``): ``"balanced"`` (default): the age-balanced test set of Gallagher and Chen, a seeded
draw of ``test_per_group`` faces (150) of each age group (1,050 faces) as ``test``, the others ``train``;
the thesis tests the Adience models on it (Table 3.8). ``test_faces`` pins the test set instead: a text
file of face ids ``<folder>/<image>:<k>`` (the k-th face of that image row, from 0), one a line.
``"none"``: no published parts (the seeded subject-disjoint split applies).
"""

import pathlib

import numpy as np
import tensorflow as tf

from kerasfg.age import IOG_GROUPS
from kerasfg.data import align, pipeline
from kerasfg.data.datasets._common import Collector, DatasetLayoutError, Task, require_dir

FOLDERS = ("Wed2a", "Wed3a", "Wed5a", "Fam2a", "Fam4a", "Fam5a", "Fam8a", "Group2a", "Group4a", "Group5a", "Group8a")
AGE_RANGES = ((0, 2), (3, 7), (8, 12), (13, 19), (20, 36), (37, 65), (66, 200))
GENDERS = ("female", "male")
PROTOCOLS = ("balanced", "none")
EXPECTED = "folders (Wed2a, Fam2a, Group2a, ...) each with PersonData.txt and the images it lists"


def age_group(value):
    """The IoG age group of an age in years (the distributed codes 1, 5, 10, 16, 28, 51, 75 included)."""
    for k, (low, high) in enumerate(AGE_RANGES):
        if low <= value <= high:
            return k
    return None


def eye_alignment(eyes, size, margin):
    """The ``(8,)`` output -> input projective transform that puts ``eyes`` (``[[xl, yl], [xr, yr]]``) on
    the template's eyes in a ``size`` crop (`kerasfg.data.align.template_points`)."""
    forward = align.similarity_transform(eyes, align.template_points(size, margin)[:2])
    inverse = np.linalg.inv(np.vstack([forward, [0.0, 0.0, 1.0]]))
    return (inverse / inverse[2, 2]).ravel()[:8].astype(np.float32)


class EyeAlignedSource(pipeline.FileSource):
    """Faces cut out of photos by their eye positions: one (photo, eyes) pair per item.

    Args:
        paths: the photo of each face.
        eyes: ``(items, 2, 2)`` left and right eye ``(x, y)`` in photo pixels.
        margin: context around the face (see `kerasfg.data.align.template_points`).
        default_size: crop size when the dataset is not resized (``image_size=None``).
    """

    def __init__(self, paths, eyes, margin=0.25, default_size=(112, 112)):
        super().__init__(paths, decoder="tf")
        self.eyes = np.asarray(eyes, np.float64).reshape(len(self.paths), 2, 2)
        self.margin = margin
        self.default_size = tuple(default_size)

    def elements(self, source_index, labels, channels, preprocessing, shuffle_seed=None):
        size = preprocessing.image_size if preprocessing is not None else self.default_size
        transforms = np.stack([eye_alignment(self.eyes[i], size, self.margin) for i in source_index]) if len(
            source_index) else np.zeros((0, 8), np.float32)
        ds = tf.data.Dataset.from_tensor_slices((self.paths[source_index].astype(str), transforms, labels))
        if shuffle_seed is not None:
            ds = ds.shuffle(len(source_index), seed=shuffle_seed, reshuffle_each_iteration=True)

        def load(path, transform, y):
            photo = pipeline.decode_file(path, channels, self.decoder)
            face = tf.raw_ops.ImageProjectiveTransformV3(
                images=tf.cast(photo[None], tf.float32), transforms=transform[None],
                output_shape=tf.constant(size, tf.int32), fill_value=0.0, interpolation="BILINEAR",
                fill_mode="NEAREST")[0]
            face = tf.cast(tf.clip_by_value(tf.round(face), 0.0, 255.0), tf.uint8)
            face.set_shape([size[0], size[1], channels])
            return pipeline.to_uint8_pixels(face, preprocessing), y

        return ds.map(load, num_parallel_calls=pipeline.AUTOTUNE)


def _person_rows(path, folder, collector, gender_codes, tasks):
    """Yield ``(face id, photo path, eyes, labels)`` of one PersonData.txt, skipping bad rows."""
    photo, count = None, 0
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        if len(fields) == 1:  # an IMAGE row
            photo, count = folder / fields[0], 0
            continue
        if photo is None:
            collector.skip(where, "face row before any image row")
            continue
        face_id = f"{folder.name}/{photo.name}:{count}"
        count += 1
        if len(fields) != 6:
            collector.skip(where, f"malformed face row: {len(fields)} fields, expected 6")
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            collector.skip(where, f"unparsable face row {line.strip()!r}")
            continue
        labels = {}
        if "age" in tasks:
            labels["age"] = age_group(values[4])
            if labels["age"] is None:
                collector.skip(where, f"age {fields[4]!r} is in none of the IoG age groups")
                continue
        if "gender" in tasks:
            labels["gender"] = gender_codes.get(int(values[5])) if values[5].is_integer() else None
            if labels["gender"] is None:
                collector.skip(where, f"gender {fields[5]!r} is not one of the codes {sorted(gender_codes)}")
                continue
        if not photo.is_file():
            collector.skip(photo, f"image listed in {path.name} not found")
            continue
        yield face_id, photo, np.reshape(values[:4], (2, 2)), labels


def read_iog(root, *, tasks=("age", "gender"), protocol="balanced", test_per_group=150, test_faces=None,
             seed=0, margin=0.25, gender_codes=None, image_size=(112, 112), channels=3, report=None):
    """Read the Images of Groups dataset; see the module docstring.

    Args:
        root: the folder holding Wed2a, Fam2a, ... (any sub-folder with a PersonData.txt is read).
        tasks: ``"age"`` and/or ``"gender"``.
        protocol: ``"balanced"`` or ``"none"``.
        test_per_group: faces of each age group in the balanced test set.
        test_faces: a file of face ids that is the test set (``protocol="balanced"`` only).
        seed: seed of the balanced draw.
        margin: context around each face crop.
        gender_codes: ``{code: gender index}``; default ``{1: 0 (female), 2: 1 (male)}``.
        image_size, channels: the face crops.
    """
    root = require_dir(root, EXPECTED)
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    unknown = set(tasks) - {"age", "gender"}
    if unknown:
        raise ValueError(f"Images of Groups tasks are 'age' and 'gender', got {sorted(unknown)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"Images of Groups protocol must be one of {PROTOCOLS}, got {protocol!r}")
    files = sorted(root.glob("*/PersonData.txt"))
    if not files:
        raise DatasetLayoutError(f"{root}: no */PersonData.txt found; expected {EXPECTED}")
    gender_codes = {1: 0, 2: 1} if gender_codes is None else {int(k): int(v) for k, v in gender_codes.items()}
    all_tasks = {"age": Task("age", "class", IOG_GROUPS), "gender": Task("gender", "class", GENDERS)}
    collector = Collector("iog", root, [all_tasks[t] for t in tasks], report)
    face_ids, eyes = [], []
    for path in files:
        for face_id, photo, face_eyes, labels in _person_rows(path, path.parent, collector, gender_codes, tasks):
            if collector.add(photo, labels, subject=face_id.rsplit(":", 1)[0]):
                face_ids.append(face_id)
                eyes.append(face_eyes)
    partitions = None
    if protocol == "balanced" and collector.paths:
        partitions = _balanced_partitions(face_ids, collector, tasks, test_per_group, test_faces, seed)
        collector.partitions = partitions
    source = EyeAlignedSource(collector.paths, np.reshape(eyes, (-1, 2, 2)), margin=margin,
                              default_size=image_size or (112, 112))
    dataset = collector.build(image_size=image_size, channels=channels, source=source, expected=EXPECTED,
                              default_split={"by": "subject", "fractions": {"train": 0.8, "test": 0.2}})
    dataset.paths = np.asarray(face_ids).astype(str)
    return dataset


def _balanced_partitions(face_ids, collector, tasks, test_per_group, test_faces, seed):
    if test_faces is not None:
        wanted = {line.strip() for line in pathlib.Path(test_faces).read_text().splitlines() if line.strip()}
        missing = sorted(wanted - set(face_ids))
        if missing:
            collector.report.note(f"{len(missing)} faces of {test_faces} are not in the dataset, e.g. {missing[:3]}")
        return ["test" if face in wanted else "train" for face in face_ids]
    if "age" not in tasks:
        raise ValueError("the balanced Images of Groups test set is drawn per age group: read the 'age' task "
                         "too, or use protocol='none'.")
    groups = np.asarray(collector.labels["age"])
    rng = np.random.default_rng(seed)
    partitions = np.full(len(groups), "train", dtype=object)
    for group in range(len(IOG_GROUPS)):
        members = np.flatnonzero(groups == group)
        if len(members) < test_per_group:
            collector.report.note(f"age group {IOG_GROUPS[group]} has {len(members)} faces, fewer than "
                                  f"test_per_group={test_per_group}: all are test faces")
        partitions[rng.permutation(members)[:test_per_group]] = "test"
    return partitions.tolist()
