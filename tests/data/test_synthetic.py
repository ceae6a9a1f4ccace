import dataclasses

import numpy as np
import pytest

from kerasfg.data.labels import CELEBA_ATTRIBUTES
from kerasfg.data.synthetic import (
    AGE_GROUPS,
    AGE_RANGES,
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    CELEBA_WITHOUT_STAND_IN,
    EXPRESSIONS,
    FACIAL_HAIR_AGE,
    GENDERS,
    GRAY_HAIR_AGE,
    MASK_NAMES,
    difficulty_levels,
    evidence_masks,
    expression_geometry,
    face_to_pixels,
    render_faces,
    synthetic_faces,
)


def test_same_seed_gives_identical_faces_and_other_seeds_differ():
    a = synthetic_faces(40, seed=7)
    b = synthetic_faces(40, seed=7)
    c = synthetic_faces(40, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    for task in a.labels:
        np.testing.assert_array_equal(a.labels[task], b.labels[task])
    for name in ("identity", "expression", "age", "eyeglasses", "attributes"):
        np.testing.assert_array_equal(a.masks[name], b.masks[name])
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.labels["attributes"], c.labels["attributes"])


def test_shapes_dtypes_class_names_and_task_kinds():
    faces = synthetic_faces(12, num_identities=5, image_size=48)
    assert faces.images.shape == (12, 48, 48, 3) and faces.images.dtype == np.uint8
    assert {k: faces.num_classes[k] for k in ("identity", "expression", "gender", "age_group", "attributes")} == {
        "identity": 5, "expression": 7, "gender": 2, "age_group": 3, "attributes": len(ATTRIBUTES)}
    assert faces.class_names["expression"] == EXPRESSIONS
    assert faces.class_names["attributes"] == ATTRIBUTE_NAMES
    assert {t.name: t.kind for t in faces.tasks.values() if t.kind != "class"} == {
        "age": "regression", "attributes": "multilabel"}
    assert "age" not in faces.num_classes  # a regression task has no classes
    for task in ("identity", "expression", "gender", "age_group", "age", *ATTRIBUTE_NAMES):
        assert faces.labels[task].shape == (12,) and faces.labels[task].dtype == np.int32
    assert faces.labels["attributes"].shape == (12, len(ATTRIBUTES))
    for k, name in enumerate(ATTRIBUTE_NAMES):  # each attribute task is its column of the vector
        np.testing.assert_array_equal(faces.labels[name], faces.labels["attributes"][:, k])
    assert set(np.unique(faces.labels["attributes"])) <= {0, 1}
    for name in MASK_NAMES:
        assert faces.masks[name].shape == (12, 48, 48) and faces.masks[name].dtype == bool
    assert sorted(faces.masks) == sorted(MASK_NAMES)


def test_attributes_stand_in_for_celeba_attributes_in_celeba_order():
    names = [a.celeba_name for a in ATTRIBUTES]
    assert len(ATTRIBUTES) >= 12 and set(names) <= set(CELEBA_ATTRIBUTES)
    assert names == sorted(names, key=CELEBA_ATTRIBUTES.index)
    assert tuple(n.lower() for n in names) == ATTRIBUTE_NAMES
    assert sorted(names + list(CELEBA_WITHOUT_STAND_IN)) == sorted(CELEBA_ATTRIBUTES)


def test_gender_age_and_person_attributes_belong_to_the_identity():
    faces = synthetic_faces(300, num_identities=12, seed=1)
    person_level = [k for k, a in enumerate(ATTRIBUTES) if a.per == "person"]
    for person in faces.identities:
        mine = faces.labels["identity"] == person.index
        assert set(faces.labels["gender"][mine]) <= {person.gender}
        assert set(faces.labels["age_group"][mine]) <= {person.age_group}
        assert set(faces.labels["age"][mine]) <= {person.age}
        low, high = AGE_RANGES[person.age_group]
        assert low <= person.age <= high
        rows = faces.labels["attributes"][mine][:, person_level]
        assert (rows == rows[:1]).all()
    genders = [p.gender for p in faces.identities]
    ages = [p.age_group for p in faces.identities]
    assert np.bincount(genders, minlength=len(GENDERS)).tolist() == [6, 6]
    assert np.bincount(ages, minlength=len(AGE_GROUPS)).tolist() == [4, 4, 4]


