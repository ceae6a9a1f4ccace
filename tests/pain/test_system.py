"""The pain system end to end on synthetic face video (register, CNN, fc6 features, LSTM, metrics), its CK+
classification path on a fixture in CK+'s layout, and the explanations of its models."""

import json
import pathlib
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.config import ConfigError
from kerasfg.data.face_video import PainEpisodes, synthetic_face_video
from kerasfg.models import build_model
from kerasfg.pain import config as C
from kerasfg.pain import system
from kerasfg.vis.saliency_average import average_saliency, render_average_saliency

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "data"))  # the data tests' fixture writers
from video_fixtures import write_ckplus_sequences  # noqa: E402

HELD_OUT = "subject_013"


def _config(tmp_path, **sections):
    base = {"name": "pain_test", "runs_dir": str(tmp_path / "runs"),
            "data": {"registration": {"method": "aligned_crop", "size": 48, "face_fraction": 0.8}},
            "cnn": {"epochs": 10, "learning_rate": 1e-3, "filters": [16, 16, 32, 32, 32], "fc_units": 128,
                    "dropout": 0.3, "precision": "float32"},  # the same numbers on CPUs with or without bf16
            "temporal": {"length": 8, "units": 32, "epochs": 20, "learning_rate": 3e-3},
            "evaluation": {"subjects": [HELD_OUT]}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    from kerasfg.config import from_dict

    return from_dict(base, C.PainExperimentConfig)


@pytest.fixture(scope="module")
def pain_run(tmp_path_factory):
    """One leave-one-subject-out fold of the whole system on 14 synthetic subjects."""
    video = synthetic_face_video(num_subjects=14, sequences_per_subject=1, frames_per_sequence=24, image_size=96,
                                 episodes=PainEpisodes(per_sequence=(1, 2)))
    return system.run(_config(tmp_path_factory.mktemp("pain")), video=video), video


@pytest.mark.slow
def test_cnn_and_lstm_learn_the_synthetic_pain_intensity(pain_run):
    result, video = pain_run
    metrics = result.metrics
    print(f"\nsynthetic pain, held-out {HELD_OUT}: {system.summary_line(metrics)}")
    for model in ("cnn", "lstm"):
        continuous, binary = metrics[model]["continuous"], metrics[model]["binary"]
        # Seeds and held-out subjects vary: PCC 0.79-0.99, MSE 0.24-0.79 of the mean predictor's, AUC 0.77-1.0.
        assert continuous["pcc"] > 0.6, (model, continuous)
        assert continuous["mse"] < metrics[model]["mean_predictor_mse"], (model, continuous)
        assert binary["auc"] > 0.7, (model, binary)
    predictions = result.predictions
    held_out = np.flatnonzero(video.subjects == HELD_OUT)
    np.testing.assert_array_equal(predictions["frame"], held_out)  # every held-out frame, in order
    assert set(predictions["subject"]) == {HELD_OUT} and np.isfinite(predictions["lstm"]).all()
    np.testing.assert_array_equal(predictions["pspi"], video.labels["pspi"][held_out])
    row = metrics["lstm"]["per_subject"]["13"]  # the thesis numbers the subjects in sorted order
    assert row["subject"] == HELD_OUT and row["pain_total"] + row["no_pain_total"] == len(held_out)
    assert metrics["final"] == {**metrics["lstm"], "model": "lstm"}


@pytest.mark.slow
def test_the_run_directory(pain_run, event_images):
    result, _ = pain_run
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"config.yaml", "metrics.json", "predictions.npz", "logs"} <= files
    assert json.loads((result.run_dir / "metrics.json").read_text())["frames"] == 24
    stored = np.load(result.run_dir / "predictions.npz")
    np.testing.assert_allclose(stored["cnn"], result.predictions["cnn"])
    assert C.load(result.run_dir / "config.yaml").cnn.fc_units == 128
    pictures = event_images.pictures(result.run_dir / "logs" / HELD_OUT / "saliency", "saliency/average")
    picture = pictures[0][0]
    assert picture.shape == (48, 3 * 48 + 4, 3)  # average face | saliency | overlay
    assert (result.run_dir / "logs" / HELD_OUT / "cnn").is_dir()
    assert (result.run_dir / "logs" / HELD_OUT / "lstm").is_dir()
    assert any((result.run_dir.parent.parent / "cache").glob("*.npy"))  # warped frames cached for later runs


