"""How encoded images become model pixels: the one decode/resize definition of kerasfg.

The training pipeline (:mod:`kerasfg.data.pipeline`), the exported serving signatures
(:mod:`kerasfg.export`), ``kerasfg visualize`` and ``kerasfg export RUN_DIR`` all turn images into pixels with
:func:`decode` and :func:`resize`, configured by one :class:`Preprocessing`. A training run records its
preprocessing in the run directory (``preprocessing.json``, see :func:`recorded_preprocessing`), so that every
later use of the model feeds it the pixels it was trained on. Only stock TensorFlow ops are used
(``DecodeImage``, ``ResizeBilinear``...), so the serving graph runs in TensorFlow Serving as is.

TensorFlow is imported when an image is processed, not with this module, so that the command line can read
and describe a preprocessing without loading it.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

RESIZE_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")
PREPROCESSING_FILE = "preprocessing.json"
"""The file of a run directory that records the run's :class:`Preprocessing`."""

ASSUMED = ("assumed, the training preprocessing being unknown: a bilinear resize without antialiasing, not "
           "rounded, as keras.utils.image_dataset_from_directory does")
"""The origin of the :class:`Preprocessing` that an export assumes for a model whose training is unknown."""


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How encoded image bytes become the model's ``image`` input: decoded, converted to ``channels``, resized.

    Args:
        image_size: ``(height, width)`` the decoded image is resized to; an image of that size is used as is.
        channels: 3 (RGB) or 1 (grayscale). Images of other channel counts are converted: grayscale is
            repeated to RGB, RGB becomes grayscale with ``tf.image.rgb_to_grayscale``, alpha is dropped.
        resize_method: a ``tf.image.ResizeMethod`` name. Bicubic and area do not compile under XLA, which
            does not matter for serving (signatures are never jit-compiled) but does for training steps.
        antialias: passed to ``tf.image.resize``; matters when shrinking large photos.
        quantize: round the resized pixels to integers, as kerasfg's training pipeline does (it caches resized
            images as uint8).
        origin: where this description comes from (a ``preprocessing.json`` path, ``"assumed: ..."``); not part
            of the comparison.

    The pixels are float32 in 0..255, NHWC; normalization belongs to the model (a layer), not here.
    """

    image_size: tuple[int, int]
    channels: int = 3
    resize_method: str = "bilinear"
    antialias: bool = False
    quantize: bool = False
    origin: str = dataclasses.field(default="", compare=False)

    def __post_init__(self):
        try:
            size = tuple(int(s) for s in self.image_size)
        except (TypeError, ValueError):
            size = ()
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"image_size must be (height, width) with positive sizes, got {self.image_size!r}")
        object.__setattr__(self, "image_size", size)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.resize_method not in RESIZE_METHODS:
            raise ValueError(f"resize_method must be one of {RESIZE_METHODS}, got {self.resize_method!r}")
        object.__setattr__(self, "antialias", bool(self.antialias))
        object.__setattr__(self, "quantize", bool(self.quantize))

    @classmethod
    def pipeline(cls, image_size, channels=3, resize_method="bilinear", antialias=True, origin=""):
        """What kerasfg's training pipeline does: resize (with antialiasing by default), round to uint8."""
        return cls(image_size, channels, resize_method, antialias, quantize=True, origin=origin)

    def describe(self) -> dict:
        """A JSON-serializable description (``preprocessing.json``, the SavedModel's metadata)."""
        described = {
            "decode": "tf.io.decode_image (JPEG, PNG, GIF first frame, BMP, WebP), then converted to channels",
            "channels": self.channels,
            "resize": {"size": list(self.image_size), "method": self.resize_method, "antialias": self.antialias},
            "quantize": self.quantize,
            "output": "float32 pixels in 0..255, NHWC; normalization is part of the model",
        }
        if self.origin:
            described["origin"] = self.origin
        return described

    @classmethod
    def from_description(cls, described, origin=None) -> Preprocessing:
        """The preprocessing that :meth:`describe` described.

        Raises:
            ValueError: ``described`` is not such a description (names the missing or bad field).
        """
        try:
            resize = described["resize"]
            return cls(tuple(resize["size"]), described["channels"], resize["method"], resize["antialias"],
                       described.get("quantize", False), origin if origin is not None else
                       described.get("origin", ""))
        except (KeyError, TypeError) as error:
            raise ValueError(f"expected a preprocessing description {{'channels', 'resize': {{'size', 'method', "
                             f"'antialias'}}, 'quantize'}}, got {described!r} (missing {error})") from None

    def summary(self) -> str:
        """One line for people: ``RGB, resized to 64x64 (bilinear, antialiased), rounded``."""
        h, w = self.image_size
        color = "RGB" if self.channels == 3 else "grayscale"
        how = self.resize_method + (", antialiased" if self.antialias else "")
        return f"{color}, resized to {h}x{w} ({how}){', rounded' if self.quantize else ''}"

    def write(self, path):
        """Write :meth:`describe` as JSON to ``path``, atomically."""
        from kerasfg.io_utils import write_json

        write_json(path, {key: value for key, value in self.describe().items() if key != "origin"})
        return pathlib.Path(path)

    @classmethod
    def read(cls, path) -> Preprocessing:
        """The preprocessing recorded in ``path`` (a ``preprocessing.json``); its origin is the path.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not a preprocessing description.
        """
        path = pathlib.Path(path)
        try:
            described = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: not a preprocessing description in JSON ({error})") from None
        try:
            return cls.from_description(described, origin=str(path))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


