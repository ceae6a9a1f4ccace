"""Face detection and alignment on real faces that packages ship (scikit-image's astronaut and lfw_subset).

Tolerance: after alignment, the eye centres that dlib's 68-point model finds *again on the aligned output*
lie within 5% of the output side (5.6 px at 112x112) of the template's eye positions.
"""

import json

import numpy as np
import pytest
from data_fixtures import write_corrupt_jpeg, write_not_an_image
from skimage import data as skimage_data

from kerasfg.data import align, load_dataset
from kerasfg.data.prepare import add_prepare_faces_parser, prepare_faces

SIZE, MARGIN = 112, 0.25
TOLERANCE = 0.05 * SIZE


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def lfw():
    """(200, 25, 25) float in [0, 1]: items 0-99 are LFW faces, 100-199 non-face crops."""
    return skimage_data.lfw_subset()


@pytest.fixture(scope="module")
def checker():
    """Re-measures the eyes on an aligned output with dlib's 68 points inside the template's face box."""
    import dlib

    aligner = align.FaceAligner("dlib-hog", 68, size=SIZE, margin=MARGIN)
    aligner._load()
    tp = align.template_points(SIZE, MARGIN)
    half = (tp[1, 0] - tp[0, 0]) * 1.1
    cx, cy = tp[:, 0].mean(), tp[:, 1].mean()
    rect = dlib.rectangle(int(cx - half), int(cy - half), int(cx + half), int(cy + half))

    def eye_error(aligned):
        pts = np.array([(p.x, p.y) for p in aligner._predictor(aligned, rect).parts()], float)
        return np.linalg.norm(align.landmarks_from_68(pts)[:2] - tp[:2], axis=1).max()

    return eye_error


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = align.similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


def test_warp_moves_a_pixel_where_the_matrix_says():
    image = np.zeros((50, 60, 3), np.uint8)
    image[20, 30] = 255
    m = align.similarity_transform([[30, 20], [40, 20]], [[10, 15], [30, 15]])  # scale 2, shift
    out = align.warp_affine(image, m, (40, 40))
    y, x = np.unravel_index(np.argmax(out[..., 0]), out.shape[:2])
    assert (x, y) == (10, 15)


def test_template_margin_keeps_centre_and_shrinks_face():
    t0, t1 = align.template_points(112, 0.0), align.template_points(112, 0.5)
    np.testing.assert_allclose((t0 - 56) / 2, t1 - 56)
    assert t0[0, 0] < t0[1, 0] and t0[0, 1] < t0[3, 1]  # left eye left of right eye, eyes above mouth


@pytest.mark.parametrize("landmarks", [68, 5])
def test_dlib_hog_aligns_astronaut_eyes_onto_template(astronaut, checker, landmarks):
    aligner = align.FaceAligner("dlib", landmarks, size=SIZE, margin=MARGIN)
    aligned, n = aligner.align(astronaut)
    assert n >= 1 and aligned.shape == (SIZE, SIZE, 3) and aligned.dtype == np.uint8
    assert checker(aligned) <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("detector,landmarks,upsample", [("mtcnn", 5, 1), ("dlib-cnn", 68, 0)])
def test_mtcnn_and_cnn_align_astronaut_eyes_onto_template(astronaut, checker, detector, landmarks, upsample):
    aligner = align.FaceAligner(detector, landmarks, size=SIZE, margin=MARGIN, upsample=upsample)
    aligned, n = aligner.align(astronaut)
    assert n == 1
    assert checker(aligned) <= TOLERANCE


def test_lfw_faces_found_and_aligned_non_faces_rejected(lfw, checker):
    aligner = align.FaceAligner("dlib", 5, size=SIZE, margin=MARGIN)
    errors = [checker(out) for out, _ in map(aligner.align, lfw[:20]) if out is not None]
    assert len(errors) >= 16  # 88 of the 100 LFW crops are found at this size
    assert max(errors) <= TOLERANCE
    assert sum(aligner.align(im)[0] is not None for im in lfw[100:120]) == 0


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        align.FaceAligner("yolo")


