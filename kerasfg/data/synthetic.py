"""Procedurally rendered face images with known factors and ground-truth evidence masks.

The synthetic faces are kerasfg's download-free data set: the default of the quick start, the tests, the
benchmarks and the ``--scale synthetic`` experiment grids. Every factor that decides a label is drawn by the
renderer, so each image comes with the labels of every task and, per task and per attribute, a mask of the
pixels that carry its evidence. The masks are what the faithfulness scores of the explanation methods are
measured against.

Tasks (``TASKS``):

- **identity**: a configurable number of people, each with a fixed face shape, skin tone, eye spacing and
  size, iris colour, nose, hair colour, hair style and length, facial hair, brows, age and gender.
- **expression**: one of seven classes (`kerasfg.data.labels.EXPRESSIONS`: angry, disgust, fear, happy,
  neutral, sad, surprise), each with its own mouth, brow and eye geometry.
- **gender**: carried by the hair (long or short, typical of the gender with probability
  ``1 - 0.3 * difficulty["gender"]``), facial hair and baldness (men only).
- **age** (years, 8 to 80) and **age_group** (young 8-29, adult 30-54, senior 55-80, balanced over people):
  carried by forehead lines, crow's feet and nasolabial folds that appear and darken with age, greying hair,
  and a child's larger eyes and smaller nose.
- **attributes**: a 0/1 vector of the 23 binary facial attributes of ``ATTRIBUTES``, named after the CelebA
  attributes they stand in for (``celeba_name``); each is also a task of its own (``"eyeglasses"``, 0 or 1).

Difficulty. ``difficulty`` is a number in [0, 1] for everything, or a mapping with one level per factor
(``FACTORS``) and per attribute. ``nuisance`` scales translation, in-plane rotation, scale, an illumination
gradient, pixel noise and background clutter. Each task's own level weakens its evidence image by image: an
image's evidence strength is ``1 - level * u`` with ``u`` uniform in [0, 1), so at level 0 every face shows
its labels at full strength and at level 1 the weakest are barely there: expressions fade to neutral,
attributes fade (a faint beard, pale lipstick, thin glasses, hair colours towards one brown), the apparent
age drifts towards 44 years, and each person's face shape and colours vary from image to image (identity).

Rendering is vectorised over batches of images: every face part is a region in face-centred coordinates,
which a per-image similarity transform maps onto the pixel grid. :class:`FaceParameters` holds every value
that decides the pixels, one row per image; :func:`render_faces` draws any such record, so other generators
(face video, action units) can animate the parameters and reuse the renderer.
"""

import collections.abc
import concurrent.futures
import dataclasses
import functools
import math
import os

import numpy as np

from kerasfg.data.labels import CELEBA_ATTRIBUTES, EXPRESSIONS, Task

GENDERS = ("female", "male")
AGE_GROUPS = ("young", "adult", "senior")
AGE_RANGES = ((8, 29), (30, 54), (55, 80))
"""Ages in years (inclusive) of each age group; ages are drawn uniformly within the person's group."""
HAIR_COLORS = ("black", "brown", "blond")
GRAY_HAIR_AGE = 60
"""From this age the hair counts as grey (``gray_hair``); it greys gradually from 35."""
FACIAL_HAIR_AGE = 16
"""Baldness, beards, moustaches and sideburns are drawn for half of the men of this age or more."""
TASKS = ("identity", "expression", "gender", "age_group", "age", "attributes")
FACTORS = ("nuisance", "identity", "expression", "gender", "age", "attributes")
BINARY = ("no", "yes")
"""Class names of each single-attribute task."""


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One binary facial attribute of the synthetic faces.

    Attributes:
        name: the task name: CelebA's attribute name in lower case (``"no_beard"``).
        celeba_name: the CelebA attribute it stands in for (``"No_Beard"``).
        per: ``"person"`` (fixed for an identity) or ``"image"`` (drawn per image).
        rate: share of positive labels (over people for ``"person"``, over images for ``"image"``),
            with uniformly drawn expressions and identities.
        evidence: what the renderer draws for it.
        level: the ``difficulty`` key whose level weakens its evidence (its own name, or the factor that
            carries it).
    """

    name: str
    celeba_name: str
    per: str
    rate: float
    evidence: str
    level: str


def _share_of_ages(low, high):
    """Share of people aged ``low`` to ``high`` years (inclusive), with balanced groups of uniform ages."""
    total = 0.0
    for first, last in AGE_RANGES:
        overlap = min(high, last) - max(low, first) + 1
        total += max(overlap, 0) / (last - first + 1) / len(AGE_RANGES)
    return total


_GRAY_RATE = _share_of_ages(GRAY_HAIR_AGE, AGE_RANGES[-1][1])
_HAIR_RATE = (1 - _GRAY_RATE) / len(HAIR_COLORS)
_MEN_HALF = _share_of_ages(FACIAL_HAIR_AGE, AGE_RANGES[-1][1]) / 4  # half of the men old enough


def _attribute(celeba_name, per, rate, evidence, level=None):
    name = celeba_name.lower()
    return Attribute(name, celeba_name, per, rate, evidence, level or name)


ATTRIBUTES = (
    _attribute("Arched_Eyebrows", "person", 1 / 2, "brows bent into an arch"),
    _attribute("Bald", "person", _MEN_HALF, f"half of the men aged {FACIAL_HAIR_AGE} or more: no hair on "
               "the crown, hair at the temples"),
    _attribute("Bangs", "person", (1 - _MEN_HALF) / 2, "half of the people who are not bald: a fringe down "
               "to the brows"),
    _attribute("Big_Nose", "person", 1 / 2, "a nose 80% wider and 30% longer"),
    _attribute("Black_Hair", "person", _HAIR_RATE, "black hair (hair colours are balanced over people; "
               "grey hair counts as grey only)"),
    _attribute("Blond_Hair", "person", _HAIR_RATE, "blond hair"),
    _attribute("Brown_Hair", "person", _HAIR_RATE, "brown hair"),
    _attribute("Bushy_Eyebrows", "person", 1 / 2, "brows twice as thick"),
    _attribute("Eyeglasses", "image", 1 / 2, "dark rims around both eyes, a bridge and temple arms"),
    _attribute("Gray_Hair", "person", _GRAY_RATE, f"aged {GRAY_HAIR_AGE} or more: hair greyed by age",
               "age"),
    _attribute("Male", "person", 1 / 2, "the gender (hair length, facial hair, baldness)", "gender"),
    _attribute("Mouth_Slightly_Open", "image", 1 / 2, "an open mouth: happy, surprised and fearful faces, "
               "and 1 in 8 of the others"),
    _attribute("Mustache", "person", _MEN_HALF, "half of the men old enough: a moustache above the upper "
               "lip"),
    _attribute("Narrow_Eyes", "person", 1 / 2, "eyes 55% less open and 15% shorter"),
    _attribute("No_Beard", "person", 1 - _MEN_HALF, "no full beard (half of the men old enough have one on "
               "the lower face)"),
    _attribute("Rosy_Cheeks", "image", 1 / 2, "pink patches on both cheeks"),
    _attribute("Sideburns", "person", _MEN_HALF, "half of the men old enough: hair strips at the sides of "
               "the face"),
    _attribute("Smiling", "image", 1 / 2, "raised, wider mouth corners: happy faces, and 5 in 12 of the "
               "others"),
    _attribute("Wearing_Earrings", "image", 1 / 2, "a gold disc at each side of the jaw"),
    _attribute("Wearing_Hat", "image", 1 / 2, "a brimmed hat on the crown"),
    _attribute("Wearing_Lipstick", "image", 1 / 2, "red lips"),
    _attribute("Wearing_Necklace", "image", 1 / 2, "a pearl band across the neck"),
    _attribute("Young", "person", 1 / len(AGE_GROUPS), f"the young age group (under {AGE_RANGES[1][0]} "
               "years)", "age"),
)
"""The synthetic facial attributes, in CelebA's column order."""

ATTRIBUTE_NAMES = tuple(a.name for a in ATTRIBUTES)
CELEBA_WITHOUT_STAND_IN = tuple(n for n in CELEBA_ATTRIBUTES if n not in {a.celeba_name for a in ATTRIBUTES})
"""CelebA attributes that the synthetic faces do not draw (the 17 of its 40 left after ``ATTRIBUTES``)."""

# Attributes whose evidence has its own strength (and difficulty key); the others show through the
# factor named by their ``level``.
_OWN_STRENGTH = tuple(a.name for a in ATTRIBUTES if a.level == a.name)
# The image-level attributes drawn for exactly half of the images.
_ACCESSORIES = ("eyeglasses", "rosy_cheeks", "wearing_earrings", "wearing_hat", "wearing_lipstick",
                "wearing_necklace")
# Faces whose expression already smiles or opens the mouth; the others get the extra smile or opening with
# the probability that makes half of all faces positive.
_SMILING_EXPRESSIONS = ("happy",)
_OPEN_EXPRESSIONS = ("happy", "surprise", "fear")
_EXTRA_SMILE = (0.5 - 1 / 7) / (6 / 7)
_EXTRA_OPEN = (0.5 - 3 / 7) / (4 / 7)

# Geometry of each expression, in face coordinates (the face spans about [-0.6, 0.6] x [-0.8, 0.8]):
# mouth half-width, curvature of the upper and lower lip line at the corners (negative: corners up),
# opening at the centre, tilt (asymmetry), brow raise, brow inner-end tilt (positive: inner end up),
# eye openness.
EXPRESSION_FIELDS = ("mouth_width", "lip_upper", "lip_lower", "mouth_open", "mouth_tilt", "brow_raise",
                     "brow_tilt", "eye_open")
_EXPRESSION_GEOMETRY = {
    #            width  upper  lower  open   tilt   brow   tilt   eyes
    "neutral": (0.20, 0.00, 0.00, 0.000, 0.00, 0.00, 0.00, 1.00),
    "happy": (0.26, -0.08, -0.13, 0.080, 0.00, 0.02, 0.00, 0.65),
    "sad": (0.19, 0.08, 0.08, 0.000, 0.00, 0.00, 0.35, 0.80),
    "surprise": (0.12, -0.02, 0.05, 0.170, 0.00, 0.09, 0.10, 1.45),
    "angry": (0.17, 0.03, 0.03, 0.000, 0.00, -0.05, -0.45, 0.65),
    "disgust": (0.18, -0.03, 0.00, 0.030, 0.30, -0.03, -0.20, 0.55),
    "fear": (0.24, 0.04, 0.06, 0.070, 0.00, 0.07, 0.40, 1.40),
}
# What the extra smile and opening of the smiling and mouth_slightly_open attributes add at full strength.
_SMILE = {"mouth_width": 0.05, "lip_upper": -0.07, "lip_lower": -0.09}
_OPEN = 0.08

