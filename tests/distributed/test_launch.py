"""Launching a multi-worker run: command-line flags, and clear errors before anything trains (the command's
one-line errors for bad flags are rows of tests/test_cli_errors.py)."""

import keras
import pytest

from kerasfg import distributed
from kerasfg.distributed import Cluster, RouteUnavailable, cluster_from_flags


def test_flags_make_the_cluster_or_none():
    assert cluster_from_flags(None, None) is None
    assert cluster_from_flags("h1:2222,h2:2222", 1) == Cluster(("h1:2222", "h2:2222"), 1)


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


@pytest.mark.parametrize("similarity", [{"features": "pixels"}, {"model": "runs/x", "layer": "fc7"}])
def test_codes_from_the_training_data_are_refused_before_training(similarity):
    from kerasfg import config as config_lib

    config = config_lib.from_dict({"model": {"options": {"output_codes": {"identity": {"similarity": similarity}}}}})
    with pytest.raises(config_lib.ConfigError, match="output_codes.identity.similarity: a similarity computed "
                                                     "from the training data .* cannot be used with"):
        distributed.check_config(config)
    given = {"identity": {"similarity": [[1.0, 0.0], [0.0, 1.0]]}}
    distributed.check_config(config_lib.from_dict({"model": {"options": {"output_codes": given}}}))
    distributed.check_config(config_lib.from_dict({}))
