"""One forward and backward pass for several explanations, layer outputs and attention maps."""

import keras
import numpy as np
import pytest
from vis_models import BUILDERS, model_inputs

from kerasfg.models import build_model
from kerasfg.vis import Explainer, explain
from kerasfg.vis.activations import layer_activations
from kerasfg.vis.attention_maps import AttentionMapProbe
from kerasfg.vis.introspect import ModelGraph
from kerasfg.vis.one_pass import ONE_PASS_METHODS, Explanation, run_one_pass


def _cbam_model():
    return build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3, "gender": 2},
                       attention="cbam", widths=(16, 32), blocks=(1, 1), extra_inputs={"expression": 7})


def _cbam_inputs(count, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(0, 255, (count, 32, 32, 3)).astype("float32"),
            "expression": rng.integers(0, 7, count).astype("int32")}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_every_method_of_one_pass_equals_the_method_alone(kind):
    model = BUILDERS[kind]()
    inputs = model_inputs(kind, np.random.default_rng(0))
    explainer = Explainer(model)
    wanted = [Explanation(method, output, explainer.layer_path(method, output))
              for output in explainer.graph.output_names for method in ONE_PASS_METHODS
              if method != "cam" or kind != "multi_output"]  # its heads see the extra input too
    result = run_one_pass(explainer, inputs, wanted)
    assert set(result.maps) == set(wanted)
    for explanation in wanted:
        alone = explain(model, inputs, explanation.method, output=explanation.output)
        np.testing.assert_allclose(result.maps[explanation], alone, rtol=1e-5, atol=1e-6, err_msg=str(explanation))
    assert [key for key in explainer._compiled if key[0] == "one_pass"] == [
        ("one_pass", tuple(sorted(wanted)), (), (), False)]  # one compiled function for all of them


def test_taps_attention_and_logits_of_the_same_pass_equal_their_own_computations():
    model = _cbam_model()
    inputs = _cbam_inputs(6)
    explainer = Explainer(model)
    attention = ["stage1_block1_attention", "stage2_block1_attention"]
    gradcam = Explanation("gradcam", "gender", explainer.layer_path("gradcam", "gender"))
    result = run_one_pass(explainer, inputs, [gradcam], taps=["stage1_block1_out", "features"], attention=attention,
                          explained=4)
    expected_taps = layer_activations(model, inputs, ["stage1_block1_out", "features"])
    for path, value in expected_taps.items():  # all six examples: four explained, two by a forward pass alone
        np.testing.assert_allclose(result.taps[path], value, rtol=1e-4, atol=1e-4)
    expected_maps = AttentionMapProbe(model, attention)({name: value[:4] for name, value in inputs.items()})
    for path in attention:
        for name, value in expected_maps[path].items():
            np.testing.assert_allclose(result.attention[path][name], value, rtol=1e-5, atol=1e-6)
    logits, _ = ModelGraph(model)(inputs, logits=True)
    for output in ("identity", "gender"):
        assert result.logits[output].shape == (6, model.get_layer(output).units)
        np.testing.assert_allclose(result.logits[output], logits[output], rtol=1e-4, atol=1e-4)
    alone = explain(model, {name: value[:4] for name, value in inputs.items()}, "gradcam", output="gender")
    np.testing.assert_allclose(result.maps[gradcam], alone, rtol=1e-5, atol=1e-6)
    first = result.first(2)
    assert first.maps[gradcam].shape == (2, 32, 32) and first.taps["features"].shape[0] == 2


def test_attention_maps_of_a_nested_model_are_read_through_the_graph():
    inner = _cbam_model()
    image, expression = keras.Input((32, 32, 3), name="image"), keras.Input((), dtype="int32", name="expression")
    outer = keras.Model({"image": image, "expression": expression},
                        inner({"image": image, "expression": expression}), name="outer")
    inputs = _cbam_inputs(3)
    nested = AttentionMapProbe(outer)(inputs)
    flat = AttentionMapProbe(inner)(inputs)
    assert sorted(nested) == sorted(f"{inner.name}/{path}" for path in flat)
    for path, maps in flat.items():
        np.testing.assert_allclose(nested[f"{inner.name}/{path}"]["spatial"], maps["spatial"], rtol=1e-6)


def test_attention_of_a_layer_that_is_not_an_attention_layer_is_named():
    model = _cbam_model()
    with pytest.raises(ValueError, match="stage1_block1_out.*not kerasfg attention layers"):
        ModelGraph(model).run(_cbam_inputs(1), attention=["stage1_block1_out"])
    with pytest.raises(ValueError, match="not attention layers"):
        AttentionMapProbe(model, ["features"])


def test_a_call_that_a_kept_pass_covers_runs_it_and_gets_what_its_own_pass_would():
    model = _cbam_model()
    inputs = _cbam_inputs(6)
    explainer = Explainer(model)
    layer = explainer.layer_path("gradcam", "gender")
    everything = [Explanation("saliency", "identity"), Explanation("guided_backprop", "gender"),
                  Explanation("gradcam", "gender", layer), Explanation("gradcam++", "identity", layer)]
    run_one_pass(explainer, inputs, everything, taps=["features"], attention=["stage1_block1_attention"], explained=2)
    kept = explainer.kept("one_pass")
    asked = [Explanation("gradcam", "gender", layer), Explanation("saliency", "identity")]
    few = {name: value[:3] for name, value in inputs.items()}
    covered = run_one_pass(explainer, few, asked, classes={"gender": [1, 0, 1]})
    assert explainer.kept("one_pass") == kept  # no function of its own: the kept one, with its extra example
    alone = run_one_pass(Explainer(model), few, asked, classes={"gender": [1, 0, 1]})
    assert set(covered.maps) == set(asked) and not covered.taps and not covered.attention
    for explanation in asked:
        np.testing.assert_allclose(covered.maps[explanation], alone.maps[explanation], rtol=1e-5, atol=1e-6)
    for output in ("identity", "gender"):
        assert covered.logits[output].shape[0] == 3
        np.testing.assert_allclose(covered.logits[output], alone.logits[output], rtol=1e-5, atol=1e-5)
    forward = run_one_pass(explainer, few, taps=["features"])  # forward only: one extra example explained, dropped
    assert explainer.kept("one_pass") == kept and not forward.maps
    np.testing.assert_allclose(forward.logits["gender"], alone.logits["gender"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(forward.taps["features"], layer_activations(model, few, ["features"])["features"],
                               rtol=1e-4, atol=1e-4)
    run_one_pass(explainer, few, [Explanation("layercam", "gender", layer)])  # not covered: its own function
    assert len(explainer.kept("one_pass")) == 2
