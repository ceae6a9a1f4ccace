"""verify-export: the op walk, the keras-free loader process, and that a wrong export fails verification."""

import shutil
import subprocess
import sys

import keras
import pytest
from export_helpers import build_face_model
from tensorflow.core.framework import attr_value_pb2
from tensorflow.core.protobuf import saved_model_pb2

from kerasfg.export import _verify_worker, verify
from kerasfg.export.warmup import read_warmup


def test_export_report_covers_every_check(exported):
    report = exported.verification
    names = [c.name for c in report.checks]
    assert report.ok, report.summary()
    assert "no keras/kerasfg in the loading process" in names
    assert "ops" in names and "warmup records parse" in names
    for signature in ("serving_default", "serve_pixels", "explain"):
        assert any(n.startswith(f"tf2 {signature}") for n in names)
        assert any(n.startswith(f"tf1-session {signature}") for n in names)
    assert "corrupt bytes -> INVALID_ARGUMENT (serving_default)" in names
    # map_fn decodes inside a While body: the walk must have seen it (saved_model_cli does not).
    assert {"DecodeImage", "ResizeBilinear", "LookupTableFindV2"} <= set(report.ops)
    assert {"While", "StatelessWhile"} & set(report.ops)


def test_warmup_records_hold_requests_and_keras_responses(exported):
    records = read_warmup(exported.path / "assets.extra" / "tf_serving_warmup_requests")
    assert [r.signature_name for r in records] == ["serving_default", "serve_pixels", "explain"]
    assert records[0].inputs["expression"].tolist() == [2, 5]
    assert records[0].outputs["identity_probs"].shape == (2, 3)
    assert set(records[2].outputs) >= {"identity_gradcam", "gender_gradcam"}


@pytest.mark.slow
def test_the_import_blocker_really_blocks():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import _verify_worker as w; "
            "import importlib.util as u; before = u.find_spec('keras') is not None; w.block_imports(); "
            "import tensorflow\n"
            "try:\n    import keras\n    print('imported')\nexcept ImportError:\n    print('blocked')\n"
            "print(before, w.imports_blocked(), 'keras' in sys.modules)")
    folder = str(__import__("pathlib").Path(_verify_worker.__file__).parent)
    out = subprocess.run([sys.executable, "-I", "-c", code, folder], capture_output=True, text=True, check=True)
    # keras is installed (findable before blocking), then unimportable, also for TensorFlow's own import.
    assert out.stdout.split() == ["blocked", "True", "True", "False"]


def _copy(exported, tmp_path):
    target = tmp_path / "copy" / "1"
    shutil.copytree(exported.path, target)
    return target


def _patch_saved_model(path, patch):
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    patch(saved.meta_graphs[0].graph_def)
    (path / "saved_model.pb").write_bytes(saved.SerializeToString())


def _with_custom_op(exported, tmp_path):
    path = _copy(exported, tmp_path)

    def patch(graph):
        for fn in graph.library.function:
            for node in fn.node_def:
                if node.op == "ResizeBilinear":  # lives in the map_fn While body
                    node.op = "Addons>ResizeBilinear"
                    return

    _patch_saved_model(path, patch)
    return path


def test_op_walk_finds_custom_ops_inside_function_bodies(exported, tmp_path):
    problems = _verify_worker.scan_ops(_with_custom_op(exported, tmp_path))["problems"]
    assert len(problems) == 1
    assert "op Addons>ResizeBilinear" in problems[0] and "not registered" in problems[0]


@pytest.mark.slow
def test_verify_reports_an_unloadable_export_without_crashing(exported, tmp_path):
    report = verify.verify_export(_with_custom_op(exported, tmp_path))
    failed = {c.name: c.detail for c in report.failures}
    assert set(failed) == {"ops", "tf2 load"}
    assert "Op type not registered 'Addons>ResizeBilinear'" in failed["tf2 load"]


def test_a_failed_verification_process_is_reported_by_its_exception_line():
    stderr = ("I0000 00:00:1796543419.860045   15978 port.cc:153] oneDNN custom operations are on.\n"
              "Traceback (most recent call last):\n  File \"_verify_worker.py\", line 78, in scan_ops\n"
              "    saved.ParseFromString(f.read())\n"
              "google.protobuf.message.DecodeError: Error parsing message with type 'tensorflow.SavedModel'\n")
    assert verify._worker_failure(stderr) == ("google.protobuf.message.DecodeError: Error parsing message with "
                                              "type 'tensorflow.SavedModel'")
    assert verify._worker_failure("Killed\n") == "Killed"
    assert verify._worker_failure("") == "no output"


def test_op_walk_finds_xla_must_compile(exported, tmp_path):
    path = _copy(exported, tmp_path)

    def patch(graph):
        graph.library.function[0].attr["_XlaMustCompile"].CopyFrom(attr_value_pb2.AttrValue(b=True))

    _patch_saved_model(path, patch)
    problems = _verify_worker.scan_ops(path)["problems"]
    assert len(problems) == 1 and "_XlaMustCompile=True" in problems[0]


def test_clean_export_has_no_op_problems(exported):
    scan = _verify_worker.scan_ops(exported.path)
    assert scan["problems"] == []
    assert scan["signatures"]["serving_default"] == "tensorflow/serving/predict"


def test_layout_is_checked_before_loading(tmp_path):
    report = verify.verify_export(tmp_path / "nothing" / "7")
    assert not report.ok
    assert "missing ['saved_model.pb', 'variables']" in report.failures[0].detail


@pytest.mark.slow
def test_verification_fails_against_another_model_and_passes_against_its_own(exported, face_model):
    other = build_face_model(seed=2)  # same architecture, other weights
    report = verify.verify_export(exported.path, model=other)
    failed = {c.name for c in report.failures}
    assert not report.ok
    assert {"tf2 serving_default #0", "tf2 serve_pixels #1", "tf2 explain #2"} <= failed
    assert "max abs difference" in next(c.detail for c in report.failures if c.name == "tf2 serve_pixels #1")
    assert verify.verify_export(exported.path, model=face_model).ok


def test_keras_is_importable_here():
    """The blocker test above is meaningful only because keras is installed in this environment."""
    assert keras.__version__
