"""Face detection and alignment; :mod:`kerasfg.data.prepare` (``kerasfg prepare-faces``) runs it on datasets.

Detectors (nothing is downloaded; the models ship in the ``align`` extra's packages):

- ``dlib`` / ``dlib-hog``: dlib's HOG + linear SVM frontal detector (fast, CPU);
- ``dlib-cnn``: dlib's CNN (MMOD) detector, ``mmod_human_face_detector.dat`` from ``face-recognition-models``
  (more robust to pose, about 20x slower on CPU);
- ``mtcnn``: MTCNN (``mtcnn`` 1.0.0, TensorFlow), which also gives 5 landmarks.

Landmarks: dlib's 68-point or 5-point shape predictor (``face-recognition-models``), or MTCNN's own 5 points.
All are reduced to five canonical points: image-left eye centre, image-right eye centre, nose tip, left and
right mouth corner (dlib's 5-point model has eye corners and the nose base only, so with it only the two eye
centres are used). A similarity transform (rotation, uniform scale, translation; least squares, Umeyama 1991)
maps them onto :data:`TEMPLATE`, the 112x112 ArcFace template, scaled to the output size and shrunk by
``margin`` (``margin=0.2`` adds 20% of the face width of context on each side).

The 68-point model is trained on iBUG 300-W, whose licence excludes commercial use: flag this downstream.
"""

import dataclasses
import importlib.util
import logging
import pathlib

import numpy as np

log = logging.getLogger(__name__)

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], np.float64) / 112.0
"""Canonical landmarks in the unit square (x, y): left eye, right eye, nose tip, left and right mouth corner
(image left/right), from the 112x112 ArcFace template."""

DETECTORS = ("dlib-hog", "dlib-cnn", "mtcnn")
ALIASES = {"dlib": "dlib-hog", "hog": "dlib-hog", "cnn": "dlib-cnn", "mmod": "dlib-cnn", "dlib-mmod": "dlib-cnn"}


def template_points(size, margin=0.0):
    """The five template points in pixels for an output of ``size`` (an int or ``(height, width)``)."""
    h, w = (size, size) if np.isscalar(size) else size
    unit = (TEMPLATE - 0.5) / (1.0 + 2.0 * margin) + 0.5
    return unit * np.array([w, h], np.float64)


def similarity_transform(src, dst):
    """The 2x3 similarity (no reflection) that maps points ``src`` onto ``dst`` in the least-squares sense."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * sign).sum() / var
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def warp_affine(image, matrix, size):
    """Warp a uint8 ``[H, W, C]`` image with the 2x3 ``matrix`` (input -> output pixels), bilinear.

    Pixel centres are at integer coordinates, as landmark detectors report them.
    """
    from PIL import Image

    h, w = (size, size) if np.isscalar(size) else size
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(full)
    # PIL samples output pixel (x, y) at its centre (x + 0.5, y + 0.5) and reads input pixel i at i + 0.5.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    coeffs = (shift @ inv @ np.linalg.inv(shift))[:2].ravel()
    image = np.asarray(image, np.uint8)
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    out = pil.transform((w, h), Image.Transform.AFFINE, tuple(coeffs), resample=Image.Resampling.BILINEAR)
    out = np.asarray(out, np.uint8)
    return out[..., None] if out.ndim == 2 else out


@dataclasses.dataclass
class Face:
    """A detected face: ``box`` (left, top, right, bottom), detector ``score``, the five canonical
    ``landmarks`` (``[5, 2]`` x, y; NaN rows where the model gives no such point) and, with the 68-point
    model, all ``points``."""

    box: tuple
    score: float
    landmarks: np.ndarray
    points: np.ndarray = None

    @property
    def area(self):
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    @property
    def eyes(self):
        return self.landmarks[:2]


def model_path(name):
    """Path of a model file shipped by ``face-recognition-models`` (found without importing the package,
    whose ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise ImportError("face alignment needs the 'align' extra: pip install 'kerasfg[align]' "
                          "(dlib-bin and face-recognition-models)")
    path = pathlib.Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the face-recognition-models installation")
    return str(path)


def landmarks_from_68(points):
    """Five canonical points from dlib's 68: eye centres (36-41, 42-47), nose tip (30), mouth corners (48, 54)."""
    return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])


def landmarks_from_dlib5(points):
    """dlib's 5-point model: 0-1 corners of the image-right eye, 2-3 of the image-left eye, 4 nose base.
    Only the eye centres correspond to template points; the others are NaN."""
    out = np.full((5, 2), np.nan)
    out[0] = points[2:4].mean(0)
    out[1] = points[0:2].mean(0)
    return out


