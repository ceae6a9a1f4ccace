import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg import training
from kerasfg.callbacks import ConfusionMatrix, Faithfulness
from kerasfg.callbacks.context import hand_context
from kerasfg.vis import faithfulness_table

SIZE = 8


def tables(log_dir, tag):
    """``{step: rows}`` of a kerasfg table written under ``tag``, read back from the event files."""
    found = {}
    for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == f"kerasfg/{tag}":
                    found[event.step] = json.loads(tf.make_ndarray(value.tensor).item())
    return found


def multi_output_model():
    image = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = {"identity": keras.layers.Dense(3, activation="softmax", name="identity")(x),
               "gender": keras.layers.Dense(2, activation="softmax", name="gender")(x)}
    model = keras.Model(image, outputs)
    model.compile(optimizer="adam", loss={name: "sparse_categorical_crossentropy" for name in outputs})
    return model


def data(count, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (count, SIZE, SIZE, 3)).astype("float32")
    return x, {"identity": rng.integers(0, 3, count).astype("int32"),
               "gender": rng.integers(0, 2, count).astype("int32")}


def test_confusion_matrices_of_every_output_equal_hand_counts(tmp_path, event_images, event_recordings):
    model = multi_output_model()
    x, y = data(24, 0)
    x_val, y_val = data(300, 1)  # more than one chunk of predictions
    names = {"identity": ["ann", "bob", "cy"], "gender": ["female", "male"]}
    callback = ConfusionMatrix(validation_data=(x_val, y_val), log_dir=tmp_path, every_n_epochs=2, class_names=names)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])

    predicted = model.predict(x_val, verbose=0)
    for output, k in (("identity", 3), ("gender", 2)):
        expected = np.bincount(y_val[output] * k + predicted[output].argmax(-1), minlength=k * k).reshape(k, k)
        counts = tables(tmp_path, f"confusion_matrix/{output}/counts")
        assert sorted(counts) == [0, 2]
        assert counts[2] == [[name, *map(int, row)] for name, row in zip(names[output], expected)]
        assert event_images.steps(tmp_path)[f"confusion_matrix/{output}"] == [0, 2]
        (picture,) = event_recordings.pictures(tmp_path, f"kerasfg/confusion_matrix/{output}")[2]
        assert picture.ndim == 3 and picture.shape[2] == 3 and min(picture.shape[:2]) > 100
        content = event_recordings.contents(tmp_path)[f"kerasfg/confusion_matrix/{output}"]
        assert content["kind"] == "confusion_matrix" and content["output"] == output
        assert content["counts"] == f"confusion_matrix/{output}/counts"
        assert content["class_names"] == names[output]
    assert event_images.steps(tmp_path)["probe/images"] == [0]  # a probe taken from the validation data


def test_confusion_matrix_counts_the_probe_by_default_on_a_sequential_model_and_a_dataset(tmp_path):
    from kerasfg.vis.confusion import confusion_matrix, render_confusion_matrix

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="softmax", name="preds")])
    x, y = data(10, 2)
    labels = y["identity"]
    probe = ConfusionMatrix(probe=x, probe_targets=labels, log_dir=tmp_path / "probe")
    dataset = tf.data.Dataset.from_tensor_slices((x, labels)).batch(3)
    streamed = ConfusionMatrix(validation_data=dataset, log_dir=tmp_path / "dataset")
    for callback in (probe, streamed):
        callback.set_model(model)
        callback.on_train_begin()
        callback.on_train_end()
    expected = confusion_matrix(labels, model.predict(x, verbose=0).argmax(-1), 4)
    assert expected.sum() == 10 and np.trace(expected) == np.sum(labels == model.predict(x, verbose=0).argmax(-1))
    for folder in ("probe", "dataset"):
        (rows,) = tables(tmp_path / folder, "confusion_matrix/preds/counts").values()
        assert [row[1:] for row in rows] == expected.tolist() and [row[0] for row in rows] == ["0", "1", "2", "3"]
    picture = render_confusion_matrix(expected, ["a", "b", "c", "d"])
    assert picture.dtype == np.uint8 and picture.shape[2] == 3


def test_confusion_matrix_rejects_out_of_range_labels():
    from kerasfg.vis.confusion import confusion_matrix

    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        confusion_matrix([0, 2], [0, 1], 2)


def gradient_map(model, inputs, *, output, classes):
    """|d probability / d pixel| summed over channels: a method given as a callable."""
    image = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(image)
        score = tf.gather(model(image)[output], classes, axis=1, batch_dims=1)
    return tf.reduce_sum(tf.abs(tape.gradient(score, image)), axis=-1).numpy()


def test_faithfulness_writes_the_table_and_scalars_it_computes(tmp_path, event_scalars):
    model = multi_output_model()
    x, y = data(24, 0)
    masks = np.zeros((6, SIZE, SIZE), bool)
    masks[:, :4] = True
    methods = {"gradient": gradient_map}
    callback = Faithfulness(x[:6], methods=methods, masks={"gender": masks}, outputs=["gender"], log_dir=tmp_path,
                            every_n_epochs=2, steps=4, max_images=5)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])

    expected = faithfulness_table(model, x[:5], methods=methods, masks=masks[:5], output="gender", steps=4)
    recorded = tables(tmp_path, "faithfulness/gender")
    assert sorted(recorded) == [0, 2]
    columns = ["method", "pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc"]
    assert [row[0] for row in recorded[2]] == ["gradient", "random"]
    np.testing.assert_allclose([row[1:] for row in recorded[2]], [[r[c] for c in columns[1:]] for r in expected],
                               rtol=1e-5)
    assert recorded[2][1][2] == pytest.approx(0.5)  # the random row's energy: the mask's area share
    scalars = event_scalars(tmp_path)
    assert {f"faithfulness/gender/{m}/{c}" for m in ("gradient", "random") for c in columns[1:]} == set(scalars)
    assert [step for step, _ in scalars["faithfulness/gender/gradient/insertion_auc"]] == [0, 2]
    assert scalars["faithfulness/gender/gradient/deletion_auc"][-1][1] == pytest.approx(expected[0]["deletion_auc"])


