import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from vis_models import BUILDERS, functional, model_inputs, nested

from kerasfg.vis import introspect
from kerasfg.vis.introspect import (
    KerasInternalsError,
    ModelGraph,
    ModelInputs,
    consumers,
    feature_layer,
    missing_internals,
    output_names,
    output_tensor,
    producer,
    upstream,
)


@pytest.mark.parametrize("kind", BUILDERS)
def test_outputs_and_taps_equal_the_models_own(kind):
    model = BUILDERS[kind]()
    inputs = model_inputs(kind, np.random.default_rng(0))
    graph = ModelGraph(model)
    outputs, taps = graph(inputs, taps=["conv2", "gap"])
    expected = model(inputs)
    expected = expected if isinstance(expected, dict) else {graph.output_names[0]: expected}
    assert set(outputs) == set(expected)
    for name in expected:
        np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-5, atol=1e-6)
    pooled = taps[graph.find("gap")]
    np.testing.assert_allclose(pooled, np.asarray(taps[graph.find("conv2")]).clip(0).mean(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize("kind", BUILDERS)
def test_logits_are_the_scores_before_the_softmax(kind):
    model = BUILDERS[kind]()
    inputs = model_inputs(kind, np.random.default_rng(1))
    graph = ModelGraph(model)
    probabilities, _ = graph(inputs)
    logits, _ = graph(inputs, logits=True)
    for name in probabilities:
        np.testing.assert_allclose(tf.nn.softmax(logits[name]), probabilities[name], rtol=1e-5, atol=1e-6)
        assert not np.allclose(np.asarray(logits[name]).sum(-1), 1.0)
    again, _ = graph(inputs)  # the model itself is left as it was
    for name in probabilities:
        np.testing.assert_allclose(again[name], probabilities[name])


def test_relu_replacement_reaches_activations_and_relu_layers():
    model = nested()
    graph = ModelGraph(model)
    calls = []

    def counting_relu(x):
        calls.append(x)
        return tf.nn.relu(x)

    graph(np.zeros((1, 12, 12, 3), "float32"), relu=counting_relu)
    assert len(calls) == 2  # conv1's activation and the ReLU layer
    assert graph.layers["backbone/conv1"].activation is keras.activations.relu



def test_a_run_never_changes_the_layers_so_other_threads_see_the_model_as_it_is():
    # The deferred recordings trace runs on a worker thread while the trainer saves and exports the model:
    # the layer that another thread calls, or serializes, in the middle of a run must have its own activation.
    model = functional()
    graph = ModelGraph(model)
    layer = model.get_layer("conv1")
    seen = []

    def looking_relu(x):
        seen.append((layer.activation, layer.get_config()["activation"]))
        return tf.nn.relu(x)

    outputs, _ = graph(np.ones((2, 12, 12, 3), "float32"), relu=looking_relu, logits=True)
    assert seen == [(keras.activations.relu, "relu")] * 2  # conv1's activation, then the ReLU layer
    assert model.get_layer("preds").get_config()["activation"] == "softmax"
    assert not np.allclose(np.asarray(outputs["preds"]).sum(axis=1), 1)  # the scores before the softmax

def test_replace_changes_what_the_rest_of_the_model_sees():
    model = functional()
    graph = ModelGraph(model)
    outputs, _ = graph(np.ones((2, 12, 12, 3), "float32"), replace={"gap": tf.zeros_like}, logits=True)
    np.testing.assert_allclose(outputs["preds"], np.broadcast_to(model.get_layer("preds").bias.numpy(), (2, 5)),
                               atol=1e-6)


def test_unknown_and_ambiguous_layers_are_named():
    graph = ModelGraph(nested())
    assert graph.find("conv2") == "backbone/conv2"
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        graph.find("conv9")


def test_works_inside_a_compiled_gradient_computation():
    model = nested()
    graph = ModelGraph(model)

    @tf.function
    def gradient(images):
        with tf.GradientTape() as tape:
            outputs, taps = graph(images, taps=["conv2"], logits=True)
            score = tf.reduce_sum(outputs["preds"][:, 1])
        return tape.gradient(score, taps["backbone/conv2"])

    grads = gradient(tf.random.normal((2, 12, 12, 3)))
    assert grads.shape == (2, 3, 3, 6) and np.abs(grads.numpy()).sum() > 0


# === Inputs, outputs, producers and the default CAM layer ===


def test_the_image_input_is_the_only_4d_input_whatever_its_name():
    pixels = keras.Input((8, 8, 3), name="pixels")
    single = keras.Model(pixels, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(pixels)))
    inputs = ModelInputs(single)
    assert (inputs.image_name, inputs.single, inputs.image_shape) == ("pixels", True, (8, 8, 3))
    image = np.ones((2, 8, 8, 3), "float32")
    assert inputs.join(image) is image and inputs.image(image) is not None

    face, code = keras.Input((8, 8, 3), name="face"), keras.Input((2,), name="code")
    joined = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(face), code])
    as_list = keras.Model([code, face], keras.layers.Dense(2)(joined))
    inputs = ModelInputs(as_list)
    assert (inputs.image_name, inputs.others, inputs.names) == ("face", ["code"], ["code", "face"])
    batch = np.zeros((2, 2), "float32"), image
    split_image, rest = inputs.split(list(batch))  # a list in the order of model.inputs
    assert split_image is image and list(rest) == ["code"]
    assert set(inputs.join(image, rest)) == {"face", "code"}
    with pytest.raises(ValueError, match=r"missing \['code'\]"):
        inputs.split({"face": image})
    with pytest.raises(ValueError, match="pass a dict with the image under 'face'"):
        inputs.split(image)

    as_dict = keras.Model({"code": code, "face": face}, keras.layers.Dense(2)(joined))
    assert ModelInputs(as_dict).names == ["code", "face"] and ModelInputs(as_dict).image_name == "face"


