"""Training from a config with objectives: every registered model, OrthoReg, the papers' optimizers
and schedules, frozen layers and fine-tuning from a weights file."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasfg import config as config_lib
from kerasfg import optimization, training
from kerasfg.config import ConfigError
from kerasfg.models.registry import available_models, registered_model
from kerasfg.regularizers import OrthoRegUpdate, orthoreg_penalty

ATTRIBUTES = ("Smiling", "Eyeglasses", "Bald")


def write_celeba(root, count=12, size=16):
    """A tiny CelebA in its published layout: three attributes, train/val/test partitions."""
    rng = np.random.default_rng(0)
    (root / "Img" / "img_align_celeba").mkdir(parents=True)
    (root / "Anno").mkdir()
    (root / "Eval").mkdir()
    rows, partitions = [], []
    for i in range(1, count + 1):
        name = f"{i:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            root / "Img" / "img_align_celeba" / name)
        rows.append(name + " " + " ".join(rng.choice(["1", "-1"], len(ATTRIBUTES))))
        partitions.append(f"{name} {i % 3}")
    (root / "Anno" / "list_attr_celeba.txt").write_text(
        "\n".join([str(count), " ".join(ATTRIBUTES), *rows]) + "\n")
    (root / "Eval" / "list_eval_partition.txt").write_text("\n".join(partitions) + "\n")
    return root


@pytest.fixture(scope="module")
def celeba(tmp_path_factory):
    return write_celeba(tmp_path_factory.mktemp("celeba"))


def smoke_config(model, options=None, data=None, **train):
    """A one-epoch config of ``model`` in its smallest form on the smallest synthetic faces it takes."""
    size = registered_model(model).smoke_image_size
    return config_lib.from_dict({
        "name": model, "runs_dir": "unused",
        "data": data or {"inputs": ["image"], "targets": ["identity"], "batch_size": 8,
                         "synthetic": {"num_identities": 3, "train_images": 8, "val_images": 8,
                                       "test_images": 8, "image_size": size, "difficulty": 0.0}},
        "model": {"name": model, "attention": None,
                  "options": registered_model(model).smallest(dict(options or {}))},
        "train": {"epochs": 1, "precision": "float32", "verbose": 0, "run_eagerly": True,
                  "optimizer": {"name": "sgd", "learning_rate": 0.01}, **train},
    })


def celeba_data(root):
    return {"source": "dataset", "inputs": ["image"], "targets": ["attributes"], "batch_size": 4,
            "dataset": {"name": "celeba", "root": str(root), "image_size": [16, 16]}}


# What a builder needs besides its smallest form to train on faces: the heads take a backbone
# (identity and expression outputs), the multi-task ABN a multi-label target, the pain CNN the
# classification task (its regression target, PSPI, is in `kerasfg pain`'s face video).
NEEDS = {"face_head": {"options": {"backbone": "cifar_resnet", "config": "H"},
                       "targets": ["identity", "expression"]},
         "abn_multitask": {"celeba": True},
         "pain_cnn": {"options": {"task": "classification"}}}
# Models that take no images: they train from their own command.
NOT_ON_IMAGES = {"temporal_lstm": "windows of frame features (kerasfg pain)"}


def _same_network(name):
    """What decides the network a registered name builds in its smallest form."""
    registered = registered_model(name)
    builder, options = registered.network(registered.smallest(NEEDS.get(name, {}).get("options", {})))
    return builder, repr(sorted(options.items()))


@pytest.mark.slow
def test_every_registered_model_trains_a_step_from_a_config_with_its_default_objective(celeba):
    trained = {}
    for name in sorted(set(available_models()) - set(NOT_ON_IMAGES)):
        network = _same_network(name)
        if network in trained:  # e.g. resnet101 and resnet152 are both ResNet-10 at their smallest
            continue
        needs = NEEDS.get(name, {})
        data = celeba_data(celeba) if needs.get("celeba") else None
        config = smoke_config(name, needs.get("options"), data)
        if "targets" in needs:
            config.data.targets = needs["targets"]
        splits = training.build_datasets(config.data)
        model, objectives = training.build_compiled_model(config, splits, jit_compile=False)
        history = model.fit(objectives.arrange(splits.train), epochs=1, steps_per_epoch=1, verbose=0)
        assert math.isfinite(history.history["loss"][0]), name
        assert any(o.trained for o in objectives.outputs.values())
        trained[network] = name
    assert len(trained) >= 15, sorted(trained.values())


@pytest.mark.slow
def test_fit_trains_the_multitask_abn_and_records_its_objectives_and_tables(celeba, tmp_path):
    config = smoke_config("abn_multitask", {"style": "cifar"}, data=celeba_data(celeba))
    config.runs_dir = str(tmp_path)
    config.objectives = {"attention_logits": config_lib.ObjectiveConfig(weight=0.5)}
    result = training.fit(config)
    import json

    record = json.loads((result.run_dir / "objectives.json").read_text())
    assert record["outputs"]["attention_logits"] == {
        "target": "attributes", "kind": "multilabel", "loss": "sigmoid_cross_entropy",
        "weight": 0.5, "options": {}, "metrics": [], "from_logits": True, "standardization": None}
    assert record["outputs"]["attention_map"]["loss"] == "none"
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics["test_tables"]["perception_logits"]["per_attribute_accuracy"]) == set(ATTRIBUTES)
    assert 0 <= metrics["test"]["perception_logits_mean_attribute_accuracy"] <= 1
    assert json.loads((result.run_dir / "class_names.json").read_text()) == {
        "attributes": list(ATTRIBUTES)}


def test_a_config_that_maps_an_output_to_nothing_fails_before_training(tmp_path):
    config = smoke_config("face_head", {"backbone": "cifar_resnet", "config": "H"})
    config.runs_dir = str(tmp_path)
    with pytest.raises(ConfigError, match=r"objectives\.expression\.target: output 'expression' of "
                                          r"model 'face_head' is mapped to no target"):
        training.fit(config)
    (run_dir,) = (tmp_path / "face_head").iterdir()
    assert not (run_dir / "backup").exists()  # no epoch ran
    config = smoke_config("vgg16_cam", data={
        "inputs": ["image"], "targets": ["identity"], "batch_size": 8,
        "synthetic": {"num_identities": 3, "train_images": 8, "val_images": 8, "test_images": 8,
                      "image_size": 16}})
    config.objectives = {"identity": config_lib.ObjectiveConfig(target="gender")}
    splits = training.build_datasets(config.data)
    with pytest.raises(ConfigError, match=r"objectives\.identity\.target: 'gender' is not a target the "
                                          r"data provides; data\.targets has \['identity'\]"):
        training.build_compiled_model(config, splits, jit_compile=False)


def tiny_model():
    inputs = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(5, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, {"identity": keras.layers.Dense(3, activation="softmax",
                                                                name="identity")(x)})


def train_config(**train):
    return config_lib.from_dict({"train": {"epochs": 4, **train}}).train


def test_l2_weight_decay_is_pytorchs_sgd_weight_decay_through_nesterov_momentum():
    """Two SGD steps against PyTorch's update rule: g += wd * w; v = m v + g; w -= lr (g + m v)."""
    lr, momentum, wd = 0.1, 0.9, 0.05
    model = tiny_model()
    config = train_config(optimizer={"name": "sgd", "learning_rate": lr, "weight_decay": wd,
                                     "options": {"momentum": momentum, "nesterov": True}})
    optimization.attach_regularizers(model, config)
    from kerasfg import objectives

    model.compile(optimizer=optimization.build_optimizer(config, 1),
                  **objectives.classification(model).compile_arguments())
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 2)).astype("float32")
    y = {"identity": np.array([0, 1, 2, 1])}
    weights = [w.numpy().astype("float64") for w in model.trainable_weights]
    velocity = [np.zeros_like(w) for w in weights]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for _ in range(2):
        with tf.GradientTape() as tape:
            data_loss = loss_fn(y["identity"], model(x, training=True)["identity"])
        grads = tape.gradient(data_loss, model.trainable_weights)
        for i, g in enumerate(grads):
            g = g.numpy() + wd * weights[i]
            velocity[i] = momentum * velocity[i] + g
            weights[i] = weights[i] - lr * (g + momentum * velocity[i])
        model.train_on_batch(x, y)
        for ours, expected in zip(model.trainable_weights, weights):
            np.testing.assert_allclose(ours.numpy(), expected, rtol=2e-4, atol=1e-6)
    assert len(model.losses) == len(model.trainable_weights)  # every weight decays, BN included


