"""export_saved_model: layout, signatures, outputs against the Keras model, Grad-CAM, versions, bad input."""

import json
import os
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from export_helpers import GENDERS, IDENTITIES, IMAGE, build_face_model, encode_png, random_faces
from keras import layers

from kerasfg.export import ExportError, ExportPlan, export_saved_model, next_version, read_metadata
from kerasfg.export.signatures import Signatures


def keras_outputs(model, pixels, expression):
    out = model({"image": tf.constant(pixels, tf.float32), "expression": tf.constant(expression, tf.int32)},
                training=False)
    return {k: v.numpy() for k, v in out.items()}


def test_layout_signatures_and_assets(exported):
    path = exported.path
    assert path.name == "1" and exported.version == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["1"]  # no staging directory left behind
    assert exported.verification.ok, exported.verification.summary()
    sigs = exported.signatures
    assert set(sigs) == {"serving_default", "serve_pixels", "explain"}
    assert sigs["serving_default"]["inputs"] == {"image_bytes": {"dtype": "string", "shape": [-1]},
                                                 "expression": {"dtype": "int32", "shape": [-1]}}
    assert sigs["serve_pixels"]["inputs"]["image"] == {"dtype": "float32", "shape": [-1, IMAGE, IMAGE, 3]}
    heads = ["gender_class", "gender_name", "gender_probs", "identity_class", "identity_name", "identity_probs"]
    assert sigs["serving_default"]["outputs"] == heads
    assert sigs["explain"]["outputs"] == sorted(heads + ["gender_gradcam", "identity_gradcam"])
    assert (path / "assets" / "identity_labels.txt").read_text().split() == IDENTITIES
    meta = read_metadata(path)
    assert meta["class_names"] == {"identity": IDENTITIES, "gender": GENDERS}
    assert meta["preprocessing"]["resize"] == {"size": [IMAGE, IMAGE], "method": "bilinear", "antialias": True}
    assert meta["preprocessing"]["quantize"] is True
    assert meta["explain"]["gradcam_layer"] == "conv2"
    assert meta["explain"]["gradcam_score"] == {"identity": "logit", "gender": "logit"}
    assert (path / "assets.extra" / "tf_serving_warmup_requests").stat().st_size > 0