def test_among_several_images_the_one_named_image_and_otherwise_a_clear_error():
    a, b = keras.Input((8, 8, 3), name="image"), keras.Input((8, 8, 1), name="depth")
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(a),
                                         keras.layers.GlobalAveragePooling2D()(b)])
    assert ModelInputs(keras.Model([a, b], keras.layers.Dense(2)(pooled))).image_name == "image"
    c = keras.Input((8, 8, 3), name="left")
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(c),
                                         keras.layers.GlobalAveragePooling2D()(b)])
    with pytest.raises(ValueError, match="one image input of shape .* the only 4-D input, or the one named 'image'"):
        ModelInputs(keras.Model([c, b], keras.layers.Dense(2)(pooled)))
    vector = keras.Input((5,), name="vector")
    with pytest.raises(ValueError, match=r"'vector': \(None, 5\)"):
        ModelInputs(keras.Model(vector, keras.layers.Dense(2)(vector)))


@pytest.mark.parametrize("kind", BUILDERS)
def test_outputs_producers_and_consumers_of_every_kind_of_model(kind):
    model = BUILDERS[kind]()
    graph = ModelGraph(model)
    expected = ["identity", "gender"] if kind == "multi_output" else ["preds"]
    assert output_names(model) == graph.output_names == expected
    found = producer(output_tensor(model, expected[0]))
    assert found.path == expected[0]
    prefix = "backbone/" if kind == "nested" else ""
    walked = [found.path]
    while found.path != prefix + "gap":  # the first input of each layer, back to the pooling
        found = producer(found.inputs[0], found.scopes)
        walked.append(found.path)
    assert walked[1:-1] == {"sequential": ["dense"], "multi_output": ["concatenate"]}.get(kind, [])
    assert producer(graph.layers[prefix + "conv1"].input) is None  # an input of the model
    assert consumers(graph, prefix + "conv2") == [prefix + "relu2"]
    if kind == "nested":
        assert consumers(graph, "backbone/gap") == ["preds"]  # out of the nested model
    between = {"sequential": ["dense"], "multi_output": ["concatenate"]}.get(kind, [])
    assert sorted(upstream(graph, expected[0])) == sorted(
        [prefix + name for name in ("conv1", "pool", "conv2", "relu2", "gap")] + between)
    with pytest.raises(ValueError, match=re.escape(f"has no output 'nope'; its outputs are {expected}")):
        output_tensor(model, "nope")


