"""Procedurally rendered face images with known factors and ground-truth evidence masks.

The synthetic faces are kerasfg's download-free data set: the default of the quick start, the tests and
the benchmarks. Every factor that decides a label is drawn by the renderer, so each image comes with the
labels of four tasks and, per task, a mask of the pixels that carry that task's signal. The masks are
what the faithfulness scores of the explanation methods are measured against.

Factors:

- **identity**: a configurable number of people, each with a fixed face shape, skin tone, eye spacing
  and size, iris colour, nose, hair colour, hair style and length, and a beard for some men. The gender
  and the age group belong to the identity.
- **gender**: carried by the hair (long or short) and the beard.
- **age_group**: carried by forehead wrinkles and greying hair.
- **expression**: one of seven classes (`kerasfg.data.labels.EXPRESSIONS`, the label space of the real
  expression datasets: angry, disgust, fear, happy, neutral, sad, surprise), each with its own mouth,
  brow and eye geometry.
- **nuisance**: translation, in-plane rotation, scale, an illumination gradient, Gaussian noise and
  background clutter, all scaled by ``difficulty``.

Rendering is vectorised over batches of images: every face part is a region in face-centred coordinates,
which a per-image similarity transform maps onto the pixel grid.
"""

import concurrent.futures
import dataclasses
import math
import os

import numpy as np

from kerasfg.data.labels import EXPRESSIONS

GENDERS = ("female", "male")
AGE_GROUPS = ("young", "adult", "senior")
TASKS = ("identity", "expression", "gender", "age_group")

# Geometry of each expression, in face coordinates (the face spans about [-0.6, 0.6] x [-0.8, 0.8]):
# mouth half-width, curvature of the upper and lower lip line at the corners (negative: corners up),
# opening at the centre, tilt (asymmetry), brow raise, brow inner-end tilt (positive: inner end up),
# eye openness.
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

# Indices into the per-image palette; parts are painted in this order (later parts cover earlier ones).
_BACKGROUND = 0
_MAX_CLUTTER = 8
_HAIR, _NECK, _FACE, _BEARD, _WRINKLE, _NOSE = range(_MAX_CLUTTER + 1, _MAX_CLUTTER + 7)
_EYE_WHITE, _IRIS, _PUPIL, _BROW, _LIPS, _MOUTH = range(_MAX_CLUTTER + 7, _MAX_CLUTTER + 13)
_NUM_PARTS = _MAX_CLUTTER + 13

# Fixed face-coordinate landmarks shared by all identities.
_EYE_Y = -0.12
_MOUTH_Y = 0.38
_FACE_CENTER_Y = 0.02


@dataclasses.dataclass(frozen=True)
class Identity:
    """The fixed appearance of one synthetic person.

    Attributes:
        index: class index of this identity.
        gender: index into ``GENDERS``.
        age_group: index into ``AGE_GROUPS``.
        face_width, face_height: half-axes of the face ellipse.
        skin: RGB skin tone, 0..255.
        eye_spacing: horizontal distance of each eye from the face's centre line.
        eye_size: half-width of the eye.
        iris: RGB iris colour.
        nose_length, nose_width: size of the nose triangle.
        hair: RGB hair colour (greyed for seniors).
        hairline: vertical position of the hairline on the forehead.
        hair_part: slope of the hairline (0 for a straight fringe).
        long_hair: whether the hair falls to the shoulders.
        beard: whether the person has a beard.
    """

    index: int
    gender: int
    age_group: int
    face_width: float
    face_height: float
    skin: tuple
    eye_spacing: float
    eye_size: float
    iris: tuple
    nose_length: float
    nose_width: float
    hair: tuple
    hairline: float
    hair_part: float
    long_hair: bool
    beard: bool


