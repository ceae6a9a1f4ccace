"""The recording callbacks of a model share one compiled pass over the probe per recording."""

import gc
import weakref

import keras
import numpy as np

from kerasfg.callbacks import (AttentionMaps, ConfusionMatrix, Embeddings, GradCAM, LayerActivations, Saliency,
                               SanityChecks)
from kerasfg.callbacks import probe_pass as probe_pass_module
from kerasfg.callbacks.confusion_matrix import predicted_classes
from kerasfg.callbacks.probe_pass import SharedProbePass
from kerasfg.models import build_model
from kerasfg.vis import Explainer
from kerasfg.vis.one_pass import Explanation


def _model_and_data(count=20):
    model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3}, attention="cbam",
                        widths=(16, 32), blocks=(1, 1), extra_inputs={"expression": 7})
    model.compile(optimizer="adam", loss={"identity": "sparse_categorical_crossentropy"})
    rng = np.random.default_rng(0)
    x = {"image": rng.uniform(0, 255, (count, 32, 32, 3)).astype("float32"),
         "expression": rng.integers(0, 7, count).astype("int32")}
    return model, x, {"identity": rng.integers(0, 3, count).astype("int32")}


def test_every_callback_reads_one_compiled_pass(tmp_path, monkeypatch):
    model, x, y = _model_and_data()
    probe = {name: value[:12] for name, value in x.items()}
    runs = []
    original = probe_pass_module.run_one_pass
    monkeypatch.setattr(probe_pass_module, "run_one_pass", lambda *a, **k: runs.append(k) or original(*a, **k))
    callbacks = [Saliency(probe, log_dir=tmp_path),
                 Saliency(probe, log_dir=tmp_path, method="guided_backprop", max_images=3),
                 GradCAM(probe, log_dir=tmp_path, method="gradcam++"),
                 AttentionMaps(probe, log_dir=tmp_path, max_images=2), LayerActivations(probe, log_dir=tmp_path),
                 ConfusionMatrix(probe, probe_targets=y["identity"][:12], log_dir=tmp_path),
                 Embeddings(probe, log_dir=tmp_path / "projector", every_n_epochs=1),
                 SanityChecks(probe, log_dir=tmp_path, methods=("saliency",), max_images=2, by="layer",
                              layers=["stage2_block1_2_conv"])]
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=callbacks)

    assert len(runs) == 3  # one pass per recording (steps 0, 1 and 2) for all eight callbacks
    assert all(run["explained"] == 8 for run in runs)  # the most any heat map or attention map reads
    compiled = [key for key in Explainer.of(model)._compiled if key[0].startswith("one_pass")]
    assert [key[0] for key in compiled] == ["one_pass_with_weights"]  # the sanity checks' randomized models ran it too
    layer = Explainer.of(model).layer_path("gradcam")
    assert set(compiled[0][1]) == {Explanation("saliency", "identity"), Explanation("guided_backprop", "identity"),
                                   Explanation("gradcam++", "identity", layer)}


def test_the_result_is_reused_until_the_weights_or_the_probe_change(monkeypatch):
    model, x, y = _model_and_data()
    shared = SharedProbePass.of(model)
    assert SharedProbePass.of(model) is shared
    shared.request(explanations=[Explanation("saliency", "identity")], count=4)
    shared.request(taps=["features"])
    runs = []
    original = probe_pass_module.run_one_pass
    monkeypatch.setattr(probe_pass_module, "run_one_pass", lambda *a, **k: runs.append(k) or original(*a, **k))
    first = shared(x, 4)
    assert first.maps[Explanation("saliency", "identity")].shape == (4, 32, 32)
    assert shared(x).taps["features"].shape[0] == 20 and len(runs) == 1  # the same pass serves both counts
    model.train_on_batch(x, y)
    after = shared(x, 4)
    assert len(runs) == 2
    assert not np.allclose(after.maps[Explanation("saliency", "identity")],
                           first.maps[Explanation("saliency", "identity")])
    shared({name: value.copy() for name, value in x.items()}, 4)
    assert len(runs) == 3


def test_predicted_classes_of_scores_and_of_a_single_binary_score():
    classes, count = predicted_classes(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]), 0.5)
    assert classes.tolist() == [1, 0] and count == 3
    classes, count = predicted_classes(np.array([[0.7], [0.2]]), 0.5)
    assert classes.tolist() == [1, 0] and count == 2
    assert predicted_classes(np.array([[1.5], [-0.3]]), 0.0)[0].tolist() == [1, 0]


def test_a_model_with_recordings_is_freed_when_its_last_reference_goes(tmp_path):
    model, x, _ = _model_and_data(count=2)
    summary = []
    model.summary(print_fn=lambda line, **_: summary.append(line))
    callback = GradCAM(x, log_dir=tmp_path)
    callback.set_model(model)
    callback.on_train_begin()  # records step 0: the callback's compiled pass, kept with the model
    callback.on_train_end()
    explainer = Explainer.of(model)
    assert SharedProbePass.of(model).explainer is explainer and Explainer.of(model) is explainer
    assert explainer._compiled
    after = []
    model.summary(print_fn=lambda line, **_: after.append(line))
    assert summary and after == summary  # what is kept with the model is no part of it
    model.save(tmp_path / "model.keras")
    assert len(keras.models.load_model(tmp_path / "model.keras", compile=False).weights) == len(model.weights)

    alive = weakref.ref(model)
    del model, callback, explainer
    gc.collect()
    assert alive() is None  # not kept by a cache of explainers or shared passes (whose values hold the model)