# Indices into the per-image palette; parts are painted in this order (later parts cover earlier ones).
_BACKGROUND = 0
_MAX_CLUTTER = 8
(_HAIR, _NECK, _NECKLACE, _FACE, _SCALP, _CHEEK, _BEARD, _SIDEBURN, _WRINKLE, _NOSE, _CREASE, _MUSTACHE,
 _EYE_WHITE, _IRIS, _PUPIL, _BROW, _LIPS, _MOUTH, _GLASSES, _EARRING, _HAT) = range(_MAX_CLUTTER + 1, _MAX_CLUTTER + 22)
_NUM_PARTS = _MAX_CLUTTER + 22

# Fixed face-coordinate landmarks shared by all identities.
_EYE_Y = -0.12
_MOUTH_Y = 0.38
_FACE_CENTER_Y = 0.02
_BANGS_Y = -0.36  # where a full fringe ends, just above the brows
_MEAN_AGE = 44.0  # the apparent age that weak age evidence drifts towards
_GREY = np.array([200.0, 200.0, 205.0], np.float32)
_HAIR_RGB = np.array([[30, 22, 18], [105, 66, 38], [215, 185, 115]], np.float32)  # HAIR_COLORS
_NEUTRAL_HAIR = _HAIR_RGB.mean(axis=0)  # what weak hair-colour evidence fades towards


@dataclasses.dataclass(frozen=True)
class Identity:
    """The fixed appearance of one synthetic person.

    Attributes:
        index: class index of this identity.
        gender: index into ``GENDERS``.
        age_group: index into ``AGE_GROUPS``.
        age: age in years.
        face_width, face_height: half-axes of the face ellipse.
        skin: RGB skin tone, 0..255.
        eye_spacing: horizontal distance of each eye from the face's centre line.
        eye_size: half-width of the eye.
        iris: RGB iris colour.
        nose_length, nose_width: size of the nose triangle.
        hair_color: index into ``HAIR_COLORS``.
        hair: RGB colour of the hair (before greying with age).
        body_hair: RGB colour of the brows and facial hair.
        hairline: vertical position of the hairline on the forehead.
        hair_part: slope of the hairline (0 for a straight fringe).
        long_hair: whether the hair falls to the shoulders.
        beard, mustache, sideburns, bald, bangs, bushy_eyebrows, arched_eyebrows, narrow_eyes, big_nose:
            the person-level attributes (see ``ATTRIBUTES``).
    """

    index: int
    gender: int
    age_group: int
    age: int
    face_width: float
    face_height: float
    skin: tuple
    eye_spacing: float
    eye_size: float
    iris: tuple
    nose_length: float
    nose_width: float
    hair_color: int
    hair: tuple
    body_hair: tuple
    hairline: float
    hair_part: float
    long_hair: bool
    beard: bool
    mustache: bool
    sideburns: bool
    bald: bool
    bangs: bool
    bushy_eyebrows: bool
    arched_eyebrows: bool
    narrow_eyes: bool
    big_nose: bool


@dataclasses.dataclass
class FaceParameters:
    """Every value that decides the pixels of a batch of faces, one row per image.

    Lengths are in face coordinates: the face is an ellipse centred at the origin spanning about
    [-0.6, 0.6] x [-0.8, 0.8], ``y`` pointing down, the eyes at ``y = -0.12`` and the mouth at ``y = 0.38``;
    the whole image spans [-1, 1] before the nuisance transform. Colours are RGB in 0..255. Attribute
    fields are evidence strengths in [0, 1]: 0 draws no such attribute, 1 draws it fully.

    Build one with :func:`synthetic_faces` (``faces.parameters``), change it with ``dataclasses.replace`` or
    :meth:`take`, and draw it with :func:`render_faces`.

    Attributes:
        face_width, face_height, skin, eye_spacing, eye_size, iris, nose_length, nose_width, hair,
            body_hair, hairline, hair_part, long_hair: the person's appearance (see `Identity`); ``hair``
            is the colour before greying, ``long_hair`` a bool.
        age: apparent age in years: forehead lines from 28 (a second at 40, a third at 52), crow's feet
            from 38, nasolabial folds from 48, all darkening with age; greying from 35; below 18 larger
            eyes and a smaller nose.
        mouth_width, lip_upper, lip_lower, mouth_open, mouth_tilt, brow_raise, brow_tilt, eye_open: the
            expression geometry (``EXPRESSION_FIELDS``; see :func:`expression_geometry`).
        bald, bangs, bushy_eyebrows, arched_eyebrows, narrow_eyes, big_nose, beard, mustache, sideburns,
            eyeglasses, hat, earrings, necklace, lipstick, rosy_cheeks: attribute strengths.
        hat_color: colour of the hat.
        shift_x, shift_y, rotation, scale: the similarity transform of the face (shifts in image
            half-widths, rotation in degrees).
        light_strength, light_angle: a linear illumination gradient.
        noise_std: standard deviation of the zero-mean pixel noise.
        clutter, clutter_colors, clutter_shapes: number of background shapes (int), their colours
            ``(N, 8, 3)`` and shapes ``(N, 8, 5)`` (centre x, y, half-sizes, box or ellipse, in [0, 1]).
        background: background colour.
        nose_wrinkle: optional, in [0, 1]: up to three creases across the nose bridge (one more at each
            third), as facial action unit 9 draws them; zeros by default.
        upper_lip_raise: optional: how far the upper lip line is raised (action unit 10); zeros by default.
    """

    face_width: np.ndarray
    face_height: np.ndarray
    skin: np.ndarray
    eye_spacing: np.ndarray
    eye_size: np.ndarray
    iris: np.ndarray
    nose_length: np.ndarray
    nose_width: np.ndarray
    hair: np.ndarray
    body_hair: np.ndarray
    hairline: np.ndarray
    hair_part: np.ndarray
    long_hair: np.ndarray
    age: np.ndarray
    mouth_width: np.ndarray
    lip_upper: np.ndarray
    lip_lower: np.ndarray
    mouth_open: np.ndarray
    mouth_tilt: np.ndarray
    brow_raise: np.ndarray
    brow_tilt: np.ndarray
    eye_open: np.ndarray
    bald: np.ndarray
    bangs: np.ndarray
    bushy_eyebrows: np.ndarray
    arched_eyebrows: np.ndarray
    narrow_eyes: np.ndarray
    big_nose: np.ndarray
    beard: np.ndarray
    mustache: np.ndarray
    sideburns: np.ndarray
    eyeglasses: np.ndarray
    hat: np.ndarray
    earrings: np.ndarray
    necklace: np.ndarray
    lipstick: np.ndarray
    rosy_cheeks: np.ndarray
    hat_color: np.ndarray
    shift_x: np.ndarray
    shift_y: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    light_strength: np.ndarray
    light_angle: np.ndarray
    noise_std: np.ndarray
    clutter: np.ndarray
    clutter_colors: np.ndarray
    clutter_shapes: np.ndarray
    background: np.ndarray
    nose_wrinkle: np.ndarray = None
    upper_lip_raise: np.ndarray = None

    def __post_init__(self):
        n = len(self.face_width)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            value = np.zeros(n, np.float32) if value is None else np.asarray(value)
            if value.ndim == 0 or len(value) != n:
                raise ValueError(f"FaceParameters.{field.name} must have one row per image ({n}), got shape "
                                 f"{value.shape}.")
            setattr(self, field.name, value)

    def __len__(self):
        return len(self.face_width)

    def take(self, index):
        """The parameters of the images at ``index`` (an int array or a slice), in that order."""
        return FaceParameters(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})


def expression_geometry(expression, intensity=1.0):
    """The expression fields of `FaceParameters` for class indices ``expression`` at ``intensity``.

    Args:
        expression: int array of indices into ``EXPRESSIONS``.
        intensity: scalar or array in [0, 1]: 0 is the neutral face, 1 the full expression.

    Returns:
        A dict mapping each name in ``EXPRESSION_FIELDS`` to a float32 array.
    """
    geometry = np.array([_EXPRESSION_GEOMETRY[name] for name in EXPRESSIONS], np.float32)
    neutral = geometry[EXPRESSIONS.index("neutral")]
    intensity = np.asarray(intensity, np.float32)[..., None]
    values = neutral + intensity * (geometry[np.asarray(expression)] - neutral)
    return {name: values[..., k] for k, name in enumerate(EXPRESSION_FIELDS)}


