import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins import projector

from kerasfg.callbacks import Embeddings
from kerasfg.vis.embeddings import penultimate_features, penultimate_layer

SIZE = 8


def multi_output_model():
    image, extra = keras.Input((SIZE, SIZE, 3), name="image"), keras.Input((2,), name="extra")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Concatenate(name="joined")([x, extra])
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")(x)
    features = keras.layers.Dropout(0.5, name="dropout")(hidden)
    outputs = {"identity": keras.layers.Dense(3, activation="softmax", name="identity")(features),
               "gender": keras.layers.Dense(2, activation="softmax", name="gender")(x)}
    model = keras.Model({"image": image, "extra": extra}, outputs)
    model.compile(optimizer="adam", loss={name: "sparse_categorical_crossentropy" for name in outputs})
    return model


def data(count, seed=0):
    rng = np.random.default_rng(seed)
    x = {"image": rng.uniform(0, 255, (count, SIZE, SIZE, 3)).astype("float32"),
         "extra": rng.normal(size=(count, 2)).astype("float32")}
    return x, {"identity": rng.integers(0, 3, count).astype("int32"),
               "gender": rng.integers(0, 2, count).astype("int32")}


def test_penultimate_layer_is_the_input_of_each_output_layer():
    model = multi_output_model()
    assert penultimate_layer(model, "identity") == "dropout" and penultimate_layer(model, "gender") == "joined"
    assert penultimate_layer(model) == "dropout"
    sequential = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(name="flat"),
                                   keras.layers.Dense(3, name="logits"), keras.layers.Softmax(name="probs")])
    assert penultimate_layer(sequential) == "flat"  # through the separate softmax
    with pytest.raises(ValueError, match="no output 'age'"):
        penultimate_layer(model, "age")


def test_projector_files_hold_the_penultimate_features_sprite_and_metadata(tmp_path):
    model = multi_output_model()
    x, y = data(24)
    probe, targets = data(7, seed=1)
    names = {"identity": ["ann", "bob", "cy"], "gender": ["female", "male"]}
    callback = Embeddings(probe, probe_targets=targets, class_names=names, log_dir=tmp_path, every_n_epochs=2)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])

    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), projector.ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == [f"identity_epoch{s}/.ATTRIBUTES/VARIABLE_VALUE"
                                                          for s in (0, 2)]
    assert [e.metadata_path for e in config.embeddings] == ["metadata_identity_epoch0.tsv",
                                                                "metadata_identity_epoch2.tsv"]
    assert all(e.sprite.image_path == "sprite.png" and list(e.sprite.single_image_dim) == [SIZE, SIZE]
               for e in config.embeddings)

    checkpoint = tf.train.load_checkpoint(tf.train.latest_checkpoint(tmp_path))
    features = checkpoint.get_tensor("identity_epoch2/.ATTRIBUTES/VARIABLE_VALUE")
    expected = keras.Model(model.inputs, model.get_layer("dropout").output).predict(probe, verbose=0)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    assert checkpoint.get_tensor("identity_epoch0/.ATTRIBUTES/VARIABLE_VALUE").shape == (7, 5)

    lines = (tmp_path / "metadata_identity_epoch2.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["image", "identity", "gender", "predicted_identity"]
    assert len(lines) == 7 + 1
    predicted = model.predict(probe, verbose=0)["identity"].argmax(-1)
    assert [line.split("\t") for line in lines[1:]] == [
        [str(k), names["identity"][targets["identity"][k]], names["gender"][targets["gender"][k]],
         names["identity"][predicted[k]]] for k in range(7)]

    sprite = np.asarray(Image.open(tmp_path / "sprite.png"))
    assert sprite.shape == (3 * SIZE, 3 * SIZE, 3)  # 7 tiles in a 3x3 grid
    tiles = [sprite[r * SIZE:(r + 1) * SIZE, c * SIZE:(c + 1) * SIZE] for r in range(3) for c in range(3)][:7]
    np.testing.assert_array_equal(np.stack(tiles), np.round(probe["image"]).astype(np.uint8))


def test_penultimate_features_of_a_single_output_model_and_its_predictions():
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.Flatten(name="flat"), keras.layers.Dense(3, activation="softmax")])
    x, _ = data(4)
    features, predicted = penultimate_features(model, x["image"])
    flat = keras.Model(model.inputs, model.get_layer("flat").output).predict(x["image"], verbose=0)
    np.testing.assert_allclose(features, flat, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(predicted, model.predict(x["image"], verbose=0).argmax(-1))


def test_tensorboards_projector_plugin_serves_the_recorded_embeddings(tmp_path):
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client

    model = multi_output_model()
    probe, targets = data(5, seed=2)
    callback = Embeddings(probe, outputs=["gender"], probe_targets=targets, log_dir=tmp_path)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_end()

    apps = ProjectorPlugin(base_plugin.TBContext(logdir=str(tmp_path))).get_plugin_apps()
    name = "gender_epoch0/.ATTRIBUTES/VARIABLE_VALUE"
    assert Client(apps["/runs"]).get("/").json == ["."]
    info = Client(apps["/info"]).get("/?run=.").json
    (embedding,) = [e for e in info["embeddings"] if e["tensorName"] == name]
    assert embedding["tensorShape"] == [5, 6] and embedding["sprite"]["imagePath"] == "sprite.png"
    served = np.frombuffer(Client(apps["/tensor"]).get(f"/?run=.&name={name}").data, np.float32).reshape(5, 6)
    expected = keras.Model(model.inputs, model.get_layer("joined").output).predict(probe, verbose=0)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    metadata = Client(apps["/metadata"]).get(f"/?run=.&name={name}").text.splitlines()
    assert metadata[0] == "image\tidentity\tgender\tpredicted_gender" and len(metadata) == 6
    sprite = Client(apps["/sprite_image"]).get(f"/?run=.&name={name}")
    assert sprite.status_code == 200 and sprite.data.startswith(b"\x89PNG")
