"""Face registration of ``002_c1e3dd09777d292a.txt`` §2.2: Procrustes alignment, frontalization by a
piecewise-affine warp, the aligned crop, per-pixel mean and global contrast normalization, and the
landmark-noise warp augmentation.

Each step is a function on NumPy arrays; `Registration` runs them over whole videos
(`kerasfg.data.video.FaceVideo`) with a cache of the warped frames.

- **Generalized Procrustes analysis** (`generalized_procrustes`, Eq. 2.1-2.2): each landmark set is moved to
  its centroid and divided by its size (the root mean square distance to the centroid: Eq. 2.1 as
  printed divides the root of the sum by N, which is not scale-free, so the usual RMS is used); the
  rotation onto the reference is the closed form of Eq. 2.2, ``theta = atan2(sum(x_i w_i - y_i z_i)...)``
  written with the reference's coordinates ``(w_i, z_i)`` that the thesis leaves undefined. The
  reference starts as the first shape and becomes the normalized mean of the aligned shapes until the
  Procrustes distance between two successive references falls below a threshold.
- **Aligned crop** (`aligned_crop`): the similarity that takes a frame's landmarks onto the mean shape,
  applied to the whole frame, so the output is a square crop centred on the nose with the background
  kept ("a square crop centered on the nose", the thesis's best input).
- **Frontalization** (`Frontalizer`): the canonical normalized appearance of Lucey et al. A Delaunay
  triangulation (the dual of the Voronoi diagram) of the mean shape's *coarse* landmark subset
  (`kerasfg.data.landmarks.COARSE`: the eyes, the inner brows and the mouth stay free to move), plus
  anchors on the output border that follow the frame's similarity alignment, and one affine map per
  triangle from the frame onto the mean shape. Pixels outside the mean shape's face (the convex hull
  of all its landmarks) are black.
- **Augmentation** (`Frontalizer.warp(..., noise=...)`): Gaussian noise on the reference landmarks before the
  warp, which deforms the face a little (the thesis's "face deformations").
- **Normalization** (`pixel_mean`, `global_contrast_normalize`): the per-pixel mean of the training frames
  is subtracted (so the black masked pixels become real zeros, where a global mean would not), then each
  image is divided by its contrast. `kerasfg.layers.FaceNormalization` does the same inside a model.

Coordinates are ``(x, y)`` pixels with pixel centres at integers, as landmark files give them.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
import pathlib

import numpy as np

from kerasfg.data import landmarks as landmarks_lib
from kerasfg.data.align import similarity_transform, warp_affine
from kerasfg.data.synthetic import _workers

log = logging.getLogger(__name__)

METHODS = ("aligned_crop", "frontalize")


# === Procrustes ===


def normalize_shape(shape):
    """Move landmarks ``(..., K, 2)`` to their centroid and divide them by their size (Eq. 2.1, as RMS).

    Returns:
        ``(normalized, centroid (..., 2), size (...))``.
    """
    shape = np.asarray(shape, np.float64)
    centroid = shape.mean(axis=-2)
    centred = shape - centroid[..., None, :]
    size = np.sqrt((centred**2).sum(axis=(-1, -2)) / shape.shape[-2])
    if np.any(size <= 0):
        raise ValueError("A landmark set has all its points at one place; it cannot be normalized.")
    return centred / size[..., None, None], centroid, size


def rotation_angle(shape, reference):
    """The angle (radians) that rotates centred ``shape`` onto centred ``reference`` in least squares (Eq. 2.2).

    With ``(x_i, y_i)`` the shape and ``(w_i, z_i)`` the reference: ``atan2(sum(x_i z_i - y_i w_i),
    sum(x_i w_i + y_i z_i))``. Broadcasts over leading axes.
    """
    shape, reference = np.asarray(shape, np.float64), np.asarray(reference, np.float64)
    x, y = shape[..., 0], shape[..., 1]
    w, z = reference[..., 0], reference[..., 1]
    return np.arctan2((x * z - y * w).sum(-1), (x * w + y * z).sum(-1))


def rotate(shape, angle):
    """Rotate points ``(..., K, 2)`` by ``angle`` (radians, counter-clockwise in x-right, y-up axes)."""
    cos, sin = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x, y = shape[..., 0], shape[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


@dataclasses.dataclass(frozen=True)
class ProcrustesResult:
    """The outcome of `generalized_procrustes`.

    Attributes:
        mean_shape: ``(K, 2)`` the final reference: centred, of unit size.
        aligned: ``(N, K, 2)`` every shape normalized and rotated onto it.
        transforms: ``(N, 2, 3)`` the similarity that maps each input shape onto its aligned version.
        iterations: how many reference updates it took.
        distance: the Procrustes distance between the last two references.
    """

    mean_shape: np.ndarray
    aligned: np.ndarray
    transforms: np.ndarray
    iterations: int
    distance: float


def generalized_procrustes(shapes, *, tolerance=1e-8, max_iterations=100):
    """Generalized Procrustes analysis of ``N`` landmark sets ``(N, K, 2)``.

    Args:
        shapes: the landmark sets (NaN-free).
        tolerance: stop when the Procrustes distance ``sqrt(sum((ref_t - ref_{t-1})**2))`` between two
            successive references is below it.
        max_iterations: at most this many reference updates.

    Returns:
        A `ProcrustesResult`.

    Example:

    ```python
    result = generalized_procrustes(video.landmarks)
    result.mean_shape        # (66, 2), centred, unit size
    ```
    """
    shapes = np.asarray(shapes, np.float64)
    if shapes.ndim != 3 or shapes.shape[-1] != 2 or len(shapes) == 0:
        raise ValueError(f"shapes must be (N, K, 2) landmark sets with N >= 1; received {shapes.shape}.")
    if not np.isfinite(shapes).all():
        raise ValueError("shapes hold NaN or infinite coordinates; drop those frames before Procrustes.")
    normalized, centroid, size = normalize_shape(shapes)
    reference = normalized[0]
    distance = np.inf
    iterations = 0
    while iterations < max_iterations:
        angle = rotation_angle(normalized, reference)
        aligned = rotate(normalized, angle)
        new_reference = normalize_shape(aligned.mean(axis=0))[0]
        # keep the first shape's orientation: the mean of rotated shapes can itself drift
        new_reference = rotate(new_reference, rotation_angle(new_reference, reference))
        distance = float(np.sqrt(((new_reference - reference) ** 2).sum()))
        reference = new_reference
        iterations += 1
        if distance < tolerance:
            break
    angle = rotation_angle(normalized, reference)
    aligned = rotate(normalized, angle)
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2) / size[:, None, None]
    offset = -np.einsum("nij,nj->ni", linear, centroid)
    transforms = np.concatenate([linear, offset[..., None]], axis=-1)
    return ProcrustesResult(mean_shape=reference, aligned=aligned, transforms=transforms, iterations=iterations,
                            distance=distance)


def apply_transform(transform, points):
    """Apply 2x3 affine ``transform`` (or ``(N, 2, 3)``) to points ``(..., K, 2)``."""
    transform = np.asarray(transform, np.float64)
    points = np.asarray(points, np.float64)
    return np.einsum("...ij,...kj->...ki", transform[..., :2], points) + transform[..., None, :, 2]


def invert_transform(transform):
    """The inverse of a 2x3 affine transform."""
    full = np.vstack([np.asarray(transform, np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


# === Output geometry ===


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Where the mean shape lies in the square output image.

    Attributes:
        size: side of the output, in pixels (224 in the thesis).
        target: ``(K, 2)`` the mean shape in output pixels: its nose tip at the centre, its width
            (outermost jaw points) ``face_fraction`` of the side.
    """

    size: int
    target: np.ndarray

    @classmethod
    def from_mean_shape(cls, mean_shape, size=224, face_fraction=0.55, center_point=landmarks_lib.NOSE_TIP):
        """Place ``mean_shape`` (normalized, upright) in a ``size`` square.

        Args:
            mean_shape: ``(K, 2)`` normalized mean shape (`generalized_procrustes`).
            size: output side.
            face_fraction: the face's width over the side: 0.55 leaves background around the face, as the
                faces VGG-Face was trained on have; frontalization masks it anyway.
            center_point: the landmark put at the centre (the nose tip), or None for the centroid.
        """
        mean_shape = np.asarray(mean_shape, np.float64)
        if not 0.0 < face_fraction <= 1.0:
            raise ValueError(f"face_fraction must be in (0, 1]; received {face_fraction!r}.")
        if not isinstance(size, (int, np.integer)) or size < 8:
            raise ValueError(f"size must be an integer of at least 8; received {size!r}.")
        width = mean_shape[:, 0].max() - mean_shape[:, 0].min()
        center = mean_shape[center_point] if center_point is not None else mean_shape.mean(0)
        scale = face_fraction * size / width
        target = (mean_shape - center) * scale + (size - 1) / 2.0
        return cls(size=int(size), target=target)