@dataclasses.dataclass
class SyntheticFaces:
    """A rendered set of synthetic faces.

    Attributes:
        images: uint8 array of shape `(N, size, size, 3)`.
        labels: dict mapping each task to its labels: ``identity``, ``expression``, ``gender``,
            ``age_group`` and each attribute name (``"eyeglasses"``) to an int32 array of shape `(N,)`;
            ``age`` to int32 years; ``attributes`` to an int32 0/1 array of shape `(N, len(ATTRIBUTES))`.
        masks: read-only mapping from each task and each attribute name to a bool array of shape
            `(N, size, size)`: the pixels that can carry that evidence in each image, whatever its label
            (a region computed from the other factors of the image, so it does not give the label away).
            ``masks["attributes"]`` is the union of the attribute masks. Computed on first access.
        class_names: dict mapping each class and multilabel task to its tuple of class names.
        identities: the `Identity` of every class of the identity task.
        nuisance: dict of per-image nuisance factors (`shift_x`, `shift_y`, `rotation` in degrees,
            `scale`, `light_strength`, `light_angle`, `noise_std` of the zero-mean pixel noise, `clutter`).
        tasks: dict mapping each task to its `kerasfg.data.Task` (``age`` is a regression task,
            ``attributes`` a multilabel one).
        parameters: the `FaceParameters` the images were rendered from.
        strength: dict mapping ``expression``, ``age`` and each attribute whose evidence has its own
            strength to the float32 evidence strength of every image, in [0, 1].
    """

    images: np.ndarray
    labels: dict
    masks: collections.abc.Mapping
    class_names: dict
    identities: tuple
    nuisance: dict
    tasks: dict = dataclasses.field(default_factory=dict)
    parameters: FaceParameters = None
    strength: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.images)

    @property
    def num_classes(self):
        """Number of classes per class task (entries per multilabel task)."""
        return {task: len(names) for task, names in self.class_names.items()}

    def as_dataset(self, inputs=("image",), targets=("identity",), batch_size=None, shuffle=False,
                   seed=None, shard=None, training=False):
        """Return the faces as a `tf.data.Dataset` of `(inputs, targets)` dicts.

        Args:
            inputs: names of the model inputs to yield: ``"image"`` (float32 pixels in 0..255) and/or
                task names, whose labels are then yielded as model inputs (for example the expression as
                an extra input).
            targets: task names whose labels are yielded as targets: int32 for class and regression
                tasks (``age`` in years), float32 0/1 vectors for ``attributes``, ready for binary
                cross-entropy.
            batch_size: if given, batch the dataset (keeping a last partial batch) and prefetch.
            shuffle: reshuffle the whole set each epoch.
            seed: shuffle seed.
            shard: a `kerasfg.distributed.InputShard`: yield only this worker's part of the faces in
                per-replica batches of the global ``batch_size`` (see `kerasfg.distributed.sharding`).
            training: with a ``shard``, the faces are a training set: split by data after shuffling,
                full batches only; otherwise each worker gets a contiguous block.

        Returns:
            A `tf.data.Dataset` of `(dict of inputs, dict of targets)`.
        """
        import tensorflow as tf

        columns = {"image": self.images, **self.labels}
        unknown = [name for name in (*inputs, *targets) if name not in columns]
        if unknown:
            raise ValueError(f"Unknown dataset field(s) {unknown}; expected names from "
                             f"{sorted(columns)}.")
        if shard is not None and not training:
            block = shard.evaluation_examples(len(self))
            columns = {name: values[block] for name, values in columns.items()}

        def column(name):
            if name in self.tasks and self.tasks[name].kind == "multilabel":
                return columns[name].astype(np.float32)
            return columns[name]

        dataset = tf.data.Dataset.from_tensor_slices(
            ({name: column(name) for name in inputs}, {name: column(name) for name in targets}))
        if shuffle:
            dataset = dataset.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
        if shard is not None:
            if training:
                dataset = shard.interleave(dataset, len(self), batch_size)
            dataset = dataset.batch(shard.replica_batch_size(batch_size), drop_remainder=training)
        elif batch_size:
            dataset = dataset.batch(batch_size)

        def to_float(features, labels):
            if "image" in features:
                features = {**features, "image": tf.cast(features["image"], tf.float32)}
            return features, labels

        dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        if batch_size:
            dataset = dataset.prefetch(tf.data.AUTOTUNE)
        # The faces are in memory and a batch costs one cast: nothing to tune. With tf.data's autotuning on,
        # a 2-core machine trained some epochs at 1.1 cores instead of 1.75, 40-60% longer at random
        # (docs/performance.md, "Input pipeline").
        options = tf.data.Options()
        options.autotune.enabled = False
        return dataset.with_options(options)


def make_identities(num_identities, seed=0, gender_typicality=0.85):
    """Draw the appearance of ``num_identities`` people.

    Genders, age groups and hair colours are balanced across identities, and so are the person-level
    attributes (each at the rate of ``ATTRIBUTES``); everything else is drawn at random.

    Args:
        num_identities: number of people, at least 1.
        seed: seed of the population; the same seed always gives the same people.
        gender_typicality: probability that a person's hair length is the one typical of their gender
            (long for women, short for men).

    Returns:
        A tuple of `Identity`.
    """
    if not isinstance(num_identities, (int, np.integer)) or num_identities < 1:
        raise ValueError(f"num_identities must be a positive integer, got {num_identities!r}.")
    n = int(num_identities)
    rng = np.random.default_rng([seed, 0x1D])

    def balanced(count, classes):
        return rng.permutation(np.arange(count) % classes)

    def half_of(members):
        chosen = np.zeros(n, bool)
        chosen[members] = balanced(len(members), 2) == 1
        return chosen

    gender = balanced(n, len(GENDERS))
    age_group = balanced(n, len(AGE_GROUPS))
    low, high = np.array(AGE_RANGES).T
    age = rng.integers(low[age_group], high[age_group] + 1)
    hair_color = balanced(n, len(HAIR_COLORS))
    tone = rng.uniform(0.0, 1.0, n)[:, None]
    skin = np.array([255, 224, 196]) * (1 - tone) + np.array([120, 76, 50]) * tone
    men = np.flatnonzero((gender == 1) & (age >= FACIAL_HAIR_AGE))
    bald = half_of(men)
    bangs = half_of(np.flatnonzero(~bald))
    long_hair = ((gender == 0) == (rng.uniform(size=n) < gender_typicality)) & ~bald
    shape = {
        "face_width": rng.uniform(0.42, 0.56, n), "face_height": rng.uniform(0.62, 0.74, n),
        "eye_spacing": rng.uniform(0.17, 0.25, n), "eye_size": rng.uniform(0.075, 0.1, n),
        "nose_length": rng.uniform(0.2, 0.26, n), "nose_width": rng.uniform(0.06, 0.09, n),
        "hairline": rng.uniform(-0.5, -0.38, n), "hair_part": rng.choice([0.0, -0.25, 0.25], n),
    }
    iris = rng.choice(np.array([[60, 40, 25], [70, 110, 160], [80, 120, 70], [40, 30, 30]]), n)
    body_hair = rng.choice(np.array([[35, 26, 22], [55, 40, 30], [75, 55, 38]]), n)
    flags = {"beard": half_of(men), "mustache": half_of(men), "sideburns": half_of(men), "bald": bald,
             "bangs": bangs, **{name: balanced(n, 2) == 1 for name in
                                ("bushy_eyebrows", "arched_eyebrows", "narrow_eyes", "big_nose")}}
    return tuple(Identity(
        index=i, gender=int(gender[i]), age_group=int(age_group[i]), age=int(age[i]),
        skin=tuple(float(c) for c in skin[i]), iris=tuple(float(c) for c in iris[i]),
        hair_color=int(hair_color[i]), hair=tuple(float(c) for c in _HAIR_RGB[hair_color[i]]),
        body_hair=tuple(float(c) for c in body_hair[i]), long_hair=bool(long_hair[i]),
        **{name: float(values[i]) for name, values in shape.items()},
        **{name: bool(values[i]) for name, values in flags.items()},
    ) for i in range(n))


def difficulty_levels(difficulty):
    """One difficulty level in [0, 1] per factor of ``FACTORS`` and per attribute with its own strength.

    Args:
        difficulty: a number in [0, 1] for every factor, or a mapping with any of the keys ``FACTORS``, the
            attribute names whose ``Attribute.level`` is their own name (they default to the
            ``attributes`` level), and ``default`` (the level of factors not named; 0.5 when absent).

    Returns:
        A dict mapping every factor and those attribute names to a float.

    Raises:
        ValueError: for an unknown key or a level outside [0, 1], naming it.
    """
    if isinstance(difficulty, collections.abc.Mapping):
        unknown = sorted(set(difficulty) - {"default", *FACTORS, *_OWN_STRENGTH})
        if unknown:
            raise ValueError(f"difficulty: unknown key(s) {unknown}; expected 'default', a factor of "
                             f"{list(FACTORS)} or an attribute of {list(_OWN_STRENGTH)}, got "
                             f"{sorted(difficulty)}.")
        default = difficulty.get("default", 0.5)
        levels = {factor: difficulty.get(factor, default) for factor in FACTORS}
        levels.update({name: difficulty.get(name, levels["attributes"]) for name in _OWN_STRENGTH})
        levels["default"] = default
    else:
        levels = {name: difficulty for name in ("default", *FACTORS, *_OWN_STRENGTH)}
    for name, level in levels.items():
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 <= level <= 1.0:
            key = "difficulty" if not isinstance(difficulty, collections.abc.Mapping) else f"difficulty[{name!r}]"
            raise ValueError(f"{key}: expected a number in [0, 1], got {level!r}.")
    del levels["default"]
    return {name: float(level) for name, level in levels.items()}


