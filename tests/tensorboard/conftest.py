"""A log directory written by kerasfg's callbacks and summary writers, and real TensorBoard processes over it.

The log directory is written once per session: two runs (``alpha``, ``beta``), each a tiny CBAM
ResNet fitted for two epochs with `kerasfg.callbacks.AttentionMaps` and `TrainingProgress`, plus
direct `kerasfg.tensorboard.summary` writes of every other kind, with known values; a run (``real``)
written only by kerasfg's recording callbacks, every one of them, during a real ``fit``; a run whose
directory name is an HTML injection attempt; and a run with more steps than TensorBoard keeps of a
third-party plugin's series by default (10). One TensorBoard per data provider
(``--load_fast=false``: the Python multiplexer; ``--load_fast=true``: the Rust data server) serves it
for the whole session.
"""

import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from plugin_fixtures import (
    EXPECTED_STEPS,
    LONG_RUN,
    LONG_STEPS,
    PROBES,
    REAL_PROBES,
    REAL_RUN,
    RUNS,
    STEPS,
    TABLE_COLUMNS,
    XSS_RUN,
    activations,
    feature_maps,
    table_rows,
)


def _write_run(log_dir, seed, fit):
    import keras

    from kerasfg.callbacks import AttentionMaps, TrainingProgress
    from kerasfg.models import build_model
    from kerasfg.tensorboard import summary

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (24, 32, 32, 3)).astype("float32")
    if fit:
        keras.utils.set_random_seed(seed)
        model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3}, attention="cbam",
                            widths=(16, 32), blocks=(1, 1))
        model.compile(optimizer="adam", loss={"identity": "sparse_categorical_crossentropy"})
        model.fit(images, {"identity": rng.integers(0, 3, 24)}, epochs=STEPS[-1], batch_size=8, verbose=0,
                  callbacks=[AttentionMaps(images[:PROBES], log_dir=log_dir, max_images=PROBES),
                             TrainingProgress(log_dir=log_dir, every_n_batches=1)])
    writer = summary.file_writer(log_dir)
    if not fit:
        summary.probe_images(writer, images[:PROBES], 0)
    for step in STEPS:
        for method in ("gradcam", "saliency"):
            maps = rng.uniform(0, 1, (PROBES, 8, 8))
            summary.heatmaps(writer, f"{method}/identity/stage2", maps, images[:PROBES], step, method=method,
                             layer="stage2_block1", output="identity")
        pictures = rng.integers(0, 256, (PROBES, 24, 40, 1), np.uint8)
        summary.recording(writer, "activations/stage1_block1_conv1", pictures, step, kind="activations",
                          layer="stage1_block1_conv1")
        pictures = rng.integers(0, 256, (PROBES, 32, 96, 3), np.uint8)
        summary.recording(writer, "deconvolution/stage2_block1", pictures, step, kind="deconvolution",
                          layer="stage2_block1", annotations={"feature_maps": feature_maps(step)})
        pictures = rng.integers(0, 256, (3, 32, 32, 3), np.uint8)
        summary.recording(writer, "deep_visualization/identity", pictures, step, kind="deep_visualization",
                          layer="identity", units=[0, 1, 2], preset="yosinski",
                          settings={"l2_decay": 0.0001, "blur_every": 4, "blur_sigma": 0.5, "steps": 64},
                          annotations={"activations": activations(step)})
        summary.table(writer, "faithfulness/identity", TABLE_COLUMNS, table_rows(log_dir.name, step), step)
    writer.close()


