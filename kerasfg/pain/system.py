"""Run the pain system of ``002_c1e3dd09777d292a.txt`` chapter 2 end to end on a protocol.

For every fold of the protocol (leave-one-subject-out on UNBC-McMaster and the synthetic video, CK+'s
subject-exclusive folds):

1. the frames are registered once (aligned crop or frontalization, cached; the Procrustes mean shape of
   the whole video's landmarks, which uses no labels);
2. the frame CNN (`kerasfg.models.frame_cnn.pain_cnn`) is fine-tuned on the training frames: the no-pain
   frames undersampled to the pain frames, the standardized target, flips and the landmark-noise warps;
3. its fc6 (or fc7) features of every frame feed the LSTM (`kerasfg.models.temporal.temporal_lstm`), trained
   on sliding windows balanced at the sequence level;
4. both predict the held-out frames.

The predictions of all folds are pooled and scored as the thesis does (`kerasfg.pain.metrics`). A run
writes ``<runs_dir>/<name>/<timestamp>/``: ``config.yaml``, ``predictions.npz`` (per held-out frame: its
index, subject, sequence, fold, target and both models' predictions), ``metrics.json`` and the TensorBoard
logs of every model (``logs/<fold>/cnn``, ``logs/<fold>/lstm``), with the averaged saliency of each fold's
CNN (the thesis's Figure 2.5).

Example:

```python
from kerasfg.pain import config, system

result = system.run(config.load("experiments/002/pain_quick.yaml"))
result.metrics["lstm"]["binary"]["auc"], result.metrics["lstm"]["continuous"]["pcc"]
```
"""

import dataclasses
import logging
import pathlib
import time

import keras
import numpy as np

from kerasfg import config as config_lib
from kerasfg.data import registration as registration_lib
from kerasfg.data.windows import balance_windows, last_frames, sliding_windows, undersample
from kerasfg.io_utils import atomic_file, write_json
from kerasfg.pain import metrics as metrics_lib
from kerasfg.pain.batches import FrameBatches, WindowBatches

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Fold:
    """One fold: its name and the frames it trains on and tests on (indices into the video)."""

    name: str
    train: np.ndarray
    test: np.ndarray


@dataclasses.dataclass(frozen=True)
class Standardization:
    """Mean and standard deviation of a regression target over the training frames."""

    mean: float
    std: float

    def apply(self, values):
        return ((np.asarray(values, np.float64) - self.mean) / self.std).astype(np.float32)

    def invert(self, values):
        return np.asarray(values, np.float64) * self.std + self.mean


@dataclasses.dataclass
class PainResult:
    """What `run` produced.

    Attributes:
        run_dir: the run directory.
        predictions: per held-out frame arrays: ``frame``, ``subject``, ``sequence``, ``fold``,
            ``target``, ``pspi`` (pain runs), ``cnn`` and ``lstm`` (NaN where the LSTM did not predict).
        metrics: the scores (``metrics.json``).
        config: the `kerasfg.pain.config.PainExperimentConfig`.
    """

    run_dir: pathlib.Path
    predictions: dict
    metrics: dict
    config: object


# === Data ===


def load_video(data):
    """The `kerasfg.data.video.FaceVideo` of a `kerasfg.pain.config.PainDataConfig`."""
    if data.source == "synthetic":
        from kerasfg.data.face_video import synthetic_face_video

        return synthetic_face_video(**dataclasses.asdict(data.synthetic))
    if data.source == "unbc":
        from kerasfg.data.datasets.unbc import read_unbc

        return read_unbc(data.root)
    from kerasfg.data.datasets.ckplus import read_ckplus_sequences

    return read_ckplus_sequences(data.root)


def registration_settings(data):
    """The `kerasfg.data.registration.Registration` of a config's ``data.registration``."""
    settings = dataclasses.asdict(data.registration)
    if settings["subset"] is None:
        settings.pop("subset")
    return registration_lib.Registration(**settings)