def recorded_preprocessing(model_path):
    """The :class:`Preprocessing` recorded by the run that wrote ``model_path``, or None.

    Args:
        model_path: a run directory, or a model file in one (``RUN/model.keras``,
            ``RUN/checkpoints/best.keras``).
    """
    path = pathlib.Path(model_path)
    folders = [path] if path.is_dir() else [path.parent, path.parent.parent]
    for folder in folders:
        if (folder / PREPROCESSING_FILE).is_file():
            return Preprocessing.read(folder / PREPROCESSING_FILE)
    return None


def model_preprocessing(model_path, image_shape):
    """The preprocessing of the model in ``model_path``: the one its run recorded, else (a ``.keras`` file
    from elsewhere) the assumed one, whose ``origin`` is :data:`ASSUMED`.

    Args:
        model_path: a run directory or a model file.
        image_shape: ``(height, width, channels)`` of the model's image input.
    """
    recorded = recorded_preprocessing(model_path)
    if recorded is not None:
        return recorded
    return Preprocessing(tuple(image_shape[:2]), image_shape[2], origin=ASSUMED)


def assumption_note(model_path, preprocessing):
    """What the command line says about an assumed preprocessing."""
    return (f"{model_path} comes with no {PREPROCESSING_FILE}, so the preprocessing is {preprocessing.origin}: "
            f"{preprocessing.summary()}")


# === In the graph ===


def to_channels(image, channels):
    """Convert a decoded uint8 ``[H, W, c]`` image with c in 1..4 to exactly ``channels`` (1 or 3)."""
    import tensorflow as tf

    c = tf.shape(image)[-1]
    if channels == 3:
        out = tf.cond(c < 3, lambda: tf.image.grayscale_to_rgb(image[..., :1]), lambda: image[..., :3])
    elif channels == 1:
        out = tf.cond(c < 3, lambda: image[..., :1], lambda: tf.image.rgb_to_grayscale(image[..., :3]))
    else:
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    out.set_shape([None, None, channels])
    return out


def decode(encoded, channels):
    """Decode one encoded image (a scalar string tensor) to uint8 ``[H, W, channels]``.

    Raises ``tf.errors.InvalidArgumentError`` (TF Serving answers INVALID_ARGUMENT) for bytes that are not an
    image.
    """
    import tensorflow as tf

    return to_channels(tf.io.decode_image(encoded, channels=0, expand_animations=False), channels)


def resize(image, preprocessing: Preprocessing):
    """Resize a decoded ``[H, W, C]`` image to float32 ``preprocessing.image_size`` pixels in 0..255.

    An image already of that size is used as is; otherwise ``tf.image.resize`` with the method and
    antialiasing of ``preprocessing``, then rounding (``quantize``) and clipping to 0..255 (bicubic and
    lanczos overshoot), as a uint8 cache would store them.
    """
    import tensorflow as tf

    size = tf.constant(preprocessing.image_size, tf.int32)
    pixels = tf.cast(image, tf.float32)

    def resized():
        out = tf.image.resize(pixels, size, method=preprocessing.resize_method, antialias=preprocessing.antialias)
        if preprocessing.quantize:
            out = tf.round(out)
        return tf.clip_by_value(out, 0.0, 255.0)

    out = tf.cond(tf.reduce_all(tf.equal(tf.shape(image)[:2], size)), lambda: pixels, resized)
    out.set_shape([*preprocessing.image_size, image.shape[-1]])
    return out


def decode_image(encoded, preprocessing: Preprocessing):
    """Decode and resize one encoded image to float32 ``(H, W, C)`` pixels in 0..255: :func:`decode`, then
    :func:`resize`."""
    return resize(decode(encoded, preprocessing.channels), preprocessing)


def decode_images(encoded_batch, preprocessing: Preprocessing):
    """Decode a 1-D batch of encoded images to float32 ``(B, H, W, C)`` pixels in 0..255."""
    import tensorflow as tf

    height, width = preprocessing.image_size
    return tf.map_fn(
        lambda encoded: decode_image(encoded, preprocessing),
        encoded_batch,
        fn_output_signature=tf.TensorSpec((height, width, preprocessing.channels), tf.float32),
    )