def synthetic_faces(num_images, num_identities=10, image_size=64, difficulty=0.5, seed=0,
                    identity_seed=0, expressions=None, identities=None):
    """Render synthetic face images with labels and evidence masks.

    Two calls that share ``identity_seed``, ``num_identities`` and the gender difficulty show the same
    people, so a training and a validation set are drawn with the same ``identity_seed`` and different
    ``seed`` values; sets drawn with different ``identity_seed`` values show different people (the
    protocol of the gender, age and attribute tasks).

    Args:
        num_images: number of images to render.
        num_identities: number of people (classes of the identity task).
        image_size: height and width of the square images, at least 16.
        difficulty: a number in [0, 1], or a mapping with one level per factor and attribute (see
            :func:`difficulty_levels` and the module docstring): 0 renders centred, upright, clean faces
            whose labels all show at full strength; 1 adds large shifts, rotations and scale changes,
            strong lighting gradients, noise and background clutter, and lets each task's evidence fade.
        seed: seed of the per-image draws; the same arguments always give the same images.
        identity_seed: seed of the population of people.
        expressions: optional int array of shape `(num_images,)` with the expression of each image;
            drawn uniformly by default.
        identities: optional int array of shape `(num_images,)` with the identity of each image;
            drawn uniformly by default.

    Returns:
        A `SyntheticFaces`.

    Example:

    ```python
    faces = synthetic_faces(1000, num_identities=50, difficulty={"nuisance": 0.3, "attributes": 0.8})
    faces.labels["eyeglasses"]      # 0/1 per image
    faces.masks["eyeglasses"]       # where the glasses are (or would be) in each image
    faces.as_dataset(targets=["attributes", "age"], batch_size=32)
    ```
    """
    if not isinstance(num_images, (int, np.integer)) or num_images < 0:
        raise ValueError(f"num_images must be a non-negative integer, got {num_images!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size must be an integer of at least 16, got {image_size!r}.")
    levels = difficulty_levels(difficulty)
    people = make_identities(num_identities, identity_seed,
                             gender_typicality=1.0 - 0.3 * levels["gender"])
    rng = np.random.default_rng([seed, 0xFACE])
    identity = _labels_or_draw(identities, num_images, num_identities, "identities", rng)
    expression = _labels_or_draw(expressions, num_images, len(EXPRESSIONS), "expressions", rng)
    nuisance = _draw_image_params(rng, num_images, levels["nuisance"])
    person = _identity_table(people)
    face = {name: values[identity] for name, values in person.items()}
    draws = _draw_per_image(rng, num_images, levels, face, nuisance["expression_weakness"])
    parameters = _compose(face, expression, nuisance, draws)
    labels = _labels(people, identity, expression, draws)
    names = {"identity": tuple(f"person_{i:03d}" for i in range(num_identities)),
             "expression": EXPRESSIONS, "gender": GENDERS, "age_group": AGE_GROUPS,
             "attributes": ATTRIBUTE_NAMES, **{name: BINARY for name in ATTRIBUTE_NAMES}}
    tasks = {task: Task(task, "regression" if task == "age" else
                        "multilabel" if task == "attributes" else "class", names.get(task))
             for task in labels}
    strength = {name: draws["strength"][name] for name in ("expression", "age", *_OWN_STRENGTH)
                if name in draws["strength"]}
    strength.update({f"{c}_hair": draws["strength"]["hair"] for c in HAIR_COLORS})
    return SyntheticFaces(
        images=render_faces(parameters, image_size, seed),
        labels=labels,
        masks=EvidenceMasks(parameters, image_size),
        class_names=names,
        identities=people,
        nuisance={name: nuisance[name] for name in _NUISANCE},
        tasks=tasks,
        parameters=parameters,
        strength=strength,
    )


def face_parameters(people, identity, nuisance, **fields):
    """The `FaceParameters` of images of ``people``: each as they are, in a given pose and scene.

    Each image shows the person ``people[identity[i]]`` with their own appearance, age and person-level
    attributes at full strength, no accessories, and the neutral expression, unless ``fields`` say
    otherwise (an expression geometry from :func:`expression_geometry`, ``nose_wrinkle``, ``eyeglasses``...).

    Args:
        people: a tuple of `Identity` (`make_identities`).
        identity: int array `(N,)` of indices into ``people``.
        nuisance: dict of the pose and scene fields (``shift_x``, ``shift_y``, ``rotation``, ``scale``,
            ``light_strength``, ``light_angle``, ``noise_std``, ``clutter``, ``background``,
            ``clutter_colors``, ``clutter_shapes``), one row per image; other keys are ignored.
        **fields: any other `FaceParameters` field, overriding the defaults above.

    Returns:
        A `FaceParameters`.
    """
    face = {name: values[np.asarray(identity)] for name, values in _identity_table(people).items()}
    n = len(face["index"])
    zeros = np.zeros(n, np.float32)
    values = {
        **{name: face[name] for name in ("face_width", "face_height", "skin", "eye_spacing", "eye_size", "iris",
                                         "nose_length", "nose_width", "hair", "body_hair", "hairline",
                                         "hair_part", "age", "bald", "bangs", "bushy_eyebrows", "arched_eyebrows",
                                         "narrow_eyes", "big_nose", "beard", "mustache", "sideburns")},
        "long_hair": face["long_hair"] > 0,
        **expression_geometry(np.full(n, EXPRESSIONS.index("neutral")), 1.0),
        **{name: zeros for name in ("eyeglasses", "hat", "earrings", "necklace", "lipstick", "rosy_cheeks")},
        "hat_color": np.zeros((n, 3), np.float32),
        **{name: nuisance[name] for name in (*_NUISANCE, "background", "clutter_colors", "clutter_shapes")},
    }
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(FaceParameters)})
    if unknown:
        raise ValueError(f"face_parameters: unknown field(s) {unknown}; expected FaceParameters fields.")
    return FaceParameters(**{**values, **fields})


def render_faces(parameters, image_size=64, seed=0):
    """Draw the faces that ``parameters`` describe.

    Args:
        parameters: a `FaceParameters`.
        image_size: height and width of the square images, at least 16.
        seed: seed of the pixel noise: the same parameters and seed always give the same pixels, so
            renderings that differ in one parameter differ only where that parameter shows.

    Returns:
        uint8 array of shape `(N, image_size, image_size, 3)`.
    """
    n = len(parameters)
    images = np.empty((n, image_size, image_size, 3), np.uint8)

    def render_chunk(index, chunk):
        # Each chunk has its own noise stream, so the result does not depend on thread scheduling.
        noise_rng = np.random.default_rng([seed, 0xFACE, index + 1])
        images[chunk] = _render(parameters.take(chunk), image_size, noise_rng)

    _over_chunks(n, render_chunk)
    return images


def evidence_masks(parameters, image_size=64, names=None):
    """The evidence masks of the faces that ``parameters`` describe, computed in one pass.

    Args:
        parameters: a `FaceParameters`.
        image_size: height and width of the images.
        names: tasks and attribute names (default: all of ``MASK_NAMES``), or ``OTHER_REGIONS``.

    Returns:
        A dict mapping each name to a read-only bool array of shape `(N, image_size, image_size)`; names
        whose evidence is the same region (``age`` and ``age_group``, the hair colours) share one array.
    """
    names = tuple(MASK_NAMES if names is None else names)
    unknown = [name for name in names if name not in (*MASK_NAMES, *OTHER_REGIONS)]
    if unknown:
        raise ValueError(f"No evidence mask for {unknown}; expected names from "
                         f"{list((*MASK_NAMES, *OTHER_REGIONS))}.")
    regions = {name: _MASK_REGION.get(name, name) for name in names}
    n = len(parameters)
    arrays = {region: np.empty((n, image_size, image_size), bool) for region in dict.fromkeys(regions.values())}

    def mask_chunk(index, chunk):
        chunk_regions = _Regions(parameters.take(chunk), image_size)
        for region, array in arrays.items():
            array[chunk] = getattr(chunk_regions, region)

    _over_chunks(n, mask_chunk)
    for array in arrays.values():
        array.flags.writeable = False
    return {name: arrays[region] for name, region in regions.items()}


MASK_NAMES = (*TASKS, *ATTRIBUTE_NAMES)
OTHER_REGIONS = ("pain",)
"""Evidence regions of other generators that reuse the renderer: ``pain``, where the pain action units of
`kerasfg.data.face_video` show."""
_TASK_GROUP = tuple(task for task in TASKS if task != "attributes")


class EvidenceMasks(collections.abc.Mapping):
    """The evidence masks of a set of faces by task or attribute name, computed on first access.

    The masks of the tasks other than ``attributes`` are computed together (they share most of their
    work); each attribute's mask, and their union ``attributes``, on its own.
    """

    def __init__(self, parameters, image_size):
        self._parameters = parameters
        self._image_size = image_size
        self._masks = {}

    def __getitem__(self, name):
        if name not in self._masks:
            if name not in MASK_NAMES:
                raise KeyError(name)
            group = [name] if name not in _TASK_GROUP else [t for t in _TASK_GROUP if t not in self._masks]
            self._masks.update(evidence_masks(self._parameters, self._image_size, group))
        return self._masks[name]

    def __iter__(self):
        return iter(MASK_NAMES)

    def __len__(self):
        return len(MASK_NAMES)


# === Drawing the factors ===

_CHUNK = 64
_TRIANGULAR_STD = float(np.sqrt(2 * (256**2 - 1) / 12))  # std of the sum of two int8 draws
_NUISANCE = ("shift_x", "shift_y", "rotation", "scale", "light_strength", "light_angle",
             "noise_std", "clutter")
# Per-image variation of a person's appearance at identity difficulty 1: the standard deviation as a share
# of the population's range (shapes), or of the value (colours).
_IDENTITY_JITTER = {"face_width": 0.14, "face_height": 0.12, "eye_spacing": 0.08, "eye_size": 0.025,
                    "nose_length": 0.1, "nose_width": 0.05, "hairline": 0.12}
_JITTER_SHARE = 0.25
_COLOUR_JITTER = 0.08


def _workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on every platform
        return os.cpu_count() or 1


def _over_chunks(n, work):
    """Run ``work(index, slice)`` over chunks of ``n`` images, in parallel: NumPy releases the GIL in its
    array operations, so chunks render on all cores."""
    num_chunks = -(-n // _CHUNK)
    chunks = [slice(k * _CHUNK, min((k + 1) * _CHUNK, n)) for k in range(num_chunks)]
    with concurrent.futures.ThreadPoolExecutor(min(_workers(), max(num_chunks, 1))) as pool:
        list(pool.map(work, range(num_chunks), chunks))


def _labels_or_draw(values, num_images, num_classes, name, rng):
    if values is None:
        return rng.integers(0, num_classes, num_images).astype(np.int32)
    values = np.asarray(values)
    if values.shape != (num_images,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape ({num_images},), got "
                         f"{values.dtype} {values.shape}.")
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got values in "
                         f"[{values.min()}, {values.max()}].")
    return values.astype(np.int32)


def _identity_table(people):
    """Identity attributes as arrays indexed by identity, for vectorised rendering."""
    fields = [f.name for f in dataclasses.fields(Identity)]
    return {name: np.array([getattr(p, name) for p in people], np.float32) for name in fields}


def _draw_image_params(rng, n, d):
    return {
        "shift_x": rng.uniform(-1, 1, n) * 0.2 * d,
        "shift_y": rng.uniform(-1, 1, n) * 0.2 * d,
        "rotation": rng.uniform(-1, 1, n) * 25.0 * d,
        "scale": 1.0 + rng.uniform(-1, 1, n) * 0.2 * d,
        "light_strength": rng.uniform(0, 1, n) * 0.6 * d,
        "light_angle": rng.uniform(0, 2 * math.pi, n),
        "noise_std": rng.uniform(0.5, 1, n) * 14.0 * d,
        "clutter": rng.integers(0, round(_MAX_CLUTTER * d) + 1, n),
        "expression_weakness": rng.uniform(0, 1, n),
        "background": rng.uniform(40, 215, (n, 3)),
        "clutter_colors": rng.uniform(0, 255, (n, _MAX_CLUTTER, 3)),
        "clutter_shapes": rng.uniform(0, 1, (n, _MAX_CLUTTER, 5)),
    }