def folds(video, evaluation):
    """The protocol's folds, restricted to ``evaluation.subjects`` when given."""
    from kerasfg.data.splits import leave_one_subject_out

    chosen = None if evaluation.subjects is None else [str(s) for s in evaluation.subjects]
    result = []
    if evaluation.protocol == "leave_one_subject_out":
        subjects = set(video.subject_ids.tolist())
        unknown = sorted(set(chosen or ()) - subjects)
        if unknown:
            raise config_lib.ConfigError(f"evaluation.subjects: {unknown} are not subjects of {video.name}; it has "
                                         f"{sorted(subjects)[:10]}...")
        for subject, train, test in leave_one_subject_out(video.subjects):
            if chosen is None or subject in chosen:
                result.append(Fold(subject, train, test))
        return result
    from kerasfg.data.datasets.ckplus import ckplus_folds

    frame_sequence = np.searchsorted(video.sequence_bounds[:, 0], np.arange(len(video)), side="right") - 1
    for number, mask in enumerate(ckplus_folds(video, evaluation.num_folds, evaluation.seed)):
        if chosen is None or str(number) in chosen:
            test = mask[frame_sequence]
            result.append(Fold(f"fold{number}", np.flatnonzero(~test), np.flatnonzero(test)))
    if not result:
        raise config_lib.ConfigError(f"evaluation.subjects: {chosen} names none of the folds 0..."
                                     f"{evaluation.num_folds - 1}.")
    return result


def frame_targets(video, target):
    """Per-frame values of ``target``: PSPI, merged pain levels, or the sequence's expression."""
    if target == "expression":
        return video.frame_labels_of_sequences("expression").astype(np.int64)
    if "pspi" not in video.labels:
        raise config_lib.ConfigError(f"evaluation.target: {target!r} needs PSPI labels, which {video.name} lacks.")
    pspi = np.asarray(video.labels["pspi"], np.float32)
    return metrics_lib.merge_pain_levels(pspi) if target == "pain_levels" else pspi


# === Training ===


def _compile(model, learning_rate, task, output, jit_compile):
    loss = keras.losses.MeanSquaredError() if task == "regression" else keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss={output: loss}, jit_compile=jit_compile)


def train_frame_cnn(config, video, registered, train, targets, output, log_dir, probe=None):
    """Fine-tune the frame CNN on the frames ``train``; returns the model.

    ``probe``: held-out frames whose saliency `kerasfg.callbacks.Saliency` records (``cnn.record_every``).
    """
    from kerasfg import precision as precision_lib
    from kerasfg.models import build_model

    cnn = config.cnn
    classes = 1 if config.task == "regression" else len(video.class_names["expression"])
    chosen = precision_lib.resolve(cnn.precision)
    with chosen.build_scope():
        model = build_model("pain_cnn", input_shape=registered.frames.shape[1:], num_classes={output: classes},
                            task=config.task, filters=tuple(cnn.filters), fc_units=cnn.fc_units, dropout=cnn.dropout,
                            contrast=cnn.contrast, contrast_scale=cnn.contrast_scale, weights=cnn.weights)
    model.get_layer("face_normalization").adapt(_FrameView(registered.frames, np.sort(train)), mask=registered.mask)
    _compile(model, cnn.learning_rate, config.task, output, chosen.jit_compile)
    batches = FrameBatches(registered, train, {output: targets}, batch_size=cnn.batch_size, shuffle=True,
                           flip=cnn.flip, noise=cnn.landmark_noise, video=video, seed=config.evaluation.seed,
                           workers=registration_lib._workers())
    callbacks = [keras.callbacks.TensorBoard(str(log_dir / "cnn"))]
    if cnn.record_every and probe is not None and len(probe):
        from kerasfg.callbacks import Saliency

        callbacks.append(Saliency(np.asarray(registered.frames[np.sort(probe)[:8]], np.float32),
                                  log_dir=str(log_dir / "cnn" / "vis"), every_n_epochs=cnn.record_every))
    with chosen.training_scope():
        model.fit(batches, epochs=cnn.epochs, verbose=config.verbose, callbacks=callbacks)
    return model


