"""VGG-Face: configuration D with its own layer names, any input size without the top, feature outputs,
and the weights of keras-vggface's HDF5 and MatConvNet's .mat files, written here in those layouts."""

import keras
import numpy as np
import pytest
from vgg_face_files import MEAN_RGB, layer_arrays, write_keras_vggface, write_matconvnet

from kerasfg.models import VGGFaceWeightsError, build_model, load_vgg_face_weights

CONVS = [f"conv{b}_{c}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for c in range(1, n + 1)]
SIDE = 64  # the smallest input whose pool5 is 2x2, so that fc6's flattening order matters
FEATURES = ("pool5", "fc6", "fc7")


def _numpy(outputs):
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


@pytest.fixture(scope="module")
def reference():
    """A VGG-Face at 64x64 with random weights, its arrays, and a batch of RGB faces."""
    keras.utils.set_random_seed(1)
    model = build_model("vgg_face", input_shape=(SIDE, SIDE, 3), num_classes=2622, features=FEATURES)
    images = np.random.default_rng(0).uniform(0, 255, (2, SIDE, SIDE, 3)).astype("float32")
    return model, layer_arrays(model), images, _numpy(model(images))


@pytest.fixture(scope="module")
def files(reference, tmp_path_factory):
    _, arrays, _, _ = reference
    folder = tmp_path_factory.mktemp("vgg_face_weights")
    paths = {"keras_vggface": folder / "rcmalli_vggface_tf_vgg16.h5", "matconvnet": folder / "vgg-face.mat"}
    write_keras_vggface(paths["keras_vggface"], arrays)
    write_matconvnet(paths["matconvnet"], arrays, SIDE // 32, class_names=[f"Person_{i}" for i in range(2622)])
    return paths


def test_configuration_d_names_and_the_parameters_of_vgg16_with_2622_classes(reference):
    model = reference[0]
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith(("conv", "pool", "fc"))] == [
        *CONVS[:2], "pool1", *CONVS[2:4], "pool2", *CONVS[4:7], "pool3", *CONVS[7:10], "pool4",
        *CONVS[10:], "pool5", "fc6", "fc6_relu", "fc6_dropout", "fc7", "fc7_relu", "fc7_dropout", "fc8"]
    vgg16 = keras.applications.VGG16(weights=None, input_shape=(SIDE, SIDE, 3), classes=2622)
    ours = [tuple(w.shape) for w in model.weights]
    assert ours == [tuple(w.shape) for w in vgg16.weights]
    assert model.count_params() == vgg16.count_params()
    assert model.output["identity"].shape == (None, 2622)
    # 224x224: the published 145,002,878 parameters, counted without building the model
    conv = sum(int(np.prod(s)) for s in ours[:26])
    assert conv + (7 * 7 * 512 + 1) * 4096 + 4097 * 4096 + 4097 * 2622 == 145_002_878


def test_any_input_size_without_the_top_and_feature_outputs():
    trunk = build_model("vgg_face", input_shape=(None, None, 3), num_classes=2622, include_top=False,
                        pooling="avg", features=("pool5",))
    for height, width in ((32, 32), (96, 64)):
        out = trunk(np.zeros((1, height, width, 3), "float32"))
        assert tuple(out["pool5"].shape) == (1, height // 32, width // 32, 512)
        assert tuple(out["features"].shape) == (1, 512)
    with pytest.raises(ValueError, match="known input size"):
        build_model("vgg_face", input_shape=(None, None, 3), num_classes=2622)
    with pytest.raises(ValueError, match="need the top"):
        build_model("vgg_face", input_shape=(64, 64, 3), num_classes=2622, include_top=False, features=("fc7",))


def test_the_model_subtracts_the_vgg_face_mean_colour(reference):
    model, _, images, outputs = reference
    preprocessed = keras.Model(model.input, model.get_layer("vgg_face_mean").output)
    np.testing.assert_allclose(np.asarray(preprocessed(images)), images - MEAN_RGB.astype("float32"), atol=1e-4)
    assert set(outputs) == {"identity", "pool5", "fc6", "fc7"}
    np.testing.assert_allclose(outputs["identity"].sum(-1), 1.0, rtol=1e-5)
    assert outputs["fc7"].shape == (2, 4096) and outputs["fc7"].min() >= 0


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["keras_vggface", "matconvnet"])
def test_weights_files_load_into_a_fresh_model(reference, files, layout):
    _, arrays, images, expected = reference
    model = build_model("vgg_face", input_shape=(SIDE, SIDE, 3), num_classes=2622, features=FEATURES)
    result = load_vgg_face_weights(model, files[layout])
    assert result.layout == layout and result.loaded == (*CONVS, "fc6", "fc7", "fc8") and result.skipped == ()
    loaded = layer_arrays(model)
    for name, (kernel, bias) in arrays.items():
        np.testing.assert_array_equal(loaded[name][0], kernel, err_msg=name)
        np.testing.assert_array_equal(loaded[name][1], bias, err_msg=name)
    out = _numpy(model(images))
    for key, value in out.items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    if layout == "matconvnet":
        np.testing.assert_allclose(result.mean_rgb, MEAN_RGB)
        assert result.class_names[:2] == ("Person_0", "Person_1") and len(result.class_names) == 2622
        # The file's fc6 is a 2x2x512x4096 filter: the loaded Dense layer equals the valid convolution
        # of pool5 with it, computed with NumPy from the file's own arrays.
        filters = arrays["fc6"][0].reshape(2, 2, 512, 4096)  # what write_matconvnet stored
        bias = arrays["fc6"][1]
        convolved = np.maximum(np.einsum("bhwc,hwco->bo", out["pool5"], filters) + bias, 0.0)
        np.testing.assert_allclose(out["fc6"], convolved, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_clear_errors_for_missing_layers_and_wrong_shapes(reference, files, tmp_path):
    _, arrays, _, _ = reference
    notop = tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5"
    write_keras_vggface(notop, {k: v for k, v in arrays.items() if k.startswith("conv")})
    model = build_model("vgg_face", input_shape=(SIDE, SIDE, 3), num_classes=2622)
    with pytest.raises(VGGFaceWeightsError, match=r"\['fc6', 'fc7', 'fc8'\] are not in .*include_top=False"):
        load_vgg_face_weights(model, notop)
    trunk = build_model("vgg_face", input_shape=(None, None, 3), num_classes=2622, include_top=False)
    assert load_vgg_face_weights(trunk, notop).loaded == tuple(CONVS)
    assert load_vgg_face_weights(trunk, files["matconvnet"]).skipped == ("fc6", "fc7", "fc8")

    small = build_model("vgg_face", input_shape=(32, 32, 3), num_classes=10)
    before = [w.copy() for w in small.get_layer("conv1_1").get_weights()]
    with pytest.raises(VGGFaceWeightsError, match=r"'fc6'.*\(2048, 4096\).*a 64x64 input"):
        load_vgg_face_weights(small, files["keras_vggface"])
    np.testing.assert_array_equal(small.get_layer("conv1_1").get_weights()[0], before[0])  # nothing set
    with pytest.raises(VGGFaceWeightsError, match="2622 identities; pass skip=\\['fc8'\\]"):
        load_vgg_face_weights(small, files["keras_vggface"], skip=["fc6"])
    assert load_vgg_face_weights(small, files["keras_vggface"], skip=["fc6", "fc8"]).skipped == ("fc6", "fc8")

    text = tmp_path / "weights.h5"
    text.write_text("not weights")
    with pytest.raises(VGGFaceWeightsError, match="neither a Keras HDF5 file"):
        load_vgg_face_weights(trunk, text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_vgg_face_weights(trunk, tmp_path / "missing.mat")
    with pytest.raises(VGGFaceWeightsError, match="none of VGG-Face's layers"):
        load_vgg_face_weights(build_model("vgg16", input_shape=(32, 32, 3), num_classes=2), notop)


@pytest.mark.slow
def test_the_older_net_struct_and_face_head_on_the_vgg_face_trunk(reference, tmp_path):
    _, arrays, images, _ = reference
    convs = {k: v for k, v in arrays.items() if k.startswith("conv")}
    path = tmp_path / "vgg_face.mat"
    write_matconvnet(path, convs, SIDE // 32, old_format=True)
    head = build_model("face_head", input_shape=(SIDE, SIDE, 3), num_classes=5, config="B", backbone="vgg_face",
                       backbone_options={"fc_units": 64}, freeze_backbone=True)
    assert head.get_layer("head_dropout1").input is head.get_layer("fc7_dropout").output
    result = load_vgg_face_weights(head, path, skip=["fc6", "fc7"])
    assert result.loaded == tuple(CONVS) and result.layout == "matconvnet"
    trunk = keras.Model(head.input, head.get_layer("pool5").output)
    reference_trunk = keras.Model(reference[0].input, reference[0].get_layer("pool5").output)
    np.testing.assert_allclose(np.asarray(trunk(images)), np.asarray(reference_trunk(images)), rtol=1e-5,
                               atol=1e-5)
    assert not head.get_layer("conv3_2").trainable and head.get_layer("head_fc1").trainable