def _write_real_run(log_dir, seed=3):
    """Fit the tiny CBAM ResNet for two epochs with every kerasfg recording callback, recording each epoch (the
    sanity checks when training ends), on a probe of `REAL_PROBES` images of which the callbacks record
    `PROBES`."""
    import keras

    from kerasfg import callbacks
    from kerasfg.models import build_model

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (24, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 3, 24)
    probe, targets = images[:REAL_PROBES], {"identity": labels[:REAL_PROBES]}
    masks = np.zeros((REAL_PROBES, 32, 32), bool)
    masks[:, 8:24, 8:24] = True
    keras.utils.set_random_seed(seed)
    model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3}, attention="cbam",
                        widths=(16, 32), blocks=(1, 1))
    model.compile(optimizer="adam", loss={"identity": "sparse_categorical_crossentropy"})
    shared = dict(probe=probe, log_dir=log_dir, every_n_epochs=1)
    model.fit(images, {"identity": labels}, epochs=STEPS[-1], batch_size=8, verbose=0, callbacks=[
        callbacks.TrainingProgress(log_dir=log_dir, every_n_batches=1),
        callbacks.AttentionMaps(max_images=PROBES, **shared),
        callbacks.Saliency(max_images=PROBES, **shared),
        callbacks.GradCAM(max_images=PROBES, **shared),
        callbacks.LayerActivations(max_images=PROBES, max_filters=16, **shared),
        callbacks.Deconvolution(top_n=3, max_images=PROBES, **shared),
        callbacks.DeepVisualization(units=[0, 1, 2], steps=5, **shared),
        callbacks.ConfusionMatrix(validation_data=(images, {"identity": labels}), **shared),
        callbacks.Faithfulness(methods=["gradcam", "saliency"], masks=masks, steps=2, max_images=PROBES, **shared),
        callbacks.Embeddings(probe_targets=targets, **shared),
        callbacks.SanityChecks(probe, log_dir=log_dir, max_images=2, by="layer",
                               layers=["stage2_block1_2_conv", "stage1_block1_2_conv", "stem_conv"]),
    ])


@pytest.fixture(scope="session")
def plugin_logdir(tmp_path_factory):
    """The session's log directory (see the module docstring)."""
    root = tmp_path_factory.mktemp("tensorboard_logs")
    for seed, run in enumerate(RUNS):
        _write_run(root / run, seed, fit=True)
    _write_real_run(root / REAL_RUN)
    _write_run(root / XSS_RUN, 7, fit=False)
    from kerasfg.tensorboard import summary

    writer = summary.file_writer(root / LONG_RUN)
    for step in LONG_STEPS:
        summary.recording(writer, "activations/conv", np.full((1, 8, 8, 1), step, np.uint8), step,
                          kind="activations", layer="conv")
    writer.close()
    return root


class TensorBoard:
    """A real ``tensorboard`` process on a free loopback port, started from this environment's console script
    with this checkout's ``kerasfg`` first on ``PYTHONPATH``."""

    def __init__(self, logdir, load_fast):
        self.load_fast = load_fast
        script = pathlib.Path(sys.executable).with_name("tensorboard")
        command = [str(script) if script.exists() else shutil.which("tensorboard"), "--logdir", str(logdir),
                   "--port", "0", f"--load_fast={load_fast}", "--reload_interval", "2"]
        repo = str(pathlib.Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.log_file = open(pathlib.Path(logdir).parent / f"tensorboard_{load_fast}.log", "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        self.url = self._wait_for_url()
        self._wait_for_data()

    def output(self):
        self.log_file.seek(0)
        return self.log_file.read().decode("utf-8", "replace")

    def _wait_for_url(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"TensorBoard \S+ at (http://\S+?)/? ", self.output())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tensorboard (--load_fast={self.load_fast}) did not start:\n{self.output()}")

    def _wait_for_data(self, timeout=120):
        """Wait until every run's recordings are loaded (TensorBoard loads event files in the background)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                runs = self.json("/data/plugin/kerasfg/runs")
            except urllib.error.HTTPError:
                runs = {}
            loaded = {run: [r["steps"] for r in recordings] for run, recordings in runs.items()}
            if loaded == EXPECTED_STEPS:
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"tensorboard (--load_fast={self.load_fast}) never served all runs:\n{self.output()}")

    def get(self, path):
        """``(status, headers, body bytes)`` of GET ``path``, errors included."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, path):
        status, _, body = self.get(path)
        if status != 200:
            raise urllib.error.HTTPError(path, status, body.decode("utf-8", "replace"), None, None)
        return json.loads(body)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


@pytest.fixture(scope="session", params=["false", "true"], ids=["load_fast=false", "load_fast=true"])
def tensorboard(request):
    """A running `TensorBoard` over `plugin_logdir`, once with each data provider."""
    if not importlib.metadata.entry_points(group="tensorboard_plugins", name="kerasfg"):
        pytest.fail("kerasfg's tensorboard_plugins entry point is not installed, so tensorboard cannot find the "
                    "plugin; install the checkout (pip install -e .) to register it.")
    server = TensorBoard(request.getfixturevalue("plugin_logdir"), request.param)
    yield server
    server.stop()
