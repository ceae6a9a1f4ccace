"""The in-graph decoding shared by serving_default and training pipelines."""

import numpy as np
import pytest
import tensorflow as tf
from export_helpers import encode_png, random_faces

from kerasfg.export.preprocess import Preprocessing, decode_images


def test_png_at_the_model_size_decodes_exactly():
    faces = random_faces(2, size=12)
    pixels = decode_images(tf.constant([encode_png(f) for f in faces]), Preprocessing((12, 12)))
    assert pixels.dtype == tf.float32 and pixels.shape == (2, 12, 12, 3)
    np.testing.assert_array_equal(pixels.numpy(), faces.astype(np.float32))


def test_resize_grayscale_conversion_and_quantization():
    face = random_faces(1, size=20)[0]
    png = tf.constant([encode_png(face)])
    smooth = decode_images(png, Preprocessing((8, 8), resize_method="area")).numpy()
    want = tf.image.resize(face.astype(np.float32)[None], (8, 8), method="area").numpy()
    np.testing.assert_allclose(smooth, want, rtol=1e-6)
    assert not np.array_equal(smooth, np.round(smooth))
    rounded = decode_images(png, Preprocessing((8, 8), resize_method="area", quantize=True)).numpy()
    np.testing.assert_array_equal(rounded, np.round(want))
    gray = decode_images(png, Preprocessing((8, 8), channels=1)).numpy()
    assert gray.shape == (1, 8, 8, 1)


def test_description_and_validation():
    described = Preprocessing((64, 48), resize_method="bicubic").describe()
    assert described["resize"] == {"size": [64, 48], "method": "bicubic", "antialias": False}
    assert described["channels"] == 3 and described["quantize"] is False
    with pytest.raises(ValueError, match="resize_method"):
        Preprocessing((8, 8), resize_method="cubic")
    with pytest.raises(ValueError, match="image_size"):
        Preprocessing((8,))
    with pytest.raises(ValueError, match="channels"):
        Preprocessing((8, 8), channels=4)