def aligned_crop(image, points, geometry):
    """The similarity-aligned square crop: ``image`` warped so that its landmarks ``points`` ``(K, 2)`` lie
    as near as a similarity allows to ``geometry.target``; uint8 ``(size, size, C)``."""
    matrix = similarity_transform(points, geometry.target)
    return warp_affine(image, matrix, geometry.size)


# === Delaunay triangulation and the piecewise-affine warp ===


def delaunay(points):
    """Delaunay triangulation of 2-D ``points`` ``(P, 2)`` (Bowyer-Watson); ``(T, 3)`` vertex indices,
    each triangle with a positive signed area in ``(x, y)`` coordinates."""
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"delaunay needs at least 3 points of shape (P, 2); received {points.shape}.")
    low, high = points.min(0), points.max(0)
    span = max(float((high - low).max()), 1e-12)
    unit = (points - low) / span
    far = 1e3
    vertices = np.vstack([unit, [[-far, -far], [far * 2, -far], [-far, far * 2]]])
    n = len(points)
    triangles = [(n, n + 1, n + 2)]
    for index in range(n):
        p = vertices[index]
        bad = [t for t in triangles if _in_circumcircle(vertices[list(t)], p)]
        edges = {}
        for t in bad:
            for edge in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
                key = tuple(sorted(edge))
                edges[key] = edges.get(key, 0) + 1
        triangles = [t for t in triangles if t not in bad]
        triangles += [(a, b, index) for (a, b), count in edges.items() if count == 1]
    result = np.array([t for t in triangles if max(t) < n], np.int64).reshape(-1, 3)
    area = _signed_area(points[result])
    result[area < 0] = result[area < 0][:, [0, 2, 1]]
    return result[np.abs(area) > 1e-12 * span**2]


