import keras
import numpy as np
import pytest
import tensorflow as tf
from vis_models import BUILDERS, functional, model_inputs, nested

from kerasfg.vis.graph import ModelGraph


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