def test_decoupled_weight_decay_is_keras_own_and_fractions_place_the_step_decays():
    config = train_config(optimizer={"name": "sgd", "learning_rate": 0.1, "weight_decay": 0.01,
                                     "weight_decay_mode": "decoupled", "schedule": "step",
                                     "decay_fractions": [0.5, 0.75], "decay_factor": 0.2})
    assert optimization.build_optimizer(config, steps_per_epoch=10).weight_decay == 0.01
    assert optimization.decay_epochs(config) == [2, 3]
    schedule = optimization.learning_rate_schedule(config, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 19, 20, 29, 30, 39)]
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.02, 0.02, 0.004, 0.004], rtol=1e-6)
    model = tiny_model()
    optimization.attach_regularizers(model, config)
    assert not model.losses  # no L2 penalty in decoupled mode
    with pytest.raises(ConfigError, match=r"train\.optimizer\.name: unknown optimizer 'sgdd'"):
        optimization.build_optimizer(train_config(optimizer={"name": "sgdd"}), 1)
    with pytest.raises(ConfigError, match=r"train\.optimizer\.options: .*momentun"):
        optimization.build_optimizer(train_config(optimizer={"name": "sgd",
                                                             "options": {"momentun": 0.9}}), 1)


def test_orthoreg_from_the_config_as_a_regularizer_or_as_the_post_step_update():
    model = tiny_model()
    config = train_config(orthoreg={"mode": "regularizer", "strength": 0.5, "lam": 5.0,
                                    "layers": ["conv*"]})
    optimization.attach_regularizers(model, config)
    expected = sum(0.5 * float(orthoreg_penalty(model.get_layer(name).kernel, lam=5.0))
                   for name in ("conv1", "conv2"))
    np.testing.assert_allclose(sum(float(loss) for loss in model.losses), expected, rtol=1e-5)
    assert optimization.training_callbacks(model, config) == []
    update = train_config(orthoreg={"mode": "update", "beta": 0.01, "restore_norms": True})
    (callback,) = optimization.training_callbacks(tiny_model(), update)
    assert isinstance(callback, OrthoRegUpdate)
    assert (callback.beta, callback.lam, callback.layer_names, callback.restore_norms) == (
        0.01, 10.0, None, True)
    with pytest.raises(ConfigError, match=r"train\.orthoreg\.layers\[0\]: 'stage9_\*' matches no layer"):
        optimization.attach_regularizers(model, train_config(orthoreg={"mode": "regularizer",
                                                                       "layers": ["stage9_*"]}))
    with pytest.raises(ConfigError, match=r"train\.orthoreg\.mode: expected one of"):
        train_config(orthoreg={"mode": "both"})


