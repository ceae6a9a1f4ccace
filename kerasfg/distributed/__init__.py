"""Data-parallel training over several machines (``train.distribute: multi_worker``).

Every worker process runs ``kerasfg train`` with the same config, the list of all workers' addresses
and its own index (see `Cluster`). They train one model synchronously with TensorFlow's
`tf.distribute.MultiWorkerMirroredStrategy`: each worker reads its part of the data (`InputShard`),
every step sums the gradients of all workers, and all workers hold the same weights. The chief
(worker 0) alone writes the run directory: TensorBoard logs, recordings, checkpoints, backups,
``metrics.json`` and the export.

Keras 3.15's `Model.fit` cannot drive this strategy (keras-team/keras#20585), so the workers train
with `TrainingLoop`, which runs the model's own ``train_step`` and ``test_step`` and calls callbacks
as `fit` does, with public Keras API only. See ``docs/distributed.md`` for the launch, the route and
its limits.
"""

import logging

from kerasfg.distributed.cluster import Cluster
from kerasfg.distributed.failures import WorkerLost, WorkersDisagree
from kerasfg.distributed.loop import TrainingLoop
from kerasfg.distributed.sharding import InputShard
from kerasfg.distributed.worker import Worker
from kerasfg.errors import UserError

logger = logging.getLogger(__name__)

__all__ = [
    "Cluster",
    "InputShard",
    "RouteUnavailable",
    "TrainingLoop",
    "Worker",
    "WorkerLost",
    "WorkersDisagree",
    "check_config",
    "check_route",
    "cluster_from_flags",
    "multi_worker_strategy",
]


class RouteUnavailable(UserError):
    """Multi-worker training cannot run here: the installed Keras or TensorFlow, or a process in which
    TensorFlow already runs."""


def check_route():
    """Check, before anything trains, that multi-worker training can run here.

    It needs the TensorFlow backend of Keras 3 (the loop runs ``Model.train_step``, ``test_step``
    and ``get_metrics_result`` under a `tf.distribute` strategy) and a TensorFlow with
    `tf.distribute.MultiWorkerMirroredStrategy` and Keras 3 support (2.16 or newer). It was tested
    with Keras 3.15.1 and TensorFlow 2.21.0.

    Raises:
        RouteUnavailable: naming what is installed and what is needed.
    """
    import keras
    import tensorflow as tf

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RouteUnavailable(
            f"multi-worker training runs on TensorFlow's MultiWorkerMirroredStrategy and needs the "
            f"TensorFlow backend of Keras; this process uses the {backend!r} backend (set "
            "KERAS_BACKEND=tensorflow).")
    if _major_minor(keras.__version__) < (3, 0):
        raise RouteUnavailable(f"multi-worker training needs Keras 3; keras {keras.__version__} is installed.")
    if _major_minor(tf.__version__) < (2, 16) or not hasattr(tf.distribute, "MultiWorkerMirroredStrategy"):
        raise RouteUnavailable(f"multi-worker training needs TensorFlow 2.16 or newer with "
                               f"MultiWorkerMirroredStrategy; tensorflow {tf.__version__} is installed.")


def check_config(config):
    """Check that every part of ``config`` (an `ExperimentConfig`) can train on several workers.

    Each worker holds only its part of the training data, so whatever a config computes from the whole
    training split before training would differ between workers; today that is an output code whose
    class similarity is computed from the data (``model.options.output_codes.<task>.similarity`` given
    as ``{features: pixels}`` or ``{model: ..., layer: ...}``).

    Raises:
        ConfigError: naming the option and what to give instead.
    """
    from kerasfg.config import ConfigError

    for task, spec in (config.model.options.get("output_codes") or {}).items():
        if isinstance(spec, dict) and isinstance(spec.get("similarity"), dict):
            raise ConfigError(
                f"model.options.output_codes.{task}.similarity: a similarity computed from the training data "
                f"({spec['similarity']!r}) cannot be used with train.distribute: multi_worker, where each "
                "worker holds only its part of the data; compute it once in a single process and give the "
                "matrix or a .npy path.")


def cluster_from_flags(workers, worker_index):
    """The `Cluster` of ``kerasfg train``'s ``--workers`` and ``--worker-index`` flags, or None
    when neither is given.

    Raises:
        ValueError: when only one is given or either is malformed.
    """
    if workers is None and worker_index is None:
        return None
    if workers is None or worker_index is None:
        raise ValueError("--workers and --worker-index go together: give every worker's HOST:PORT and "
                         "this worker's index, e.g. --workers h1:2222,h2:2222 --worker-index 0.")
    return Cluster.parse(workers, worker_index)


def multi_worker_strategy(cluster):
    """The `tf.distribute.MultiWorkerMirroredStrategy` of ``cluster``.

    It returns once every worker of the cluster has started and connected.

    Args:
        cluster: a `Cluster`.

    Raises:
        RouteUnavailable: when the route cannot run here (see `check_route`), or when TensorFlow already
            ran something in this process (the strategy must come first).
    """
    import tensorflow as tf

    check_route()
    logger.info("worker %d of %d: waiting for the workers %s", cluster.index, cluster.size,
                ", ".join(cluster.workers))
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster.resolver())
    except (RuntimeError, ValueError) as error:
        raise RouteUnavailable(
            f"cannot start worker {cluster.index} of {cluster.size}: {error}. The multi-worker strategy must "
            "be created before TensorFlow runs anything else in the process; start each worker as a new "
            "process (kerasfg train CONFIG --workers ... --worker-index N).") from error
    logger.info("worker %d of %d: connected, %d replica(s) in sync", cluster.index, cluster.size,
                strategy.num_replicas_in_sync)
    return strategy


def _major_minor(version):
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)