def _head(features, name):
    return keras.layers.Dense(3, activation="softmax", name=name)(keras.layers.GlobalAveragePooling2D()(features))


def test_the_default_cam_layer_is_the_last_spatial_layer_before_the_head():
    assert feature_layer(ModelGraph(BUILDERS["nested"]())) == "backbone/relu2"
    with pytest.raises(ValueError, match="has a 2-D output"):
        feature_layer(ModelGraph(BUILDERS["functional"]()), layer="gap")

    image = keras.Input((16, 16, 3), name="image")
    trunk = keras.layers.Conv2D(8, 3, activation="relu", name="trunk")(image)
    late = keras.layers.Conv2D(4, 3, strides=8, padding="same", name="late")(image)  # later in model order
    # a 1x1 classifier convolution, its batch norm and activation are stepped over...
    scores = keras.layers.Activation("relu", name="scores_relu")(keras.layers.BatchNormalization(name="scores_bn")(
        keras.layers.Conv2D(3, 1, name="classifier")(trunk)))
    outputs = {"nin": keras.layers.Softmax(name="nin")(keras.layers.GlobalAveragePooling2D()(scores)),
               # ...but a 1x1 convolution that a dense layer reads is a feature layer
               "bottleneck": _head(keras.layers.Conv2D(6, 1, name="squeeze")(trunk), "bottleneck"),
               "late": _head(late, "late_head"),
               "flat": keras.layers.Dense(3, name="flat")(keras.layers.Flatten()(keras.layers.MaxPooling2D(
                   name="pool")(trunk)))}
    graph = ModelGraph(keras.Model(image, outputs))
    assert {output: feature_layer(graph, output) for output in outputs} == {
        "nin": "trunk", "bottleneck": "squeeze", "late": "late", "flat": "pool"}


def test_registry_models_get_their_last_stage_output_of_at_least_3x3():
    from kerasfg.models import build_model

    # at 32x32 pixels stage 4 is 1x1 and stage 3 2x2: the last layer with a 3x3 map or larger ends stage 2
    resnet = build_model("resnet18", input_shape=(32, 32, 3), num_classes=4)
    assert feature_layer(ModelGraph(resnet)) == "stage2_block2_out_relu"
    face = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3}, attention="cbam",
                       extra_inputs={"expression": 7})
    assert feature_layer(ModelGraph(face)) == "stage3_block1_out"


def test_explain_and_faithfulness_accept_the_same_models():
    from kerasfg.vis import explain, faithfulness_table

    face, code = keras.Input((8, 8, 3), name="face"), keras.Input((2,), name="code")
    features = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(face)
    joined = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(features), code])
    model = keras.Model([face, code], keras.layers.Dense(3, activation="softmax", name="scores")(joined))
    rng = np.random.default_rng(3)
    inputs = {"face": rng.uniform(0, 1, (2, 8, 8, 3)).astype("float32"), "code": rng.normal(size=(2, 2))}
    assert explain(model, inputs, "gradcam").shape == (2, 8, 8)
    rows = faithfulness_table(model, inputs, methods=["gradcam", "saliency"], steps=2)
    assert [row["method"] for row in rows] == ["gradcam", "saliency", "random"]


# === The Keras internals this package relies on ===


def test_every_keras_internal_that_introspect_reads_exists():
    missing = missing_internals()
    assert not missing, (f"Keras {keras.__version__} lacks private attributes that kerasfg.vis.introspect reads: "
                         f"{missing}; update kerasfg/vis/introspect.py (the only module that touches them).")


def test_a_missing_internal_is_named():
    class NotAModel:
        pass

    with pytest.raises(KerasInternalsError, match=r"private attribute NotAModel._keras_history, which Keras"):
        introspect._private(NotAModel(), "_keras_history")
