"""kerasfg export / verify-export commands, from a run directory and from a .keras file."""

import argparse

import pytest

from kerasfg.cli import main
from kerasfg.data.preprocessing import Preprocessing
from kerasfg.export.cli import add_export_parsers, resolve_source, serving_preprocessing


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


# Exporting a run directory and verifying the base path with --model, as a user does: test_parity.py.


def _export_args(*flags):
    parser = argparse.ArgumentParser()
    add_export_parsers(parser.add_subparsers(dest="command"))
    return parser.parse_args(["export", "x", *flags])


def test_the_preprocessing_of_a_model_without_a_record_is_assumed_or_stated(face_model, tmp_path, capsys):
    image = face_model.inputs[0] if len(face_model.inputs[0].shape) == 4 else face_model.inputs[1]
    model_file = tmp_path / "elsewhere.keras"  # a .keras file from elsewhere, or a run of older kerasfg
    assumed = serving_preprocessing(_export_args(), model_file, image)
    assert assumed == Preprocessing((32, 32)) and assumed.origin.startswith("assumed")
    assert capsys.readouterr().err.splitlines() == [
        f"kerasfg export: note: {model_file} comes with no preprocessing.json, so the preprocessing is "
        f"{assumed.origin}: RGB, resized to 32x32 (bilinear). State it with --resize, --antialias and --round, "
        "or --preprocessing FILE"]
    stated = serving_preprocessing(_export_args("--resize", "area", "--antialias", "--round"), model_file, image)
    assert stated == Preprocessing((32, 32), 3, "area", antialias=True, quantize=True)
    assert stated.origin == "given on the command line" and capsys.readouterr().err == ""
    recorded = Preprocessing.pipeline((32, 32), resize_method="bicubic").write(tmp_path / "other.json")
    assert serving_preprocessing(_export_args("--preprocessing", str(recorded)), model_file, image) == \
        Preprocessing.pipeline((32, 32), resize_method="bicubic")


def test_a_recorded_preprocessing_is_not_overridden(face_model, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    face_model.save(run / "model.keras")
    Preprocessing.pipeline((32, 32)).write(run / "preprocessing.json")
    assert main(["export", str(run), "--resize", "bicubic", "--no-verify"]) == 2
    err = capsys.readouterr().err
    assert f"kerasfg export: error: {run / 'preprocessing.json'} records how this model was trained (RGB, " \
           "resized to 32x32 (bilinear, antialiased), rounded); --resize would serve other pixels" in err
    assert not (tmp_path / "saved_models").exists()
