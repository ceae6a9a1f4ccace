"""Image file formats: extensions, signatures and encoding; TensorFlow-free (alignment workers use it)."""

import io

import numpy as np
from PIL import Image

TF_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})
PIL_IMAGE_EXTENSIONS = frozenset({".tif", ".tiff", ".pgm", ".ppm", ".pnm", ".webp"})
IMAGE_EXTENSIONS = TF_IMAGE_EXTENSIONS | PIL_IMAGE_EXTENSIONS

_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"), (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"P2", "PGM"), (b"P5", "PGM"), (b"P3", "PPM"),
    (b"P6", "PPM"), (b"RIFF", "WEBP"),
)


def sniff_format(head):
    """The image format named by the first bytes of a file, or ``None`` when they match no known format."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    return None


def encode_image(image, image_format="png"):
    """Encode a uint8 ``[H, W, C]`` NumPy image as PNG (lossless, default) or JPEG (quality 95) bytes."""
    image = np.asarray(image, np.uint8)
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    buf = io.BytesIO()
    if image_format == "png":
        pil.save(buf, format="PNG", compress_level=1)
    elif image_format == "jpeg":
        pil.save(buf, format="JPEG", quality=95)
    else:
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    return buf.getvalue()
