"""Every ``kerasfg`` command answers bad input with one line ``kerasfg <command>: error: ...`` and status 2.

``CASES`` is the table: one or more rows per command. A command registered in ``kerasfg.cli.build_parser``
without a row fails ``test_every_command_has_a_bad_input_case``; to add a command, add a row
``Case(command, make_args, expected)``, where ``make_args(tmp_path)`` writes the bad input and returns the
arguments after the command name, and ``expected`` is a regular expression for the message after
``error: ``.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from kerasfg.cli import build_parser, main
from kerasfg.tf_startup import filtered_stderr, is_startup_line


@dataclasses.dataclass
class Case:
    command: str
    make_args: Callable  # tmp_path -> list of arguments after the command name
    expected: str  # regular expression for what follows "kerasfg <command>: error: "

    def __str__(self):
        return f"{self.command}:{self.expected[:40]}"


def _file(tmp_path, name, content):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _not_a_model(tmp_path):
    return _file(tmp_path, "broken.keras", b"this is no zip archive")


def _zip_without_a_model(tmp_path):
    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no model here")
    return path


def _run_without_model(tmp_path):
    run = tmp_path / "runs" / "exp" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: exp\n")
    return run


def _png(tmp_path, name="face.png"):
    path = tmp_path / name
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


def _folder_dataset_without_classes(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    (root / "notes.txt").write_text("no class folders here")
    config = {"name": "bad", "data": {"source": "dataset", "targets": ["label"],
                                      "dataset": {"name": "folder", "root": str(root), "image_size": [8, 8]}}}
    return _file(tmp_path, "bad.yaml", json.dumps(config))


CASES = [
    Case("train", lambda tmp: [str(tmp / "missing.yaml")], r"config file .*missing\.yaml does not exist"),
    Case("train", lambda tmp: [str(_file(tmp, "bad.yaml", "train:\n  epochs: many\n"))],
         r"^train\.epochs: expected an integer, got str 'many'"),
    Case("train", lambda tmp: [str(_folder_dataset_without_classes(tmp))], r"faces.*(class|folder)"),
    Case("train", lambda tmp: [], r"^give a CONFIG file, or --resume RUN_DIR$"),
    Case("train", lambda tmp: [str(_file(tmp, "broken.yaml", "train: [epochs: 3\n"))],
         r"broken\.yaml: not valid YAML: line 2, column 1: expected ',' or '\]'"),
    Case("train", lambda tmp: [str(_file(tmp, "binary.yaml", b"\xff\xfe\x00"))],
         r"binary\.yaml: not a UTF-8 text file"),
    Case("train", lambda tmp: [str(_file(tmp, "ok.yaml", "name: x\n")), "--set", "train.epochs=[1"],
         r"^override 'train\.epochs=\[1': not valid YAML: line 1, column 3"),
    Case("quickstart", lambda tmp: ["--set", "train.epochs"], r"^override 'train\.epochs': expected the form"),
    Case("export", lambda tmp: [str(_run_without_model(tmp))], r"is not a run directory: it has no model\.keras"),
    Case("export", lambda tmp: [str(_not_a_model(tmp))], r"broken\.keras is not a \.keras model file"),
    Case("export", lambda tmp: [str(tmp / "missing.keras")], r"missing\.keras is neither a run directory"),
    Case("verify-export", lambda tmp: [str(tmp / "nothing")], r"nothing is neither a SavedModel version"),
    Case("predict", lambda tmp: ["--server", "http://127.0.0.1:9", "--model", "m", str(tmp / "nope.jpg")],
         r"No such file or directory: .*nope\.jpg"),
    Case("predict", lambda tmp: ["--server", "http://127.0.0.1:9", "--model", "m", "--input", "expression",
                                 str(_png(tmp))], r"^--input expects NAME=VALUE, got 'expression'$"),
    Case("pain", lambda tmp: [str(_file(tmp, "pain.yaml", "cnn: {epochs: 1\n"))], r"pain\.yaml: not valid YAML"),
    Case("pain", lambda tmp: ["--set", "cnn.epochs=0"], r"^cnn\.epochs: expected a positive integer, got 0\.$"),
    Case("pain", lambda tmp: ["--set", "data.source=unbc", "--set", f"data.root={tmp / 'nothing'}"],
         r"dataset root .*nothing does not exist; expected Images/"),
    Case("prepare-faces", lambda tmp: [str(tmp / "no_such_folder"), str(tmp / "out")], r"no_such_folder"),
    Case("prepare-faces", lambda tmp: [str(_file(tmp, "photos/face.jpg", b"not a JPEG").parent), str(tmp / "out"),
                                       "--workers", "1", "--no-progress"],
         r"^no face was aligned from .*photos \(see the report above\)"),
    Case("cross-dataset", lambda tmp: [str(tmp / "age.keras"), "--root", str(tmp), "--mapping", "young,old"],
         r"--mapping: expected the target group of each source group .* received 'young,old'"),
    Case("reproduce", lambda tmp: [str(tmp / "table.yaml")], r"grid file .*table\.yaml does not exist"),
    Case("reproduce", lambda tmp: [str(_file(tmp, "t.yaml", "paper: '1'\n"))], r"t\.yaml: table: missing"),
    Case("reproduce", lambda tmp: [str(_file(tmp, "g.yaml", "paper: [\n"))], r"g\.yaml: not valid YAML: line 2"),
    Case("reproduce", lambda tmp: [str(pathlib.Path(__file__).resolve().parents[1] / "experiments" / "001"
                                       / "table-3-3.yaml"), "--data-root", str(tmp / "nothing")],
         r"nothing/ck\+"),
    Case("visualize", lambda tmp: [str(_zip_without_a_model(tmp)), str(_png(tmp)), "--out", str(tmp / "o")],
         r"empty\.keras: the \.keras model file cannot be loaded"),
    Case("visualize", lambda tmp: [str(_run_without_model(tmp)), str(_png(tmp)), "--out", str(tmp / "o")],
         r"has none of model\.keras"),
]


def registered_commands():
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(commands.choices)


def test_every_command_has_a_bad_input_case():
    missing = registered_commands() - {case.command for case in CASES}
    assert not missing, f"add a row to CASES in {__file__} for {sorted(missing)}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_gives_one_line_and_status_2(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # commands that write (runs/, saved_models/) write here
    argv = [case.command, *case.make_args(tmp_path)]
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"kerasfg {case.command}: error: ")]
    assert len(errors) == 1, err
    message = errors[0].split(": error: ", 1)[1]
    assert re.search(case.expected, message), f"{message!r} does not match {case.expected!r}"


def test_debug_raises_the_original_exception(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.keras"):
        main(["export", str(_run_without_model(tmp_path)), "--debug"])
    with pytest.raises(FileNotFoundError, match="no model.keras"):
        main(["--debug", "export", str(_run_without_model(tmp_path / "again"))])


def test_multi_line_messages_keep_one_error_line(capsys):
    from kerasfg.cli import report_error

    report_error("export", ValueError("verification failed:\nFAIL ops: EagerPyFunc"))
    assert capsys.readouterr().err.splitlines() == ["kerasfg export: error: verification failed:",
                                                    "  FAIL ops: EagerPyFunc"]


def test_help_does_not_import_tensorflow(checkout_python, tmp_path):
    code = ("import sys; from kerasfg.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))")
    done = checkout_python("-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_startup_records_are_dropped_and_everything_else_is_kept(capfd):
    with filtered_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1796527554.202526   13545 port.cc:153] oneDNN custom operations are on.\n"
                    b"E0000 00:00:1796527563.942853   13545 cuda_platform.cc:52] failed call to cuInit\n"
                    b"F0000 00:00:1796527563.942853   13545 main.cc:1] Check failed: a fatal record\n")
        print("a Python warning", file=sys.stderr)
    assert sorted(capfd.readouterr().err.splitlines()) == [
        "F0000 00:00:1796527563.942853   13545 main.cc:1] Check failed: a fatal record", "a Python warning"]
    assert not is_startup_line("kerasfg export: error: I0000 is not a file")


@pytest.mark.slow
def test_the_command_as_a_user_runs_it_prints_one_line_and_hides_tensorflows_startup(tmp_path):
    """``python -m kerasfg export BROKEN.keras`` (what the ``kerasfg`` script runs) imports TensorFlow, fails,
    prints one line and exits with status 2; with ``--verbose`` the same command shows TensorFlow's start-up
    records, so the quiet run did hide some (the test is not vacuous)."""
    model = _zip_without_a_model(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(pathlib.Path(__file__).resolve().parents[1])

    def kerasfg(*args):
        return subprocess.run([sys.executable, "-m", "kerasfg", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False)

    quiet = kerasfg("export", str(model))
    assert quiet.returncode == 2, quiet.stderr
    (line,) = quiet.stderr.splitlines()
    assert line.startswith(f"kerasfg export: error: {model}: the .keras model file cannot be loaded")
    verbose = kerasfg("export", str(model), "--verbose")
    assert verbose.returncode == 2, verbose.stderr
    assert line in verbose.stderr.splitlines()
    assert any(is_startup_line(shown) for shown in verbose.stderr.splitlines()), verbose.stderr