@pytest.fixture(scope="module")
def population():
    """Many people and images, tiny: for the label rates."""
    return synthetic_faces(3000, num_identities=900, image_size=16, seed=11, identity_seed=5)


def test_labels_are_balanced_as_documented(population):
    faces = population
    people = faces.identities
    first = np.unique(faces.labels["identity"], return_index=True)[1]  # one image of each person seen
    for k, attribute in enumerate(ATTRIBUTES):
        column = faces.labels["attributes"][:, k]
        if attribute.per == "person":
            rate, count = column[first].mean(), len(first)
        else:
            rate, count = column.mean(), len(column)
        tolerance = 4 * np.sqrt(attribute.rate * (1 - attribute.rate) / count) + 1 / count
        assert abs(rate - attribute.rate) < tolerance, (attribute.name, rate, attribute.rate)
    # The accessories are worn by exactly half of the images, the balanced person-level attributes by half
    # of the people (up to one), and men-only attributes only by men old enough.
    for name in ("eyeglasses", "wearing_hat", "wearing_earrings", "wearing_necklace", "wearing_lipstick",
                 "rosy_cheeks"):
        assert faces.labels[name].sum() == len(faces) // 2, name
    for name in ("bushy_eyebrows", "arched_eyebrows", "narrow_eyes", "big_nose"):
        assert abs(sum(getattr(p, name) for p in people) - len(people) / 2) <= 1, name
    for p in people:
        if p.beard or p.mustache or p.sideburns or p.bald:
            assert p.gender == 1 and p.age >= FACIAL_HAIR_AGE
        assert not (p.bald and p.bangs)
    # Derived labels agree with the person.
    age = faces.labels["age"]
    np.testing.assert_array_equal(faces.labels["gray_hair"], age >= GRAY_HAIR_AGE)
    np.testing.assert_array_equal(faces.labels["young"], faces.labels["age_group"] == 0)
    np.testing.assert_array_equal(faces.labels["male"], faces.labels["gender"] == 1)
    colours = faces.labels["black_hair"] + faces.labels["brown_hair"] + faces.labels["blond_hair"]
    np.testing.assert_array_equal(colours + faces.labels["gray_hair"], 1)  # exactly one hair colour
    happy = faces.labels["expression"] == EXPRESSIONS.index("happy")
    assert faces.labels["smiling"][happy].all() and faces.labels["mouth_slightly_open"][happy].all()


def test_the_same_people_appear_in_sets_rendered_with_other_seeds():
    train = synthetic_faces(5, seed=0)
    test = synthetic_faces(5, seed=1)
    assert train.identities == test.identities
    assert synthetic_faces(5, identity_seed=1).identities != train.identities


# === Evidence masks: each covers exactly where its factor changes the pixels ===

N = 48
SIZE = 48


@pytest.fixture(scope="module")
def faces():
    """Faces with moderate nuisance and every label at full strength."""
    return synthetic_faces(N, num_identities=24, image_size=SIZE, difficulty={"nuisance": 0.5, "default": 0.0},
                           seed=5)


def _field(name):
    def toggle(p, faces):
        return (dataclasses.replace(p, **{name: np.zeros(N, np.float32)}),
                dataclasses.replace(p, **{name: np.ones(N, np.float32)}))
    return toggle


def _hair(colour):
    def toggle(p, faces):
        from kerasfg.data.synthetic import _HAIR_RGB

        other = _HAIR_RGB[(colour + 1) % 3]
        return (dataclasses.replace(p, hair=np.tile(other, (N, 1))),
                dataclasses.replace(p, hair=np.tile(_HAIR_RGB[colour], (N, 1))))
    return toggle


def _ages(a, b):
    def toggle(p, faces):
        return (dataclasses.replace(p, age=np.full(N, a, np.float32)),
                dataclasses.replace(p, age=np.full(N, b, np.float32)))
    return toggle


def _plain_mouth(p, faces):
    """The faces' own expressions, without any extra smile or opening."""
    return dataclasses.replace(p, **expression_geometry(faces.labels["expression"], 1.0))


