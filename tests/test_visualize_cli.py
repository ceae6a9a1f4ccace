import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasfg.cli import main
from kerasfg.data.preprocessing import Preprocessing
from kerasfg.models import build_model
from kerasfg.vis import explain, normalize


@pytest.fixture
def saved_model(tmp_path):
    model = build_model("face_resnet", input_shape=(16, 16, 3), num_classes={"identity": 3, "gender": 2},
                        attention="cbam", widths=(16, 16), blocks=(1, 1), hidden_units=8,
                        extra_inputs={"expression": 7})
    path = tmp_path / "run" / "checkpoints" / "last.keras"
    path.parent.mkdir(parents=True)
    model.save(path)
    return model, path


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name, size in (("alice.png", (20, 24)), ("bob.jpg", (16, 16))):
        paths.append(tmp_path / name)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(paths[-1])
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    return paths, broken


def test_visualize_writes_overlays_and_event_files_and_reports_skipped_images(
        tmp_path, saved_model, image_files, capsys, event_images, event_recordings):
    model, path = saved_model
    (alice, bob), broken = image_files
    Preprocessing.pipeline((16, 16)).write(tmp_path / "run" / "preprocessing.json")  # as a training run does
    out = tmp_path / "out"
    status = main(["visualize", str(tmp_path / "run"), str(alice), str(broken), str(bob), "--method",
                   "gradcam,saliency", "--method", "layercam", "--input", "expression=3", "--output", "gender",
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0
    assert f"skipped {broken}" in captured.err and "skipped 1 unreadable image(s)" in captured.out
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["alice_gradcam.png", "alice_layercam.png", "alice_saliency.png", "bob_gradcam.png",
                    "bob_layercam.png", "bob_saliency.png"]
    assert np.asarray(Image.open(out / "alice_gradcam.png")).shape == (16, 16, 3)
    assert set(event_images.steps(out)) == {"probe/images", "gradcam/gender/stage2_block1_out", "saliency/gender",
                                            "layercam/gender/stage2_block1_out"}

    # The recorded preprocessing: alice (20x24) antialiased and rounded, bob (16x16) as it is.
    alice_pixels = np.round(tf.image.resize(np.asarray(Image.open(alice)), (16, 16), antialias=True).numpy())
    images = np.stack([alice_pixels, tf.io.decode_jpeg(bob.read_bytes(), channels=3).numpy().astype(np.float32)])
    (probe,) = event_recordings.pictures(out, "kerasfg/probe/images").values()
    np.testing.assert_array_equal(np.stack(probe), images.astype(np.uint8))
    inputs = {"image": images, "expression": np.array([3, 3], np.int32)}
    expected = np.round(normalize(explain(model, inputs, "gradcam", output="gender")) * 255)
    (recorded,) = event_recordings.pictures(out, "kerasfg/gradcam/gender/stage2_block1_out").values()
    np.testing.assert_allclose(np.stack(recorded)[..., 0], expected, atol=1)


def test_visualize_names_unknown_methods_layers_inputs_and_missing_models(tmp_path, saved_model, image_files, capsys):
    _, path = saved_model
    (alice, _), broken = image_files
    out = str(tmp_path / "out")
    assert main(["visualize", str(path), str(alice), "--method", "occlusion", "--out", out]) == 2
    assert "unknown method(s) ['occlusion']" in capsys.readouterr().err
    assert main(["visualize", str(path), str(alice), "--out", out]) == 0  # a run without preprocessing.json
    assert f"kerasfg visualize: note: {path} comes with no preprocessing.json, so the preprocessing is assumed" \
        in capsys.readouterr().err
    assert main(["visualize", str(path), str(alice), "--layer", "conv9", "--out", out]) == 2
    assert "no layer 'conv9'" in capsys.readouterr().err
    assert main(["visualize", str(path), str(alice), "--input", "age=3", "--out", out]) == 2
    assert "NAME one of ['expression']" in capsys.readouterr().err
    assert main(["visualize", str(tmp_path), str(alice), "--out", out]) == 2
    assert "has none of model.keras" in capsys.readouterr().err
    assert main(["visualize", str(path), str(broken), "--out", out]) == 2
    assert "kerasfg visualize: error: none of the 1 images could be read" in capsys.readouterr().err
