import numpy as np
import pytest

from kerasfg.callbacks import GradCAM, Saliency
from kerasfg.models import build_model
from kerasfg.vis import explain, normalize


@pytest.fixture
def model_and_data():
    model = build_model("face_resnet", input_shape=(16, 16, 3), num_classes={"identity": 3, "gender": 2},
                        widths=(8, 16), blocks=(1, 1), hidden_units=8, extra_inputs={"expression": 7})
    model.compile(optimizer="adam", loss={"identity": "sparse_categorical_crossentropy",
                                          "gender": "sparse_categorical_crossentropy"})
    rng = np.random.default_rng(0)
    x = {"image": rng.uniform(0, 255, (16, 16, 16, 3)).astype("float32"),
         "expression": rng.integers(0, 7, 16).astype("int32")}
    y = {"identity": rng.integers(0, 3, 16).astype("int32"), "gender": rng.integers(0, 2, 16).astype("int32")}
    return model, x, y


def test_callbacks_record_every_output_before_training_and_on_their_cadence(tmp_path, model_and_data,
                                                                          event_images, event_recordings):
    model, x, y = model_and_data
    probe = {name: value[:5] for name, value in x.items()}
    callbacks = [Saliency(probe, log_dir=tmp_path, every_n_epochs=2, max_images=3),
                 GradCAM(probe, log_dir=tmp_path, every_n_epochs=2, max_images=3, method="gradcam++"),
                 GradCAM(probe, log_dir=tmp_path, every_n_epochs=3, layers=["stage1_block1_out"], outputs=["gender"])]
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=callbacks)
    recorded = event_images.steps(tmp_path)
    assert recorded == {"probe/images": [0],  # once for all three callbacks; and after the last epoch
                        "saliency/identity": [0, 2, 3], "saliency/gender": [0, 2, 3],
                        "gradcam++/identity/stage2_block1_out": [0, 2, 3],
                        "gradcam++/gender/stage2_block1_out": [0, 2, 3], "gradcam/gender/stage1_block1_out": [0, 3]}
    overlays = event_images.pictures(tmp_path, "saliency/identity")
    assert len(overlays[0]) == 3 and overlays[0][0].shape == (16, 16, 3)
    contents = event_recordings.contents(tmp_path)
    assert contents["kerasfg/gradcam/gender/stage1_block1_out"] == {
        "version": 1, "kind": "heatmap", "method": "gradcam", "probe": "probe/images",
        "layer": "stage1_block1_out", "output": "gender"}
    assert contents["kerasfg/saliency/identity"]["layer"] is None


def test_recorded_maps_are_the_explanations_of_the_model(tmp_path, model_and_data, event_recordings):
    model, x, _ = model_and_data
    probe = {name: value[:4] for name, value in x.items()}
    callback = GradCAM(probe, log_dir=tmp_path, method="layercam", outputs=["identity"])
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_end()
    expected = np.round(normalize(explain(model, probe, "layercam", output="identity")) * 255)
    (recorded,) = event_recordings.pictures(tmp_path, "kerasfg/layercam/identity/stage2_block1_out").values()
    np.testing.assert_allclose(np.stack(recorded)[..., 0], expected, atol=1)


def test_unknown_methods_and_outputs_are_named(tmp_path, model_and_data):
    model, x, y = model_and_data
    with pytest.raises(ValueError, match=r"Saliency records one of the methods \['saliency', 'smoothgrad'"):
        Saliency(x, log_dir=tmp_path, method="gradcam")
    with pytest.raises(ValueError, match="Method 'cam' takes no layer"):
        GradCAM(x, log_dir=tmp_path, method="cam", layers=["stage1_block1_out"])
    callback = GradCAM(x, log_dir=tmp_path, outputs=["age"])
    with pytest.raises(ValueError, match=r"no output 'age'; its outputs are"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