def make_source(root, astronaut, lfw):
    from PIL import Image

    (root / "person_a").mkdir(parents=True)
    (root / "person_b").mkdir()
    Image.fromarray(astronaut).save(root / "person_a" / "astronaut.jpg")
    Image.fromarray(astronaut[:, ::-1]).save(root / "person_a" / "mirrored.png")
    for k in range(3):
        Image.fromarray((lfw[k] * 255).round().astype(np.uint8)).resize((100, 100)).save(
            root / "person_b" / f"lfw{k}.png")
    Image.fromarray((lfw[150] * 255).round().astype(np.uint8)).save(root / "person_b" / "background.png")
    write_corrupt_jpeg(root / "person_b" / "truncated.jpg")
    write_not_an_image(root / "person_a" / "fake.jpg")
    write_not_an_image(root / "person_a" / "notes.txt")


def test_prepare_faces_writes_shards_and_report(tmp_path, astronaut, lfw):
    make_source(tmp_path / "src", astronaut, lfw)
    result = prepare_faces(tmp_path / "src", tmp_path / "out", detector="dlib", landmarks=5, size=64,
                           margin=0.2, workers=1, num_shards=2, progress=False)
    report = result.report
    assert (result.aligned, result.no_face, result.unreadable) == (5, 1, 2)
    assert report.read == 9 and report.read == report.used + report.skipped and report.used == 5
    by_path = {s.path.rsplit("/", 1)[-1]: s for s in report.skips}
    assert by_path["background.png"].reason == "no face found"
    assert by_path["truncated.jpg"].reason.startswith("unreadable image")
    assert by_path["fake.jpg"].reason.startswith("unreadable image")
    assert by_path["notes.txt"].reason.startswith("not an image file")
    written = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    assert written["read"] == 9 and len(written["skips"]) == 4
    ds = load_dataset("tfrecord", tmp_path / "out")
    assert ds.class_names == {"label": ["person_a", "person_b"]} and ds.image_size == (64, 64)
    images, labels = ds.numpy()
    assert images.shape == (5, 64, 64, 3) and sorted(labels["label"].tolist()) == [0, 0, 1, 1, 1]


@pytest.mark.slow
def test_prepare_faces_in_parallel_matches_serial_via_cli_parser(tmp_path, astronaut, lfw):
    import argparse

    make_source(tmp_path / "src", astronaut, lfw)
    parser = argparse.ArgumentParser(prog="kerasfg")
    add_prepare_faces_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["prepare-faces", str(tmp_path / "src"), str(tmp_path / "par"), "--detector", "dlib",
                              "--landmarks", "5", "--size", "64", "--workers", "2", "--shards", "1",
                              "--no-progress"])
    assert args.handler(args) == 0
    serial = prepare_faces(tmp_path / "src", tmp_path / "ser", detector="dlib", landmarks=5, size=64, workers=1,
                           num_shards=1, progress=False)
    par, ser = load_dataset("tfrecord", tmp_path / "par"), load_dataset("tfrecord", tmp_path / "ser")
    np.testing.assert_array_equal(par.numpy()[0], ser.numpy()[0])
    assert serial.aligned == len(par)


def test_prepare_faces_on_a_flat_folder_keeps_no_labels(tmp_path, astronaut):
    from PIL import Image

    (tmp_path / "src").mkdir()
    Image.fromarray(astronaut).save(tmp_path / "src" / "a.jpg")
    write_not_an_image(tmp_path / "src" / "notes.txt")
    result = prepare_faces(tmp_path / "src", tmp_path / "out", landmarks=5, size=48, workers=1, progress=False)
    assert (result.aligned, result.report.read, result.report.skipped) == (1, 2, 1)
    ds = load_dataset("tfrecord", tmp_path / "out")
    assert ds.tasks == {} and ds.numpy()[0].shape == (1, 48, 48, 3)
