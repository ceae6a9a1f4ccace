import numpy as np
import pytest

from kerasfg.data.synthetic import AGE_GROUPS, EXPRESSIONS, GENDERS, TASKS, synthetic_faces


def test_same_seed_gives_identical_faces_and_other_seeds_differ():
    a = synthetic_faces(40, seed=7)
    b = synthetic_faces(40, seed=7)
    c = synthetic_faces(40, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    for task in TASKS:
        np.testing.assert_array_equal(a.labels[task], b.labels[task])
        np.testing.assert_array_equal(a.masks[task], b.masks[task])
    assert not np.array_equal(a.images, c.images)


def test_shapes_dtypes_and_class_names():
    faces = synthetic_faces(12, num_identities=5, image_size=48)
    assert faces.images.shape == (12, 48, 48, 3) and faces.images.dtype == np.uint8
    assert faces.num_classes == {"identity": 5, "expression": 7, "gender": 2, "age_group": 3}
    assert faces.class_names["expression"] == EXPRESSIONS
    for task in TASKS:
        assert faces.labels[task].shape == (12,) and faces.labels[task].dtype == np.int32
        assert faces.masks[task].shape == (12, 48, 48) and faces.masks[task].dtype == bool
        assert faces.labels[task].min() >= 0 and faces.labels[task].max() < faces.num_classes[task]


def test_gender_and_age_belong_to_the_identity_and_are_balanced():
    faces = synthetic_faces(300, num_identities=12, seed=1)
    for person in faces.identities:
        mine = faces.labels["identity"] == person.index
        assert set(faces.labels["gender"][mine]) <= {person.gender}
        assert set(faces.labels["age_group"][mine]) <= {person.age_group}
    genders = [p.gender for p in faces.identities]
    ages = [p.age_group for p in faces.identities]
    assert np.bincount(genders, minlength=len(GENDERS)).tolist() == [6, 6]
    assert np.bincount(ages, minlength=len(AGE_GROUPS)).tolist() == [4, 4, 4]


def test_the_same_people_appear_in_sets_rendered_with_other_seeds():
    train = synthetic_faces(5, seed=0)
    test = synthetic_faces(5, seed=1)
    assert train.identities == test.identities


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
    for j in range(len(EXPRESSIONS)):
        for k in range(j + 1, len(EXPRESSIONS)):
            changed = np.any(rendered[j].images != rendered[k].images, axis=-1)
            assert not np.any(changed & ~mask), (EXPRESSIONS[j], EXPRESSIONS[k])
            # Every face really shows the difference: a clear number of pixels per image changed.
            assert changed.reshape(n, -1).sum(axis=1).min() >= 10, (EXPRESSIONS[j], EXPRESSIONS[k])


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


def test_difficulty_scales_the_nuisance_factors():
    easy = synthetic_faces(64, difficulty=0.0, seed=2)
    hard = synthetic_faces(64, difficulty=1.0, seed=2)
    for name in ("shift_x", "shift_y", "rotation", "light_strength", "noise_std", "clutter"):
        assert np.all(easy.nuisance[name] == 0), name
        assert np.abs(hard.nuisance[name]).max() > 0, name
    np.testing.assert_array_equal(easy.nuisance["scale"], 1.0)


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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_images=-1), "num_images"),
        (dict(num_images=4, image_size=8), "image_size"),
        (dict(num_images=4, difficulty=1.5), "difficulty"),
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
        synthetic_faces(2).as_dataset(targets=["age"])