def _signed_area(triangle_points):
    a, b, c = triangle_points[..., 0, :], triangle_points[..., 1, :], triangle_points[..., 2, :]
    return 0.5 * ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (c[..., 0] - a[..., 0]) * (b[..., 1] - a[..., 1]))


def _in_circumcircle(triangle, p):
    a, b, c = triangle - p
    det = ((a @ a) * (b[0] * c[1] - c[0] * b[1]) - (b @ b) * (a[0] * c[1] - c[0] * a[1])
           + (c @ c) * (a[0] * b[1] - b[0] * a[1]))
    orientation = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])
    return det * np.sign(orientation) > 0


def rasterize(points, triangles, size):
    """Which triangle covers each output pixel, and where in it.

    Args:
        points: ``(P, 2)`` triangle vertices in output pixels.
        triangles: ``(T, 3)`` vertex indices.
        size: the output side.

    Returns:
        ``(triangle (size*size,) int, -1 where no triangle covers the pixel centre; barycentric
        (size*size, 3))``.
    """
    points = np.asarray(points, np.float64)
    owner = np.full(size * size, -1, np.int64)
    bary = np.zeros((size * size, 3), np.float64)
    for t, (i, j, k) in enumerate(triangles):
        a, b, c = points[i], points[j], points[k]
        x0, y0 = np.floor(np.minimum(np.minimum(a, b), c)).astype(int)
        x1, y1 = np.ceil(np.maximum(np.maximum(a, b), c)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size - 1), min(y1, size - 1)
        if x1 < x0 or y1 < y0:
            continue
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        matrix = np.array([[a[0] - c[0], b[0] - c[0]], [a[1] - c[1], b[1] - c[1]]])
        determinant = np.linalg.det(matrix)
        if abs(determinant) < 1e-12:
            continue
        inverse = np.linalg.inv(matrix)
        rel = np.stack([xs.ravel() - c[0], ys.ravel() - c[1]])
        l1, l2 = inverse @ rel
        l3 = 1.0 - l1 - l2
        inside = (l1 >= -1e-9) & (l2 >= -1e-9) & (l3 >= -1e-9)
        flat = (ys.ravel() * size + xs.ravel())[inside]
        free = owner[flat] < 0
        owner[flat[free]] = t
        bary[flat[free]] = np.stack([l1, l2, l3], -1)[inside][free]
    return owner, bary


