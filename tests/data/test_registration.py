"""Registration: Procrustes against known similarity transforms and scipy, Delaunay against scipy, the
piecewise-affine warp against scikit-image and on images that encode their own coordinates, the aligned
crop, normalization by hand, the landmark-noise augmentation and the cache of warped frames."""

import numpy as np
import pytest
import scipy.spatial
import skimage.transform

from kerasfg.data import landmarks as landmarks_lib
from kerasfg.data import registration as R
from kerasfg.data.face_video import synthetic_face_video


def _similarity(angle, scale, shift):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, shift[0]], [scale * s, scale * c, shift[1]]])


@pytest.fixture(scope="module")
def video():
    return synthetic_face_video(num_subjects=2, sequences_per_subject=1, frames_per_sequence=12, image_size=96,
                                difficulty=0.8, seed=3)


def test_procrustes_recovers_known_similarity_transforms():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(66, 2)) * [40, 55] + [160, 120]
    truth = [_similarity(rng.uniform(-0.6, 0.6), rng.uniform(0.5, 2.0), rng.uniform(-50, 50, 2)) for _ in range(9)]
    shapes = np.stack([R.apply_transform(t, base) for t in truth])
    result = R.generalized_procrustes(shapes)
    # all shapes land on one mean shape, which is the base shape normalized (up to one rotation)
    np.testing.assert_allclose(result.aligned, np.broadcast_to(result.mean_shape, result.aligned.shape), atol=1e-9)
    normalized = R.normalize_shape(base)[0]
    angle = R.rotation_angle(normalized, result.mean_shape)
    np.testing.assert_allclose(R.rotate(normalized, angle), result.mean_shape, atol=1e-9)
    np.testing.assert_allclose(np.sqrt((result.mean_shape**2).sum(-1).mean()), 1.0)
    np.testing.assert_allclose(result.mean_shape.mean(0), 0.0, atol=1e-12)
    # the returned transforms undo the known ones: T_i(S_i(base)) is the same for every i
    for transform, shape in zip(result.transforms, shapes):
        np.testing.assert_allclose(R.apply_transform(transform, shape), result.mean_shape, atol=1e-9)
    # and each agrees with scikit-image's least-squares similarity of the shape onto the mean
    for transform, shape in zip(result.transforms[:3], shapes[:3]):
        reference = skimage.transform.SimilarityTransform.from_estimate(shape, result.mean_shape)
        np.testing.assert_allclose(transform, reference.params[:2], atol=1e-9)
    assert result.distance < 1e-8


def test_procrustes_on_noisy_shapes_matches_scipy_disparity():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20, 2))
    b = R.apply_transform(_similarity(0.4, 3.0, (5.0, -2.0)), a) + rng.normal(scale=0.05, size=(20, 2))
    _, _, disparity = scipy.spatial.procrustes(a, b)
    an, bn = R.normalize_shape(a)[0] / np.sqrt(20), R.normalize_shape(b)[0] / np.sqrt(20)
    rotated = R.rotate(bn, R.rotation_angle(bn, an))
    scale = (an * rotated).sum()
    np.testing.assert_allclose(((an - scale * rotated) ** 2).sum(), disparity, rtol=1e-9)
    result = R.generalized_procrustes(np.stack([a, b, a * 2.0]), tolerance=1e-12)
    assert result.iterations >= 2 and result.distance < 1e-12
    with pytest.raises(ValueError, match="NaN"):
        R.generalized_procrustes(np.stack([a, np.full_like(a, np.nan)]))


def test_delaunay_equals_scipy():
    rng = np.random.default_rng(2)
    points = rng.uniform(0, 100, (40, 2))
    ours = {tuple(sorted(t)) for t in R.delaunay(points).tolist()}
    theirs = {tuple(sorted(t)) for t in scipy.spatial.Delaunay(points).simplices.tolist()}
    assert ours == theirs
    area = R._signed_area(points[R.delaunay(points)])
    assert (area > 0).all()


def test_the_warp_maps_the_pinned_landmarks_onto_the_mean_shape(video):
    geometry = R.Geometry.from_mean_shape(R.generalized_procrustes(video.landmarks).mean_shape, 128, 0.8)
    frontalizer = R.Frontalizer(geometry, mask=False)
    assert (frontalizer.owner >= 0).all()  # the anchors make the triangles cover the whole output
    # frames whose pixels hold their own coordinates: (x, y) ramps of 200 x 200 images
    ys, xs = np.mgrid[0:200, 0:200]
    ramps = np.stack([xs, ys, np.zeros_like(xs)], -1).astype(np.uint8)
    for index in (0, 7, 20):
        points = video.landmarks[index].astype(np.float64) * 2.0 + 2.0  # the face inside the 200 px ramp
        warped = frontalizer.warp(ramps, points).astype(np.float64)
        # reading the warped frame at each pinned mean landmark gives the frame's landmark, within a pixel
        read = R.sample_bilinear(warped, geometry.target[list(landmarks_lib.COARSE)])[:, :2]
        np.testing.assert_array_less(np.abs(read - points[list(landmarks_lib.COARSE)]), 1.0)


