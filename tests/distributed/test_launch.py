"""Launching a multi-worker run: command-line flags, and clear errors before anything trains."""

import keras
import pytest

from kerasfg import cli
from kerasfg import distributed
from kerasfg.distributed import Cluster, RouteUnavailable, cluster_from_flags


def test_flags_make_the_cluster_or_none():
    assert cluster_from_flags(None, None) is None
    assert cluster_from_flags("h1:2222,h2:2222", 1) == Cluster(("h1:2222", "h2:2222"), 1)


@pytest.mark.parametrize("argv, message", [
    (["--workers", "h1:2222,h2:2222"], "--workers and --worker-index go together"),
    (["--worker-index", "0"], "--workers and --worker-index go together"),
    (["--workers", "h1:2222,h2", "--worker-index", "0"], "expected HOST:PORT addresses"),
    (["--workers", "h1:2222,h2:2222", "--worker-index", "2"], "expected an integer in 0..1 for 2 workers"),
])
def test_bad_flags_are_one_line_errors(argv, message, capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: x\n")
    assert cli.main(["train", str(config), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasfg train: error: ") and message in err and "\n" not in err


def test_multi_worker_without_workers_is_a_config_error(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ntrain: {distribute: multi_worker}\n")
    assert cli.main(["train", str(config)]) == 2
    assert "train.distribute: 'multi_worker' needs the workers' addresses and this worker's index: run " \
           "kerasfg train CONFIG --workers HOST:PORT,HOST:PORT --worker-index N, or set TF_CONFIG." \
           in capsys.readouterr().err


def test_the_route_needs_the_tensorflow_backend(monkeypatch):
    distributed.check_route()  # Keras 3 on TensorFlow: fine
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RouteUnavailable, match="needs the TensorFlow backend of Keras; this process uses the 'jax'"):
        distributed.check_route()
    monkeypatch.undo()
    monkeypatch.setattr(keras, "__version__", "2.15.0")
    with pytest.raises(RouteUnavailable, match="needs Keras 3; keras 2.15.0 is installed"):
        distributed.check_route()


def test_a_worker_must_start_before_tensorflow_runs():
    import tensorflow as tf

    tf.constant(1.0) + 1  # this test process already runs TensorFlow
    with pytest.raises(RouteUnavailable, match="cannot start worker 0 of 2: Collective ops must be configured at "
                                               "program startup.*start each worker as a new process"):
        distributed.multi_worker_strategy(Cluster.parse("127.0.0.1:1,127.0.0.1:2", 0))