def _draw_per_image(rng, n, levels, face, expression_weakness):
    """The image-level attributes, and the evidence strength of every task and attribute in every image."""
    present = {name: rng.permutation(np.arange(n) % 2) == 1 for name in _ACCESSORIES}
    present["extra_smile"] = rng.uniform(size=n) < _EXTRA_SMILE
    present["extra_open"] = rng.uniform(size=n) < _EXTRA_OPEN
    hair_colours = tuple(f"{c}_hair" for c in HAIR_COLORS)
    own = ("age", *(name for name in _OWN_STRENGTH if name not in hair_colours))
    weakness = {name: rng.uniform(size=n) for name in (*own, "hair")}
    strength = {name: 1.0 - levels[name] * weakness[name] for name in own}
    strength["expression"] = 1.0 - levels["expression"] * expression_weakness
    # One hair colour per person, one strength for it: the level of the person's colour.
    hair_levels = np.array([levels[name] for name in hair_colours])[face["hair_color"].astype(int)]
    strength["hair"] = 1.0 - hair_levels * weakness["hair"]
    strength = {name: values.astype(np.float32) for name, values in strength.items()}
    return {"present": present, "strength": strength, "hat_color": rng.uniform(20, 235, (n, 3)),
            # the person's shape (one column per _IDENTITY_JITTER entry), skin and hair colour
            "jitter": rng.standard_normal((n, len(_IDENTITY_JITTER) + 2)) * levels["identity"]}


def _compose(face, expression, nuisance, draws):
    """The `FaceParameters` of every image from its person, expression, attributes and nuisance."""
    strength, present, jitter = draws["strength"], draws["present"], draws["jitter"]
    geometry = expression_geometry(expression, strength["expression"])
    smile = present["extra_smile"] * strength["smiling"]
    for name, amount in _SMILE.items():
        geometry[name] = geometry[name] + amount * smile
    geometry["mouth_open"] = geometry["mouth_open"] + _OPEN * present["extra_open"] * strength[
        "mouth_slightly_open"]
    # The person varies from image to image with the identity difficulty.
    shape = {name: face[name] + jitter[:, k] * _JITTER_SHARE * spread for k, (name, spread) in enumerate(
        _IDENTITY_JITTER.items())}
    skin_gain, hair_gain = (1.0 + _COLOUR_JITTER * jitter[:, k, None] for k in (-2, -1))
    hair = _mix(_NEUTRAL_HAIR, face["hair"], strength["hair"])
    person = {name: face[name] * strength[name] for name in (
        "bald", "bangs", "bushy_eyebrows", "arched_eyebrows", "narrow_eyes", "big_nose", "mustache",
        "sideburns")}
    worn = {field: present[name] * strength[name] for field, name in (
        ("eyeglasses", "eyeglasses"), ("hat", "wearing_hat"), ("earrings", "wearing_earrings"),
        ("necklace", "wearing_necklace"), ("lipstick", "wearing_lipstick"), ("rosy_cheeks", "rosy_cheeks"))}
    return FaceParameters(
        **shape, skin=np.clip(face["skin"] * skin_gain, 0, 255), iris=face["iris"],
        hair=np.clip(hair * hair_gain, 0, 255), body_hair=face["body_hair"], hair_part=face["hair_part"],
        long_hair=face["long_hair"] > 0, age=_MEAN_AGE + (face["age"] - _MEAN_AGE) * strength["age"],
        **geometry, **person, **worn, beard=face["beard"] * strength["no_beard"], hat_color=draws["hat_color"],
        **{name: nuisance[name] for name in (*_NUISANCE, "background", "clutter_colors", "clutter_shapes")},
    )


def _labels(people, identity, expression, draws):
    def person(name, dtype=np.int32):
        return np.array([getattr(p, name) for p in people], dtype)[identity]

    present = draws["present"]
    age = person("age")
    hair_color = person("hair_color")
    gray = age >= GRAY_HAIR_AGE
    smiling = np.isin(expression, [EXPRESSIONS.index(e) for e in _SMILING_EXPRESSIONS])
    open_mouth = np.isin(expression, [EXPRESSIONS.index(e) for e in _OPEN_EXPRESSIONS])
    attributes = {
        **{name: person(name) for name in ("bald", "bangs", "mustache", "sideburns", "bushy_eyebrows",
                                           "arched_eyebrows", "narrow_eyes", "big_nose")},
        **{f"{c}_hair": (hair_color == k) & ~gray for k, c in enumerate(HAIR_COLORS)},
        "gray_hair": gray, "male": person("gender") == 1, "young": person("age_group") == 0,
        "no_beard": ~person("beard", bool),
        "smiling": smiling | present["extra_smile"], "mouth_slightly_open": open_mouth | present["extra_open"],
        **{name: present[name] for name in _ACCESSORIES},
    }
    matrix = np.stack([np.asarray(attributes[name], np.int32) for name in ATTRIBUTE_NAMES], axis=1)
    return {"identity": identity, "expression": expression, "gender": person("gender"),
            "age_group": person("age_group"), "age": age, "attributes": matrix,
            **{name: np.ascontiguousarray(matrix[:, k]) for k, name in enumerate(ATTRIBUTE_NAMES)}}


# === Rendering ===

def _ellipse(x, y, cx, cy, ax, ay):
    u = x - cx
    u /= ax
    u *= u
    v = y - cy
    v /= ay
    v *= v
    return u + v < 1.0


def _col(values):
    """Per-image scalars as an array broadcastable against (B, H, W)."""
    return np.asarray(values, np.float32)[:, None, None]


def _per_image(values, like):
    """Per-image scalars as an array broadcastable against ``like``: (B, H, W) pixels or (B, K) points."""
    values = np.asarray(values, np.float32)
    return values.reshape(values.shape + (1,) * (np.ndim(like) - 1))


def _mix(a, b, t):
    """``a`` blended towards ``b`` by ``t`` (per image), for (N, 3) colours."""
    return a + (b - a) * np.asarray(t, np.float32)[:, None]


def _face_coordinates(p, size):
    """Face coordinates ``(x, y)`` of every pixel, shape (B, H, W), and the pixel grid ``(gx, gy)``."""
    # Pixel centres in [-1, 1], mapped to face coordinates by the inverse similarity transform; the
    # per-row and per-column terms are formed first, so that only the two sums cover whole images.
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    gx, gy = grid[None, None, :], grid[None, :, None]
    theta = np.deg2rad(p.rotation).astype(np.float32)
    scale = np.asarray(p.scale, np.float32)
    cos, sin = _col(np.cos(theta) / scale), _col(np.sin(theta) / scale)
    dx, dy = gx - _col(p.shift_x), gy - _col(p.shift_y)
    x = cos * dx + sin * dy
    y = cos * dy - _FACE_CENTER_Y - sin * dx
    return x, y, gx, gy


def face_to_pixels(points, parameters, image_size):
    """Pixel coordinates of face-coordinate points (landmarks, say) in each image.

    Args:
        points: float array of shape `(N, K, 2)`: ``(x, y)`` in face coordinates for each of N images.
        parameters: the `FaceParameters` of the N images (their ``shift_x``, ``shift_y``, ``rotation`` and
            ``scale``).
        image_size: height and width of the images.

    Returns:
        Float array of shape `(N, K, 2)`: ``(column, row)`` in pixels, pixel centres at integers.
    """
    theta = np.deg2rad(np.asarray(parameters.rotation, np.float64))[:, None]
    scale = np.asarray(parameters.scale, np.float64)[:, None]
    x, y = points[..., 0] * scale, (points[..., 1] + _FACE_CENTER_Y) * scale
    gx = np.cos(theta) * x - np.sin(theta) * y + np.asarray(parameters.shift_x, np.float64)[:, None]
    gy = np.sin(theta) * x + np.cos(theta) * y + np.asarray(parameters.shift_y, np.float64)[:, None]
    return np.stack([(gx + 1.0) * image_size / 2.0 - 0.5, (gy + 1.0) * image_size / 2.0 - 0.5], axis=-1)


def _youth(age):
    """1 for a young child, falling to 0 at 18 years."""
    return np.clip((18.0 - np.asarray(age, np.float32)) / 10.0, 0.0, 1.0)


def _eye_width(p):
    """Half-width of the eye white before narrowing: a child's eyes are larger for the face."""
    return _col(p.eye_size * (1.0 + 0.2 * _youth(p.age)))


def _eye_shape(p):
    """Half-width and half-height of each image's eye whites as drawn (per image): a child's larger eyes,
    the expression's openness, and narrow eyes shorter and less open."""
    width = p.eye_size * (1.0 + 0.2 * _youth(p.age))
    height = width * 0.55 * p.eye_open * (1.0 - _NARROW * p.narrow_eyes)
    return width * (1.0 - _NARROW_WIDTH * p.narrow_eyes), height


def _nose_size(p, big=None, youth=None):
    """Length and width of the nose (per image): a big nose is wider and longer, a child's smaller."""
    big = p.big_nose if big is None else big
    child = 1.0 - 0.3 * (_youth(p.age) if youth is None else youth)
    length = p.nose_length * (1.0 + _BIG_NOSE_LENGTH * big) * child
    return length, p.nose_width * (1.0 + _BIG_NOSE_WIDTH * big) * child


def _hairline(x, p):
    """The hairline's height at each pixel: the person's, lowered towards the brows by bangs."""
    own = _col(p.hairline) + _col(p.hair_part) * x
    bangs = _col(p.bangs)
    return own + (_BANGS_Y - own) * bangs


def _hair_volume(x, y, p, baldness):
    """The hair around the head: it shrinks onto the head as baldness grows."""
    fw, fh = _col(p.face_width), _col(p.face_height)
    return _ellipse(x, y, 0.0, -0.22 * (1 - baldness), fw * (1.12 - 0.12 * baldness),
                    fh * (0.86 + 0.14 * baldness))


def _hair_fall(x, y, p):
    return (np.abs(x) < _col(p.face_width) * 1.18) & (y > -0.3) & (y < 0.92)


