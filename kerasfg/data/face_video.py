"""Synthetic face video with pain: sequences of the synthetic faces whose pain rises and falls.

The download-free stand-in for the UNBC-McMaster archive (`kerasfg.data.datasets.unbc`), rendered with the
renderer of `kerasfg.data.synthetic`. Each subject is one synthetic identity; each of their sequences is a
short video in which the head drifts slowly (translation, in-plane rotation, scale) under constant
lighting, and in which zero or more pain episodes rise, peak and fall back (raised-cosine onsets and
offsets). During an episode the four pain actions of the PSPI show on the face:

- AU4, brow lowering: the brows come down and their inner ends drop;
- AU6/AU7, orbital tightening, and AU43, eyes closed (at the strongest moments): the eyes narrow and close;
- AU9, nose wrinkle: lines across the nose bridge;
- AU10, upper-lip raise: the upper lip goes up.

Each subject has their own expressiveness per action unit. The frame labels are the action-unit
intensities as a FACS coder would give them (integers 0..5, AU43 0 or 1), their PSPI
(``AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43``, 0..16, `kerasfg.data.datasets.unbc.pspi`) and the latent
``pain`` in [0, 1] that drives them. Every frame has the 66 landmarks of the AAM order
(`kerasfg.data.landmarks`), which follow the head and the face's deformation (the brows come down with AU4,
the eyelids close), and an evidence mask ``pain`` of the pixels where the actions show.

With ``expressions=...`` the sequences are CK+-like instead: each goes from a neutral face to the peak of
one expression, the sequence's label (the stand-in for CK+ at the smoke and synthetic scales).

Example:

```python
video = kerasfg.data.synthetic_face_video(num_subjects=6, sequences_per_subject=3, frames_per_sequence=60)
video.labels["pspi"]      # (1080,) float32, 0..16
video.landmarks.shape     # (1080, 66, 2)
```
"""

import dataclasses
import math

import numpy as np

from kerasfg.data import synthetic
from kerasfg.data.datasets.unbc import pspi
from kerasfg.data.labels import EXPRESSIONS
from kerasfg.data.video import ArrayFrames, FaceVideo

ACTION_UNITS = ("au4", "au6", "au7", "au9", "au10", "au43")
_NEUTRAL = EXPRESSIONS.index("neutral")
_LOOK_LIKE_PAIN = ("narrow_eyes", "bushy_eyebrows", "arched_eyebrows")
EXPRESSION_SEQUENCES = tuple(name for name in EXPRESSIONS if name != "neutral")
"""The expressions a CK+-like synthetic sequence can peak at."""


@dataclasses.dataclass(frozen=True)
class PainEpisodes:
    """How often and how strongly pain shows in a sequence.

    Attributes:
        per_sequence: the number of episodes of a sequence is drawn uniformly in this inclusive range
            (0 allows sequences without pain, as most of the archive's frames are).
        duration: episode length in frames, as a fraction of the sequence, drawn in this range.
        peak: the episode's peak latent pain, drawn in this range.
    """

    per_sequence: tuple = (0, 2)
    duration: tuple = (0.25, 0.6)
    peak: tuple = (0.4, 1.0)


