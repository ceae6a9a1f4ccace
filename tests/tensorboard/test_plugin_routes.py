"""The plugin's routes in a real TensorBoard, with each data provider, against what the event files hold."""

import base64
import io
import pathlib
import urllib.parse

import numpy as np
import pytest
from plugin_fixtures import (
    EXPECTED_STEPS,
    LONG_RUN,
    PROBES,
    REAL_RUN,
    RUNS,
    STEPS,
    TABLE_COLUMNS,
    XSS_RUN,
    activations,
    feature_maps,
    table_rows,
)
from PIL import Image

from kerasfg.tensorboard import metadata

STATIC = pathlib.Path(__file__).resolve().parents[2] / "kerasfg" / "tensorboard" / "static"


def route(name, **params):
    return f"/data/plugin/kerasfg/{name}?{urllib.parse.urlencode(params)}"


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def test_the_tab_is_listed_as_an_iframe_plugin(tensorboard):
    listing = tensorboard.json("/data/plugins_listing")["kerasfg"]
    assert listing["enabled"] is True
    assert listing["tab_name"] == "kerasfg"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/kerasfg/index.js"}


def test_runs_list_every_recording_with_its_metadata_content(tensorboard, plugin_logdir, event_recordings):
    runs = tensorboard.json("/data/plugin/kerasfg/runs")
    assert sorted(runs) == sorted([*RUNS, REAL_RUN, XSS_RUN, LONG_RUN])
    assert {run: [r["steps"] for r in recordings] for run, recordings in runs.items()} == EXPECTED_STEPS
    for run in (*RUNS, REAL_RUN, XSS_RUN):
        written = event_recordings.contents(plugin_logdir / run)
        assert {r["tag"]: r["content"] for r in runs[run]} == written
        assert {r["tag"]: r["kind"] for r in runs[run]} == {tag: content["kind"] for tag, content in written.items()}
    alpha = {r["tag"]: r for r in runs["alpha"]}
    assert alpha["kerasfg/attention/stage2_block1_attention/spatial"]["max_length"] == PROBES
    assert alpha["kerasfg/faithfulness/identity"]["content"]["columns"] == TABLE_COLUMNS


def test_every_step_is_kept_beyond_tensorboards_default_of_ten(tensorboard):
    (recording,) = tensorboard.json("/data/plugin/kerasfg/runs")[LONG_RUN]
    assert len(recording["steps"]) == 15
    steps = tensorboard.json(route("steps", run=LONG_RUN, tag=recording["tag"]))
    assert steps == list(range(15))
    for step in (0, 9, 14):  # each step's own picture, not a neighbour's
        _, _, png = tensorboard.get(route("picture", run=LONG_RUN, tag=recording["tag"], step=step, index=0))
        assert np.all(decode(png) == step)


@pytest.mark.parametrize("tag", ["kerasfg/attention/stage2_block1_attention/spatial",
                                 "kerasfg/deconvolution/stage2_block1", "kerasfg/probe/images"])
def test_pictures_are_the_recorded_pictures(tensorboard, plugin_logdir, event_recordings, tag):
    written = event_recordings.pictures(plugin_logdir / "alpha", tag)
    for step, expected in written.items():
        pictures = tensorboard.json(route("pictures", run="alpha", tag=tag, step=step))
        assert [p["index"] for p in pictures] == list(range(len(expected)))
        for picture, reference in zip(pictures, expected):
            png = base64.b64decode(picture["png"])
            assert (picture["height"], picture["width"]) == reference.shape[:2]
            np.testing.assert_array_equal(decode(png).reshape(reference.shape), reference)
            status, headers, single = tensorboard.get(
                route("picture", run="alpha", tag=tag, step=step, index=picture["index"]))
            assert status == 200 and headers["Content-Type"] == "image/png" and single == png
            assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_two_runs_have_their_own_maps(tensorboard):
    tag = "kerasfg/attention/stage2_block1_attention/spatial"
    alpha, beta = (tensorboard.json(route("pictures", run=run, tag=tag, step=STEPS[-1])) for run in RUNS)
    assert [p["png"] for p in alpha] != [p["png"] for p in beta]


def test_tables_are_the_recorded_rows(tensorboard):
    for run in (*RUNS, XSS_RUN):
        for step in STEPS:
            table = tensorboard.json(route("table", run=run, tag="kerasfg/faithfulness/identity", step=step))
            assert table["columns"] == TABLE_COLUMNS
            assert table["rows"] == table_rows(run, step)  # JSON keeps floats exactly


@pytest.mark.parametrize(("tag", "name", "expected"), [
    ("kerasfg/deconvolution/stage2_block1", "feature_maps", feature_maps),
    ("kerasfg/deep_visualization/identity", "activations", activations),
])
def test_annotations_are_those_of_each_step(tensorboard, tag, name, expected):
    for run in (*RUNS, XSS_RUN):
        recordings = {r["tag"]: r for r in tensorboard.json("/data/plugin/kerasfg/runs")[run]}
        annotations = "kerasfg/" + recordings[tag]["content"]["annotations"]
        assert recordings[annotations]["kind"] == "annotations" and recordings[annotations]["steps"] == list(STEPS)
        for step in STEPS:
            assert tensorboard.json(route("annotations", run=run, tag=annotations, step=step)) == {name: expected(step)}
    assert feature_maps(1) != feature_maps(2)


# The run written by the recording callbacks themselves (see conftest._write_real_run).