def _neck(x, y, face_width):
    return (np.abs(x) < face_width * 0.45) & (y > 0.4) & (y < 1.2)


def _necklace(x, y, fw):
    return (np.abs(x) < fw * 0.45) & (np.abs(y - 0.8 - 0.3 * (x / fw) ** 2) < 0.022)


def _crown(x, y, fw):
    """The part of the scalp a bald person has no hair on: all but the temples."""
    return (np.abs(x) < fw * 0.7) | (y < -0.56)


def _cheeks(x, y, eye_dx):
    return _ellipse(np.abs(x), y, eye_dx + 0.03, 0.1, 0.1, 0.08)


def _sideburns(x, y, fw):
    return (np.abs(x) > fw * 0.8) & (y > -0.3) & (y < 0.12)


def _mustache(x, y, mouth_w, y_upper):
    return (np.abs(x) < mouth_w + 0.03) & (y > _MOUTH_Y - 0.095) & (y < y_upper - 0.012)


def _earrings(x, y, fw):
    return _ellipse(np.abs(x), y, fw * 0.97, 0.18, 0.05, 0.05)


def _hat(x, y, fw, fh):
    brim_y = -fh * 0.74
    brim = (np.abs(y - brim_y) < 0.035) & (np.abs(x) < fw * 1.3)
    return brim | (_ellipse(x, y, 0.0, brim_y, fw * 0.92, fh * 0.42) & (y < brim_y))


def _glasses(x, y, fw, eye_dx, eye_size):
    """Two rims around the eyes, the bridge between them and the arms to the sides of the face."""
    rx, ry, t = eye_size * 1.45, eye_size * 1.1, 0.034
    u = np.abs(x)
    rims = _ellipse(u, y, eye_dx, _EYE_Y, rx + t, ry + t) & ~_ellipse(u, y, eye_dx, _EYE_Y, rx, ry)
    bar = np.abs(y - (_EYE_Y - 0.02)) < 0.018
    return rims | (bar & ((u < eye_dx - rx) | ((u > eye_dx + rx) & (u < fw * 1.02))))


def _mouth_lines(x, p):
    """Half-width of the mouth, and the upper and lower lip lines at each ``x`` (pixels or points)."""
    mouth_w = _per_image(p.mouth_width, x)
    t = np.clip(x / mouth_w, -1.0, 1.0) ** 2
    tilt = _per_image(p.mouth_tilt, x) * x
    y_upper = _MOUTH_Y + _per_image(p.lip_upper, x) * t + tilt - _per_image(p.upper_lip_raise, x)
    y_lower = _MOUTH_Y + _per_image(p.mouth_open, x) + _per_image(p.lip_lower, x) * t + tilt
    return mouth_w, y_upper, y_lower


def _brow_centre(u, p, arched=True):
    """Height of the middle of each brow at ``u`` (the distance from the eye's centre, growing outwards;
    pixels or points); an arched brow rises by up to ``_ARCH`` in its middle."""
    centre = _EYE_Y - 0.13 - _per_image(p.brow_raise, u) + _per_image(p.brow_tilt, u) * u
    if not arched:
        return centre
    eye_w = _per_image(p.eye_size, u)
    return centre - _ARCH * _per_image(p.arched_eyebrows, u) * np.maximum(0.0, 1.0 - (u / (eye_w * 1.25)) ** 2)


_ARCH = 0.07
_LIP = 0.03  # thickness of the lips beyond the lip lines
_BIG_NOSE_WIDTH, _BIG_NOSE_LENGTH = 0.8, 0.3  # a big nose is 80% wider and 30% longer
_NARROW = 0.55  # narrow eyes open 55% less
_NARROW_WIDTH = 0.15  # and are 15% shorter
_BROW_HALF = 0.028  # half-thickness of a brow
_BUSHY = 1.0  # bushy brows are up to twice as thick


class _Frame:
    """Face coordinates of every pixel of one chunk of images, and windows of them around face parts.

    Small parts are computed only inside the window of pixels that their face-coordinate box can cover in
    some image of the chunk, which makes rendering several times faster than on whole images.
    """

    def __init__(self, p, size):
        self.p, self.size = p, size
        self.x, self.y, self.gx, self.gy = _face_coordinates(p, size)
        theta = np.deg2rad(np.asarray(p.rotation, np.float64))
        scale = np.asarray(p.scale, np.float64)
        # Pixels per face unit along the image axes, and the face origin in pixels, for `window`.
        self._cos, self._sin = np.cos(theta) * scale * size / 2, np.sin(theta) * scale * size / 2
        self._origin = ((np.asarray(p.shift_x) + 1.0) * size / 2 - 0.5,
                        (np.asarray(p.shift_y) + 1.0) * size / 2 - 0.5)

    def window(self, half_width, top, bottom):
        """Index of the pixels that the box ``|x| < half_width``, ``top < y < bottom`` can cover.

        The bounds are face coordinates: scalars or per-image arrays.
        """
        if not len(self.p):
            return (slice(None),) * 3
        # The box's centre and half-extents, rotated and scaled into pixels (see `face_to_pixels`).
        centre_y = (np.asarray(top) + np.asarray(bottom)) / 2 + _FACE_CENTER_Y
        half_height = (np.asarray(bottom) - np.asarray(top)) / 2
        cos, sin = np.abs(self._cos), np.abs(self._sin)
        col = self._origin[0] - self._sin * centre_y
        row = self._origin[1] + self._cos * centre_y
        col_reach = cos * half_width + sin * half_height
        row_reach = sin * half_width + cos * half_height

        def span(centre, reach):
            first = int(np.clip(np.floor(np.min(centre - reach)) - 1, 0, self.size))
            return slice(first, int(np.clip(np.ceil(np.max(centre + reach)) + 2, first, self.size)))

        return slice(None), span(row, row_reach), span(col, col_reach)

    def at(self, index):
        return self.x[index], self.y[index]


def _render(p, size, rng):
    """Render one chunk of faces as uint8 images."""
    frame = _Frame(p, size)
    x, y = frame.x, frame.y
    part = np.zeros(x.shape, np.uint8)
    _paint_clutter(part, frame.gx, frame.gy, p)

    def paint(index, region, value):
        part[index][region] = value

    fw, fh = _col(p.face_width), _col(p.face_height)
    head = _ellipse(x, y, 0.0, 0.0, fw, fh)
    baldness = _col(p.bald)
    part[_hair_volume(x, y, p, baldness) | (_hair_fall(x, y, p) & (_col(p.long_hair) > 0))] = _HAIR
    w = frame.window(p.face_width * 0.45, 0.4, 1.2)
    paint(w, _neck(*frame.at(w), fw), _NECK)
    if np.any(p.necklace > 0):
        w = frame.window(p.face_width * 0.45, 0.77, 0.89)
        paint(w, _necklace(*frame.at(w), fw) & (_col(p.necklace) > 0), _NECKLACE)
    part[head] = _FACE
    w = frame.window(p.face_width, -p.face_height,
                     np.maximum(p.hairline + np.abs(p.hair_part) * p.face_width, _BANGS_Y) + 0.01)
    xs, ys = frame.at(w)
    front = head[w] & (ys < _hairline(xs, p))
    paint(w, front, _HAIR)
    paint(w, front & (baldness > 0) & _crown(xs, ys, fw), _SCALP)
    eye_dx, eye_size = _col(p.eye_spacing), _col(p.eye_size)
    if np.any(p.rosy_cheeks > 0):
        w = frame.window(p.eye_spacing + 0.14, 0.01, 0.19)
        paint(w, head[w] & _cheeks(*frame.at(w), eye_dx) & (_col(p.rosy_cheeks) > 0), _CHEEK)
    if np.any(p.beard > 0):
        w = frame.window(p.face_width, _MOUTH_Y - 0.12, p.face_height)
        paint(w, head[w] & (frame.at(w)[1] > _MOUTH_Y - 0.12) & (_col(p.beard) > 0), _BEARD)
    if np.any(p.sideburns > 0):
        w = frame.window(p.face_width, -0.3, 0.12)
        xs, ys = frame.at(w)
        paint(w, head[w] & _sideburns(xs, ys, fw) & (ys > _hairline(xs, p)) & (_col(p.sideburns) > 0),
              _SIDEBURN)
    _paint_wrinkles(frame, paint, head, p)

    nose_len, nose_w = _nose_size(p)
    w = frame.window(nose_w, _EYE_Y + 0.06, _EYE_Y + 0.06 + nose_len)
    xs, ys = frame.at(w)
    along = (ys - (_EYE_Y + 0.06)) / _col(nose_len)
    paint(w, (along > 0) & (along < 1) & (np.abs(xs) < _col(nose_w) * along), _NOSE)
    if np.any(p.nose_wrinkle > 0):
        w = frame.window(0.09, _EYE_Y + 0.06 + 0.05 - 0.013, _EYE_Y + 0.06 + 0.13 + 0.013)
        xs, ys = frame.at(w)
        wrinkle = _col(p.nose_wrinkle)
        for k in range(3):
            line = (np.abs(ys - (_EYE_Y + 0.06 + 0.05 + 0.04 * k)) < 0.013) & (np.abs(xs) < 0.09)
            paint(w, line & (wrinkle > k / 3.0), _CREASE)
    w = frame.window(p.mouth_width + 0.03, _MOUTH_Y - 0.25, _MOUTH_Y + 0.36)
    xs, ys = frame.at(w)
    mouth_w, y_upper, y_lower = _mouth_lines(xs, p)
    if np.any(p.mustache > 0):
        paint(w, head[w] & _mustache(xs, ys, mouth_w, y_upper) & (_col(p.mustache) > 0), _MUSTACHE)
    # The mouth: an upper and a lower lip line, curved at the corners, with the cavity between (painted
    # after the eyes and brows, which never reach it).
    inside = np.abs(xs) < mouth_w
    lips = inside & (ys > y_upper - _LIP) & (ys < y_lower + _LIP)
    cavity = inside & (ys > y_upper + 0.012) & (ys < y_lower - 0.012)

    eye_w, eye_h = (_col(v) for v in _eye_shape(p))
    brow_half = _BROW_HALF * (1.0 + _BUSHY * _col(p.bushy_eyebrows))
    w_eyes = frame.window(p.eye_spacing + eye_w[:, 0, 0], _EYE_Y - eye_h[:, 0, 0], _EYE_Y + eye_h[:, 0, 0])
    w_brows = frame.window(p.eye_spacing + p.eye_size * 1.25, _EYE_Y - 0.4, _EYE_Y + 0.05)
    xe, ye = frame.at(w_eyes)
    xb, yb = frame.at(w_brows)
    eyes = part[w_eyes]
    for side in (-1.0, 1.0):
        ex = side * eye_dx
        white = np.nonzero(_ellipse(xe, ye, ex, _EYE_Y, eye_w, eye_h))
        eyes[white] = _EYE_WHITE
        # Iris and pupil are discs inside the eye: test only the few pixels of the eye's white.
        dx, dy = xe[white] - ex[white[0], 0, 0], ye[white] - _EYE_Y
        radius2 = (dx * dx + dy * dy) / eye_w[white[0], 0, 0] ** 2
        eyes[tuple(axis[radius2 < 0.5**2] for axis in white)] = _IRIS
        eyes[tuple(axis[radius2 < 0.22**2] for axis in white)] = _PUPIL
        # The brow: a thick bar above the eye; a positive tilt raises its inner end.
        u = (xb - ex) * side  # grows away from the face's centre line
        paint(w_brows, (np.abs(u) < eye_size * 1.25) & (np.abs(yb - _brow_centre(u, p)) < brow_half), _BROW)
    paint(w, lips, _LIPS)
    paint(w, cavity, _MOUTH)
    if np.any(p.eyeglasses > 0):
        w = frame.window(p.face_width * 1.02, _EYE_Y - p.eye_size * 1.1 - 0.04, _EYE_Y + p.eye_size * 1.1 + 0.04)
        paint(w, _glasses(*frame.at(w), fw, eye_dx, eye_size) & (_col(p.eyeglasses) > 0), _GLASSES)
    if np.any(p.earrings > 0):
        w = frame.window(p.face_width * 0.97 + 0.05, 0.13, 0.23)
        paint(w, _earrings(*frame.at(w), fw) & (_col(p.earrings) > 0), _EARRING)
    if np.any(p.hat > 0):
        w = frame.window(p.face_width * 1.3, -p.face_height * 1.16, -p.face_height * 0.74 + 0.035)
        paint(w, _hat(*frame.at(w), fw, fh) & (_col(p.hat) > 0), _HAT)

    image = _colorize(part, p)
    return _light_and_noise(image, frame.gx, frame.gy, p, rng)


