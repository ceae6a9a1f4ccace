import json
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

TINY = [
    "data.synthetic.train_images=64", "data.synthetic.val_images=32", "data.synthetic.test_images=32",
    "data.synthetic.image_size=32", "data.batch_size=16", "train.epochs=2", "train.verbose=0",
    "model.options.widths=[16, 32]", "model.options.blocks=[1, 1]",
]


def overrides(values):
    return [arg for value in values for arg in ("--set", value)]


# Bad input of every command (one line, status 2): tests/test_cli_errors.py.


@pytest.mark.slow
def test_quickstart_with_tiny_settings_trains_evaluates_and_prints_the_next_steps(
        tmp_path, checkout_python, event_images, event_scalars):
    done = checkout_python("-m", "kerasfg", "quickstart", *overrides(TINY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Evaluation on the held-out synthetic faces" in done.stdout
    assert "identity" in done.stdout and "--logdir" in done.stdout
    (run_dir,) = (tmp_path / "runs" / "quickstart").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 2
    recorded = event_images.steps(run_dir / "logs" / "vis")
    assert recorded["attention/stage2_block1_attention/spatial"] == [0, 1, 2]
    progress = event_scalars(run_dir / "logs" / "vis")  # 4 batches per epoch, recorded every 5th
    assert [step for step, _ in progress["progress/loss"]] == [5]
    assert [step for step, _ in progress["progress/val_accuracy"]] == [4, 8]
    # The export was verified as TF Serving loads it, and the command to serve it is printed.
    version = tmp_path / "saved_models" / "quickstart" / "1"
    assert metrics["export_path"] == str(pathlib.Path("saved_models/quickstart/1"))
    assert (version / "saved_model.pb").is_file() and "(verified as TF Serving loads it" in done.stdout
    assert "tensorflow/serving:2.21.0" in done.stdout
    # Sample faces to try the served model on, and a curl request that sends one with its expression.
    labels = json.loads((run_dir / "samples" / "labels.json").read_text())
    assert sorted(labels) == [f"face_{k}.png" for k in range(4)]
    expression = labels["face_0.png"]["expression"]
    (curl,) = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("curl ")]
    assert f'"expression": {expression}}}]}}' in curl
    # The printed request, sent as printed to a loopback TF Serving stand-in serving the export.
    sys.path.insert(0, str(REPO / "tests" / "export"))
    from serving_standin import ServingStandin

    from kerasfg.export import ModelServerEntry, write_models_config

    write_models_config(tmp_path / "models.config",
                        [ModelServerEntry("quickstart", str(version.parent.resolve()))])
    with ServingStandin(tmp_path / "models.config") as server:
        sent = subprocess.run(["bash", "-c", curl.replace("http://localhost:8501", server.rest_url)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    (prediction,) = json.loads(sent.stdout)["predictions"]
    assert prediction["identity_name"] in [f"person_{k:03d}" for k in range(10)]
    assert abs(sum(prediction["identity_probs"]) - 1.0) < 1e-4
    verify = checkout_python("-m", "kerasfg", "verify-export", str(version), cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]


@pytest.mark.slow
def test_train_from_a_config_file_with_overrides(tmp_path, checkout_python):
    config = tmp_path / "exp.yaml"
    config.write_text((REPO / "kerasfg" / "configs" / "quickstart.yaml").read_text())
    done = checkout_python("-m", "kerasfg", "train", str(config),
                           *overrides([*TINY, "export.enabled=false", "name=exp"]), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "exp").iterdir()
    assert (run_dir / "model.keras").is_file()
