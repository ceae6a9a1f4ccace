"""The README's commands and code are what users run first: keep them working."""

import pathlib
import re
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def block_after(marker):
    match = re.search(re.escape(marker) + r"\s*```\w*\n(.*?)```", README, re.S)
    assert match, f"README.md has no code block after {marker!r}"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = block_after("<!-- test-command -->")
    ci = (REPO / ".ci" / "run").read_text()
    (extraction,) = re.findall(r"^test_command=\$\((.*)\)$", ci, re.M)
    extracted = subprocess.run(["bash", "-c", extraction], cwd=REPO, capture_output=True, text=True,
                               check=True).stdout.strip()
    assert extracted == command
    assert "pytest" in command and "kerasfg quickstart" in block_after("<!-- quickstart-command -->")


def test_every_python_block_is_tested():
    assert README.count("```python") == 2


@pytest.mark.slow
def test_the_python_example_runs(tmp_path, checkout_python):
    code = block_after("<!-- example -->")
    # The same code on fewer faces for fewer epochs, so that the test stays quick.
    small = code.replace("synthetic_faces(4000", "synthetic_faces(64").replace("epochs=5", "epochs=1")
    assert small != code
    done = checkout_python("-c", small, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "runs" / "mine" / "vis").glob("events.out.tfevents.*"))
    assert (tmp_path / "saved_models" / "mine" / "1" / "saved_model.pb").is_file()


def test_the_models_example_runs(tmp_path, checkout_python):
    done = checkout_python("-c", block_after("<!-- models-example -->"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cbam" in done.stdout