def _smile(p, faces):
    from kerasfg.data.synthetic import _SMILE

    plain = _plain_mouth(p, faces)
    return plain, dataclasses.replace(plain, **{k: getattr(plain, k) + v for k, v in _SMILE.items()})


def _open(p, faces):
    from kerasfg.data.synthetic import _OPEN

    plain = _plain_mouth(p, faces)
    return plain, dataclasses.replace(plain, mouth_open=plain.mouth_open + _OPEN)


def _male(p, faces):
    zeros, ones = np.zeros(N, np.float32), np.ones(N, np.float32)
    return (dataclasses.replace(p, long_hair=np.ones(N, bool), beard=zeros, mustache=zeros, sideburns=zeros,
                                bald=zeros),
            dataclasses.replace(p, long_hair=np.zeros(N, bool), beard=ones, mustache=ones, sideburns=ones,
                                bald=ones))


TOGGLES = {
    "arched_eyebrows": _field("arched_eyebrows"), "bald": _field("bald"), "bangs": _field("bangs"),
    "big_nose": _field("big_nose"), "black_hair": _hair(0), "brown_hair": _hair(1), "blond_hair": _hair(2),
    "bushy_eyebrows": _field("bushy_eyebrows"), "eyeglasses": _field("eyeglasses"),
    "gray_hair": _ages(66, 75),  # the same wrinkles, more grey
    "male": _male, "mouth_slightly_open": _open, "mustache": _field("mustache"),
    "narrow_eyes": _field("narrow_eyes"), "no_beard": _field("beard"), "rosy_cheeks": _field("rosy_cheeks"),
    "sideburns": _field("sideburns"), "smiling": _smile, "wearing_earrings": _field("earrings"),
    "wearing_hat": _field("hat"), "wearing_lipstick": _field("lipstick"), "wearing_necklace": _field("necklace"),
    "young": _ages(20, 50),
}


def test_every_attribute_has_a_toggle():
    assert sorted(TOGGLES) == sorted(ATTRIBUTE_NAMES)


@pytest.mark.parametrize("name", ATTRIBUTE_NAMES)
def test_attribute_changes_only_pixels_inside_its_mask(faces, name):
    """Rendering a face with and without the attribute (all else equal) changes pixels, all inside the
    attribute's mask; and the mask is the same either way, so it does not give the label away."""
    off, on = TOGGLES[name](faces.parameters, faces)
    changed = np.any(render_faces(off, SIZE, seed=1) != render_faces(on, SIZE, seed=1), axis=-1)
    mask = evidence_masks(off, SIZE, [name])[name]
    np.testing.assert_array_equal(mask, evidence_masks(on, SIZE, [name])[name])
    assert not np.any(changed & ~mask), (name, int((changed & ~mask).sum()))
    shown = changed.reshape(N, -1).any(axis=1)
    assert shown.mean() >= 0.9, name  # a hat can hide a bald man's hair, a shifted face its necklace
    assert mask.mean() < 0.35, name  # a region of the image, not all of it


def test_the_union_mask_covers_every_attribute(faces):
    union = faces.masks["attributes"]
    for name in ATTRIBUTE_NAMES:
        assert not np.any(faces.masks[name] & ~union), name


@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_expressions_change_only_pixels_inside_the_expression_mask(difficulty):
    """Faces that differ only in expression differ in the mouth/brow/eye region, and nowhere else."""
    n = 24
    identities = np.arange(n) % 6
    rendered = [synthetic_faces(n, num_identities=6, difficulty=difficulty, seed=3,
                                identities=identities, expressions=np.full(n, k))
                for k in range(len(EXPRESSIONS))]
    for k in range(len(EXPRESSIONS)):
        # The masks are regions that hold every variant, so they do not depend on the expression.
        np.testing.assert_array_equal(rendered[k].masks["expression"], rendered[0].masks["expression"])
    mask = rendered[0].masks["expression"]
    assert 0.05 < mask.mean() < 0.35  # a region of the face, not the whole image
    visible = rendered[0].strength["expression"] >= 0.5  # at difficulty 1 the weakest fade to neutral
    assert visible.mean() >= 0.4
    for j in range(len(EXPRESSIONS)):
        for k in range(j + 1, len(EXPRESSIONS)):
            changed = np.any(rendered[j].images != rendered[k].images, axis=-1)
            assert not np.any(changed & ~mask), (EXPRESSIONS[j], EXPRESSIONS[k])
            # Every face with a visible expression really shows the difference.
            counts = changed.reshape(n, -1).sum(axis=1)
            assert counts[visible].min() >= 10, (EXPRESSIONS[j], EXPRESSIONS[k])