def _paint_wrinkles(frame, paint, head, p):
    """Forehead lines (from 28, 40 and 52 years), crow's feet (from 38) and nasolabial folds (from 48), each
    where the apparent age has reached it."""
    age = _col(p.age)
    if np.any(p.age >= _FOREHEAD_LINE_AGES[0]):
        w = frame.window(0.22, _EYE_Y - 0.22 - 0.07 * 2 - _LINE, _EYE_Y - 0.22 + _LINE)
        xs, ys = frame.at(w)
        lines = np.zeros(xs.shape, bool)
        for k, first_age in enumerate(_FOREHEAD_LINE_AGES):
            lines |= (np.abs(ys - (_EYE_Y - 0.22 - 0.07 * k)) < _LINE) & (age >= first_age)
        paint(w, head[w] & lines & (np.abs(xs) < 0.22) & (ys > _hairline(xs, p) + 0.02), _WRINKLE)
    if np.any(p.age >= _CROWS_FEET_AGE):
        w = frame.window(p.eye_spacing + p.eye_size * 1.25 + 0.07, _EYE_Y - 0.06, _EYE_Y + 0.06)
        xs, ys = frame.at(w)
        u = np.abs(xs) - _col(p.eye_spacing) - _col(p.eye_size) * 1.25  # outwards from the outer corner
        rays = (np.abs(ys - _EYE_Y) < _RAY) | (np.abs(ys - _EYE_Y + 0.6 * u) < _RAY) | (
            np.abs(ys - _EYE_Y - 0.6 * u) < _RAY)
        paint(w, head[w] & rays & (u > 0) & (u < 0.07) & (age >= _CROWS_FEET_AGE), _WRINKLE)
    if np.any(p.age >= _FOLDS_AGE):
        w = frame.window(0.25, 0.18, 0.44)
        xs, ys = frame.at(w)
        folds = (ys > 0.18) & (ys < 0.44) & (np.abs(np.abs(xs) - 0.13 - 0.4 * (ys - 0.18)) < _RAY)
        paint(w, head[w] & folds & (age >= _FOLDS_AGE), _WRINKLE)


_FOREHEAD_LINE_AGES = (28, 40, 52)
_LINE, _RAY = 0.018, 0.015  # half-thickness of the forehead lines, and of crow's feet and folds
_CROWS_FEET_AGE = 38
_FOLDS_AGE = 48


def _paint_clutter(part, gx, gy, p):
    shapes = np.asarray(p.clutter_shapes, np.float32)
    for k in range(int(np.max(p.clutter, initial=0))):
        active = _col(p.clutter > k) > 0
        cx, cy = _col(shapes[:, k, 0] * 2 - 1), _col(shapes[:, k, 1] * 2 - 1)
        ax, ay = _col(0.08 + shapes[:, k, 2] * 0.3), _col(0.08 + shapes[:, k, 3] * 0.3)
        is_box = _col(shapes[:, k, 4]) > 0.5
        box = (np.abs(gx - cx) < ax) & (np.abs(gy - cy) < ay)
        part[active & np.where(is_box, box, _ellipse(gx, gy, cx, cy, ax, ay))] = 1 + k


def _greying(age):
    return np.clip((np.asarray(age, np.float32) - 35.0) / 40.0, 0.0, 0.85)


def _colorize(part, p):
    n = len(part)
    # Four channels (the fourth unused): gathering 16-byte rows is several times faster than 12-byte ones.
    palette = np.zeros((n, _NUM_PARTS, 4), np.float32)[..., :3]
    skin = np.asarray(p.skin, np.float32)
    hair = _mix(np.asarray(p.hair, np.float32), _GREY, _greying(p.age))
    body_hair = np.asarray(p.body_hair, np.float32)
    beard = _mix(skin, body_hair * 0.85, p.beard)
    lips = skin * (0.75, 0.45, 0.45)
    palette[:, _BACKGROUND] = p.background
    palette[:, 1:_MAX_CLUTTER + 1] = p.clutter_colors
    palette[:, _HAIR] = hair
    palette[:, _NECK] = skin * 0.85
    palette[:, _NECKLACE] = _mix(skin * 0.85, (240, 236, 225), p.necklace)
    palette[:, _FACE] = skin
    palette[:, _SCALP] = _mix(hair, skin * 0.95, p.bald)
    palette[:, _CHEEK] = _mix(skin, (235, 105, 120), 0.75 * p.rosy_cheeks)
    palette[:, _BEARD] = beard
    palette[:, _SIDEBURN] = _mix(skin, body_hair * 0.85, p.sideburns)
    palette[:, _WRINKLE] = skin * (1.0 - 0.3 * np.clip((p.age - 25.0) / 40.0, 0.3, 1.0))[:, None]
    palette[:, _NOSE] = skin * 0.74
    palette[:, _CREASE] = body_hair  # dark creases
    palette[:, _MUSTACHE] = _mix(beard, body_hair * 0.65, p.mustache)
    palette[:, _EYE_WHITE] = (245, 245, 240)
    palette[:, _IRIS] = p.iris
    palette[:, _PUPIL] = (15, 15, 20)
    palette[:, _BROW] = body_hair
    palette[:, _LIPS] = _mix(lips, (205, 15, 45), p.lipstick)
    palette[:, _MOUTH] = (70, 20, 25)
    palette[:, _GLASSES] = _mix(skin, (25, 25, 30), p.eyeglasses)
    palette[:, _EARRING] = _mix(skin, (240, 200, 60), p.earrings)
    palette[:, _HAT] = _mix(skin, np.asarray(p.hat_color, np.float32), p.hat)
    # One flat gather: the colour of part p of image i is row i * _NUM_PARTS + p.
    rows = part.astype(np.intp)
    rows += (np.arange(n, dtype=np.intp) * _NUM_PARTS)[:, None, None]
    return np.take(palette.base.reshape(-1, 4), rows, axis=0)[..., :3]