def test_the_warp_equals_scikit_image_piecewise_affine(video):
    geometry = R.Geometry.from_mean_shape(R.generalized_procrustes(video.landmarks).mean_shape, 64, 0.8)
    frontalizer = R.Frontalizer(geometry, mask=False, anchors=0)
    points = video.landmarks[5].astype(np.float64)
    source = frontalizer.source_points(points)
    transform = skimage.transform.PiecewiseAffineTransform.from_estimate(frontalizer.destination, source)
    covered = np.flatnonzero(frontalizer.owner >= 0)
    grid = np.stack([covered % 64, covered // 64], -1).astype(np.float64)
    theirs = transform(grid)
    corners = source[frontalizer.triangles[frontalizer.owner[covered]]]
    ours = np.einsum("mk,mkd->md", frontalizer.barycentric[covered], corners)
    inside = np.isfinite(theirs).all(1) & (theirs != -1).all(1)
    assert inside.mean() > 0.95
    np.testing.assert_allclose(ours[inside], theirs[inside], atol=1e-6)


def test_aligned_crop_and_mask(video):
    mean_shape = R.generalized_procrustes(video.landmarks).mean_shape
    geometry = R.Geometry.from_mean_shape(mean_shape, 96)
    np.testing.assert_allclose(geometry.target[landmarks_lib.NOSE_TIP], [47.5, 47.5])
    width = geometry.target[:, 0].max() - geometry.target[:, 0].min()
    np.testing.assert_allclose(width, 0.55 * 96)
    ys, xs = np.mgrid[0:160, 0:160]
    ramps = np.stack([xs, ys, np.zeros_like(xs)], -1).astype(np.uint8)
    points = video.landmarks[3].astype(np.float64) + 30.0
    crop = R.aligned_crop(ramps, points, geometry).astype(np.float64)
    # the frame's nose tip comes to the centre (up to the similarity fit of all landmarks)
    matrix = R.similarity_transform(points, geometry.target)
    centre = R.apply_transform(R.invert_transform(matrix), np.array([[48.0, 48.0]]))[0]
    np.testing.assert_allclose(crop[48, 48, :2], centre, atol=1.0)
    mask = R.Frontalizer(R.Geometry.from_mean_shape(mean_shape, 96, 0.8)).mask
    hull = scipy.spatial.Delaunay(R.Geometry.from_mean_shape(mean_shape, 96, 0.8).target)
    ys, xs = np.mgrid[0:96, 0:96]
    inside = hull.find_simplex(np.stack([xs.ravel(), ys.ravel()], -1)) >= 0
    assert (mask.ravel() != inside).sum() <= 0.01 * mask.size  # borders may differ by rounding


def test_pixel_mean_and_global_contrast_normalization_by_hand():
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (5, 6, 7, 3)).astype(np.uint8)
    mean = R.pixel_mean(frames, batch_size=2)
    np.testing.assert_allclose(mean, frames.astype(np.float64).mean(0), rtol=1e-6)
    mask = np.zeros((6, 7), bool)
    mask[1:5, 2:6] = True
    out = R.global_contrast_normalize(frames, mean, scale=2.0, mask=mask)
    x = frames[1].astype(np.float64) - mean
    inside = x[mask]
    expected = 2.0 * (x - inside.mean()) / inside.std()
    np.testing.assert_allclose(out[1][mask], expected[mask], rtol=1e-5, atol=1e-5)
    assert (out[:, ~mask] == 0).all()
    np.testing.assert_allclose(out[:, mask].std(axis=(1, 2)), 2.0, rtol=1e-5)
    flat = R.global_contrast_normalize(np.full((4, 4, 3), 9.0))
    assert np.isfinite(flat).all() and (flat == 0).all()


def test_landmark_noise_deforms_reproducibly(video):
    geometry = R.Geometry.from_mean_shape(R.generalized_procrustes(video.landmarks).mean_shape, 64, 0.8)
    frontalizer = R.Frontalizer(geometry)
    frame, points = video.frame(2), video.landmarks[2]
    plain = frontalizer.warp(frame, points)
    np.testing.assert_array_equal(frontalizer.warp(frame, points, noise=0.0), plain)
    first = frontalizer.warp(frame, points, noise=1.5, rng=np.random.default_rng(7))
    again = frontalizer.warp(frame, points, noise=1.5, rng=np.random.default_rng(7))
    other = frontalizer.warp(frame, points, noise=1.5, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other) and not np.array_equal(first, plain)
    assert (first[~frontalizer.mask] == 0).all()
    # a small deformation: most face pixels change little
    assert np.median(np.abs(first.astype(int) - plain.astype(int))[frontalizer.mask]) <= 10


def test_register_video_caches_warped_frames(video, tmp_path):
    settings = R.Registration("frontalize", size=48)
    first = R.register_video(video, settings, cache_dir=tmp_path, progress=False)
    assert first.frames.shape == (len(video), 48, 48, 3) and first.frames.dtype == np.uint8
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].endswith(".npy") and not files[0].startswith(".")
    again = R.register_video(video, settings, cache_dir=tmp_path, progress=False)
    assert isinstance(again.frames, np.memmap)
    np.testing.assert_array_equal(np.asarray(again.frames), np.asarray(first.frames))
    crop = R.register_video(video, R.Registration("aligned_crop", size=48), progress=False)
    assert crop.mask.all() and (np.asarray(first.frames)[:, ~first.mask] == 0).all()
    masked = R.register_video(video, R.Registration("aligned_crop", size=48, mask=True), progress=False)
    assert not masked.mask.all() and (masked.frames[:, ~masked.mask] == 0).all()
    np.testing.assert_array_equal(masked.frames[:, masked.mask], crop.frames[:, masked.mask])
    with pytest.raises(ValueError, match="method must be one of"):
        R.Registration("warp")