def test_expressions_change_both_the_mouth_and_the_brows():
    size, n = 64, 8
    kwargs = dict(num_identities=4, difficulty=0.0, seed=5, identities=np.arange(n) % 4)
    neutral = synthetic_faces(n, expressions=np.full(n, EXPRESSIONS.index("neutral")), **kwargs)
    for k in range(len(EXPRESSIONS)):
        if EXPRESSIONS[k] == "neutral":
            continue
        other = synthetic_faces(n, expressions=np.full(n, k), **kwargs)
        changed = np.any(neutral.images != other.images, axis=-1)
        # At difficulty 0 faces are centred and upright: the brows and eyes lie in the upper half of
        # the face and the mouth in the lower half.
        upper, lower = changed[:, : size // 2].sum(), changed[:, size // 2 :].sum()
        assert lower > 0, EXPRESSIONS[k]
        if EXPRESSIONS[k] != "happy":  # a smile lifts the brows only slightly; its eyes squint
            assert upper > 0, EXPRESSIONS[k]


def test_identity_changes_stay_inside_the_identity_masks():
    n = 16
    kwargs = dict(num_identities=8, difficulty=0.5, seed=9, expressions=np.arange(n) % 7)
    a = synthetic_faces(n, identities=np.zeros(n, int), **kwargs)
    b = synthetic_faces(n, identities=np.full(n, 5), **kwargs)
    changed = np.any(a.images != b.images, axis=-1)
    inside = a.masks["identity"] | b.masks["identity"]
    assert inside.mean() < 0.8  # the background is outside
    assert changed.any() and not np.any(changed & ~inside)


@pytest.mark.parametrize("task, young, old", [("age", 10, 70), ("gender", None, None)])
def test_age_and_gender_change_only_pixels_inside_their_masks(faces, task, young, old):
    if task == "age":
        off, on = _ages(young, old)(faces.parameters, faces)
    else:
        off, on = _male(faces.parameters, faces)
    changed = np.any(render_faces(off, SIZE, seed=1) != render_faces(on, SIZE, seed=1), axis=-1)
    mask = evidence_masks(off, SIZE, [task])[task]
    assert changed.reshape(N, -1).any(axis=1).all()
    assert not np.any(changed & ~mask), task
    assert mask.mean() < 0.6


def test_masks_of_the_same_region_are_one_read_only_array(faces):
    masks = evidence_masks(faces.parameters, SIZE, ["age", "age_group", "black_hair", "gray_hair"])
    assert masks["age"] is masks["age_group"] and masks["black_hair"] is masks["gray_hair"]
    with pytest.raises(ValueError, match="read-only"):
        masks["age"][0, 0, 0] = True
    with pytest.raises(ValueError, match="No evidence mask for"):
        evidence_masks(faces.parameters, SIZE, ["beard"])


def test_masks_follow_the_face_under_translation():
    n = 32
    faces = synthetic_faces(n, difficulty=1.0, seed=4)
    rows = np.arange(64)[None, :, None]
    cols = np.arange(64)[None, None, :]
    mask = faces.masks["identity"]
    centre_x = (mask * cols).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
    centre_y = (mask * rows).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
    # A positive shift moves the face right/down: the mask's centre follows the drawn shift.
    assert np.corrcoef(centre_x, faces.nuisance["shift_x"])[0, 1] > 0.9
    assert np.corrcoef(centre_y, faces.nuisance["shift_y"])[0, 1] > 0.9


def test_face_to_pixels_puts_points_where_the_renderer_draws_them():
    """The nose tip's pixel, found by `face_to_pixels`, lies in the nose mask of every rotated face."""
    faces = synthetic_faces(16, difficulty=1.0, seed=6)
    p = faces.parameters
    tip = np.stack([np.zeros(16), -0.06 + p.nose_length * 0.9], axis=1)[:, None, :]  # inside the nose
    (col, row), = face_to_pixels(tip, p, 64).transpose(1, 2, 0)
    nose = evidence_masks(p, 64, ["big_nose"])["big_nose"]
    hit = nose[np.arange(16), np.clip(np.round(row).astype(int), 0, 63), np.clip(np.round(col).astype(int), 0, 63)]
    inside = (row > 0) & (row < 63) & (col > 0) & (col < 63)
    assert hit[inside].all() and inside.sum() >= 12


# === Difficulty ===

def test_difficulty_scales_the_nuisance_factors():
    easy = synthetic_faces(64, difficulty=0.0, seed=2)
    hard = synthetic_faces(64, difficulty=1.0, seed=2)
    for name in ("shift_x", "shift_y", "rotation", "light_strength", "noise_std", "clutter"):
        assert np.all(easy.nuisance[name] == 0), name
        assert np.abs(hard.nuisance[name]).max() > 0, name
    np.testing.assert_array_equal(easy.nuisance["scale"], 1.0)
    # The nuisance level alone: the same nuisance, whatever the tasks' levels.
    only = synthetic_faces(64, difficulty={"nuisance": 1.0, "default": 0.0}, seed=2)
    for name in ("shift_x", "rotation", "noise_std"):
        np.testing.assert_array_equal(only.nuisance[name], hard.nuisance[name])


def test_difficulty_levels_per_factor_and_attribute():
    levels = difficulty_levels({"attributes": 0.8, "eyeglasses": 0.1, "nuisance": 0.3})
    assert levels["nuisance"] == 0.3 and levels["expression"] == 0.5  # the default default
    assert levels["wearing_hat"] == 0.8 and levels["eyeglasses"] == 0.1
    assert difficulty_levels(0.25) == {name: 0.25 for name in levels}
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['glasses'\]"):
        difficulty_levels({"glasses": 0.5})
    with pytest.raises(ValueError, match=r"difficulty\['age'\]: expected a number in \[0, 1\], got 2"):
        difficulty_levels({"age": 2})
    with pytest.raises(ValueError, match="male"):  # shown through the gender: set that factor instead
        difficulty_levels({"male": 0.5})


def test_a_task_level_weakens_its_own_evidence_only():
    n, size = 400, 16
    easy = synthetic_faces(n, num_identities=40, image_size=size, difficulty=0.0, seed=3)
    hard = synthetic_faces(n, num_identities=40, image_size=size, seed=3,
                           difficulty={"default": 0.0, "attributes": 1.0, "age": 1.0})
    np.testing.assert_array_equal(easy.labels["attributes"], hard.labels["attributes"])  # labels stay
    for name in ("eyeglasses", "wearing_hat", "bangs", "black_hair"):
        assert (easy.strength[name] == 1).all()
        assert hard.strength[name].min() < 0.1 and hard.strength[name].max() > 0.9
    assert (hard.strength["expression"] == 1).all()  # expressions untouched
    p = hard.parameters
    np.testing.assert_allclose(p.eyeglasses, hard.labels["eyeglasses"] * hard.strength["eyeglasses"])
    # Weak age evidence: the apparent age moves towards the middle, never past it.
    true_age = hard.labels["age"].astype(float)
    assert (np.abs(p.age - 44) <= np.abs(true_age - 44) + 1e-4).all()
    np.testing.assert_allclose(easy.parameters.age, easy.labels["age"])
    # The identity level makes each person vary from image to image; at 0 a person is the same.
    same = easy.parameters.face_width[easy.labels["identity"] == 0]
    assert np.ptp(same) == 0
    jittered = synthetic_faces(n, num_identities=40, image_size=size, difficulty={"identity": 1.0},
                               seed=3).parameters
    assert np.ptp(jittered.face_width[easy.labels["identity"] == 0]) > 0.02


def test_gender_level_sets_how_typical_the_hair_is():
    typical = synthetic_faces(1, num_identities=200, difficulty={"gender": 0.0}).identities
    assert all(p.long_hair == (p.gender == 0) for p in typical if not p.bald)
    loose = synthetic_faces(1, num_identities=200, difficulty={"gender": 1.0}).identities
    atypical = np.mean([p.long_hair != (p.gender == 0) for p in loose])
    assert 0.15 < atypical < 0.45  # 30% expected


# === Datasets ===

def test_as_dataset_yields_named_inputs_and_targets():
    faces = synthetic_faces(10)
    dataset = faces.as_dataset(inputs=["image", "expression"], targets=["identity", "gender"],
                               batch_size=4)
    features, targets = next(iter(dataset))
    assert features["image"].dtype.name == "float32" and tuple(features["image"].shape) == (4, 64, 64, 3)
    np.testing.assert_array_equal(features["image"].numpy(), faces.images[:4].astype(np.float32))
    np.testing.assert_array_equal(features["expression"].numpy(), faces.labels["expression"][:4])
    np.testing.assert_array_equal(targets["gender"].numpy(), faces.labels["gender"][:4])
    assert sum(int(f["image"].shape[0]) for f, _ in dataset) == 10


def test_as_dataset_yields_attributes_age_and_single_attributes():
    faces = synthetic_faces(6)
    features, targets = next(iter(faces.as_dataset(inputs=["image", "eyeglasses"],
                                                   targets=["attributes", "age", "smiling"], batch_size=6)))
    assert targets["attributes"].dtype.name == "float32" and tuple(targets["attributes"].shape) == (6, 23)
    np.testing.assert_array_equal(targets["attributes"].numpy(), faces.labels["attributes"])
    assert targets["age"].dtype.name == "int32"
    np.testing.assert_array_equal(targets["age"].numpy(), faces.labels["age"])
    np.testing.assert_array_equal(targets["smiling"].numpy(), faces.labels["smiling"])
    np.testing.assert_array_equal(features["eyeglasses"].numpy(), faces.labels["eyeglasses"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_images=-1), "num_images"),
        (dict(num_images=4, image_size=8), "image_size"),
        (dict(num_images=4, difficulty=1.5), r"difficulty: expected a number in \[0, 1\], got 1.5"),
        (dict(num_images=4, num_identities=0), "num_identities"),
        (dict(num_images=4, expressions=np.array([0, 1, 2, 7])), r"expressions must lie in \[0, 7\)"),
        (dict(num_images=4, identities=np.zeros(3, int)),
         r"identities must be an integer array of shape \(4,\)"),
    ],
)
def test_bad_arguments_name_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic_faces(**kwargs)