def test_fine_tuning_loads_weights_by_layer_name_and_freezes_by_pattern(tmp_path):
    from kerasfg.fine_tuning import freeze_layers, load_initial_weights

    source = tiny_model()
    source.save(tmp_path / "source.keras")
    inputs = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(5, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    target = keras.Model(inputs, {"identity": keras.layers.Dense(7, name="identity")(x),
                                  "gender": keras.layers.Dense(2, name="gender")(x)})
    with pytest.raises(ConfigError, match=r"train\.initial_weights: 1 layer\(s\) of .*source\.keras "
                                          r"do not fit model .*identity \[\(5, 3\), \(3,\)\] in the file, "
                                          r"\[\(5, 7\), \(7,\)\] here; set train\.skip_mismatch"):
        load_initial_weights(target, tmp_path / "source.keras")
    report = load_initial_weights(target, tmp_path / "source.keras", skip_mismatch=True)
    assert report == {"loaded": ["conv1", "bn", "conv2"], "skipped": ["identity"],
                      "initialized": ["gender"]}
    for name in ("conv1", "bn", "conv2"):
        for ours, theirs in zip(target.get_layer(name).get_weights(),
                                source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    assert freeze_layers(target, ["conv*", "bn"]) == ["conv1", "bn", "conv2"]
    assert [w.name for w in target.trainable_weights] == ["kernel", "bias", "kernel", "bias"]
    with pytest.raises(ConfigError, match=r"train\.freeze\[0\]: 'stem_\*' matches no layer"):
        freeze_layers(target, ["stem_*"])
    source.save_weights(tmp_path / "source.weights.h5")
    same = tiny_model()
    load_initial_weights(same, tmp_path / "source.weights.h5")
    np.testing.assert_array_equal(same.get_layer("conv2").get_weights()[0],
                                  source.get_layer("conv2").get_weights()[0])
    with pytest.raises(ConfigError, match=r"does not fit model .* a \.weights\.h5 file loads into the "
                                          r"same architecture only"):
        load_initial_weights(target, tmp_path / "source.weights.h5")
    with pytest.raises(ConfigError, match=r"train\.initial_weights: .*missing\.keras does not exist"):
        load_initial_weights(target, tmp_path / "missing.keras")