def sample_bilinear(image, coordinates):
    """Sample ``image`` ``(H, W, C)`` at float ``(x, y)`` ``coordinates`` ``(M, 2)`` (pixel centres at
    integers), bilinearly; points outside the image are 0. Returns float32 ``(M, C)``."""
    image = np.asarray(image)
    height, width, channels = image.shape
    padded = np.zeros((height + 2, width + 2, channels), np.float32)  # a ring of zeros around the image
    padded[1:-1, 1:-1] = image
    x = np.clip(coordinates[:, 0] + 1.0, 0.0, width + 1.0)
    y = np.clip(coordinates[:, 1] + 1.0, 0.0, height + 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), width)
    y0 = np.minimum(np.floor(y).astype(np.int64), height)
    fx, fy = (x - x0).astype(np.float32)[:, None], (y - y0).astype(np.float32)[:, None]
    flat = padded.reshape(-1, channels)
    top = y0 * (width + 2) + x0
    bottom = top + width + 2
    return ((flat[top] * (1 - fx) + flat[top + 1] * fx) * (1 - fy)
            + (flat[bottom] * (1 - fx) + flat[bottom + 1] * fx) * fy)


def convex_hull_mask(points, size):
    """Boolean ``(size, size)`` mask of the pixel centres inside the convex hull of ``points`` ``(K, 2)``."""
    points = np.asarray(points, np.float64)
    hull = _convex_hull(points)
    ys, xs = np.mgrid[0:size, 0:size]
    inside = np.ones((size, size), bool)
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        inside &= (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]) >= -1e-9
    return inside


def _convex_hull(points):
    """Andrew's monotone chain; counter-clockwise in x-right, y-up terms (positive cross products)."""
    order = sorted(map(tuple, points))

    def half(sequence):
        chain = []
        for p in sequence:
            while len(chain) >= 2 and (chain[-1][0] - chain[-2][0]) * (p[1] - chain[-2][1]) - (
                    chain[-1][1] - chain[-2][1]) * (p[0] - chain[-2][0]) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(order), half(reversed(order))
    return np.array(lower[:-1] + upper[:-1])