def test_unknown_dataset_fields_are_named():
    with pytest.raises(ValueError, match="Unknown dataset field"):
        synthetic_faces(2).as_dataset(targets=["beard"])


def test_parameters_check_their_rows():
    p = synthetic_faces(3).parameters
    with pytest.raises(ValueError, match=r"FaceParameters.hat must have one row per image \(3\)"):
        dataclasses.replace(p, hat=np.zeros(2))
    assert len(p.take([0, 0, 2, 1])) == 4
    np.testing.assert_array_equal(p.take([2]).nose_wrinkle, 0)  # the optional fields default to zeros


def test_action_unit_fields_draw_creases_and_raise_the_lip():
    """The optional fields of face video (kerasfg.data.face_video): creases across the nose bridge, a raised
    upper lip; each changes every face, only where it is drawn."""
    from kerasfg.data.synthetic import _face_coordinates

    faces = synthetic_faces(8, difficulty=0.5, seed=2)
    p = faces.parameters
    x, y = _face_coordinates(p, 64)[:2]
    bridge = (np.abs(x) < 0.1) & (y > -0.03) & (y < 0.09)
    base = render_faces(p, 64, seed=1)
    creased = render_faces(dataclasses.replace(p, nose_wrinkle=np.ones(8)), 64, seed=1)
    raised = render_faces(dataclasses.replace(p, upper_lip_raise=np.full(8, 0.05)), 64, seed=1)
    for changed_image, region in ((creased, bridge), (raised, faces.masks["smiling"])):
        changed = np.any(base != changed_image, axis=-1)
        assert changed.reshape(8, -1).any(axis=1).all()
        assert not np.any(changed & ~region)