def test_serving_default_matches_keras_on_decoded_pixels(exported, face_model, loaded):
    faces = random_faces(3)
    expression = np.array([0, 3, 6], np.int32)
    out = loaded.signatures["serving_default"](
        image_bytes=tf.constant([encode_png(f) for f in faces]), expression=tf.constant(expression))
    want = keras_outputs(face_model, faces.astype(np.float32), expression)  # PNG is lossless, size unchanged
    np.testing.assert_allclose(out["identity_probs"].numpy(), want["identity"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["gender_probs"].numpy(), want["gender"], rtol=1e-5, atol=1e-6)
    classes = np.argmax(want["identity"], -1)
    np.testing.assert_array_equal(out["identity_class"].numpy(), classes)
    assert [n.decode() for n in out["identity_name"].numpy()] == [IDENTITIES[c] for c in classes]
    gender = (want["gender"][:, 0] > 0.5).astype(int)
    assert [n.decode() for n in out["gender_name"].numpy()] == [GENDERS[g] for g in gender]


def test_bytes_of_other_sizes_give_the_training_pipelines_pixels(face_model, loaded, tmp_path):
    """JPEG files larger and smaller than the input, read by the training pipeline (FaceDataset, folder
    layout) and sent as bytes to serving_default: the served answers are the Keras model's on the
    pipeline's pixels."""
    from kerasfg.data import load_dataset

    for k, size in enumerate((50, 41, 20)):
        folder = tmp_path / "faces" / f"class_{k}"
        folder.mkdir(parents=True)
        image = tf.image.resize(random_faces(1, size=8, seed=k), (size, size)).numpy()[0].astype(np.uint8)
        (folder / "face.jpg").write_bytes(bytes(tf.io.encode_jpeg(image, quality=90).numpy()))
    faces = load_dataset("folder", tmp_path / "faces", image_size=(IMAGE, IMAGE))
    pixels, _ = faces.numpy()
    expression = np.array([1, 4, 6], np.int32)
    files = tf.constant([pathlib.Path(path).read_bytes() for path in faces.paths])
    out = loaded.signatures["serving_default"](image_bytes=files, expression=tf.constant(expression))
    want = keras_outputs(face_model, pixels.astype(np.float32), expression)
    np.testing.assert_allclose(out["identity_probs"].numpy(), want["identity"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["gender_probs"].numpy(), want["gender"], rtol=1e-5, atol=1e-6)


def test_served_gradcam_is_kerasfg_vis_gradcam(face_model, loaded):
    """The explain signature serves the maps that kerasfg.vis.explain (and TensorBoard) computes, each divided by
    its maximum: the same layer and, for the single sigmoid unit of gender, the score of the predicted side."""
    from kerasfg.vis import explain

    faces = random_faces(3, seed=11)
    expression = np.array([0, 4, 6], np.int32)
    out = loaded.signatures["explain"](image_bytes=tf.constant([encode_png(f) for f in faces]),
                                       expression=tf.constant(expression))
    inputs = {"image": faces.astype(np.float32), "expression": expression}
    for head in ("identity", "gender"):
        maps = explain(face_model, inputs, "gradcam", output=head)
        peak = maps.max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(out[f"{head}_gradcam"].numpy(), np.where(peak > 0, maps / np.maximum(peak, 1e-30),
                                                                             0), atol=1e-4)


def test_serve_pixels_matches_keras(face_model, loaded):
    faces = random_faces(2, seed=5).astype(np.float32)
    out = loaded.signatures["serve_pixels"](image=tf.constant(faces), expression=tf.constant([4, 0]))
    want = keras_outputs(face_model, faces, [4, 0])
    np.testing.assert_allclose(out["identity_probs"].numpy(), want["identity"], rtol=1e-5, atol=1e-6)


def test_gradcam_matches_an_independent_computation(face_model, loaded):
    faces = random_faces(2, seed=7)
    expression = np.array([1, 2], np.int32)
    out = loaded.signatures["explain"](image_bytes=tf.constant([encode_png(f) for f in faces]),
                                       expression=tf.constant(expression))
    cam = out["identity_gradcam"].numpy()
    assert cam.shape == (2, IMAGE, IMAGE)
    # Reference (Selvaraju et al.): conv2 activations A and d(top-class logit)/dA, the logit being the
    # identity Dense layer's pre-softmax output, then the weighted channel sum in numpy.
    head = face_model.get_layer("identity")
    probe = keras.Model(face_model.input, [face_model.get_layer("conv2").output, head.input])
    inputs = {"image": tf.constant(faces, tf.float32), "expression": tf.constant(expression)}
    with tf.GradientTape() as tape:
        acts, features = probe(inputs, training=False)
        logits = features @ head.kernel + head.bias
        top = np.argmax(logits.numpy(), -1)
        score = tf.reduce_sum(logits * tf.one_hot(top, len(IDENTITIES)))
    grads = tape.gradient(score, acts).numpy()
    acts = acts.numpy()
    for k in range(2):
        raw = np.maximum((acts[k] * grads[k].mean(axis=(0, 1))).sum(-1), 0)
        up = tf.image.resize(raw[..., None], (IMAGE, IMAGE)).numpy()[..., 0]
        want = up / up.max() if up.max() > 0 else up
        np.testing.assert_allclose(cam[k], want, atol=1e-4)
        assert cam[k].max() == pytest.approx(1.0) or cam[k].max() == 0


def test_corrupt_bytes_are_invalid_argument(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        loaded.signatures["serving_default"](image_bytes=tf.constant([b"definitely not a jpeg"]),
                                             expression=tf.constant([0]))


def test_wrong_shape_names_the_expected_spec(loaded):
    small = tf.zeros((1, IMAGE + 4, IMAGE, 3))
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError, TypeError), match=f"{IMAGE}, {IMAGE}, 3"):
        loaded.signatures["serve_pixels"](image=small, expression=tf.constant([0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        loaded.signatures["serving_default"](image_bytes=tf.constant([b"x"]), expression=tf.constant([0], tf.int64))


def test_in_graph_shape_check_names_the_spec():
    """Dynamic-shape callers (the TF1 loader, the C++ server) bypass the Python signature check; the graph
    itself must then name the expected spec."""
    sigs = Signatures(ExportPlan.for_model(build_face_model()))
    fn = tf.function(sigs.serve_pixels, input_signature=[{
        "image": tf.TensorSpec((None, None, None, 3), tf.float32, name="image"),
        "expression": tf.TensorSpec((None,), tf.int32, name="expression")}])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"input image expects float32 pixels of shape "
                                                             rf"\(-1, {IMAGE}, {IMAGE}, 3\)"):
        fn({"image": tf.zeros((1, 20, 20, 3)), "expression": tf.constant([0])})
    with pytest.raises(tf.errors.InvalidArgumentError, match="input expression .*same batch size"):
        fn({"image": tf.zeros((2, IMAGE, IMAGE, 3)), "expression": tf.constant([0])})


@pytest.mark.slow
def test_versions_increment_and_are_never_overwritten(face_model, tmp_path):
    base = tmp_path / "facecls"
    called = []
    first = export_saved_model(face_model, base, verify=False, while_verifying=lambda: called.append("unverified"))
    # verified from requests kept elsewhere; while it is checked, the version is not published yet
    second = export_saved_model(face_model, base, warmup=False,
                                while_verifying=lambda: called.append((base / "2").exists()))
    assert (first.version, second.version) == (1, 2) and called == [False]
    assert second.verification.ok and not (second.path / "assets.extra").exists()
    stamp = os.stat(first.path / "saved_model.pb").st_mtime_ns
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_saved_model(face_model, base, version=1, verify=False)
    assert os.stat(first.path / "saved_model.pb").st_mtime_ns == stamp
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    assert next_version(base) == 3


def _model_with(layer_fn):
    image = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(2, 3, name="conv")(image)
    x = layer_fn(x)
    return keras.Model(image, layers.Dense(2, activation="softmax", name="cls")(layers.Flatten()(x)))


def test_lambda_layer_is_rejected_by_name(tmp_path):
    model = _model_with(layers.Lambda(lambda t: t * 2.0, name="double_it"))
    with pytest.raises(ExportError, match="'double_it' is a Lambda layer"):
        export_saved_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


class NumpySquare(layers.Layer):
    """A layer that escapes to Python through tf.py_function: it exports, but cannot serve."""

    def call(self, x):
        y = tf.py_function(lambda t: t.numpy() ** 2, [x], tf.float32)
        y.set_shape(x.shape)
        return y


@pytest.mark.slow
def test_py_function_fails_at_export_naming_the_op(tmp_path):
    model = _model_with(NumpySquare(name="numpy_square"))
    with pytest.raises(ExportError, match="op EagerPyFunc .*runs Python"):
        export_saved_model(model, tmp_path / "m", verify=False)
    assert list((tmp_path / "m").iterdir()) == []  # the staging directory is gone, no version published


def test_bad_class_names_and_explain_modes_fail_early(face_model, tmp_path):
    with pytest.raises(ExportError, match="'identity' has 3 classes but 2 class names"):
        export_saved_model(face_model, tmp_path / "m", class_names={"identity": ["a", "b"]})
    with pytest.raises(ExportError, match="not a classification head"):
        export_saved_model(face_model, tmp_path / "m", class_names={"expression": ["a"]})
    with pytest.raises(ExportError, match="needs an attention-map output"):
        export_saved_model(face_model, tmp_path / "m", explain="attention")
    assert not (tmp_path / "m").exists()


def test_no_image_input_is_rejected(tmp_path):
    x = keras.Input((4,), name="features")
    model = keras.Model(x, layers.Dense(2, activation="softmax")(x))
    with pytest.raises(ExportError, match="no image input"):
        export_saved_model(model, tmp_path / "m")


@pytest.mark.slow
def test_attention_map_output_is_served_by_explain(tmp_path):
    image = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(image)
    attention = layers.Conv2D(1, 1, activation="sigmoid", name="attention_map")(x)
    pooled = layers.GlobalAveragePooling2D()(layers.Multiply()([x, attention]))
    model = keras.Model(image, {"identity": layers.Dense(3, activation="softmax", name="identity")(pooled),
                                "attention_map": attention})
    result = export_saved_model(model, tmp_path / "att", explain="attention")
    assert result.verification.ok, result.verification.summary()
    assert result.signatures["serving_default"]["outputs"] == ["identity_class", "identity_probs"]
    assert result.signatures["explain"]["outputs"] == ["attention_map", "identity_class", "identity_probs"]
    faces = random_faces(2, size=16)
    out = tf.saved_model.load(str(result.path)).signatures["explain"](
        image_bytes=tf.constant([encode_png(f) for f in faces]))
    want = model(tf.constant(faces, tf.float32), training=False)["attention_map"].numpy()
    np.testing.assert_allclose(out["attention_map"].numpy(), want, rtol=1e-5, atol=1e-6)
    assert json.loads((result.path / "assets" / "kerasfg_export.json").read_text())["map_outputs"] == \
        ["attention_map"]


def test_sequential_single_output_model_exports_with_the_layer_name(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 1), name="image"), layers.Conv2D(2, 3, name="conv"),
                              layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax", name="emotion")])
    # A list of class names for the one head (once "dictionary update sequence element #0 has length 4").
    result = export_saved_model(model, tmp_path / "seq", class_names=["calm", "angry"], verify=False)
    assert result.signatures["serve_pixels"]["inputs"] == {"image": {"dtype": "float32", "shape": [-1, 8, 8, 1]}}
    assert result.signatures["serving_default"]["outputs"] == ["emotion_class", "emotion_name", "emotion_probs"]
    assert (result.path / "assets" / "emotion_labels.txt").read_text().split() == ["calm", "angry"]
    gray = bytes(tf.io.encode_png(np.full((8, 8, 1), 128, np.uint8)).numpy())
    out = tf.saved_model.load(str(result.path)).signatures["serving_default"](image_bytes=tf.constant([gray]))
    want = model(np.full((1, 8, 8, 1), 128, np.float32)).numpy()
    np.testing.assert_allclose(out["emotion_probs"].numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_mixed_bfloat16_model_verifies_with_its_precision(tmp_path):
    keras.config.set_dtype_policy("mixed_bfloat16")  # reset by the autouse fixture of tests/conftest.py
    model = build_face_model()
    assert model.get_layer("conv2").compute_dtype == "bfloat16"
    result = export_saved_model(model, tmp_path / "bf16", explain="gradcam")
    assert result.verification.ok, result.verification.summary()
    assert read_metadata(result.path)["verification_tolerance"] == {"rtol": 2e-2, "atol": 1e-2}
    out = tf.saved_model.load(str(result.path)).signatures["explain"](
        image_bytes=tf.constant([encode_png(random_faces(1)[0])]), expression=tf.constant([0]))
    assert out["identity_probs"].dtype == tf.float32 and out["identity_gradcam"].dtype == tf.float32


@pytest.mark.parametrize("options, message", [
    ({"class_names": ["a", "b", "c"]}, r"a list names the classes of a model with one head; this model has 2 "
                                       r"heads, \['identity', 'gender'\]: pass \{head: \[name, \.\.\.\]\}"),
    ({"class_names": "ada grace alan"}, r"class_names must be \{head: \[name, \.\.\.\]\} .*got str"),
    ({"class_names": {"identity": "abc"}}, r"class_names\['identity'\] must be a list of class names, got str"),
    ({"heads": 3}, r"heads must be an output name or a list of them, got int"),
    ({"preprocessing": "bilinear"}, r"preprocessing must be a kerasfg.export.Preprocessing, a dict .*got str"),
    ({"preprocessing": {"size": (32, 32)}}, r"preprocessing: expected the fields \['image_size', 'channels'"),
    ({"sample_inputs": {"age": [1, 2]}}, r"sample_inputs names \['age'\], which are not extra inputs of the "
                                         r"model; its extra inputs are \['expression'\]"),
    ({"sample_images_bytes": b"\x89PNG"}, r"sample_images_bytes must be a list of encoded images \(bytes\), got "
                                          r"bytes"),
    ({"assets": {"identity_labels.txt": "x"}}, r"'identity_labels.txt' is written by kerasfg itself"),
    ({"assets": {"../codes.json": "x"}}, r"'\.\./codes\.json' is not a plain file name"),
    ({"metadata": ["codes"]}, r"metadata must be a dict of extra JSON entries, got list"),
    ({"metadata": {"heads": []}}, r"metadata entries \['heads'\] are written by kerasfg itself"),
])
def test_options_of_the_wrong_form_name_the_expected_one(face_model, tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        export_saved_model(face_model, tmp_path / "m", **options)
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_extra_assets_and_metadata_are_written_beside_kerasfgs(face_model, tmp_path):
    codes = {"identity": [[0, 1, 1], [1, 0, 1], [1, 1, 0]]}
    result = export_saved_model(face_model, tmp_path / "m", assets={"output_codes.json": json.dumps(codes)},
                                metadata={"output_codes": {"identity": "output_codes.json"}}, verify=False)
    assert json.loads((result.path / "assets" / "output_codes.json").read_text()) == codes
    meta = read_metadata(result.path)
    assert meta["output_codes"] == {"identity": "output_codes.json"} and meta["assets"] == ["output_codes.json"]
    assert meta["preprocessing"]["origin"].startswith("assumed")  # no preprocessing given: it says so


@pytest.mark.slow
def test_a_model_trained_with_the_fused_gates_exports_without_them(tmp_path):
    """Training runs the attention gates as kerasfg's fused custom ops (`kerasfg.layers.fused_gates`);
    the export traces inference, holds none of them and verifies in a process with only TensorFlow."""
    from kerasfg.export import _verify_worker
    from kerasfg.layers import CBAM, SqueezeExcite, fused_gates

    image = keras.Input((16, 16, 3), name="image")
    x = layers.Rescaling(1 / 255.0, name="rescale")(image)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(x)
    x = SqueezeExcite(ratio=2, name="se")(CBAM(ratio=2, name="cbam")(x))
    outputs = layers.Dense(3, activation="softmax", name="identity")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(image, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy")
    faces = random_faces(4, size=16).astype("float32")
    model.fit(faces, np.arange(4) % 3, epochs=1, verbose=0)
    if fused_gates.library() is not None:  # built wherever a C++ compiler is (CI: g++)
        step = tf.function(lambda x: model(x, training=True)).get_concrete_function(tf.constant(faces))
        assert {op.type for op in step.graph.get_operations()} & set(fused_gates.OP_TYPES)
    result = export_saved_model(model, tmp_path / "gated")
    assert result.verification.ok, result.verification.summary()
    assert not set(_verify_worker.scan_ops(result.path)["ops"]) & set(fused_gates.OP_TYPES)
