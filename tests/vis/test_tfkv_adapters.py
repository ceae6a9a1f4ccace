"""tf-keras-vis 0.8.7 through kerasfg's adapters, on every kind of Keras 3 model, against kerasfg's own maps."""

import keras
import numpy as np
import pytest
from vis_models import BUILDERS, conv_stack, model_inputs
from tf_keras_vis.utils.scores import CategoricalScore

from kerasfg.models import build_model
from kerasfg.vis import Explainer, explain, normalize
from kerasfg.vis.tfkv import VISUALIZATIONS, TfKerasVis, flatten, replace_to_linear


def single_input_multi_output():
    image = keras.Input((12, 12, 3), name="image")
    x = image
    for layer in conv_stack():
        x = layer(x)
    return keras.Model(image, {"a": keras.layers.Dense(5, activation="softmax", name="a")(x),
                               "b": keras.layers.Dense(3, activation="softmax", name="b")(x)})


KINDS = {**BUILDERS, "multi_output_single_input": single_input_multi_output}


def _kind_inputs(kind, rng):
    return model_inputs("functional" if kind == "multi_output_single_input" else kind, rng)


@pytest.mark.parametrize("kind", KINDS)
def test_adapters_run_on_every_kind_of_model_and_agree_with_kerasfg(kind):
    model = KINDS[kind]()
    inputs = _kind_inputs(kind, np.random.default_rng(0))
    native, adapter = Explainer(model), TfKerasVis(model)
    for output in native.graph.output_names:
        for method in ("saliency", "gradcam", "layercam"):
            expected = normalize(native(inputs, method, output=output))
            np.testing.assert_allclose(adapter(inputs, method, output=output), expected, atol=2e-3,
                                       err_msg=f"{method} of {output}")
        if kind == "multi_output":  # tf-keras-vis masks, or adds noise to, every input
            for method in ("smoothgrad", "scorecam"):
                with pytest.raises(ValueError, match="every input of a model"):
                    adapter(inputs, method, output=output)
        else:
            np.testing.assert_allclose(  # without noise, SmoothGrad is the saliency map
                adapter(inputs, "smoothgrad", output=output, smooth_samples=2, smooth_noise=0.0),
                normalize(native(inputs, "smoothgrad", output=output, samples=2, noise=0.0)), atol=2e-3)
        for method in ("gradcam++", "scorecam"):  # the same idea, computed differently
            if method == "scorecam" and kind == "multi_output":
                continue
            maps = adapter(inputs, method, output=output)
            assert maps.shape == (3, 12, 12) and maps.dtype == np.float32 and np.isfinite(maps).all(), method
            mine = native(inputs, method, output=output)
            assert np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(maps, mine)]) > 0.5, method


def test_replace_to_linear_acts_on_the_clone_of_a_sequential_model():
    model = BUILDERS["sequential"]()  # Dense + a separate Softmax layer: tf-keras-vis's own modifier fails here
    images = model_inputs("sequential", np.random.default_rng(1))
    gradcam = VISUALIZATIONS["gradcam"](model, model_modifier=replace_to_linear, clone=True)
    maps = gradcam(CategoricalScore([0, 1, 2]), images, penultimate_layer="relu2", expand_cam=False,
                   normalize_cam=False)
    assert maps.shape == (3, 3, 3) and np.isfinite(maps).all()
    np.testing.assert_allclose(np.asarray(model(images)).sum(-1), 1.0, rtol=1e-5)  # the original keeps its softmax
    assert gradcam.model.outputs[0]._keras_history.operation.name == "dense"


def test_flatten_unrolls_nested_models_with_the_same_layers():
    model = BUILDERS["nested"]()
    flat = flatten(model)
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    assert flat.get_layer("conv2") is model.get_layer("backbone").get_layer("conv2")
    images = model_inputs("nested", np.random.default_rng(2))
    np.testing.assert_allclose(keras.tree.flatten(flat([images]))[0], model(images), rtol=1e-6)

    inputs = keras.Input((12, 12, 3), name="image")  # an outer layer named like one of the backbone's
    pooled = model.get_layer("backbone")(inputs)
    clash = keras.Model(inputs, keras.layers.Dense(2, name="conv2")(pooled))
    with pytest.raises(ValueError, match=r"share the names \['conv2'\]; use kerasfg.vis.explain"):
        flatten(clash)


def test_saliency_of_a_model_with_an_integer_input():
    model = build_model("face_resnet", input_shape=(16, 16, 3), num_classes={"identity": 3}, widths=(8, 8),
                        blocks=(1, 1), hidden_units=8, extra_inputs={"expression": 7})
    rng = np.random.default_rng(3)
    inputs = {"image": rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32"), "expression": np.array([1, 5], "int32")}
    np.testing.assert_allclose(TfKerasVis(model)(inputs, "saliency"), normalize(explain(model, inputs, "saliency")),
                               atol=5e-3)  # 0..255 pixels: float32 rounding of two near-maximal pixels