class Frontalizer:
    """Warp faces onto the mean shape with a piecewise-affine map on a coarse landmark subset.

    Args:
        geometry: the output `Geometry` (the mean shape in output pixels).
        subset: indices of the landmarks pinned to the mean shape (`kerasfg.data.landmarks.COARSE`).
        mask: black out the pixels outside the mean face (the convex hull of all its landmarks).
        anchors: points per output side (corners included) that follow the frame's similarity
            alignment, so that the warp covers the whole output; 0 warps the subset's hull only.

    Call arguments (`warp`):
        image: ``(H, W, C)`` uint8 frame.
        points: ``(K, 2)`` its landmarks.
        noise: standard deviation, in output pixels, of Gaussian noise added to the reference positions
            of the subset (the landmark-noise augmentation); 0 for none. Each output pixel keeps its
            triangle of the noise-free mesh (see `_barycentric`).
        rng: a ``numpy.random.Generator`` for the noise.

    Example:

    ```python
    frontalizer = Frontalizer(Geometry.from_mean_shape(result.mean_shape, 224))
    face = frontalizer.warp(frame, landmarks)              # (224, 224, 3) uint8
    ```
    """

    def __init__(self, geometry, subset=landmarks_lib.COARSE, mask=True, anchors=3):
        self.geometry = geometry
        self.subset = landmarks_lib.check_subset(subset, len(geometry.target))
        size = geometry.size
        if anchors:
            side = np.linspace(0.0, size - 1.0, max(int(anchors), 2))
            border = {(float(u), float(v)) for u in side for v in (0.0, size - 1.0)}
            border |= {(float(v), float(u)) for u in side for v in (0.0, size - 1.0)}
            self.anchors = np.array(sorted(border))
        else:
            self.anchors = np.zeros((0, 2))
        self.destination = np.vstack([geometry.target[self.subset], self.anchors])
        self.triangles = delaunay(self.destination)
        self.owner, self.barycentric = rasterize(self.destination, self.triangles, size)
        self.mask = convex_hull_mask(geometry.target, size) if mask else np.ones((size, size), bool)
        self._covered = (self.owner >= 0) & self.mask.ravel()

    def _barycentric(self, destination, owner, covered):
        """Barycentric coordinates of the covered pixels in their triangles with moved ``destination`` vertices.

        Each pixel keeps its triangle of the reference mesh: for landmark noise of a few pixels this differs
        from re-triangulating only in a band as wide as the noise along the edges, where the two
        neighbouring affine maps nearly agree.
        """
        vertices = destination[self.triangles]  # (T, 3, 2)
        a, b, c = vertices[:, 0], vertices[:, 1], vertices[:, 2]
        matrices = np.stack([a - c, b - c], axis=-1)  # (T, 2, 2): columns a - c and b - c
        inverse = np.linalg.inv(matrices)
        pixels = np.flatnonzero(covered)
        relative = np.stack([pixels % self.geometry.size, pixels // self.geometry.size], -1) - c[owner]
        l12 = np.einsum("mij,mj->mi", inverse[owner], relative)
        return np.concatenate([l12, 1.0 - l12.sum(-1, keepdims=True)], axis=-1)

    def source_points(self, points):
        """The subset and the anchors mapped back into the frame whose landmarks are ``points``."""
        points = np.asarray(points, np.float64)
        back = invert_transform(similarity_transform(points, self.geometry.target))
        return np.vstack([points[self.subset], apply_transform(back, self.anchors)])

    def warp(self, image, points, noise=0.0, rng=None):
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        source = self.source_points(points)
        size = self.geometry.size
        covered = self._covered
        owner = self.owner[covered]
        if noise:
            rng = rng if rng is not None else np.random.default_rng()
            destination = self.destination.copy()
            destination[: len(self.subset)] += rng.normal(0.0, noise, (len(self.subset), 2))
            barycentric = self._barycentric(destination, owner, covered)
        else:
            barycentric = self.barycentric[covered]
        corners = source[self.triangles[owner]]  # (M, 3, 2)
        where = np.einsum("mk,mkd->md", barycentric, corners)
        out = np.zeros((size * size, image.shape[2]), np.float32)
        out[covered] = sample_bilinear(image, where)
        return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(size, size, image.shape[2])


# === Normalization ===


def pixel_mean(frames, batch_size=256):
    """The per-pixel mean ``(H, W, C)`` float32 of uint8 ``frames`` ``(N, H, W, C)`` (arrays or memmaps)."""
    total = None
    for start in range(0, len(frames), batch_size):
        chunk = np.asarray(frames[start:start + batch_size], np.float64).sum(axis=0)
        total = chunk if total is None else total + chunk
    if total is None:
        raise ValueError("pixel_mean needs at least one frame.")
    return (total / len(frames)).astype(np.float32)


def global_contrast_normalize(images, mean_image=None, *, scale=1.0, epsilon=1e-6, mask=None):
    """Per-pixel mean subtraction followed by global contrast normalization.

    ``x - mean_image``, then per image ``scale * (x - m) / max(epsilon, s)`` with ``m`` and ``s`` the mean and
    the standard deviation of the image's pixels inside ``mask`` (all pixels without one), and 0 outside
    the mask, so the masked background stays a real zero.

    Args:
        images: ``(N, H, W, C)`` or ``(H, W, C)`` pixels.
        mean_image: ``(H, W, C)`` per-pixel mean of the training frames (`pixel_mean`), or None.
        scale: the standard deviation the normalized images get.
        epsilon: floor of the divisor (flat images).
        mask: ``(H, W)`` bool, the pixels that count.

    Returns:
        float32 images of the input's shape.
    """
    x = np.asarray(images, np.float32)
    single = x.ndim == 3
    x = x[None] if single else x
    if mean_image is not None:
        x = x - np.asarray(mean_image, np.float32)
    weights = (np.ones(x.shape[1:3], np.float32) if mask is None else np.asarray(mask, np.float32))[None, ..., None]
    count = weights.sum() * x.shape[-1]
    mean = (x * weights).sum(axis=(1, 2, 3), keepdims=True) / count
    std = np.sqrt((((x - mean) * weights) ** 2).sum(axis=(1, 2, 3), keepdims=True) / count)
    out = scale * (x - mean) / np.maximum(std, epsilon) * weights
    return out[0] if single else out


# === Whole videos ===


@dataclasses.dataclass(frozen=True)
class Registration:
    """How to register the frames of a face video.

    Attributes:
        method: ``"aligned_crop"`` (the thesis's best input) or ``"frontalize"``.
        size: output side (224).
        face_fraction: the mean face's width over the side (`Geometry.from_mean_shape`); by default 0.55
            for the aligned crop (background around the face, as in VGG-Face's training images) and 0.8
            for frontalization (whose background is masked).
        subset: the landmarks frontalization pins (`kerasfg.data.landmarks.COARSE` by default).
        mask: black out the pixels outside the mean face (the convex hull of its landmarks); by default
            True for frontalization (the canonical normalized appearance) and False for the aligned crop
            (True gives the thesis's "Align" input: aligned and masked, not warped).
    """

    method: str = "aligned_crop"
    size: int = 224
    face_fraction: float | None = None
    subset: tuple = landmarks_lib.COARSE
    mask: bool | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"Registration.method must be one of {METHODS}; received {self.method!r}.")
        if self.face_fraction is None:
            object.__setattr__(self, "face_fraction", 0.55 if self.method == "aligned_crop" else 0.8)
        if self.mask is None:
            object.__setattr__(self, "mask", self.method == "frontalize")
        object.__setattr__(self, "subset", tuple(int(i) for i in self.subset))

    def key(self, mean_shape):
        """A short hash of the settings and the mean shape, naming a cache of the warped frames."""
        payload = json.dumps({**dataclasses.asdict(self), "subset": list(map(int, self.subset)),
                              "mean_shape": np.round(np.asarray(mean_shape), 6).tolist()}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


@dataclasses.dataclass
class RegisteredFrames:
    """Warped frames of a video, in the video's frame order.

    Attributes:
        frames: uint8 ``(N, size, size, C)``: an array, or a read-only memmap of the cache file.
        mean_shape: the normalized mean shape the frames were registered to.
        geometry: where it lies in the output.
        mask: ``(size, size)`` bool, the face pixels (all True for the aligned crop).
        registration: the settings.
        warp: the `Frontalizer` (frontalization) that also makes augmented warps, or None.
    """

    frames: np.ndarray
    mean_shape: np.ndarray
    geometry: Geometry
    mask: np.ndarray
    registration: Registration
    warp: object = None


def register_video(video, registration=Registration(), *, mean_shape=None, cache_dir=None, workers=None,
                   progress=True):
    """Register every frame of ``video`` (a `kerasfg.data.video.FaceVideo`).

    Args:
        video: the frames and their landmarks.
        registration: the `Registration` settings.
        mean_shape: the normalized mean shape to register to; by default the Procrustes mean of the
            video's own landmarks. Pass the training fold's mean to register a test fold.
        cache_dir: a folder for the warped frames: the result is written to
            ``<cache_dir>/<video name>-<settings key>.npy`` (through a temporary file renamed into place) and
            read back, without warping again, by later calls with the same video and settings.
        workers: threads that warp in parallel (all cores by default).
        progress: show a progress bar.

    Returns:
        A `RegisteredFrames`.
    """
    if mean_shape is None:
        mean_shape = generalized_procrustes(video.landmarks).mean_shape
    geometry = Geometry.from_mean_shape(mean_shape, registration.size, registration.face_fraction)
    frontalizer = None
    if registration.method == "frontalize":
        frontalizer = Frontalizer(geometry, registration.subset, mask=registration.mask)
        mask = frontalizer.mask
    elif registration.mask:
        mask = convex_hull_mask(geometry.target, registration.size)
    else:
        mask = np.ones((registration.size, registration.size), bool)
    result = RegisteredFrames(frames=None, mean_shape=np.asarray(mean_shape), geometry=geometry, mask=mask,
                              registration=registration, warp=frontalizer)
    cache = None
    if cache_dir is not None:
        cache = pathlib.Path(cache_dir) / f"{video.cache_name}-{registration.key(mean_shape)}.npy"
        if cache.is_file():
            frames = np.load(cache, mmap_mode="r")
            if frames.shape[0] == len(video):
                log.info("registered frames read from the cache %s", cache)
                result.frames = frames
                return result
            log.warning("ignoring the cache %s: it holds %d frames, the video %d", cache, frames.shape[0],
                        len(video))

    def warp_one(index):
        image = video.frame(index)
        points = video.landmarks[index]
        if frontalizer is not None:
            return frontalizer.warp(image, points)
        crop = aligned_crop(image, points, geometry)
        return crop if mask.all() else crop * mask[..., None].astype(np.uint8)

    shape = (len(video), registration.size, registration.size, video.channels)
    if cache is None:
        out = np.empty(shape, np.uint8)
        temp = None
    else:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        out = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=shape)
    try:
        _run_parallel(warp_one, len(video), out, workers, progress, f"registering {video.name}")
        if temp is not None:
            out.flush()
            del out
            os.replace(temp, cache)
            out = np.load(cache, mmap_mode="r")
    finally:
        if temp is not None and temp.exists():
            temp.unlink()
    result.frames = out
    return result


def _run_parallel(function, count, out, workers, progress, description):
    from tqdm.auto import tqdm

    with concurrent.futures.ThreadPoolExecutor(workers or _workers()) as pool, \
            tqdm(total=count, desc=description, unit="frame", disable=not progress) as bar:
        chunk = 64
        for start in range(0, count, chunk):
            indices = range(start, min(start + chunk, count))
            for index, image in zip(indices, pool.map(function, indices)):
                out[index] = image
            bar.update(len(indices))
