"""kerasfg export / verify-export commands, from a run directory and from a .keras file."""

import argparse
import json

import pytest
from export_helpers import IDENTITIES

from kerasfg.cli import main
from kerasfg.export.cli import add_export_parsers, resolve_source


def test_parsers_register_three_commands_with_handlers():
    parser = argparse.ArgumentParser()
    add_export_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", "runs/x/1", "--explain", "gradcam"])
    assert args.handler.__name__ == "run_export" and args.verify and args.warmup
    assert parser.parse_args(["verify-export", "m/1"]).handler.__name__ == "run_verify"
    args = parser.parse_args(["predict", "--server", "http://h:8501", "--model", "m", "a.jpg", "b.jpg"])
    assert args.images == ["a.jpg", "b.jpg"] and args.handler.__name__ == "run_predict"


def test_sources(tmp_path):
    run = tmp_path / "runs" / "quickstart" / "20260101-120000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: x\n")
    with pytest.raises(FileNotFoundError, match="no model.keras"):
        resolve_source(run)
    (run / "model.keras").write_bytes(b"")
    assert resolve_source(run) == (run / "model.keras", "quickstart", run)
    assert resolve_source(run / "model.keras") == (run / "model.keras", "model", None)
    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        resolve_source(tmp_path / "missing.h5")


@pytest.mark.slow
def test_export_a_run_directory_then_verify_the_base_path(face_model, tmp_path, capsys, monkeypatch):
    run = tmp_path / "runs" / "quickstart" / "20260101-120000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: face\n")
    face_model.save(run / "model.keras")
    (run / "class_names.json").write_text(json.dumps({"identity": IDENTITIES}))
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    assert "-> saved_models/quickstart/1" in out and "PASSED" in out
    assert "serving_default(image_bytes: string(-1,), expression: int32(-1,))" in out
    assert (tmp_path / "saved_models/quickstart/1/assets/identity_labels.txt").read_text().split() == IDENTITIES
    assert main(["verify-export", "saved_models/quickstart", "--model", str(run / "model.keras")]) == 0
    assert "PASSED: saved_models/quickstart/1" in capsys.readouterr().out