@dataclasses.dataclass
class SyntheticFaces:
    """A rendered set of synthetic faces.

    Attributes:
        images: uint8 array of shape `(N, size, size, 3)`.
        labels: dict mapping each task in ``TASKS`` to an int32 array of shape `(N,)`.
        masks: dict mapping each task to a bool array of shape `(N, size, size)`: the pixels that
            carry that task's signal in each image.
        class_names: dict mapping each task to its tuple of class names.
        identities: the `Identity` of every class of the identity task.
        nuisance: dict of per-image nuisance factors (`shift_x`, `shift_y`, `rotation` in degrees,
            `scale`, `light_strength`, `light_angle`, `noise_std` of the zero-mean pixel noise, `clutter`).
    """

    images: np.ndarray
    labels: dict
    masks: dict
    class_names: dict
    identities: tuple
    nuisance: dict

    def __len__(self):
        return len(self.images)

    @property
    def num_classes(self):
        """Number of classes per task."""
        return {task: len(names) for task, names in self.class_names.items()}

    def as_dataset(self, inputs=("image",), targets=("identity",), batch_size=None, shuffle=False,
                   seed=None):
        """Return the faces as a `tf.data.Dataset` of `(inputs, targets)` dicts.

        Args:
            inputs: names of the model inputs to yield: ``"image"`` (float32 pixels in 0..255) and/or
                task names, whose labels are then yielded as int32 model inputs (for example the
                expression as an extra input).
            targets: task names whose labels are yielded as targets.
            batch_size: if given, batch the dataset (keeping a last partial batch) and prefetch.
            shuffle: reshuffle the whole set each epoch.
            seed: shuffle seed.

        Returns:
            A `tf.data.Dataset` of `(dict of inputs, dict of targets)`.
        """
        import tensorflow as tf

        columns = {"image": self.images, **self.labels}
        unknown = [name for name in (*inputs, *targets) if name not in columns]
        if unknown:
            raise ValueError(f"Unknown dataset field(s) {unknown}; expected names from "
                             f"{sorted(columns)}.")
        dataset = tf.data.Dataset.from_tensor_slices(
            ({name: columns[name] for name in inputs}, {name: columns[name] for name in targets}))
        if shuffle:
            dataset = dataset.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
        if batch_size:
            dataset = dataset.batch(batch_size)

        def to_float(features, labels):
            if "image" in features:
                features = {**features, "image": tf.cast(features["image"], tf.float32)}
            return features, labels

        dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE) if batch_size else dataset


def make_identities(num_identities, seed=0):
    """Draw the appearance of ``num_identities`` people.

    Genders and age groups are balanced across identities; everything else is drawn at random.

    Args:
        num_identities: number of people, at least 1.
        seed: seed of the population; the same seed always gives the same people.

    Returns:
        A tuple of `Identity`.
    """
    if not isinstance(num_identities, (int, np.integer)) or num_identities < 1:
        raise ValueError(f"num_identities must be a positive integer, got {num_identities!r}.")
    rng = np.random.default_rng([seed, 0x1D])
    genders = rng.permutation(np.arange(num_identities) % len(GENDERS))
    ages = rng.permutation(np.arange(num_identities) % len(AGE_GROUPS))
    people = []
    for index in range(num_identities):
        gender, age = int(genders[index]), int(ages[index])
        tone = rng.uniform(0.0, 1.0)
        skin = np.array([255, 224, 196]) * (1 - tone) + np.array([120, 76, 50]) * tone
        hair = rng.choice([[30, 22, 18], [90, 56, 30], [170, 120, 60], [210, 180, 110], [110, 40, 25]])
        if age == 2:  # seniors go grey
            hair = 0.35 * np.asarray(hair) + 0.65 * np.array([200, 200, 205])
        people.append(Identity(
            index=index, gender=gender, age_group=age,
            face_width=float(rng.uniform(0.42, 0.56)),
            face_height=float(rng.uniform(0.62, 0.74)),
            skin=tuple(float(c) for c in skin),
            eye_spacing=float(rng.uniform(0.17, 0.25)),
            eye_size=float(rng.uniform(0.075, 0.1)),
            iris=tuple(float(c) for c in rng.choice(
                [[60, 40, 25], [70, 110, 160], [80, 120, 70], [40, 30, 30]])),
            nose_length=float(rng.uniform(0.2, 0.3)),
            nose_width=float(rng.uniform(0.06, 0.11)),
            hair=tuple(float(c) for c in hair),
            hairline=float(rng.uniform(-0.5, -0.38)),
            hair_part=float(rng.choice([0.0, -0.25, 0.25])),
            long_hair=(gender == 0) == (rng.uniform() < 0.85),
            beard=gender == 1 and rng.uniform() < 0.5,
        ))
    return tuple(people)