@pytest.mark.slow
def test_ckplus_classification_with_frontalization_and_landmark_noise(tmp_path):
    video = synthetic_face_video(num_subjects=6, sequences_per_subject=1, frames_per_sequence=6, image_size=48, seed=1)
    write_ckplus_sequences(tmp_path / "ck", video, {s: 1 + k % 7 for k, s in enumerate(video.sequence_ids)})
    config = _config(tmp_path, data={"source": "ckplus", "root": str(tmp_path / "ck"),
                                     "registration": {"method": "frontalize", "size": 32}},
                     cnn={"epochs": 1, "train_frames": 3, "landmark_noise": 1.0, "filters": [4, 4, 8, 8, 8],
                          "fc_units": 16},
                     temporal={"length": 10, "end_frames": 3, "epochs": 1, "units": 4},
                     evaluation={"protocol": "folds", "num_folds": 3, "target": "expression", "subjects": ["1"],
                                 "saliency_frames": 0})
    result = system.run(config)
    metrics = result.metrics
    assert metrics["folds"] == ["fold1"]
    # the CNN and the LSTM are scored on the last three frames of every held-out sequence (two of six)
    assert metrics["cnn"]["frames"] == metrics["lstm"]["frames"] == 2 * 3
    for model in ("cnn", "lstm"):
        assert 0.0 <= metrics[model]["accuracy"] <= 1.0 and list(metrics[model]["fold_accuracy"]) == ["fold1"]
    assert set(np.asarray(result.predictions["frame"]) % 6) == {3, 4, 5}
    assert set(result.predictions["target"]) <= set(range(7))


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="data.root"):
        _config(tmp_path, data={"source": "unbc"})
    with pytest.raises(ConfigError, match="evaluation.target"):
        _config(tmp_path, evaluation={"target": "expression"})
    with pytest.raises(ConfigError, match="temporal.layer"):
        _config(tmp_path, temporal={"layer": "fc8"})
    with pytest.raises(ConfigError, match=r"cnn\.epochs"):
        _config(tmp_path, cnn={"epochs": 0})
    video = synthetic_face_video(num_subjects=2, sequences_per_subject=1, frames_per_sequence=4, image_size=32)
    with pytest.raises(ConfigError, match="not subjects"):
        system.folds(video, _config(tmp_path, evaluation={"subjects": ["nobody"]}).evaluation)


@pytest.mark.slow
def test_saliency_averaged_and_through_the_callbacks(tmp_path, event_recordings):
    """Eq. 2.10-2.11 by hand (|d output / d image|, maximum over the channels, averaged over the images), and
    the existing Saliency callback recording the regression output of the frame CNN while it trains."""
    from kerasfg.callbacks import Saliency

    keras.utils.set_random_seed(0)
    model = build_model("pain_cnn", input_shape=(32, 32, 3), num_classes=1, filters=(4, 4, 8, 8, 8), fc_units=8,
                        contrast=False)
    images = np.random.default_rng(3).uniform(0, 255, (5, 32, 32, 3)).astype("float32")
    model.compile("adam", loss={"pspi": "mse"})
    model.fit(images, {"pspi": np.arange(5.0)}, epochs=1, verbose=0,
              callbacks=[Saliency(images[:4], log_dir=tmp_path / "vis", max_images=4)])
    steps = event_recordings.steps(tmp_path / "vis")
    assert any(tag.startswith("kerasfg/saliency/pspi") for tag in steps), sorted(steps)

    result = average_saliency(model, images, batch_size=2)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(model(x)["pspi"])
    expected = np.abs(tape.gradient(score, x).numpy()).max(axis=-1).mean(axis=0)
    np.testing.assert_allclose(result.saliency, expected, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(result.image, images.mean(0), rtol=1e-5)
    assert result.count == 5 and render_average_saliency(result).shape == (32, 100, 3)


def test_the_pain_command_reports_config_errors_in_one_line(capsys):
    from kerasfg import cli

    assert cli.main(["pain", "--set", "cnn.epochs=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "kerasfg pain: error: cnn.epochs: expected a positive integer, got 0."
    from kerasfg.pain.cli import quick_config_path

    quick = C.load(quick_config_path())  # the packaged quick run is a valid config
    assert quick.data.source == "synthetic" and quick.evaluation.subjects == ["subject_014", "subject_015"]