def predict_with_features(config, model, registered, frames, output):
    """The CNN's predictions and its ``temporal.layer`` features for ``frames`` (in that order)."""
    from kerasfg.models.frame_cnn import feature_extractor

    both = keras.Model(model.input, {"prediction": model.output[output],
                                     "features": feature_extractor(model, config.temporal.layer).output})
    out = both.predict(FrameBatches(registered, frames, batch_size=max(config.cnn.batch_size, 64)), verbose=0)
    return np.asarray(out["prediction"]), np.asarray(out["features"], np.float32)


def train_temporal(config, features, windows, targets, train, output, log_dir, classes=1):
    """Train the LSTM on ``windows``; ``features`` ``(N, D)`` over all frames, ``train`` the training frames,
    ``classes`` the output's width (1 for regression)."""
    from kerasfg import precision as precision_lib
    from kerasfg.models import build_model

    temporal = config.temporal
    model = build_model("temporal_lstm", input_shape=(temporal.length, features.shape[1]),
                        num_classes={output: classes}, task=config.task, units=temporal.units,
                        num_layers=temporal.num_layers, dropout=temporal.dropout)
    # statistics per feature over the training frames, laid out as windows for the layer's input shape
    frames = np.sort(train)
    frames = frames[: max(len(frames) // temporal.length, 1) * temporal.length] if len(frames) >= temporal.length \
        else np.resize(frames, temporal.length)
    model.get_layer("feature_standardization").adapt(features[frames].reshape(-1, temporal.length, features.shape[1]))
    _compile(model, temporal.learning_rate, config.task, output, precision_lib.resolve_jit_compile("auto"))
    batches = WindowBatches(features, windows, {output: targets}, batch_size=temporal.batch_size, shuffle=True,
                            seed=config.evaluation.seed)
    model.fit(batches, epochs=temporal.epochs, verbose=config.verbose,
              callbacks=[keras.callbacks.TensorBoard(str(log_dir / "lstm"))])
    return model


class _FrameView:
    """Frames ``frames[indices]`` read lazily in slices (for the per-pixel mean of a memmap)."""

    def __init__(self, frames, indices):
        self.frames, self.indices = frames, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, item):
        return self.frames[self.indices[item]]


# === One fold ===


def run_fold(config, video, registered, fold, values, log_dir):
    """Train and test both models on one fold; returns ``{"frames", "cnn", "lstm"}`` for the evaluated frames."""
    seed = config.evaluation.seed
    keras.utils.set_random_seed(seed)
    regression = config.task == "regression"
    output = "pspi" if regression else "expression"
    bounds = video.sequence_bounds
    train, test = fold.train, fold.test
    if config.cnn.train_frames:
        ends = last_frames(bounds, config.cnn.train_frames)
        train, test = np.intersect1d(train, ends), np.intersect1d(test, ends)
    cnn_train = train
    standardization = None
    if regression:
        positive = np.asarray(video.labels["pspi"]) >= 1
        if config.cnn.balance and positive[train].any() and (~positive[train]).any():
            cnn_train = train[undersample(positive[train], seed)]
        standardization = Standardization(float(values[cnn_train].mean()), float(values[cnn_train].std()) or 1.0)
        targets = standardization.apply(values)
    else:
        targets = values
    started = time.perf_counter()
    cnn = train_frame_cnn(config, video, registered, cnn_train, targets, output, log_dir, probe=test)
    needed = np.union1d(fold.train, fold.test) if config.temporal.enabled else test
    raw, features = predict_with_features(config, cnn, registered, needed, output)
    position = np.searchsorted(needed, test)
    cnn_predictions = _decode(raw[position], standardization)
    log.info("fold %s: CNN trained on %d frames in %.0f s", fold.name, len(cnn_train), time.perf_counter() - started)
    if config.evaluation.saliency_frames:
        _record_saliency(cnn, registered, test, output, log_dir, seed, config.evaluation.saliency_frames)
    lstm_predictions = np.full(len(test), np.nan)
    if config.temporal.enabled:
        all_features = np.zeros((len(video), features.shape[1]), np.float32)
        all_features[needed] = features
        windows = sliding_windows(bounds, config.temporal.length, stride=config.temporal.stride,
                                  ends=None if not config.temporal.end_frames else last_frames(
                                      bounds, config.temporal.end_frames))
        is_train = np.isin(windows[:, -1], fold.train)
        train_windows = windows[is_train]
        if regression and config.temporal.balance:
            positive = np.asarray(video.labels["pspi"]) >= 1
            train_windows = train_windows[balance_windows(train_windows, positive, seed)]
        classes = 1 if regression else len(video.class_names["expression"])
        lstm = train_temporal(config, all_features, train_windows, targets, fold.train, output, log_dir, classes)
        test_windows = windows[np.isin(windows[:, -1], test)]
        out = lstm.predict(WindowBatches(all_features, test_windows, batch_size=256), verbose=0)[output]
        by_frame = dict(zip(test_windows[:, -1].tolist(), _decode(np.asarray(out), standardization)))
        lstm_predictions = np.array([by_frame.get(int(f), np.nan) for f in test])
    return {"frames": test, "cnn": cnn_predictions, "lstm": lstm_predictions}


def _decode(raw, standardization):
    raw = np.asarray(raw)
    if standardization is not None:
        return standardization.invert(raw.reshape(len(raw), -1)[:, 0])
    return raw.argmax(axis=-1).astype(np.float64)


def _record_saliency(model, registered, frames, output, log_dir, seed, count=64):
    """Figure 2.5 for the fold: the saliency averaged over held-out frames, next to their average face."""
    from kerasfg.tensorboard import summary
    from kerasfg.vis.saliency_average import average_saliency, render_average_saliency

    chosen = np.sort(np.random.default_rng(seed).choice(frames, size=min(count, len(frames)), replace=False))
    result = average_saliency(model, np.asarray(registered.frames[chosen], np.float32), output=output)
    writer = summary.file_writer(log_dir / "saliency")
    summary.image(writer, "saliency/average", render_average_saliency(result)[None], 0,
                  description="average face, average saliency (Eq. 2.10-2.11) and their overlay, held-out frames")
    writer.close()


# === The whole protocol ===


def run(config, *, run_dir=None, video=None):
    """Run ``config`` (a `kerasfg.pain.config.PainExperimentConfig`) on all its folds; see the module docstring.

    Args:
        config: the settings.
        run_dir: the run directory (a new ``<runs_dir>/<name>/<timestamp>`` by default).
        video: the face video, when the caller has it already (otherwise read from ``config.data``).

    Returns:
        A `PainResult`.
    """
    from kerasfg.training import new_run_dir

    run_dir = pathlib.Path(run_dir) if run_dir else new_run_dir(config.runs_dir, config.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(run_dir / "config.yaml") as handle:
        import yaml

        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)
    video = video if video is not None else load_video(config.data)
    values = frame_targets(video, config.evaluation.target)
    cache_dir = config.data.cache_dir or pathlib.Path(config.runs_dir) / "cache"
    registered = registration_lib.register_video(video, registration_settings(config.data), cache_dir=cache_dir,
                                                 progress=config.verbose > 0)
    predictions = {key: [] for key in ("frame", "fold", "cnn", "lstm")}
    started = time.perf_counter()
    for fold in folds(video, config.evaluation):
        out = run_fold(config, video, registered, fold, values, run_dir / "logs" / fold.name)
        predictions["frame"].append(out["frames"])
        predictions["fold"].append(np.full(len(out["frames"]), fold.name))
        predictions["cnn"].append(out["cnn"])
        predictions["lstm"].append(out["lstm"])
        keras.utils.clear_session(free_memory=False)
    predictions = {key: np.concatenate(parts) for key, parts in predictions.items()}
    frames = predictions["frame"]
    predictions.update(subject=video.subjects[frames], sequence=video.sequences[frames], target=values[frames])
    if "pspi" in video.labels:
        predictions["pspi"] = np.asarray(video.labels["pspi"])[frames]
    metrics = evaluate(config, predictions, video.subjects)
    metrics["seconds"] = time.perf_counter() - started
    with atomic_file(run_dir / "predictions.npz", mode=None) as temp:
        np.savez(temp, **predictions)
    write_json(run_dir / "metrics.json", metrics)
    log.info("pain run %s: %s", run_dir, summary_line(metrics))
    return PainResult(run_dir=run_dir, predictions=predictions, metrics=metrics, config=config)


def evaluate(config, predictions, subjects=None):
    """The scores of pooled predictions (see `kerasfg.pain.metrics`): per model (``cnn``, ``lstm``), binary
    and continuous scores and counts per subject (pain) or the fold accuracy (CK+); ``final`` repeats the
    scores of the last model of the system (the LSTM when there is one), which the thesis's tables report.
    ``lstm_fc6`` (or ``lstm_fc7``) repeats the LSTM's under its feature layer's name.
    ``per_subject`` is keyed by the thesis's subject numbers (``"0"``, ``"1"``... in the sorted order of all
    ``subjects`` of the video; by subject id when they are not given), each row naming its subject."""
    evaluation = config.evaluation
    result = {"frames": int(len(predictions["frame"])), "folds": sorted(set(predictions["fold"].tolist()))}
    numbers = {subject: str(k) for k, subject in enumerate(sorted(set(subjects)))} if subjects is not None else {}
    for model in ("cnn", "lstm"):
        scores = np.asarray(predictions[model], np.float64)
        done = np.isfinite(scores)
        if not done.any():
            continue
        if config.task == "classification":
            mean, per_fold = metrics_lib.fold_accuracy(predictions["target"][done], scores[done],
                                                       predictions["fold"][done])
            result[model] = {"accuracy": mean, "fold_accuracy": per_fold, "frames": int(done.sum())}
            continue
        pspi = predictions["pspi"][done]
        binary = metrics_lib.binary_scores(pspi, scores[done], threshold=evaluation.threshold,
                                           repeats=evaluation.skew_repeats, seed=evaluation.seed)
        continuous = metrics_lib.continuous_scores(predictions["target"][done], scores[done],
                                                   icc_form=evaluation.icc_form)
        baseline = metrics_lib.continuous_scores(predictions["target"][done],
                                                 np.full(done.sum(), predictions["target"][done].mean()),
                                                 icc_form=evaluation.icc_form)
        rows = metrics_lib.per_subject_counts(predictions["subject"][done], pspi, scores[done],
                                              threshold=evaluation.threshold)
        result[model] = {"binary": binary.as_dict(), "continuous": continuous.as_dict(), "frames": int(done.sum()),
                         "mean_predictor_mse": baseline.mse,
                         "per_subject": {numbers.get(row["subject"], row["subject"]): row for row in rows}}
    if "lstm" in result:  # the same scores under the feature layer's name (Table 2.3: LSTM on fc6 / on fc7)
        result[f"lstm_{config.temporal.layer}"] = result["lstm"]
    for model in ("lstm", "cnn"):  # the tables report the last model of the system
        if model in result:
            result["final"] = {**result[model], "model": model}
            break
    return result


def summary_line(metrics):
    """One line of the main scores, for logs and the command line."""
    parts = []
    for model in ("cnn", "lstm"):
        if model not in metrics:
            continue
        m = metrics[model]
        if "accuracy" in m:
            parts.append(f"{model}: accuracy {m['accuracy']:.3f}")
        else:
            b, c = m["binary"], m["continuous"]
            parts.append(f"{model}: AUC {b['auc']:.3f} (skew-normalized {b['normalized_auc']:.3f}), accuracy "
                         f"{b['accuracy']:.3f}, PCC {c['pcc']:.3f}, MSE {c['mse']:.3f} (mean predictor "
                         f"{m['mean_predictor_mse']:.3f}), ICC {c['icc']:.3f}")
    return "; ".join(parts) or "no predictions"


__all__ = ["Fold", "PainResult", "Standardization", "evaluate", "folds", "frame_targets", "load_video",
           "run", "run_fold", "summary_line"]
