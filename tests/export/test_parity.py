"""Training/serving parity: a served model sees the pixels it was trained on.

A folder dataset of JPEG faces larger than the model input (several sizes) trains one epoch from a config
(``kerasfg train``, which also exports), then ``kerasfg export RUN_DIR`` exports it again as a user would.
``serving_default`` of both exports, given the raw file bytes, must answer what the Keras model answers on the
pixels of the training pipeline.
"""

import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image

from kerasfg.cli import main
from kerasfg.data import load_splits
from kerasfg.data.synthetic import synthetic_faces
from kerasfg.export import read_metadata

INPUT = 32
SIZES = (40, 52, 64)  # every stored face is larger than the model input, and they differ


def write_jpeg_faces(root):
    for part, seed in (("train", 0), ("val", 1), ("test", 2)):
        for size in SIZES:
            faces = synthetic_faces(6, num_identities=3, image_size=size, difficulty=0.0, seed=seed * 10 + size)
            for k, (image, person) in enumerate(zip(faces.images, faces.labels["identity"])):
                folder = root / part / f"person_{person}"
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{size}_{k}.jpg", quality=90)


def probabilities(outputs):
    return np.asarray(outputs["identity"] if isinstance(outputs, dict) else outputs)


@pytest.mark.slow
def test_both_exports_of_a_run_serve_the_pixels_it_was_trained_on(tmp_path, monkeypatch, capsys):
    root = tmp_path / "faces"
    write_jpeg_faces(root)
    config = {
        "name": "parity", "runs_dir": "runs",
        "data": {"source": "dataset", "targets": ["identity"], "batch_size": 8,
                 "dataset": {"name": "folder", "root": str(root), "image_size": [INPUT, INPUT],
                             "options": {"task": "identity"}}},
        "model": {"options": {"widths": [16], "blocks": [1], "hidden_units": 8}},
        "train": {"epochs": 1, "precision": "float32", "jit_compile": False, "verbose": 0},
        "export": {"enabled": True, "base_path": "saved_models/parity"},
    }
    (tmp_path / "parity.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)

    assert main(["train", "parity.yaml"]) == 0
    (run_dir,) = (tmp_path / "runs" / "parity").iterdir()
    assert json.loads((run_dir / "class_names.json").read_text()) == {"identity": ["person_0", "person_1",
                                                                                   "person_2"]}
    recorded = json.loads((run_dir / "preprocessing.json").read_text())
    assert recorded["resize"] == {"size": [INPUT, INPUT], "method": "bilinear", "antialias": True}
    assert recorded["quantize"] is True and recorded["channels"] == 3
    capsys.readouterr()
    assert main(["export", str(run_dir)]) == 0  # the run's default base path: version 2 beside fit's 1
    out = capsys.readouterr().out
    assert "-> saved_models/parity/2" in out and "PASSED" in out
    assert f"preprocessing: RGB, resized to {INPUT}x{INPUT} (bilinear, antialiased), rounded " \
           f"({run_dir / 'preprocessing.json'})" in out
    labels = tmp_path / "saved_models" / "parity" / "2" / "assets" / "identity_labels.txt"
    assert labels.read_text().split() == ["person_0", "person_1", "person_2"]  # from the run's class_names.json
    assert main(["verify-export", "saved_models/parity", "--model", str(run_dir / "model.keras")]) == 0
    assert "PASSED: saved_models/parity/2" in capsys.readouterr().out  # the latest version, recomputed

    # The training pipeline's pixels of the test faces, and the Keras model's answers on them.
    test = load_splits("folder", root, ("test",), image_size=(INPUT, INPUT), task="identity")["test"]
    pixels, _ = test.numpy()
    assert pixels.dtype == np.uint8 and pixels.shape == (len(SIZES) * 6, INPUT, INPUT, 3)
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    assert model.input_shape == (None, INPUT, INPUT, 3)
    expected = probabilities(model.predict_on_batch(pixels.astype(np.float32)))
    # Resizing as the old export did (no antialiasing, no rounding) changes the answers far beyond the
    # tolerance below, so the comparison can tell the two apart.
    naive = np.stack([tf.image.resize(tf.io.decode_jpeg(pathlib.Path(path).read_bytes(), channels=3), (INPUT, INPUT))
                      for path in test.paths])
    assert np.abs(probabilities(model.predict_on_batch(naive)) - expected).max() > 1e-3

    files = tf.constant([pathlib.Path(path).read_bytes() for path in test.paths])
    for version in ("1", "2"):  # 1: written by fit; 2: by `kerasfg export RUN_DIR`
        path = tmp_path / "saved_models" / "parity" / version
        assert read_metadata(path)["preprocessing"]["resize"]["antialias"] is True
        served = tf.saved_model.load(str(path)).signatures["serving_default"](image_bytes=files)
        np.testing.assert_allclose(served["identity_probs"].numpy(), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=f"version {version}")