def _light_and_noise(image, gx, gy, p, rng):
    angle = np.asarray(p.light_angle, np.float32)
    gain = _col(p.light_strength) * (_col(np.cos(angle)) * gx + _col(np.sin(angle)) * gy)
    gain += 1.0
    image = image * gain[..., None]
    # Zero-mean triangular noise from two random bytes per value: far cheaper than Gaussian draws (and
    # the raw 64-bit draws several times faster than Generator.bytes).
    raw = rng.bit_generator.random_raw(-(-2 * image.size // 8)).view(np.int8)
    pair = raw[:2 * image.size].reshape(2, *image.shape)
    noise = np.add(pair[0], pair[1], dtype=np.float32)
    noise *= (_col(p.noise_std) / _TRIANGULAR_STD)[..., None]
    noise += 0.5  # so that the truncating cast below rounds to the nearest integer
    image += noise
    return np.clip(image, 0, 255.49, out=image).astype(np.uint8)


# === Evidence masks ===

def _evidence_masks(p, size, names):
    """Regions that can carry each task's or attribute's evidence, whatever its value.

    Each region is computed from the image's other factors only (the person's face shape, the expression,
    the pose, the other attributes), never from the value it is the evidence of, so it covers every variant
    without giving the label away.
    """
    regions = _Regions(p, size)
    return {name: regions.of(name) for name in names}


# Masks that are the region of another name.
_MASK_REGION = {
    "age_group": "age", "young": "age", "gray_hair": "hair", "male": "gender",
    **{f"{c}_hair": "hair" for c in HAIR_COLORS},
    "bushy_eyebrows": "brows", "arched_eyebrows": "brows", "narrow_eyes": "eyes", "big_nose": "nose",
    "smiling": "mouth", "mouth_slightly_open": "mouth", "no_beard": "lower_face",
}


class _Regions:
    """The evidence regions of one chunk of faces, each computed once, on first use."""

    def __init__(self, p, size):
        self.p = p
        self.frame = _Frame(p, size)
        self.x, self.y = self.frame.x, self.frame.y
        self.fw, self.fh = _col(p.face_width), _col(p.face_height)
        self.eye_dx, self.eye_size = _col(p.eye_spacing), _col(p.eye_size)

    def of(self, name):
        return getattr(self, _MASK_REGION.get(name, name))

    def _within(self, window, region):
        """A whole-image mask that is ``region(x, y)`` inside ``window`` (a `_Frame.window`) and False outside."""
        mask = np.zeros(self.x.shape, bool)
        mask[window] = region(*self.frame.at(window))
        return mask

    @functools.cached_property
    def head(self):
        return _ellipse(self.x, self.y, 0.0, 0.0, self.fw, self.fh)

    @functools.cached_property
    def hair(self):
        """Everywhere hair can be: long or short, full or bald, with or without a fringe."""
        x, y, p = self.x, self.y, self.p
        mask = _hair_volume(x, y, p, 0.0)
        mask |= _hair_fall(x, y, p)
        mask &= ~self.head
        w = self.frame.window(p.face_width, -p.face_height,
                              np.maximum(p.hairline + np.abs(p.hair_part) * p.face_width, _BANGS_Y) + 0.04)
        xs, ys = self.frame.at(w)
        lowest = np.maximum(_col(p.hairline) + _col(p.hair_part) * xs, _BANGS_Y)
        mask[w] |= self.head[w] & (ys < lowest + 0.03)
        return mask

    @functools.cached_property
    def identity(self):
        p, fw = self.p, self.fw
        mask = self.head | self.hair
        mask |= self._within(self.frame.window(p.face_width * 0.45, 0.4, 1.2), lambda x, y: _neck(x, y, fw))
        return mask | self.wearing_hat | self.wearing_earrings | self.eyeglasses

    @functools.cached_property
    def mouth(self):
        return self._within(self.frame.window(0.34, _MOUTH_Y - 0.22, _MOUTH_Y + 0.36), lambda x, y: (
            np.abs(x) < 0.34) & (y > _MOUTH_Y - 0.22) & (y < _MOUTH_Y + 0.36))

    @functools.cached_property
    def eyes_and_brows(self):
        reach = self.p.eye_spacing + self.p.eye_size * 1.4 + 0.03
        return self._within(self.frame.window(reach, _EYE_Y - 0.4, _EYE_Y + 0.12), lambda x, y: (
            np.abs(np.abs(x) - self.eye_dx) < self.eye_size * 1.4 + 0.03) & (y > _EYE_Y - 0.4) & (
            y < _EYE_Y + 0.12))

    @functools.cached_property
    def expression(self):
        return self.eyes_and_brows | self.mouth

    @functools.cached_property
    def pain(self):
        """Where the pain action units of face video show: brows and eyes (AU4, AU6/7, AU43), the nose
        bridge and the upper lip (AU9, AU10)."""
        nose_and_upper_lip = self._within(self.frame.window(0.3, _EYE_Y + 0.04, _MOUTH_Y + 0.06), lambda x, y: (
            np.abs(x) < 0.3) & (y > _EYE_Y + 0.04) & (y < _MOUTH_Y + 0.06))
        return self.eyes_and_brows | nose_and_upper_lip

    @functools.cached_property
    def lower_face(self):
        return self._within(self.frame.window(self.p.face_width, _MOUTH_Y - 0.14, self.p.face_height),
                            lambda x, y: y > _MOUTH_Y - 0.14) & self.head

    @functools.cached_property
    def gender(self):
        w = self.frame.window(self.p.face_width, -0.3, 0.12)
        sideburns = self._within(w, lambda x, y: _sideburns(x, y, self.fw)) & self.head
        return self.hair | self.lower_face | sideburns

    @functools.cached_property
    def age(self):
        p, eye_dx, eye_size = self.p, self.eye_dx, self.eye_size
        forehead = self._within(self.frame.window(0.26, _EYE_Y - 0.52, _EYE_Y - 0.19), lambda x, y: (
            np.abs(x) < 0.26) & (y > _EYE_Y - 0.52) & (y < _EYE_Y - 0.19))

        def crows_feet(x, y):
            u = np.abs(x) - eye_dx - eye_size * 1.25
            return (u > -0.01) & (u < 0.08) & (np.abs(y - _EYE_Y) < 0.06)

        w = self.frame.window(p.eye_spacing + p.eye_size * 1.25 + 0.08, _EYE_Y - 0.06, _EYE_Y + 0.06)
        wrinkles = forehead | self._within(w, crows_feet) | self._within(
            self.frame.window(0.27, 0.16, 0.46),
            lambda x, y: (y > 0.16) & (y < 0.46) & (np.abs(np.abs(x) - 0.13 - 0.4 * (y - 0.18)) < 0.025))
        # A child's larger eyes and smaller nose: the largest eye, and the adult nose.
        eyes = self._eyes(p.eye_size * 1.2)
        nose = self._nose(*_nose_size(p, youth=0.0))
        return self.hair | (self.head & wrinkles) | eyes | nose

    def _eyes(self, eye_w):
        eye_h = eye_w * 0.55 * self.p.eye_open
        w = self.frame.window(self.p.eye_spacing + eye_w, _EYE_Y - eye_h, _EYE_Y + eye_h)
        return self._within(w, lambda x, y: _ellipse(np.abs(x), y, self.eye_dx, _EYE_Y, _col(eye_w),
                                                     _col(eye_h)))

    def _nose(self, length, width):
        def nose(x, y):
            along = (y - _EYE_Y - 0.06) / _col(length)
            return (along > 0) & (along < 1) & (np.abs(x) < _col(width) * along)

        return self._within(self.frame.window(width, _EYE_Y + 0.06, _EYE_Y + 0.06 + length), nose)

    @functools.cached_property
    def eyes(self):
        return self._eyes(_eye_width(self.p)[:, 0, 0])

    @functools.cached_property
    def nose(self):
        return self._nose(*_nose_size(self.p, big=1.0))

    @functools.cached_property
    def brows(self):
        def brows(x, y):
            # The flat brow's middle line, and the thickest and most arched brow around it.
            u = np.abs(x) - self.eye_dx
            offset = y - _brow_centre(u, self.p, arched=False)
            thickest = _BROW_HALF * (1.0 + _BUSHY)
            return (np.abs(u) < self.eye_size * 1.25) & (offset < thickest + 0.01) & (
                offset > -thickest - _ARCH - 0.01)

        return self._within(self.frame.window(self.p.eye_spacing + self.p.eye_size * 1.25, _EYE_Y - 0.5,
                                              _EYE_Y + 0.1), brows)

    @functools.cached_property
    def bald(self):
        p = self.p
        mask = _hair_volume(self.x, self.y, p, 0.0)
        w = self.frame.window(p.face_width, -p.face_height,
                              np.maximum(p.hairline + np.abs(p.hair_part) * p.face_width, _BANGS_Y) + 0.01)
        xs, ys = self.frame.at(w)
        mask[w] |= self.head[w] & (ys < _hairline(xs, p))
        return mask

    @functools.cached_property
    def bangs(self):
        p = self.p
        edge = np.abs(p.hair_part) * p.face_width
        w = self.frame.window(p.face_width, np.minimum(p.hairline - edge, _BANGS_Y) - 0.01,
                              np.maximum(p.hairline + edge, _BANGS_Y) + 0.03)
        def between(x, y):  # the person's hairline and the fringe's, whichever is lower
            own = _col(p.hairline) + _col(p.hair_part) * x
            return (y > np.minimum(own, _BANGS_Y) - 0.01) & (y < np.maximum(own, _BANGS_Y) + 0.03)

        return self.head & self._within(w, between)

    @functools.cached_property
    def mustache(self):
        w = self.frame.window(self.p.mouth_width + 0.03, _MOUTH_Y - 0.1, _MOUTH_Y + 0.2)
        return self.head & self._within(w, lambda x, y: _mustache(x, y, *_mouth_lines(x, self.p)[:2]))

    @functools.cached_property
    def sideburns(self):
        w = self.frame.window(self.p.face_width, -0.3, 0.12)
        return self.head & self._within(w, lambda x, y: _sideburns(x, y, self.fw) & (y > _hairline(x, self.p)))

    @functools.cached_property
    def eyeglasses(self):
        p = self.p
        w = self.frame.window(p.face_width * 1.02, _EYE_Y - p.eye_size * 1.1 - 0.04,
                              _EYE_Y + p.eye_size * 1.1 + 0.04)
        return self._within(w, lambda x, y: _glasses(x, y, self.fw, self.eye_dx, self.eye_size))

    @functools.cached_property
    def wearing_hat(self):
        p = self.p
        w = self.frame.window(p.face_width * 1.3, -p.face_height * 1.16, -p.face_height * 0.74 + 0.035)
        return self._within(w, lambda x, y: _hat(x, y, self.fw, self.fh))

    @functools.cached_property
    def wearing_earrings(self):
        w = self.frame.window(self.p.face_width * 0.97 + 0.05, 0.13, 0.23)
        return self._within(w, lambda x, y: _earrings(x, y, self.fw))

    @functools.cached_property
    def wearing_necklace(self):
        w = self.frame.window(self.p.face_width * 0.45, 0.77, 0.89)
        return self._within(w, lambda x, y: _neck(x, y, self.fw) & _necklace(x, y, self.fw))

    @functools.cached_property
    def wearing_lipstick(self):
        def lips(x, y):
            mouth_w, y_upper, y_lower = _mouth_lines(x, self.p)
            return (np.abs(x) < mouth_w) & (y > y_upper - _LIP) & (y < y_lower + _LIP)

        return self._within(self.frame.window(self.p.mouth_width, _MOUTH_Y - 0.25, _MOUTH_Y + 0.36), lips)

    @functools.cached_property
    def rosy_cheeks(self):
        w = self.frame.window(self.p.eye_spacing + 0.14, 0.01, 0.19)
        return self.head & self._within(w, lambda x, y: _cheeks(x, y, self.eye_dx))

    @functools.cached_property
    def attributes(self):
        return np.logical_or.reduce([self.of(name) for name in ATTRIBUTE_NAMES])
