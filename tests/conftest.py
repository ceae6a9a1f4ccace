"""Shared test set-up: quiet TensorFlow, the TensorFlow backend, a clean Keras state per test, and a
reader of the image summaries that callbacks write."""

import json
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import pytest


@pytest.fixture(autouse=True)
def _clean_keras_state():
    """Every test starts with float32 and fresh Keras name counters.

    The session is cleared without a forced garbage collection: that collection costs 0.2 s or more
    per test, and Python's own collector frees the same objects soon after.
    """
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session(free_memory=False)
    yield
    keras.config.set_dtype_policy("float32")


class EventImages:
    """Reads the pictures of event files back, as TensorBoard would find them.

    Reads the stock image summaries by default; with ``plugin="kerasfg"``, kerasfg's own recordings
    (tags ``kerasfg/...``, a plain list of PNGs or a JSON string, and a JSON metadata content).
    """

    def __init__(self, plugin="images"):
        self.plugin = plugin

    def _values(self, log_dir):
        import tensorflow as tf

        for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == self.plugin:
                        yield event.step, value

    def steps(self, log_dir):
        """``{tag: sorted steps}`` of the picture summaries under ``log_dir``."""
        steps = {}
        for step, value in self._values(log_dir):
            steps.setdefault(value.tag, []).append(step)
        return {tag: sorted(values) for tag, values in steps.items()}

    def contents(self, log_dir):
        """``{tag: metadata content dict}`` (kerasfg recordings only)."""
        from kerasfg.tensorboard import metadata

        return {value.tag: metadata.parse(value.metadata.plugin_data.content)
                for _, value in self._values(log_dir) if value.metadata.plugin_data.content}

    def pictures(self, log_dir, tag):
        """``{step: [decoded uint8 pictures]}`` of ``tag``."""
        import tensorflow as tf

        skip = 2 if self.plugin == "images" else 0  # stock images: [width, height, png, ...]
        return {step: [tf.io.decode_png(blob).numpy() for blob in tf.make_ndarray(value.tensor)[skip:]]
                for step, value in self._values(log_dir) if value.tag == tag}

    def json(self, log_dir, tag):
        """``{step: decoded JSON}`` of ``tag``, a kerasfg table or annotations recording."""
        import tensorflow as tf

        return {step: json.loads(tf.make_ndarray(value.tensor).item())
                for step, value in self._values(log_dir) if value.tag == tag}


@pytest.fixture
def event_images():
    """An `EventImages` reader of the stock image summaries."""
    return EventImages()


@pytest.fixture
def event_recordings():
    """An `EventImages` reader of kerasfg's own recordings (the plugin's data)."""
    return EventImages("kerasfg")


@pytest.fixture
def event_scalars():
    """A reader of scalar summaries: ``read(log_dir) -> {tag: [(step, value), ...]}`` sorted by step."""

    def read(log_dir):
        import tensorflow as tf

        found = {}
        for path in pathlib.Path(log_dir).rglob("events.out.tfevents.*"):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "scalars":
                        found.setdefault(value.tag, []).append(
                            (event.step, float(tf.make_ndarray(value.tensor))))
        return {tag: sorted(points) for tag, points in found.items()}

    return read


@pytest.fixture
def checkout_python():
    """``run(*args, cwd)``: run ``python ARGS`` in a fresh interpreter that imports kerasfg from this
    checkout (installed or not), returning the completed process with its output as text."""
    repo = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(*args, cwd, timeout=900):
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    return run