def synthetic_face_video(num_subjects=4, sequences_per_subject=2, frames_per_sequence=48, *, image_size=96,
                         difficulty=0.3, episodes=PainEpisodes(), expressions=None, seed=0, identity_seed=0):
    """Render synthetic face video with pain; see the module docstring.

    With ``expressions``, the video is CK+-like instead: every sequence goes from a neutral face at its
    first frame to the peak of one facial expression at its last (no pain), and its sequence label
    ``expression`` says which.

    Args:
        num_subjects: people (one identity each).
        sequences_per_subject: videos per person.
        frames_per_sequence: frames per video.
        image_size: side of the square frames (UNBC's faces span about 150 of its 320x240 pixels).
        difficulty: strength of the head motion, lighting and noise in [0, 1] (as `synthetic_faces`).
        episodes: the `PainEpisodes`.
        expressions: None (pain video), or the expressions of the sequences, a tuple of names of
            `kerasfg.data.EXPRESSIONS` other than neutral (``EXPRESSION_SEQUENCES`` for all six); each
            person's sequences take them in turn from a random start.
        seed: seed of everything per frame; the same arguments give the same video.
        identity_seed: seed of the people.

    Returns:
        A `kerasfg.data.video.FaceVideo` named ``"synthetic_pain"`` with in-memory frames.
    """
    for name, value in (("num_subjects", num_subjects), ("sequences_per_subject", sequences_per_subject),
                        ("frames_per_sequence", frames_per_sequence)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer; received {value!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise ValueError(f"image_size must be an integer of at least 32; received {image_size!r}.")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1]; received {difficulty!r}.")
    if expressions is not None:
        expressions = tuple(expressions)
        unknown = [e for e in expressions if e not in EXPRESSION_SEQUENCES]
        if unknown or not expressions:
            raise ValueError(f"expressions must name some of {EXPRESSION_SEQUENCES}; received {expressions!r}.")
        episodes = PainEpisodes(per_sequence=(0, 0))
    people = synthetic.make_identities(num_subjects, identity_seed)
    rng = np.random.default_rng([seed, 0x9A1])
    gains = rng.uniform(0.6, 1.0, (num_subjects, len(ACTION_UNITS)))  # expressiveness per person and AU
    num_sequences = num_subjects * sequences_per_subject
    subject = np.repeat(np.arange(num_subjects), sequences_per_subject * frames_per_sequence)
    latent = np.concatenate([_pain_curve(rng, frames_per_sequence, episodes) for _ in range(num_sequences)])
    units = _action_units(rng, latent, gains[subject])
    scene = _frame_params(rng, num_sequences, frames_per_sequence, difficulty)
    expression, intensity = np.full(len(subject), _NEUTRAL), np.ones(len(subject))
    sequence_labels, class_names = {}, {}
    if expressions is not None:
        start = rng.integers(0, len(expressions), num_subjects)
        classes = (start[:, None] + np.arange(sequences_per_subject)[None]).reshape(-1) % len(expressions)
        expression = np.repeat([EXPRESSIONS.index(expressions[c]) for c in classes], frames_per_sequence)
        ramp = np.linspace(0.0, 1.0, frames_per_sequence) if frames_per_sequence > 1 else np.ones(1)
        intensity = np.tile(0.5 - 0.5 * np.cos(np.pi * ramp), num_sequences)  # neutral to the peak
        sequence_labels = {"expression": classes.astype(np.int64)}
        class_names = {"expression": expressions}
    # The people as they are, except the attributes that look like pain actions: narrow eyes (orbital
    # tightening, eyes closed) and bushy or arched brows (brow lowering).
    plain = {name: np.zeros(len(subject), np.float32) for name in _LOOK_LIKE_PAIN}
    appearance = _appearance(units["continuous"], expression, intensity)
    parameters = synthetic.face_parameters(people, subject, scene, **appearance, **plain)
    images = synthetic.render_faces(parameters, image_size, seed)
    masks = synthetic.evidence_masks(parameters, image_size, ["pain"])["pain"]
    points = synthetic.face_to_pixels(_landmarks(parameters), parameters, image_size).astype(np.float32)

    coded = units["coded"]
    labels = {name: coded[:, k] for k, name in enumerate(ACTION_UNITS)}
    labels["pspi"] = pspi(*(coded[:, k] for k in range(len(ACTION_UNITS))))
    labels["pain"] = latent.astype(np.float32)
    sequence_names = [f"subject_{s:03d}/sequence_{q:02d}" for s in range(num_subjects)
                      for q in range(sequences_per_subject)]
    return FaceVideo(
        name="synthetic_pain" if expressions is None else "synthetic_expressions", frames=ArrayFrames(images),
        landmarks=points, subjects=np.array([f"subject_{s:03d}" for s in subject]),
        sequences=np.repeat(sequence_names, frames_per_sequence), labels=labels, masks={"pain": masks},
        sequence_labels=sequence_labels, class_names=class_names,
        info={"image_size": image_size, "difficulty": difficulty, "seed": seed, "identity_seed": identity_seed,
              "protocol": "leave-one-subject-out"})


def _pain_curve(rng, length, episodes):
    """Latent pain in [0, 1] over one sequence: raised-cosine episodes, overlapping ones capped at 1."""
    low, high = episodes.per_sequence
    curve = np.zeros(length)
    t = np.arange(length)
    for _ in range(int(rng.integers(low, high + 1))):
        duration = max(3.0, rng.uniform(*episodes.duration) * length)
        start = rng.uniform(-0.2 * duration, length - 0.8 * duration)
        phase = (t - start) / duration
        bump = np.where((phase > 0) & (phase < 1), 0.5 - 0.5 * np.cos(2 * math.pi * phase), 0.0)
        curve = np.maximum(curve, rng.uniform(*episodes.peak) * bump)
    return curve


def _action_units(rng, latent, gains):
    """Continuous action-unit intensities in [0, 5] (AU43 in [0, 1]) and their FACS coding (integers)."""
    jitter = rng.normal(0.0, 0.15, (len(latent), len(ACTION_UNITS)))
    continuous = np.clip(5.0 * gains * latent[:, None] + jitter * (latent[:, None] > 0.05), 0.0, 5.0)
    # Eyes close only near an episode's peak.
    continuous[:, 5] = np.clip((latent * gains[:, 5] - 0.7) / 0.1, 0.0, 1.0)
    coded = np.floor(continuous + 0.5)
    coded[:, 5] = (continuous[:, 5] >= 0.5).astype(float)
    return {"continuous": continuous, "coded": coded.astype(np.float32)}


def _appearance(units, expression, intensity):
    """`kerasfg.data.synthetic.FaceParameters` fields from continuous AU intensities: the geometry of each
    frame's expression at its intensity (neutral in pain video) moved by the action units, the upper-lip
    raise and the nose wrinkle."""
    au4, au6, au7, au9, au10, au43 = (units[:, k] / (1.0 if k == 5 else 5.0) for k in range(6))
    geometry = synthetic.expression_geometry(expression, intensity)
    squint = 0.45 * np.maximum(au6, au7)
    geometry["brow_raise"] = geometry["brow_raise"] - 0.07 * au4
    geometry["brow_tilt"] = geometry["brow_tilt"] - 0.4 * au4
    geometry["eye_open"] = geometry["eye_open"] - (squint + (0.9 - squint) * au43)
    geometry["lip_upper"] = geometry["lip_upper"] - 0.03 * au10
    return {**geometry, "upper_lip_raise": 0.04 * au10 + 0.01 * au9, "nose_wrinkle": au9}


def _frame_params(rng, num_sequences, length, difficulty):
    """Renderer parameters per frame: a slow head drift per sequence, lighting and clutter per sequence."""
    base = synthetic._draw_image_params(rng, num_sequences, difficulty)
    total = num_sequences * length
    params = {}
    for name, values in base.items():
        params[name] = np.repeat(values, length, axis=0)
    drift = {"shift_x": 0.08, "shift_y": 0.06, "rotation": 10.0, "scale": 0.08}
    for name, amplitude in drift.items():
        steps = rng.normal(0.0, 1.0, (num_sequences, length))
        walk = np.cumsum(steps, axis=1)
        walk -= walk.mean(axis=1, keepdims=True)
        walk /= np.maximum(np.abs(walk).max(axis=1, keepdims=True), 1e-9)
        params[name] = params[name] + amplitude * difficulty * walk.reshape(total)
    params["noise_std"] = rng.uniform(0.5, 1.0, total) * 14.0 * difficulty
    return params


def _landmarks(p):
    """The 66 AAM-order landmarks in face coordinates ``(n, 66, 2)``, on the parts the renderer draws for
    the `kerasfg.data.synthetic.FaceParameters` ``p`` (the same eye, brow, nose and lip geometry)."""
    n = len(p)
    fw, fh = p.face_width[:, None], p.face_height[:, None]
    eye_dx, brow_w = p.eye_spacing[:, None], p.eye_size[:, None]
    eye_w, eye_h = (v[:, None] for v in synthetic._eye_shape(p))
    nose_len, nose_w = (v[:, None] for v in synthetic._nose_size(p))
    eye_y = synthetic._EYE_Y

    # jaw: along the head ellipse from the image-left temple, under the chin, to the image-right one
    # (fw cos(phi), fh sin(phi)), phi from pi - a to a, where sin(a) puts the ends at eye level
    a = np.arcsin(np.clip((eye_y + 0.02) / fh, -1.0, 1.0))
    phi = (np.pi - a) + (2 * a - np.pi) * np.linspace(0.0, 1.0, 17)[None]
    jaw = np.stack([fw * np.cos(phi), fh * np.sin(phi)], -1)

    def brow(side, order):
        u = np.asarray(order)[None] * brow_w * 1.2  # away from the centre line
        y = synthetic._brow_centre(u, p)
        return np.stack([np.broadcast_to(side * (eye_dx + u), y.shape), y], -1)

    right_brow = brow(-1.0, np.linspace(1.0, -1.0, 5))
    left_brow = brow(1.0, np.linspace(-1.0, 1.0, 5))
    nose_top = eye_y + 0.06
    along = np.array([0.15, 0.4, 0.65, 0.9])[None]
    bridge = np.stack([np.zeros((n, 4)), nose_top + along * nose_len], -1)
    base_x = np.linspace(-1.0, 1.0, 5)[None] * nose_w
    base = np.stack([base_x, np.broadcast_to(nose_top + nose_len, (n, 5))], -1)

    def eye(side):
        h = np.maximum(eye_h, 0.0)
        lid = np.sqrt(1.0 - (1.0 / 3.0) ** 2)
        xs = np.array([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])[None] * eye_w
        ys = np.array([0.0, -lid, -lid, 0.0, lid, lid])[None] * h
        return np.stack([side * eye_dx + xs, eye_y + ys], -1)

    mouth_w = p.mouth_width[:, None]

    def lips(xs, offset_upper, offset_lower):
        _, y_upper, y_lower = synthetic._mouth_lines(xs, p)
        return y_upper + offset_upper, y_lower + offset_lower

    corner_x = np.array([-1.0, 1.0])[None] * mouth_w
    corner_up, corner_low = lips(corner_x, 0.0, 0.0)
    corners = np.stack([corner_x, (corner_up + corner_low) / 2], -1)
    top_x = np.array([-0.7, -0.35, 0.0, 0.35, 0.7])[None] * mouth_w
    outer_top = np.stack([top_x, lips(top_x, -synthetic._LIP, 0.0)[0]], -1)
    bottom_x = top_x[:, ::-1]
    outer_bottom = np.stack([bottom_x, lips(bottom_x, 0.0, synthetic._LIP)[1]], -1)
    inner_x = np.array([-0.4, 0.0, 0.4])[None] * mouth_w
    inner_up, inner_low = lips(inner_x, 0.012, -0.012)
    middle = (inner_up + inner_low) / 2  # a closed mouth's inner lines meet
    inner_top = np.stack([inner_x, np.minimum(inner_up, middle)], -1)
    inner_bottom = np.stack([inner_x[:, ::-1], np.maximum(inner_low, middle)[:, ::-1]], -1)
    return np.concatenate([
        jaw, right_brow, left_brow, bridge, base, eye(-1.0), eye(1.0),
        corners[:, :1], outer_top, corners[:, 1:], outer_bottom, inner_top, inner_bottom], axis=1)