def test_faithfulness_without_masks_scores_deletion_and_insertion_only(tmp_path):
    model = multi_output_model()
    x, _ = data(4, 0)
    callback = Faithfulness(x, methods={"gradient": gradient_map}, masks={"gender": np.ones((4, SIZE, SIZE), bool)},
                            log_dir=tmp_path, steps=2, every_n_epochs=1)
    callback.set_model(model)
    callback.on_train_begin()  # every output is scored; identity has no masks
    callback.on_train_end()
    (rows,) = tables(tmp_path, "faithfulness/identity").values()
    assert [len(row) for row in rows] == [3, 3]
    (rows,) = tables(tmp_path, "faithfulness/gender").values()
    assert [len(row) for row in rows] == [5, 5]
    with pytest.raises(ValueError, match="Unknown explanation method 'gradcan'"):
        Faithfulness(methods=["gradcan"])
    unknown = Faithfulness(x, methods={}, outputs=["age"], log_dir=tmp_path)
    with pytest.raises(ValueError, match="no output 'age'"):  # as soon as fit gives it the model
        unknown.set_model(model)


def test_faithfulness_scores_the_one_pass_methods_by_default(tmp_path):
    from kerasfg.callbacks.faithfulness import DEFAULT_METHODS

    model = multi_output_model()  # a Dense on global average pooling: CAM applies too
    x, _ = data(3, 0)
    callback = Faithfulness(x, log_dir=tmp_path, steps=2, outputs=["identity"], every_n_epochs=1)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_end()
    (rows,) = tables(tmp_path, "faithfulness/identity").values()
    assert [row[0] for row in rows] == [*DEFAULT_METHODS, "random"]


def test_fit_gives_faithfulness_the_evidence_masks_of_the_probe(tmp_path):
    from kerasfg import config as config_lib
    from kerasfg.data.synthetic import synthetic_faces

    config = config_lib.from_dict({
        "data": {"inputs": ["image"], "targets": ["expression", "gender"], "batch_size": 5,
                 "synthetic": {"num_identities": 3, "train_images": 4, "val_images": 12, "test_images": 2,
                               "image_size": 16, "seed": 1}}})
    data_splits = training.build_datasets(config.data)
    validation = synthetic_faces(12, num_identities=3, image_size=16, difficulty=config.data.synthetic.difficulty,
                                 seed=1 * 3 + 1, identity_seed=config.data.synthetic.identity_seed)
    assert sorted(data_splits.validation_masks) == ["expression", "gender"]
    faithful, given = Faithfulness(methods=["saliency"]), Faithfulness(methods=["saliency"], masks=np.ones(1))
    own_probe = Faithfulness(validation.images[:2], methods=["saliency"])
    confusion, not_recording = ConfusionMatrix(), keras.callbacks.History()
    hand_context([confusion, faithful, given, own_probe, not_recording], tmp_path, data_splits.validation,
                 data_splits.class_names, data_splits.validation_masks)
    np.testing.assert_array_equal(faithful.probe, validation.images[:5])
    assert faithful.log_dir == tmp_path
    for task in ("expression", "gender"):
        np.testing.assert_array_equal(faithful.masks[task], validation.masks[task][:5])
    assert given.masks.shape == (1,)  # explicit masks are kept
    assert own_probe.masks is None  # the context's masks belong to the context's probe
    assert confusion.class_names["gender"] == ["female", "male"]
    assert confusion.probe_targets["gender"].tolist() == validation.labels["gender"][:5].tolist()


@pytest.mark.slow
def test_fit_records_faithfulness_confusion_and_embeddings_on_synthetic_faces(tmp_path):
    from kerasfg import config as config_lib
    from kerasfg.callbacks import Embeddings

    config = config_lib.from_dict({
        "name": "tiny", "runs_dir": str(tmp_path / "runs"),
        "data": {"inputs": ["image", "expression"], "targets": ["identity"], "batch_size": 8,
                 "synthetic": {"num_identities": 3, "train_images": 16, "val_images": 8, "test_images": 8,
                               "image_size": 32}},
        "model": {"options": {"widths": [16, 32], "blocks": [1, 1], "hidden_units": 8, "dropout": 0.0}},
        "train": {"epochs": 1, "precision": "float32", "verbose": 0}})
    callbacks = [Faithfulness(methods=["gradcam", "saliency"], every_n_epochs=1, steps=2, max_images=4),
                 ConfusionMatrix(), Embeddings(every_n_epochs=1)]
    result = training.fit(config, callbacks=callbacks)
    logs = result.run_dir / "logs" / "vis"
    rows = tables(logs, "faithfulness/identity")
    assert sorted(rows) == [0, 1] and [row[0] for row in rows[1]] == ["gradcam", "saliency", "random"]
    assert all(len(row) == 5 and 0.0 <= row[2] <= 1.0 for row in rows[1])  # masks came from fit
    (counts,) = [table for step, table in tables(logs, "confusion_matrix/identity/counts").items() if step == 1]
    assert sum(sum(row[1:]) for row in counts) == 8 and counts[0][0] == "person_000"
    assert (logs / "projector_config.pbtxt").is_file() and (logs / "metadata_identity_epoch1.tsv").is_file()
