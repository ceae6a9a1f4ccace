"""Image decoding shared by training input pipelines and the exported serving signatures.

The ``serving_default`` signature decodes encoded images inside the graph with exactly these functions, so a
model served from bytes sees the same pixels as it saw in training. Only stock TensorFlow ops are used
(``DecodeImage``, ``ResizeBilinear``...), so the graph runs in TensorFlow Serving as is.
"""

from __future__ import annotations

import dataclasses

RESIZE_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How encoded image bytes become the model's ``image`` input.

    Args:
        image_size: ``(height, width)`` the decoded image is resized to.
        channels: 3 (RGB) or 1 (grayscale); decoding converts to this many channels.
        resize_method: a ``tf.image.ResizeMethod`` name. Bicubic and area do not compile under XLA, which
            does not matter for serving (signatures are never jit-compiled) but does for training steps.
        antialias: passed to ``tf.image.resize``.
        quantize: round the resized pixels to integers, as a pipeline that caches resized images as uint8
            does (the values the model was trained on).

    The decoded pixels are float32 in 0..255; normalization belongs to the model (a layer), not here.
    """

    image_size: tuple[int, int]
    channels: int = 3
    resize_method: str = "bilinear"
    antialias: bool = False
    quantize: bool = False

    def __post_init__(self):
        size = tuple(int(s) for s in self.image_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"image_size must be (height, width) with positive sizes, got {self.image_size!r}")
        object.__setattr__(self, "image_size", size)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.resize_method not in RESIZE_METHODS:
            raise ValueError(f"resize_method must be one of {RESIZE_METHODS}, got {self.resize_method!r}")

    def describe(self) -> dict:
        """A JSON-serializable description, stored in the SavedModel's assets."""
        return {
            "decode": "tf.io.decode_image (JPEG, PNG, GIF first frame, BMP, WebP)",
            "channels": self.channels,
            "resize": {"size": list(self.image_size), "method": self.resize_method, "antialias": self.antialias},
            "quantize": self.quantize,
            "output": "float32 pixels in 0..255, NHWC; normalization is part of the model",
        }

    @classmethod
    def from_description(cls, described) -> Preprocessing:
        """The preprocessing that :meth:`describe` described."""
        resize = described["resize"]
        return cls(tuple(resize["size"]), described["channels"], resize["method"], resize["antialias"],
                   described.get("quantize", False))


def decode_image(encoded, preprocessing: Preprocessing):
    """Decode one encoded image (a scalar string tensor) to float32 ``(H, W, C)`` pixels in 0..255.

    Raises ``tf.errors.InvalidArgumentError`` (TF Serving answers INVALID_ARGUMENT) for bytes that are not
    an image.
    """
    import tensorflow as tf  # imported on use, so that the CLI can list RESIZE_METHODS without TensorFlow

    image = tf.io.decode_image(encoded, channels=preprocessing.channels, expand_animations=False)
    image = tf.image.resize(
        image, preprocessing.image_size, method=preprocessing.resize_method, antialias=preprocessing.antialias
    )
    if preprocessing.quantize:
        image = tf.round(image)
    # Resizing may overshoot 0..255 slightly (bicubic, lanczos); clip as a uint8 cache would.
    return tf.clip_by_value(image, 0.0, 255.0)


def decode_images(encoded_batch, preprocessing: Preprocessing):
    """Decode a 1-D batch of encoded images to float32 ``(B, H, W, C)`` pixels in 0..255."""
    import tensorflow as tf

    height, width = preprocessing.image_size
    return tf.map_fn(
        lambda encoded: decode_image(encoded, preprocessing),
        encoded_batch,
        fn_output_signature=tf.TensorSpec((height, width, preprocessing.channels), tf.float32),
    )
