import keras
import numpy as np
import pytest

from kerasfg.callbacks import AttentionMaps
from kerasfg.models import build_model


@pytest.fixture
def model_and_data():
    model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3},
                        attention="cbam", widths=(16, 32), blocks=(1, 1),
                        extra_inputs={"expression": 7})
    model.compile(optimizer="adam", loss={"identity": "sparse_categorical_crossentropy"})
    rng = np.random.default_rng(0)
    x = {"image": rng.uniform(0, 255, (24, 32, 32, 3)).astype("float32"),
         "expression": rng.integers(0, 7, 24).astype("int32")}
    y = {"identity": rng.integers(0, 3, 24).astype("int32")}
    return model, x, y


def test_records_every_attention_map_before_training_and_on_its_cadence(tmp_path, model_and_data,
                                                                      event_images, event_recordings):
    model, x, y = model_and_data
    probe = {name: value[:5] for name, value in x.items()}
    callback = AttentionMaps(probe, log_dir=tmp_path, every_n_epochs=2, max_images=4)
    model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[callback])
    expected = {f"attention/stage{s}_block1_attention/{m}" for s in (1, 2) for m in ("channel", "spatial")}
    recorded = event_images.steps(tmp_path)
    assert set(recorded) == expected | {"probe/images"}
    assert recorded["probe/images"] == [0]
    for tag in expected:
        assert recorded[tag] == [0, 2, 4], tag
    overlays = event_images.pictures(tmp_path, "attention/stage2_block1_attention/spatial")
    assert len(overlays[0]) == 4 and overlays[0][0].shape == (32, 32, 3)  # max_images overlays
    assert any(not np.array_equal(a, b) for a, b in zip(overlays[0], overlays[4]))  # maps change
    (strip,) = event_images.pictures(tmp_path, "attention/stage1_block1_attention/channel")[0]
    assert strip.shape == (4 * 4, 16 * 2, 3)  # a row per probe image, a column per channel

    contents = event_recordings.contents(tmp_path)
    spatial = contents["kerasfg/attention/stage2_block1_attention/spatial"]
    assert spatial == {"version": 1, "kind": "heatmap", "method": "attention", "probe": "probe/images",
                       "layer": "stage2_block1_attention", "map": "spatial"}
    assert contents["kerasfg/probe/images"]["kind"] == "probe"
    maps = event_recordings.pictures(tmp_path, "kerasfg/attention/stage2_block1_attention/spatial")
    assert sorted(maps) == [0, 2, 4] and maps[0][0].shape == (32, 32, 1)  # raw 8-bit maps for the plugin
    assert all(m.max() == 255 for m in maps[2])  # each map normalised to its own maximum


def test_overlays_show_the_maps_the_layers_compute(tmp_path, model_and_data, event_images):
    """The recorded overlay equals an overlay rendered independently from the layer's own gate."""
    from kerasfg.vis import overlay

    model, x, y = model_and_data
    probe = {name: value[:2] for name, value in x.items()}
    callback = AttentionMaps(probe, log_dir=tmp_path)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_end()
    layer = model.get_layer("stage2_block1_attention")
    features = keras.Model(model.inputs, layer.input)(probe)
    _, maps = layer(features, return_attention=True, training=False)
    expected = overlay(probe["image"], np.asarray(maps["spatial"]))
    recorded = event_images.pictures(tmp_path, "attention/stage2_block1_attention/spatial")[0]
    np.testing.assert_allclose(np.stack(recorded).astype(int), expected.astype(int), atol=2)


def test_needs_a_probe_and_a_log_dir_outside_kerasfg_fit(model_and_data):
    model, x, y = model_and_data
    with pytest.raises(ValueError, match="needs a log_dir and a probe batch"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[AttentionMaps()])
