"""LayerActivations, Deconvolution and DeepVisualization write the tags, kinds, fields, steps and
pictures that kerasfg's plugin reads, computed from the model as it is at each step."""

import dataclasses

import keras
import numpy as np
import pytest

from kerasfg.callbacks import Deconvolution, DeepVisualization, LayerActivations
from kerasfg.callbacks.deconvolution import reconstruction_pictures
from kerasfg.vis import Deconvnet, DeepVisualizer, activation_grids


@pytest.fixture
def model_and_data():
    image = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(image)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Dense(5, activation="relu", name="fc")(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(image, keras.layers.Dense(3, activation="softmax", name="identity")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.uniform(0, 255, (16, 16, 16, 3)).astype("float32"), rng.integers(0, 3, 16)


def _fit(model, x, y, callback, epochs):
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[callback])


def test_layer_activations(tmp_path, model_and_data, event_images, event_recordings):
    model, x, y = model_and_data
    callback = LayerActivations(x[:5], log_dir=tmp_path, max_images=3, max_filters=4)
    _fit(model, x, y, callback, epochs=2)
    layers = ["conv1", "conv2", "pool2"]  # the end of each resolution (16, 8, 4)
    steps = event_recordings.steps(tmp_path)
    assert set(steps) == {f"kerasfg/activations/{layer}" for layer in layers} | {"kerasfg/probe/images"}
    assert all(steps[f"kerasfg/activations/{layer}"] == [0, 1, 2] for layer in layers)
    assert event_images.steps(tmp_path)["activations/conv2"] == [0, 1, 2]
    contents = event_recordings.contents(tmp_path)
    conv1 = contents["kerasfg/activations/conv1"]
    assert conv1["kind"] == "activations" and conv1["layer"] == "conv1" and conv1["grid"] == [2, 2]
    assert len(conv1["channels"]) == 4 and conv1["channels"] == sorted(conv1["channels"])

    final = keras.Model(model.input, model.get_layer("conv1").output)(x[:3])  # the weights after the last epoch
    expected = activation_grids(final, conv1["channels"], columns=2)
    recorded = event_recordings.pictures(tmp_path, "kerasfg/activations/conv1")
    assert len(recorded[2]) == 3 and recorded[2][0].shape == (33, 33, 1)
    np.testing.assert_allclose(np.stack(recorded[2]).astype(int), expected.astype(int), atol=1)


def test_layer_activations_of_dense_layers_are_strips(tmp_path, model_and_data, event_recordings):
    model, x, y = model_and_data
    callback = LayerActivations(x[:2], log_dir=tmp_path, layers=["fc"])
    _fit(model, x, y, callback, epochs=1)
    assert event_recordings.contents(tmp_path)["kerasfg/activations/fc"]["grid"] == [1, 5]
    strips = event_recordings.pictures(tmp_path, "kerasfg/activations/fc")[1]
    assert len(strips) == 2 and strips[0].shape == (8, 5 * 4, 1)


def test_deconvolution(tmp_path, model_and_data, event_images, event_recordings):
    model, x, y = model_and_data
    callback = Deconvolution(x[:4], log_dir=tmp_path, every_n_epochs=2, top_n=3, max_images=2)
    _fit(model, x, y, callback, epochs=2)
    tag = "kerasfg/deconvolution/pool2"  # the deepest layer the deconvnet reaches
    assert event_recordings.steps(tmp_path)[tag] == [0, 2]
    assert event_images.steps(tmp_path)["deconvolution/pool2"] == [0, 2]
    contents = event_recordings.contents(tmp_path)
    content = contents[tag]
    assert content["kind"] == "deconvolution" and content["layer"] == "pool2"
    assert content["switches"] == Deconvnet(model, "pool2").switches
    assert content["annotations"] == "deconvolution/pool2/annotations"
    assert contents[f"{tag}/annotations"]["kind"] == "annotations"
    _, indices = Deconvnet(model, "pool2")(x[:2], top_n=3)
    annotations = event_recordings.json(tmp_path, f"{tag}/annotations")
    assert sorted(annotations) == [0, 2]
    assert annotations[2] == {"feature_maps": indices.tolist()}  # the last recording's maps, per probe image
    rows = event_recordings.pictures(tmp_path, tag)[2]
    assert len(rows) == 2 and rows[0].shape == (16, 3 * (2 * 16 + 2) - 2, 3)  # reconstruction | probe patch


def test_reconstruction_pictures_show_the_receptive_field_beside_a_peak():
    # A deep layer's reconstruction: a weak patch of signal (positive left, negative right) around one pixel
    # a hundred times stronger. Scaled by its maximum the patch would be within 1 grey level of no signal.
    reconstruction = np.zeros((1, 1, 20, 20, 3), np.float32)
    reconstruction[0, 0, 5:15, 5:10] = 0.01
    reconstruction[0, 0, 5:15, 10:15] = -0.01
    reconstruction[0, 0, 10, 10] = 1.0
    picture = reconstruction_pictures(reconstruction)[0].astype(int)
    assert picture.shape == (20, 20, 3)
    assert (picture[0] == 128).all()  # no signal: mid-grey
    assert (picture[5:15, 5:10] >= 200).all() and (picture[5:15, 11:15] <= 55).all()  # the patch, light and dark
    assert (picture[10, 10] == 255).all()  # the peak is clipped


def test_reconstruction_pictures_pair_the_enlarged_signal_with_the_probe_patch():
    reconstruction = np.zeros((1, 2, 16, 16, 3), np.float32)
    reconstruction[0, 0, 4:12, 8:16] = np.random.default_rng(0).normal(size=(8, 8, 3))  # an 8x8 square of signal
    reconstruction[0, 1, 0, 0] = 1.0  # one pixel: the crop is a quarter of the side, 4x4, from the corner
    image = np.random.default_rng(1).integers(0, 256, (1, 16, 16, 3)).astype(np.float32)
    plain = reconstruction_pictures(reconstruction)[0]
    (row,) = reconstruction_pictures(reconstruction, image)
    assert row.shape == (16, 2 * 32 + 2, 3)

    def enlarged(picture, top, left, side):
        return np.repeat(np.repeat(picture[top:top + side, left:left + side], 16 // side, 0), 16 // side, 1)

    np.testing.assert_array_equal(row[:, :16], enlarged(plain[:, :16], 4, 8, 8))
    np.testing.assert_array_equal(row[:, 16:32], enlarged(image[0], 4, 8, 8))
    np.testing.assert_array_equal(row[:, 34:50], enlarged(plain[:, 17:33], 0, 0, 4))
    np.testing.assert_array_equal(row[:, 50:], enlarged(image[0], 0, 0, 4))


def test_reconstruction_pictures_draw_the_sum_of_the_channels_unless_in_colour():
    # A grey bar (the same signal in every channel) under colour noise whose channels add up to zero.
    noise = np.random.default_rng(0).normal(size=(1, 1, 16, 16, 3)).astype(np.float32)
    noise -= noise.mean(axis=-1, keepdims=True)
    reconstruction = noise.copy()
    reconstruction[0, 0, 6:10, 2:14] += 2.0
    grey = reconstruction_pictures(reconstruction)[0].astype(int)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert (grey[6:10, 2:14] == 255).all()
    assert np.abs(grey[:6] - 128).max() <= 1 and np.abs(grey[10:] - 128).max() <= 1  # the noise cancels: no signal
    coloured = reconstruction_pictures(reconstruction, colour=True)[0].astype(int)
    assert np.abs(coloured[:6] - 128).mean() > 20  # the noise shows, in colour
    np.testing.assert_array_equal(reconstruction_pictures(reconstruction[..., :1], colour=True),
                                  reconstruction_pictures(reconstruction[..., :1]))  # one channel: the same


def test_deconvolution_writes_the_feature_maps_of_each_step(tmp_path, model_and_data, event_recordings):
    model, x, _ = model_and_data
    callback = Deconvolution(x[:2], log_dir=tmp_path, layers=["conv1"], top_n=3)
    callback.set_model(model)
    callback.on_train_begin()  # records step 0
    _, before = Deconvnet(model, "conv1")(x[:2], top_n=3)
    conv1 = model.get_layer("conv1")
    kernel, bias = conv1.get_weights()
    conv1.set_weights([kernel[..., ::-1], bias[::-1]])  # the same filters in reverse order
    callback.record(1)
    callback.on_train_end()
    _, after = Deconvnet(model, "conv1")(x[:2], top_n=3)
    assert before.tolist() != after.tolist()
    annotations = event_recordings.json(tmp_path, "kerasfg/deconvolution/conv1/annotations")
    assert annotations == {0: {"feature_maps": before.tolist()}, 1: {"feature_maps": after.tolist()}}
    assert "feature_maps" not in event_recordings.contents(tmp_path)["kerasfg/deconvolution/conv1"]


def test_deep_visualization(tmp_path, model_and_data, event_recordings):
    model, x, y = model_and_data
    callback = DeepVisualization(x[:4], log_dir=tmp_path, steps=3, settings=["row3", "row1"], every_n_epochs=4)
    _fit(model, x, y, callback, epochs=5)
    tag = "kerasfg/deep_visualization/identity/row3"
    # before training, every 4 epochs and when it ends; both presets by one compiled ascent, traced once
    assert event_recordings.steps(tmp_path)[tag] == event_recordings.steps(tmp_path)[tag[:-1] + "1"] == [0, 4, 5]
    ((visualizer, _),) = callback._visualizers
    assert visualizer._ascend.function.experimental_get_tracing_count() == 1
    content = event_recordings.contents(tmp_path)[tag]
    assert content["kind"] == "deep_visualization" and content["layer"] == "identity"
    assert content["units"] == [0, 1, 2] and content["preset"] == "row3"
    assert content["settings"]["steps"] == 3 and content["settings"]["blur_std"] == 1.0
    pictures = event_recordings.pictures(tmp_path, tag)[5]
    low, high = float(x[:4].min()), float(x[:4].max())
    settings = callback.presets[0][1]
    visualizer = DeepVisualizer(model, settings=settings, input_range=(low, high))
    ascent = visualizer.ascend([0, 1, 2])
    images = ascent.images
    assert content["annotations"] == "deep_visualization/identity/row3/annotations"
    annotations = event_recordings.json(tmp_path, f"{tag}/annotations")
    assert sorted(annotations) == [0, 4, 5]
    np.testing.assert_allclose(annotations[5]["activations"], ascent.activations, rtol=1e-4)
    np.testing.assert_allclose(annotations[5]["start_activations"], ascent.start_activations, rtol=1e-4)
    # the ascent's objective, the sum of the units' activations, rises (with 3 fixed-size steps on this barely
    # trained model a unit near 0 can overshoot, depending on the tests run before it)
    assert ascent.activations.sum() > ascent.start_activations.sum()
    expected = np.clip((images - low) / (high - low) * 255, 0, 255).round()
    np.testing.assert_allclose(np.stack(pictures).astype(int), expected.astype(int), atol=1)


def test_deep_visualization_of_a_layer_with_custom_settings(tmp_path, model_and_data, event_recordings):
    from kerasfg.vis import DeepVisSettings

    model, x, y = model_and_data
    settings = DeepVisSettings(learning_rate=50.0, steps=2, norm_percentile=20)
    callback = DeepVisualization(x[:2], log_dir=tmp_path, every_n_epochs=1, layers=["conv2"], units=[1, 1, 7],
                                 settings=settings)
    _fit(model, x, y, callback, epochs=1)
    content = event_recordings.contents(tmp_path)["kerasfg/deep_visualization/conv2/custom"]
    assert content["preset"] is None and content["units"] == [1, 1, 7] and content["settings"]["norm_percentile"] == 20
    assert len(event_recordings.pictures(tmp_path, "kerasfg/deep_visualization/conv2/custom")[1]) == 3


def test_deep_visualization_takes_fewer_steps_of_a_preset_during_training_unless_told():
    from kerasfg.callbacks.deep_visualization import RECORDING_STEPS
    from kerasfg.vis import PRESETS, DeepVisSettings

    assert DeepVisualization().presets == [("row3", dataclasses.replace(PRESETS["row3"], steps=RECORDING_STEPS))]
    assert DeepVisualization(settings="row2", steps=80).presets[0][1].steps == 80
    assert DeepVisualization(settings=DeepVisSettings(steps=7)).presets == [(None, DeepVisSettings(steps=7))]
    assert [name for name, _ in DeepVisualization(settings=list(PRESETS)).presets] == list(PRESETS)
    assert DeepVisualization(settings="row1", jitter=2).presets[0][1] == dataclasses.replace(
        PRESETS["row1"], steps=RECORDING_STEPS, jitter=2)
