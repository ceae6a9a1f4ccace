"""kerasfg.data.preprocessing: the one decode/resize definition of training and serving, and its record."""

import json

import numpy as np
import pytest
import tensorflow as tf

from kerasfg.data.preprocessing import (
    ASSUMED,
    PREPROCESSING_FILE,
    Preprocessing,
    decode_images,
    model_preprocessing,
    recorded_preprocessing,
)


def _faces(count, size, seed=0, channels=3):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, channels)).astype(np.uint8)


def _png(pixels):
    return bytes(tf.io.encode_png(pixels).numpy())


def test_png_at_the_model_size_decodes_exactly():
    faces = _faces(2, 12)
    pixels = decode_images(tf.constant([_png(f) for f in faces]), Preprocessing((12, 12)))
    assert pixels.dtype == tf.float32 and pixels.shape == (2, 12, 12, 3)
    np.testing.assert_array_equal(pixels.numpy(), faces.astype(np.float32))


def test_resize_against_tensorflow_and_quantization():
    face = _faces(1, 20)[0]
    png = tf.constant([_png(face)])
    smooth = decode_images(png, Preprocessing((8, 8), resize_method="area")).numpy()
    want = tf.image.resize(face.astype(np.float32)[None], (8, 8), method="area").numpy()
    np.testing.assert_allclose(smooth, want, rtol=1e-6)
    assert not np.array_equal(smooth, np.round(smooth))
    rounded = decode_images(png, Preprocessing((8, 8), resize_method="area", quantize=True)).numpy()
    np.testing.assert_array_equal(rounded, np.round(want))
    antialiased = decode_images(png, Preprocessing((8, 8), antialias=True)).numpy()
    np.testing.assert_allclose(antialiased, tf.image.resize(face[None], (8, 8), antialias=True).numpy(), rtol=1e-6)


def test_channels_are_converted_like_the_training_pipeline():
    """Grayscale files become RGB by repetition, RGBA files lose alpha, RGB becomes grayscale with
    tf.image.rgb_to_grayscale: for every channel count the file has."""
    gray = _faces(1, 6, channels=1)[0]
    rgb = decode_images(tf.constant([_png(gray)]), Preprocessing((6, 6))).numpy()[0]
    np.testing.assert_array_equal(rgb, np.repeat(gray, 3, axis=-1).astype(np.float32))
    rgba = _faces(1, 6, channels=4, seed=1)[0]
    np.testing.assert_array_equal(decode_images(tf.constant([_png(rgba)]), Preprocessing((6, 6))).numpy()[0],
                                  rgba[..., :3].astype(np.float32))
    color = _faces(1, 6, seed=2)[0]
    got = decode_images(tf.constant([_png(color)]), Preprocessing((6, 6), channels=1)).numpy()[0]
    np.testing.assert_array_equal(got, tf.image.rgb_to_grayscale(color).numpy().astype(np.float32))


def test_description_round_trip_and_validation(tmp_path):
    pre = Preprocessing.pipeline((64, 48), channels=1, resize_method="bicubic")
    described = pre.describe()
    assert described["resize"] == {"size": [64, 48], "method": "bicubic", "antialias": True}
    assert described["channels"] == 1 and described["quantize"] is True
    assert Preprocessing.from_description(json.loads(json.dumps(described))) == pre
    assert Preprocessing.read(pre.write(tmp_path / PREPROCESSING_FILE)) == pre
    assert pre.summary() == "grayscale, resized to 64x48 (bicubic, antialiased), rounded"
    with pytest.raises(ValueError, match="resize_method"):
        Preprocessing((8, 8), resize_method="cubic")
    with pytest.raises(ValueError, match="image_size"):
        Preprocessing((8,))
    with pytest.raises(ValueError, match="channels"):
        Preprocessing((8, 8), channels=4)
    (tmp_path / "bad.json").write_text('{"channels": 3}')
    with pytest.raises(ValueError, match=r"bad\.json: expected a preprocessing description"):
        Preprocessing.read(tmp_path / "bad.json")


def test_a_run_records_its_preprocessing_for_its_models(tmp_path):
    run = tmp_path / "runs" / "exp" / "1"
    (run / "checkpoints").mkdir(parents=True)
    pre = Preprocessing.pipeline((32, 32))
    pre.write(run / PREPROCESSING_FILE)
    for place in (run, run / "model.keras", run / "checkpoints" / "best.keras"):
        found = recorded_preprocessing(place)
        assert found == pre and found.origin == str(run / PREPROCESSING_FILE)
    assert recorded_preprocessing(tmp_path / "elsewhere.keras") is None
    assumed = model_preprocessing(tmp_path / "elsewhere.keras", (16, 16, 1))
    assert assumed == Preprocessing((16, 16), 1) and assumed.origin == ASSUMED