class FaceAligner:
    """Detect faces, find their landmarks and warp them onto the canonical template.

    Args:
        detector: ``"dlib"`` (= ``"dlib-hog"``), ``"dlib-cnn"`` or ``"mtcnn"``.
        landmarks: 68 or 5. With ``mtcnn``, 5 uses MTCNN's own points and 68 runs dlib's predictor in the
            MTCNN box.
        size: output size, an int or ``(height, width)``.
        margin: extra context around the template face, as a fraction of the template width per side.
        upsample: dlib detectors' image upsampling (1 finds faces down to about 40 px).
        min_side: images whose shorter side is below this are enlarged (bilinear) before detection, so that
            small crops (LFW's 25x25) are found.
        min_score: detections scoring below this are ignored (dlib HOG margin, MMOD or MTCNN confidence).
    """

    def __init__(self, detector="dlib-hog", landmarks=68, size=112, margin=0.0, upsample=1, min_side=100,
                 min_score=0.0):
        detector = ALIASES.get(detector, detector)
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; expected one of "
                             f"{sorted(DETECTORS + tuple(ALIASES))}")
        if landmarks not in (5, 68):
            raise ValueError(f"landmarks must be 5 or 68, got {landmarks!r}")
        self.detector_name = detector
        self.landmarks = landmarks
        self.size = (size, size) if np.isscalar(size) else tuple(size)
        self.margin = float(margin)
        self.upsample = int(upsample)
        self.min_side = int(min_side)
        self.min_score = float(min_score)
        self._detector = None
        self._predictor = None

    def config(self):
        return {"detector": self.detector_name, "landmarks": self.landmarks, "size": self.size,
                "margin": self.margin, "upsample": self.upsample, "min_side": self.min_side,
                "min_score": self.min_score}

    # --- models, loaded on first use (so that an aligner can be sent to worker processes cheaply) ---

    def _load(self):
        if self._detector is not None:
            return
        if self.detector_name == "mtcnn":
            from mtcnn import MTCNN

            self._detector = MTCNN(device="CPU:0")
        else:
            import dlib

            self._detector = (dlib.get_frontal_face_detector() if self.detector_name == "dlib-hog" else
                              dlib.cnn_face_detection_model_v1(model_path("mmod_human_face_detector.dat")))
        if self.detector_name != "mtcnn" or self.landmarks == 68:
            import dlib

            name = ("shape_predictor_68_face_landmarks.dat" if self.landmarks == 68 else
                    "shape_predictor_5_face_landmarks.dat")
            self._predictor = dlib.shape_predictor(model_path(name))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_detector"] = state["_predictor"] = None
        return state

    # --- detection ---

    @staticmethod
    def as_rgb(image):
        image = np.asarray(image)
        if image.dtype != np.uint8:
            if image.dtype.kind == "f" and image.max() <= 1.0:
                image = image * 255.0
            image = np.clip(np.round(image), 0, 255).astype(np.uint8)
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        return np.ascontiguousarray(image[..., :3])

    def prepare(self, image):
        """The RGB uint8 image the detector sees, and its scale relative to the input."""
        from PIL import Image

        image = self.as_rgb(image)
        h, w = image.shape[:2]
        scale = max(1.0, self.min_side / min(h, w))
        if scale > 1.0:
            image = np.asarray(Image.fromarray(image).resize((round(w * scale), round(h * scale)),
                                                             Image.Resampling.BILINEAR))
        return image, scale

    def detect(self, image):
        """Faces in a prepared RGB image (see :meth:`prepare`), largest first, coordinates in that image."""
        import dlib

        self._load()
        faces = []
        if self.detector_name == "mtcnn":
            for d in self._detector.detect_faces(image):
                if d["confidence"] < self.min_score:
                    continue
                x, y, w, h = d["box"]
                k = d["keypoints"]
                marks = np.array([k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]],
                                 np.float64)
                faces.append(Face((float(x), float(y), float(x + w), float(y + h)), float(d["confidence"]),
                                  marks))
        elif self.detector_name == "dlib-hog":
            rects, scores, _ = self._detector.run(image, self.upsample, self.min_score)
            faces = [Face((r.left(), r.top(), r.right(), r.bottom()), float(s), None)
                     for r, s in zip(rects, scores)]
        else:
            faces = [Face((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence),
                          None) for d in self._detector(image, self.upsample) if d.confidence >= self.min_score]
        if self._predictor is not None:
            for f in faces:
                rect = dlib.rectangle(*(int(np.round(v)) for v in f.box))
                pts = np.array([(p.x, p.y) for p in self._predictor(image, rect).parts()], np.float64)
                if self.landmarks == 68:
                    f.points, f.landmarks = pts, landmarks_from_68(pts)
                else:
                    f.points, f.landmarks = pts, landmarks_from_dlib5(pts)
        return sorted(faces, key=lambda f: -f.area)

    # --- alignment ---

    def transform(self, face):
        """The 2x3 matrix that maps the face's landmarks onto the template (prepared-image coordinates)."""
        dst = template_points(self.size, self.margin)
        ok = ~np.isnan(face.landmarks).any(axis=1)
        return similarity_transform(face.landmarks[ok], dst[ok])

    def align(self, image):
        """``(aligned uint8 [H, W, 3] of the largest face, number of faces)``; ``(None, 0)`` if none."""
        prepared, _ = self.prepare(image)
        faces = self.detect(prepared)
        if not faces:
            return None, 0
        return warp_affine(prepared, self.transform(faces[0]), self.size), len(faces)

    def align_all(self, image):
        """Aligned crops of every face found, largest first."""
        prepared, _ = self.prepare(image)
        return [warp_affine(prepared, self.transform(f), self.size) for f in self.detect(prepared)]