FAITHFULNESS_COLUMNS = ["method", "pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc"]


def real_recordings(tensorboard, kind):
    """The real run's recordings of ``kind``."""
    return [r for r in tensorboard.json("/data/plugin/kerasfg/runs")[REAL_RUN] if r["kind"] == kind]


def test_the_callbacks_record_every_kind(tensorboard):
    recordings = tensorboard.json("/data/plugin/kerasfg/runs")[REAL_RUN]
    assert {r["kind"] for r in recordings} == set(metadata.KINDS)
    for recording in recordings:
        expected = {"probe": [0]}.get(recording["kind"], list(STEPS))
        if recording["tag"].startswith("kerasfg/sanity_checks/"):
            expected = [STEPS[-1]]  # when training ends
        assert recording["steps"] == expected, recording["tag"]
    methods = sorted(r["content"]["method"] for r in recordings if r["kind"] == "heatmap")
    assert methods == ["attention", "attention", "gradcam", "saliency"]
    assert all(r["content"]["probe"] == "probe/images" for r in recordings if r["kind"] == "heatmap")
    assert [r["content"]["layer"] for r in recordings if r["kind"] == "activations"] == [
        "stage1_block1_out", "stage2_block1_out"]
    (deep,) = [r["content"] for r in recordings if r["kind"] == "deep_visualization"]
    assert deep["layer"] == "identity" and deep["units"] == [0, 1, 2] and deep["settings"]["steps"] == 5


def test_the_callbacks_tables_hold_their_rows(tensorboard):
    tables = {r["tag"]: r for r in real_recordings(tensorboard, "table")}
    (matrix,) = real_recordings(tensorboard, "confusion_matrix")
    assert matrix["content"]["output"] == "identity" and matrix["content"]["class_names"] == ["0", "1", "2"]
    counts = "kerasfg/" + matrix["content"]["counts"]
    assert sorted(tables) == [counts, "kerasfg/faithfulness/identity", "kerasfg/sanity_checks/identity/table"]
    assert tables["kerasfg/faithfulness/identity"]["content"]["columns"] == FAITHFULNESS_COLUMNS
    for step in STEPS:
        table = tensorboard.json(route("table", run=REAL_RUN, tag="kerasfg/faithfulness/identity", step=step))
        assert table["columns"] == FAITHFULNESS_COLUMNS
        assert [row[0] for row in table["rows"]] == ["gradcam", "saliency", "random"]
        assert all(0 <= value <= 1 for row in table["rows"] for value in row[1:])
        table = tensorboard.json(route("table", run=REAL_RUN, tag=counts, step=step))
        assert table["columns"] == ["true \\ predicted", "0", "1", "2"]
        assert [row[0] for row in table["rows"]] == ["0", "1", "2"]
        assert sum(sum(row[1:]) for row in table["rows"]) == 24  # every training image, once


@pytest.mark.parametrize(("kind", "name", "check"), [
    ("deconvolution", "feature_maps", lambda maps: len(maps) == PROBES and all(len(row) == 3 for row in maps)),
    ("deep_visualization", "activations", lambda values: len(values) == 3),
    ("deep_visualization", "start_activations", lambda values: len(values) == 3),
])
def test_the_callbacks_annotate_every_step(tensorboard, kind, name, check):
    (recording,) = real_recordings(tensorboard, kind)
    annotations = "kerasfg/" + recording["content"]["annotations"]
    for step in STEPS:
        found = tensorboard.json(route("annotations", run=REAL_RUN, tag=annotations, step=step))
        assert name in found and check(found[name]), found


@pytest.mark.parametrize(("kind", "count", "channels"), [
    ("heatmap", PROBES, None), ("activations", PROBES, None), ("deconvolution", PROBES, None),
    ("deep_visualization", 3, 3), ("confusion_matrix", 1, 3),
])
def test_the_callbacks_pictures_decode(tensorboard, plugin_logdir, event_recordings, kind, count, channels):
    for recording in real_recordings(tensorboard, kind):
        written = event_recordings.pictures(plugin_logdir / REAL_RUN, recording["tag"])
        assert recording["max_length"] == count
        for step in STEPS:
            pictures = tensorboard.json(route("pictures", run=REAL_RUN, tag=recording["tag"], step=step))
            assert len(pictures) == count
            for picture, reference in zip(pictures, written[step]):
                decoded = decode(base64.b64decode(picture["png"]))
                assert decoded.shape[:2] == (picture["height"], picture["width"]) == reference.shape[:2]
                assert channels is None or decoded.shape[2] == channels
                np.testing.assert_array_equal(decoded.reshape(reference.shape), reference)
        if kind == "heatmap":  # drawn over the probe images, at their size
            assert (pictures[0]["height"], pictures[0]["width"]) == (32, 32)


@pytest.mark.parametrize(("path", "content_type"), [("index.js", "text/javascript"), ("style.css", "text/css")])
def test_the_frontend_is_served_from_the_package(tensorboard, path, content_type):
    status, headers, body = tensorboard.get(f"/data/plugin/kerasfg/{path}")
    assert status == 200 and body == (STATIC / path).read_bytes()
    assert headers["Content-Type"].startswith(content_type)
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_plugin_entry_page_loads_the_module(tensorboard):
    status, _, body = tensorboard.get("/data/plugin_entry.html?name=" + metadata.PLUGIN_NAME)
    assert status == 200 and b"plugin/kerasfg/" in body