def synthetic_faces(num_images, num_identities=10, image_size=64, difficulty=0.5, seed=0,
                    identity_seed=0, expressions=None, identities=None):
    """Render synthetic face images with labels and evidence masks.

    Two calls that share ``identity_seed`` and ``num_identities`` show the same people, so a training
    and a validation set are drawn with the same ``identity_seed`` and different ``seed`` values.

    Args:
        num_images: number of images to render.
        num_identities: number of people (classes of the identity task).
        image_size: height and width of the square images, at least 16.
        difficulty: strength of the nuisance factors in [0, 1]: 0 renders centred, upright, clean
            faces with full-strength expressions; 1 adds large shifts, rotations and scale changes,
            strong lighting gradients, noise, background clutter and weaker expressions.
        seed: seed of the per-image draws; the same arguments always give the same images.
        identity_seed: seed of the population of people.
        expressions: optional int array of shape `(num_images,)` with the expression of each image;
            drawn uniformly by default.
        identities: optional int array of shape `(num_images,)` with the identity of each image;
            drawn uniformly by default.

    Returns:
        A `SyntheticFaces`.
    """
    if not isinstance(num_images, (int, np.integer)) or num_images < 0:
        raise ValueError(f"num_images must be a non-negative integer, got {num_images!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size must be an integer of at least 16, got {image_size!r}.")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}.")
    people = make_identities(num_identities, identity_seed)
    rng = np.random.default_rng([seed, 0xFACE])
    identity = _labels_or_draw(identities, num_images, num_identities, "identities", rng)
    expression = _labels_or_draw(expressions, num_images, len(EXPRESSIONS), "expressions", rng)
    params = _draw_image_params(rng, num_images, difficulty)

    images = np.empty((num_images, image_size, image_size, 3), np.uint8)
    masks = {task: np.empty((num_images, image_size, image_size), bool) for task in TASKS}
    person = _identity_table(people)

    def render_chunk(index):
        chunk = slice(index * _CHUNK, min((index + 1) * _CHUNK, num_images))
        face = {name: table[identity[chunk]] for name, table in person.items()}
        image_params = {name: values[chunk] for name, values in params.items()}
        # Each chunk has its own noise stream, so the result does not depend on thread scheduling.
        noise_rng = np.random.default_rng([seed, 0xFACE, index + 1])
        images[chunk], chunk_masks = _render(face, expression[chunk], image_params, image_size,
                                             noise_rng)
        for task in TASKS:
            masks[task][chunk] = chunk_masks[task]

    # NumPy releases the GIL in its array operations, so chunks render in parallel on all cores.
    num_chunks = -(-num_images // _CHUNK)
    with concurrent.futures.ThreadPoolExecutor(min(_workers(), max(num_chunks, 1))) as pool:
        list(pool.map(render_chunk, range(num_chunks)))

    genders = np.array([p.gender for p in people], np.int32)
    ages = np.array([p.age_group for p in people], np.int32)
    return SyntheticFaces(
        images=images,
        labels={"identity": identity, "expression": expression, "gender": genders[identity],
                "age_group": ages[identity]},
        masks=masks,
        class_names={"identity": tuple(f"person_{i:03d}" for i in range(num_identities)),
                     "expression": EXPRESSIONS, "gender": GENDERS, "age_group": AGE_GROUPS},
        identities=people,
        nuisance={name: params[name] for name in _NUISANCE},
    )


_CHUNK = 64
_TRIANGULAR_STD = float(np.sqrt(2 * (256**2 - 1) / 12))  # std of the sum of two int8 draws
_NUISANCE = ("shift_x", "shift_y", "rotation", "scale", "light_strength", "light_angle",
             "noise_std", "clutter")


def _workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on every platform
        return os.cpu_count() or 1


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


def _draw_image_params(rng, n, difficulty):
    d = difficulty
    return {
        "shift_x": rng.uniform(-1, 1, n) * 0.2 * d,
        "shift_y": rng.uniform(-1, 1, n) * 0.2 * d,
        "rotation": rng.uniform(-1, 1, n) * 25.0 * d,
        "scale": 1.0 + rng.uniform(-1, 1, n) * 0.2 * d,
        "light_strength": rng.uniform(0, 1, n) * 0.6 * d,
        "light_angle": rng.uniform(0, 2 * math.pi, n),
        "noise_std": rng.uniform(0.5, 1, n) * 14.0 * d,
        "clutter": rng.integers(0, round(_MAX_CLUTTER * d) + 1, n),
        "intensity": 1.0 - rng.uniform(0, 1, n) * 0.5 * d,
        "background": rng.uniform(40, 215, (n, 3)),
        "clutter_colors": rng.uniform(0, 255, (n, _MAX_CLUTTER, 3)),
        "clutter_shapes": rng.uniform(0, 1, (n, _MAX_CLUTTER, 5)),
    }


def _ellipse(x, y, cx, cy, ax, ay):
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 < 1.0


def _col(values):
    """Per-image scalars as an array broadcastable against (B, H, W)."""
    return np.asarray(values, np.float32)[:, None, None]


def _render(face, expression, params, size, rng):
    """Render one chunk of faces; returns uint8 images and the evidence masks per task."""
    n = len(expression)
    # Pixel centres in [-1, 1], mapped to face coordinates by the inverse similarity transform.
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    gx, gy = grid[None, None, :], grid[None, :, None]
    theta = np.deg2rad(params["rotation"]).astype(np.float32)
    cos, sin, scale = _col(np.cos(theta)), _col(np.sin(theta)), _col(params["scale"])
    dx, dy = gx - _col(params["shift_x"]), gy - _col(params["shift_y"])
    x = (cos * dx + sin * dy) / scale
    y = (-sin * dx + cos * dy) / scale - _FACE_CENTER_Y

    part = np.zeros((n, size, size), np.uint8)
    _paint_clutter(part, gx, gy, params)

    geometry = np.array([_EXPRESSION_GEOMETRY[name] for name in EXPRESSIONS], np.float32)
    neutral = geometry[EXPRESSIONS.index("neutral")]
    g = neutral + params["intensity"][:, None].astype(np.float32) * (geometry[expression] - neutral)
    if "geometry_offset" in params:  # per-image action units (kerasfg.data.face_video)
        g = g + params["geometry_offset"].astype(np.float32)
    (mouth_w, upper, lower, opening, tilt, brow_raise, brow_tilt, eye_open) = (
        _col(g[:, k]) for k in range(8))

    fw, fh = _col(face["face_width"]), _col(face["face_height"])
    hairline = _col(face["hairline"]) + _col(face["hair_part"]) * x
    long_hair = _col(face["long_hair"]) > 0
    head = _ellipse(x, y, 0.0, 0.0, fw, fh)
    hair_top = _ellipse(x, y, 0.0, -0.22, fw * 1.12, fh * 0.86)
    hair_fall = (np.abs(x) < fw * 1.18) & (y > -0.3) & (y < 0.92)  # where long hair falls
    part[hair_top | (hair_fall & long_hair)] = _HAIR
    part[_neck(x, y, fw)] = _NECK
    part[head] = _FACE
    part[head & (y < hairline)] = _HAIR
    beard = head & (y > _MOUTH_Y - 0.12) & (_col(face["beard"]) > 0)
    part[beard] = _BEARD
    wrinkles = _wrinkles(x, y, _col(face["age_group"]), _col(face["hairline"]))
    part[head & wrinkles & (y >= hairline)] = _WRINKLE

    nose_top, nose_len = _EYE_Y + 0.06, _col(face["nose_length"])
    along = (y - nose_top) / nose_len
    part[(along > 0) & (along < 1) & (np.abs(x) < _col(face["nose_width"]) * along)] = _NOSE
    if "nose_wrinkle" in params:  # up to three lines across the nose bridge (kerasfg.data.face_video)
        wrinkle = _col(params["nose_wrinkle"])
        for k in range(3):
            line = (np.abs(y - nose_top - 0.05 - 0.04 * k) < 0.013) & (np.abs(x) < 0.09)
            part[line & (wrinkle > k / 3.0)] = _BROW  # dark creases

    eye_dx, eye_w = _col(face["eye_spacing"]), _col(face["eye_size"])
    eye_h = eye_w * 0.55 * eye_open
    for side in (-1.0, 1.0):
        ex = side * eye_dx
        white = np.nonzero(_ellipse(x, y, ex, _EYE_Y, eye_w, eye_h))
        part[white] = _EYE_WHITE
        # Iris and pupil are discs inside the eye: test only the few pixels of the eye's white.
        dx, dy = x[white] - ex[white[0], 0, 0], y[white] - _EYE_Y
        radius2 = (dx * dx + dy * dy) / eye_w[white[0], 0, 0] ** 2
        part[tuple(axis[radius2 < 0.5**2] for axis in white)] = _IRIS
        part[tuple(axis[radius2 < 0.22**2] for axis in white)] = _PUPIL
        # The brow: a thick bar above the eye; a positive tilt raises its inner end.
        u = (x - ex) * side  # grows away from the face's centre line
        brow_y = _EYE_Y - 0.13 - brow_raise + brow_tilt * u
        part[(np.abs(u) < eye_w * 1.25) & (np.abs(y - brow_y) < 0.028)] = _BROW

    # The mouth: an upper and a lower lip line, curved at the corners, with the cavity between.
    t = np.clip(x / mouth_w, -1.0, 1.0) ** 2
    y_upper = _MOUTH_Y + upper * t + tilt * x - _col(params.get("upper_lip_raise", np.zeros(n)))
    y_lower = _MOUTH_Y + opening + lower * t + tilt * x
    inside = np.abs(x) < mouth_w
    part[inside & (y > y_upper - 0.022) & (y < y_lower + 0.022)] = _LIPS
    part[inside & (y > y_upper + 0.012) & (y < y_lower - 0.012)] = _MOUTH

    image = _colorize(part, face, params)
    image = _light_and_noise(image, gx, gy, params, rng)
    return image, _evidence_masks(x, y, fw, head, hair_top | hair_fall, eye_dx, eye_w)


def face_to_pixels(points, params, size):
    """Pixel coordinates ``(x, y)`` (pixel centres at integers) of face-coordinate ``points`` ``(n, K, 2)``
    in each of ``n`` images rendered with the nuisance ``params`` (the inverse of `_render`'s mapping)."""
    theta = np.deg2rad(np.asarray(params["rotation"], np.float64))[:, None]
    scale = np.asarray(params["scale"], np.float64)[:, None]
    x, y = points[..., 0], points[..., 1] + _FACE_CENTER_Y
    dx = scale * (np.cos(theta) * x - np.sin(theta) * y)
    dy = scale * (np.sin(theta) * x + np.cos(theta) * y)
    gx = dx + np.asarray(params["shift_x"], np.float64)[:, None]
    gy = dy + np.asarray(params["shift_y"], np.float64)[:, None]
    return np.stack([(gx + 1.0) * size / 2.0 - 0.5, (gy + 1.0) * size / 2.0 - 0.5], axis=-1)


def _neck(x, y, face_width):
    return (np.abs(x) < face_width * 0.45) & (y > 0.4) & (y < 1.2)


def _paint_clutter(part, gx, gy, params):
    shapes = params["clutter_shapes"].astype(np.float32)
    for k in range(int(params["clutter"].max(initial=0))):
        active = _col(params["clutter"] > k) > 0
        cx, cy = _col(shapes[:, k, 0] * 2 - 1), _col(shapes[:, k, 1] * 2 - 1)
        ax, ay = _col(0.08 + shapes[:, k, 2] * 0.3), _col(0.08 + shapes[:, k, 3] * 0.3)
        is_box = _col(shapes[:, k, 4]) > 0.5
        box = (np.abs(gx - cx) < ax) & (np.abs(gy - cy) < ay)
        part[active & np.where(is_box, box, _ellipse(gx, gy, cx, cy, ax, ay))] = 1 + k


def _wrinkles(x, y, age_group, hairline):
    """Forehead lines: none for the young, one for adults, three for seniors."""
    lines = np.zeros(np.broadcast_shapes(x.shape, age_group.shape), bool)
    for k in range(3):
        line_y = _EYE_Y - 0.22 - 0.07 * k
        lines |= (np.abs(y - line_y) < 0.012) & (np.abs(x) < 0.22) & (age_group >= (1 if k == 0 else 2))
    return lines & (y > hairline + 0.02)


def _colorize(part, face, params):
    n = len(part)
    palette = np.empty((n, _NUM_PARTS, 3), np.float32)
    skin, hair = face["skin"], face["hair"]
    palette[:, _BACKGROUND] = params["background"]
    palette[:, 1:_MAX_CLUTTER + 1] = params["clutter_colors"]
    palette[:, _HAIR] = hair
    palette[:, _NECK] = skin * 0.85
    palette[:, _FACE] = skin
    palette[:, _BEARD] = hair * 0.8
    palette[:, _WRINKLE] = skin * 0.72
    palette[:, _NOSE] = skin * 0.82
    palette[:, _EYE_WHITE] = (245, 245, 240)
    palette[:, _IRIS] = face["iris"]
    palette[:, _PUPIL] = (15, 15, 20)
    palette[:, _BROW] = hair * 0.55
    palette[:, _LIPS] = skin * (0.75, 0.45, 0.45)
    palette[:, _MOUTH] = (70, 20, 25)
    # One flat gather: the colour of part p of image i is row i * _NUM_PARTS + p.
    rows = part + (np.arange(n, dtype=np.intp) * _NUM_PARTS)[:, None, None]
    return np.take(palette.reshape(-1, 3), rows, axis=0)


def _light_and_noise(image, gx, gy, params, rng):
    angle = params["light_angle"].astype(np.float32)
    ramp = _col(np.cos(angle)) * gx + _col(np.sin(angle)) * gy
    image *= (1.0 + _col(params["light_strength"]) * ramp)[..., None]
    # Zero-mean triangular noise from two random bytes per value: far cheaper than Gaussian draws.
    pair = np.frombuffer(rng.bytes(2 * image.size), np.int8).reshape(2, *image.shape)
    noise = np.add(pair[0], pair[1], dtype=np.float32)
    noise *= (_col(params["noise_std"]) / _TRIANGULAR_STD)[..., None]
    image += noise
    image += 0.5  # so that the truncating cast below rounds to the nearest integer
    return np.clip(image, 0, 255.49, out=image).astype(np.uint8)


def _evidence_masks(x, y, fw, head, hair, eye_dx, eye_w):
    """Regions that can carry each task's signal, whatever the class (so they cover every variant).

    ``hair`` is everywhere hair can be, long or short, so it is the same region for everyone.
    """
    eyes_and_brows = (np.abs(np.abs(x) - eye_dx) < eye_w * 1.4 + 0.03) & (y > _EYE_Y - 0.32) & (
        y < _EYE_Y + 0.12)
    mouth = (np.abs(x) < 0.34) & (y > _MOUTH_Y - 0.2) & (y < _MOUTH_Y + 0.3)
    lower_face = head & (y > _MOUTH_Y - 0.14)
    forehead = (np.abs(x) < 0.26) & (y > _EYE_Y - 0.39) & (y < _EYE_Y - 0.19)
    nose_and_upper_lip = (np.abs(x) < 0.3) & (y > _EYE_Y + 0.04) & (y < _MOUTH_Y + 0.06)
    return {
        "identity": head | hair | _neck(x, y, fw),
        "expression": eyes_and_brows | mouth,
        "gender": hair | lower_face,
        "age_group": forehead | hair,
        "pain": eyes_and_brows | nose_and_upper_lip,  # the pain action units of kerasfg.data.face_video
    }
