"""kerasfg.objectives: each objective's compiled loss against NumPy on fixed tensors, the defaults
of the registered models, and the errors of a config that does not fit."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg import objectives
from kerasfg.config import ConfigError
from kerasfg.layers import AttendRectify
from kerasfg.models.registry import registered_model
from kerasfg.objectives import TargetTask

RNG = np.random.default_rng(3)


def log_softmax(z):
    z = z.astype("float64") - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def passthrough_model(outputs, activations=None):
    """A model whose outputs are its inputs: ``{name: shape}`` -> fixed predictions to test losses on."""
    activations = activations or {}
    inputs = {f"{name}_in": keras.Input(shape, name=f"{name}_in") for name, shape in outputs.items()}
    return keras.Model(inputs, {name: keras.layers.Activation(activations.get(name, "linear"),
                                                              name=name)(inputs[f"{name}_in"])
                                for name in outputs})


def evaluate(model, objective, x, labels):
    """Total loss and metrics of one batch of ``(x, {task: labels})`` through the objectives."""
    model.compile(optimizer="sgd", **objective.compile_arguments())
    data = objective.arrange(tf.data.Dataset.from_tensors((x, labels)))
    return model.evaluate(data, return_dict=True, verbose=0)


def test_abn_loss_is_the_weighted_sum_of_both_branches_cross_entropies():
    k = 5
    model = passthrough_model({"attention_logits": (k,), "perception_logits": (k,),
                               "attention_map": (4, 4, 1)})
    objective = objectives.resolve(
        model, {"identity": TargetTask("identity", "class", tuple("abcde"))},
        registered=registered_model("abn_cifar_resnet"), config={"attention_logits": {"weight": 0.5}})
    assert {name: o.loss for name, o in objective.outputs.items()} == {
        "attention_logits": "softmax_cross_entropy", "perception_logits": "softmax_cross_entropy",
        "attention_map": "none"}
    x = {"attention_logits_in": RNG.normal(size=(6, k)).astype("float32") * 3,
         "perception_logits_in": RNG.normal(size=(6, k)).astype("float32") * 3,
         "attention_map_in": RNG.random((6, 4, 4, 1)).astype("float32")}
    y = RNG.integers(0, k, 6)
    result = evaluate(model, objective, x, {"identity": y})
    rows = np.arange(6)
    l_att = -log_softmax(x["attention_logits_in"])[rows, y].mean()
    l_per = -log_softmax(x["perception_logits_in"])[rows, y].mean()
    np.testing.assert_allclose(result["loss"], 0.5 * l_att + l_per, rtol=1e-5)
    expected_accuracy = (x["perception_logits_in"].argmax(-1) == y).mean()
    np.testing.assert_allclose(result["perception_logits_accuracy"], expected_accuracy)
    assert "attention_logits_accuracy" not in result  # read on the perception branch, as the paper


def test_multitask_abn_masks_missing_attributes_in_both_branches():
    model = passthrough_model({"attention_logits": (3,), "perception_logits": (3,),
                               "attention_map": (2, 2, 3)})
    objective = objectives.resolve(
        model, {"attributes": TargetTask("attributes", "multilabel", ("smiling", "beard", "glasses"))},
        registered=registered_model("abn_multitask"))
    x = {"attention_logits_in": RNG.normal(size=(4, 3)).astype("float32"),
         "perception_logits_in": RNG.normal(size=(4, 3)).astype("float32"),
         "attention_map_in": RNG.random((4, 2, 2, 3)).astype("float32")}
    y = np.array([[1, 0, -1], [0, 0, 1], [-1, -1, 1], [1, 1, 0]], "float32")
    result = evaluate(model, objective, x, {"attributes": y})
    mask = y >= 0

    def bce(z):
        p = 1 / (1 + np.exp(-z.astype("float64")))
        t = np.where(mask, y, 0)
        return (-(t * np.log(p) + (1 - t) * np.log(1 - p)) * mask).sum() / mask.sum()

    np.testing.assert_allclose(result["loss"], bce(x["attention_logits_in"])
                               + bce(x["perception_logits_in"]), rtol=1e-5)
    hits = ((x["perception_logits_in"] > 0) == (y > 0.5)) & mask
    np.testing.assert_allclose(result["perception_logits_mean_attribute_accuracy"],
                               (hits.sum(0) / mask.sum(0)).mean(), rtol=1e-6)


def test_attend_rectify_loss_is_the_nll_of_the_mixture_plus_the_diversity_penalty():
    classes, heads, reg_weight = 4, 2, 0.3
    logits = keras.Input((classes,), name="logits")
    last = keras.Input((4, 4, 6), name="last")
    attended = keras.Input((4, 4, 6), name="attended")
    mixture, maps = AttendRectify(classes, num_heads=heads, reg_weight=reg_weight, kernel_size=1,
                                  name="attend_rectify")([logits, last, attended],
                                                         return_attention=True)
    outputs = {"log_probs": keras.layers.Activation("linear", name="log_probs")(mixture),
               "masks": keras.layers.Activation("linear", name="masks")(maps["masks_0"])}
    model = keras.Model([logits, last, attended], outputs)
    objective = objectives.resolve(model, {"identity": TargetTask("identity", "class", tuple("abcd"))},
                                   registered=registered_model("warn"), config={"masks": {"loss": "none"}})
    x = [RNG.normal(size=(5, *t.shape[1:])).astype("float32") for t in model.inputs]
    y = RNG.integers(0, classes, 5)
    result = evaluate(model, objective, tuple(x), {"identity": y})
    predicted = model.predict_on_batch(x)
    nll = -predicted["log_probs"].astype("float64")[np.arange(5), y].mean()
    pooled = predicted["masks"].reshape(5, 2, 2, 2, 2, heads).mean((2, 4)).reshape(5, 4, heads)
    gram = np.einsum("bpk,bpl->bkl", pooled, pooled) * (1 - np.eye(heads))
    np.testing.assert_allclose(result["loss"], nll + reg_weight * (gram**2).mean(), rtol=1e-5)
    np.testing.assert_allclose(result["log_probs_accuracy"],
                               (predicted["log_probs"].argmax(-1) == y).mean())


def test_regression_learns_the_standardized_target_and_reports_mae_in_its_units(tmp_path):
    train_ages = np.array([20.0, 30.0, 40.0, 50.0, 60.0])
    mean, std = train_ages.mean(), train_ages.std()
    model = passthrough_model({"age": (1,)})
    objective = objectives.resolve(model, {"age": TargetTask("age", "regression", (), train_ages)})
    standardization = objective.outputs["age"].info.standardization
    assert (standardization.mean, standardization.std) == pytest.approx((mean, std))
    x = {"age_in": RNG.normal(size=(6, 1)).astype("float32")}
    ages = np.array([22, 35, 41, 58, 63, 27], "int32")
    result = evaluate(model, objective, x, {"age": ages})
    z = (ages - mean) / std
    predicted = x["age_in"][:, 0].astype("float64")
    np.testing.assert_allclose(result["loss"], ((z - predicted) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(result["mae"], np.abs(ages - (predicted * std + mean)).mean(), rtol=1e-5)
    np.testing.assert_allclose(result["pearson"], np.corrcoef(ages, predicted)[0, 1], rtol=1e-5)
    objective.write(tmp_path)
    record = json.loads((tmp_path / "objectives.json").read_text())
    assert record["outputs"]["age"]["standardization"] == {"mean": mean, "std": std}
    restored = objectives.destandardize({"age": predicted}, tmp_path)["age"]
    np.testing.assert_allclose(restored, predicted * std + mean)


def test_table_metrics_are_computed_once_on_the_test_set():
    model = passthrough_model({"expression": (3,), "attributes": (2,)},
                              activations={"expression": "softmax", "attributes": "sigmoid"})
    tasks = {"expression": TargetTask("expression", "class", ("happy", "sad", "angry")),
             "attributes": TargetTask("attributes", "multilabel", ("beard", "glasses"))}
    objective = objectives.resolve(model, tasks, config={
        "expression": {"metrics": ["accuracy", "top_k", {"name": "top_k", "k": 2}, "auc", "confusion"]}})
    assert not objective.outputs["expression"].info.from_logits  # read from the softmax layer
    x = {"expression_in": RNG.normal(size=(9, 3)).astype("float32"),
         "attributes_in": RNG.normal(size=(9, 2)).astype("float32")}
    expression = RNG.integers(0, 3, 9)
    attributes = (RNG.random((9, 2)) > 0.5).astype("float32")
    attributes[2, 0] = -1
    model.compile(optimizer="sgd", **objective.compile_arguments())
    data = objective.arrange(tf.data.Dataset.from_tensor_slices(
        (x, {"expression": expression, "attributes": attributes})).batch(4))
    logs = model.evaluate(data, return_dict=True, verbose=0)
    assert {"expression_accuracy", "expression_top5_accuracy", "expression_top2_accuracy",
            "expression_auc", "attributes_mean_attribute_accuracy"} <= set(logs)
    tables = objective.evaluate_tables(model, data)
    probabilities = np.exp(x["expression_in"]) / np.exp(x["expression_in"]).sum(-1, keepdims=True)
    counts = np.zeros((3, 3))
    np.add.at(counts, (expression, probabilities.argmax(-1)), 1)
    assert tables["expression"]["confusion"] == {"class_names": ["happy", "sad", "angry"],
                                                 "values": counts.astype(int).tolist()}
    hits = (x["attributes_in"] > 0) == (attributes > 0.5)
    assert tables["attributes"]["per_attribute_accuracy"] == pytest.approx(
        {"beard": hits[[0, 1, 3, 4, 5, 6, 7, 8], 0].mean(), "glasses": hits[:, 1].mean()})


def test_compile_arguments_of_the_public_helpers_are_thin_calls_into_the_registry():
    from kerasfg.losses import MaskedBinaryCrossentropy, NegativeLogLikelihood
    from kerasfg.models import abn_losses, build_model, face_head_losses, warn_losses

    assert isinstance(abn_losses(multitask=True)["loss"]["perception_logits"], MaskedBinaryCrossentropy)
    assert abn_losses(attention_weight=0.3)["loss_weights"] == {"attention_logits": 0.3,
                                                                 "perception_logits": 1.0}
    assert isinstance(warn_losses()["loss"]["log_probs"], NegativeLogLikelihood)
    head = build_model("face_head", input_shape=(8,), num_classes={"identity": 3, "expression": 2},
                       config="G", hidden_units=4)
    compiled = face_head_losses(head, {"expression": 0.5})
    assert compiled["loss_weights"] == {"identity": 1.0, "expression": 0.5}
    assert not compiled["loss"]["identity"].get_config()["from_logits"]  # softmax outputs


TASKS = {"identity": TargetTask("identity", "class", ("a", "b", "c")),
         "age": TargetTask("age", "regression", (), np.array([20.0, 40.0])),
         "attributes": TargetTask("attributes", "multilabel", ("beard", "glasses"))}


@pytest.mark.parametrize("outputs, config, tasks, message", [
    ({"identity": (3,)}, {"expression": {}}, ["identity"],
     r"objectives\.expression: not an output of model 'm'; its outputs are \['identity'\]"),
    ({"identity": (3,), "expression": (7,)}, {}, ["identity"],
     r"objectives\.expression\.target: output 'expression' of model 'm' is mapped to no target; "
     r"expected one of data\.targets \['identity'\]"),
    ({"identity": (3,)}, {"identity": {"target": "gender"}}, ["identity"],
     r"objectives\.identity\.target: 'gender' is not a target the data provides; data\.targets has "
     r"\['identity'\]"),
    ({"identity": (3,)}, {"identity": {"loss": "mse"}}, ["identity"],
     r"objectives\.identity\.loss: loss 'mse' needs a regression target; 'identity' is a class task"),
    ({"identity": (3,)}, {"identity": {"loss": "focal"}}, ["identity"],
     r"objectives\.identity\.loss: unknown loss 'focal'; expected one of \[.*'softmax_cross_entropy'"),
    ({"identity": (4,)}, {}, ["identity"],
     r"objectives\.identity\.target: output 'identity' of model 'm' has 4 units; target 'identity' "
     r"has 3 classes"),
    ({"identity": (3,)}, {"identity": {"metrics": ["accuracy", "pearson"]}}, ["identity"],
     r"objectives\.identity\.metrics\[1\]: metric 'pearson' needs a regression target"),
    ({"identity": (3,)}, {"identity": {"metrics": [{"k": 2}]}}, ["identity"],
     r"objectives\.identity\.metrics\[0\]: expected a metric name or a mapping with a name"),
    ({"identity": (3,)}, {"identity": {"metrics": [{"name": "top_k", "kk": 2}]}}, ["identity"],
     r"objectives\.identity\.metrics\[0\]: .*kk"),
    ({"identity": (3,)}, {"identity": {"options": {"smoothing": 0.1}}}, ["identity"],
     r"objectives\.identity\.options: .*smoothing"),
    ({"age": (1,)}, {}, ["age"], r"objectives\.age\.loss: .*ends in a softmax; a regression target "
                                 r"needs a linear output"),
    ({"attributes": (2,)}, {"attributes": {"loss": "none"}}, ["attributes"],
     r"objectives: no output of model 'm' is trained"),
])
def test_a_config_that_does_not_fit_fails_naming_the_key(outputs, config, tasks, message):
    model = passthrough_model(outputs, activations={name: "softmax" for name in outputs})
    model.name = "m"
    with pytest.raises(ConfigError, match=message):
        objectives.resolve(model, {t: TASKS[t] for t in tasks}, config=config)


def test_a_standardized_target_needs_spread_in_its_training_labels():
    model = passthrough_model({"age": (1,)})
    with pytest.raises(ConfigError, match=r"objectives\.age\.target: every training label of 'age' "
                                          r"is 30; a standardized target needs some spread"):
        objectives.resolve(model, {"age": TargetTask("age", "regression", (), np.full(4, 30.0))})


def test_a_registered_head_sets_the_default_objective_of_the_outputs_it_makes():
    class Head(keras.layers.Dense):
        pass

    objectives.register_head_objective(Head, {"loss": "mse", "metrics": ["mae"]})
    features = keras.Input((4,), name="features")
    model = keras.Model(features, {"age": Head(1, name="age")(features),
                                   "gender": keras.layers.Dense(2, activation="softmax", name="gender")(features)})
    tasks = {"age": TargetTask("age", "regression", (), np.array([20.0, 30.0])),
             "gender": TargetTask("gender", "class", ("female", "male"))}
    resolved = objectives.resolve(model, tasks, config={"age": {"metrics": ["pearson"]}})
    assert (resolved.outputs["age"].loss, resolved.outputs["age"].metrics) == ("mse", [("pearson", {})])
    assert resolved.outputs["age"].info.layer is model.get_layer("age")
    assert resolved.outputs["gender"].loss == "softmax_cross_entropy"


def test_registries_refuse_duplicates_and_unknown_kinds():
    with pytest.raises(ValueError, match="already registered"):
        objectives.register_loss("nll", kinds=("class",))(lambda info: None)
    with pytest.raises(ValueError, match="kinds must be among"):
        objectives.register_metric("icc", kinds=("ordinal",))
    assert {"softmax_cross_entropy", "sigmoid_cross_entropy", "mse_standardized", "nll"} <= set(
        objectives.available_losses())
    assert {"accuracy", "top5", "per_attribute_accuracy", "mean_attribute_accuracy", "mae", "auc",
            "pearson", "confusion"} <= set(objectives.available_metrics())
