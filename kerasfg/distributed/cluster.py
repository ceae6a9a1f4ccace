"""The workers of a multi-worker run: their addresses and this process's index.

Every worker process is started with the same address list and its own index, either on the command
line (``kerasfg train CONFIG --workers host1:2222,host2:2222 --worker-index 0``) or through the
``TF_CONFIG`` environment variable that cluster tools and TensorFlow use::

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'

Worker 0 is the chief: it alone writes the run directory. A ``TF_CONFIG`` with a separate ``"chief"``
job is read as that chief followed by the workers.

Example:

```python
cluster = Cluster.parse("127.0.0.1:2222,127.0.0.1:2223", index=1)
cluster.is_chief  # False
os.environ["TF_CONFIG"] = cluster.tf_config()
```
"""

import dataclasses
import json
import os
import re

_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The addresses of all workers and the index of this one.

    Attributes:
        workers: ``"host:port"`` of every worker, the chief first; every worker listens on its port.
        index: this process's position in ``workers``.
    """

    workers: tuple
    index: int

    def __post_init__(self):
        object.__setattr__(self, "workers", tuple(self.workers))
        if not self.workers:
            raise ValueError("workers: expected at least one HOST:PORT address, got none.")
        for address in self.workers:
            match = _ADDRESS.match(address)
            if not match or not 0 < int(match["port"]) < 65536:
                raise ValueError(f"workers: expected HOST:PORT addresses with a port in 1..65535, got "
                                 f"{address!r}.")
        duplicates = sorted({a for a in self.workers if self.workers.count(a) > 1})
        if duplicates:
            raise ValueError(f"workers: every worker needs its own address; {duplicates} appear twice.")
        if isinstance(self.index, bool) or not isinstance(self.index, int) \
                or not 0 <= self.index < len(self.workers):
            raise ValueError(f"worker index: expected an integer in 0..{len(self.workers) - 1} for "
                             f"{len(self.workers)} workers, got {self.index!r}.")

    @property
    def size(self):
        """The number of workers."""
        return len(self.workers)

    @property
    def is_chief(self):
        """Whether this is worker 0, which writes the run directory."""
        return self.index == 0

    @classmethod
    def parse(cls, workers, index):
        """The cluster of comma-separated ``"host:port"`` addresses ``workers`` and this ``index``."""
        return cls(tuple(a.strip() for a in workers.split(",") if a.strip()), index)

    @classmethod
    def from_tf_config(cls, text):
        """The cluster of a ``TF_CONFIG`` JSON string.

        Raises:
            ValueError: if ``text`` is not a worker cluster in TensorFlow's ``TF_CONFIG`` form.
        """
        try:
            spec = json.loads(text)
            jobs, task = spec["cluster"], spec["task"]
            chief, workers = list(jobs.get("chief", [])), list(jobs.get("worker", []))
            kind, index = task["type"], task["index"]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                'TF_CONFIG: expected JSON such as {"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                f'"task": {{"type": "worker", "index": 0}}}}, got {text!r} ({error}).') from None
        other_jobs = sorted(set(jobs) - {"chief", "worker"})
        if other_jobs or kind not in ("chief", "worker") or len(chief) > 1:
            raise ValueError(f"TF_CONFIG: multi-worker training needs one optional 'chief' and 'worker' jobs "
                             f"and a task of one of them; got jobs {sorted(jobs)}, {len(chief)} chief(s) and "
                             f"task type {kind!r}.")
        if kind == "chief" and index != 0:
            raise ValueError(f"TF_CONFIG: the chief task has index 0, got {index!r}.")
        return cls((*chief, *workers), index if kind == "chief" else len(chief) + index)

    @classmethod
    def from_environment(cls, environ=None):
        """The cluster of the ``TF_CONFIG`` environment variable, or None when it is unset or empty."""
        text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
        return cls.from_tf_config(text) if text else None

    def tf_config(self):
        """This cluster as a ``TF_CONFIG`` JSON string."""
        return json.dumps({"cluster": {"worker": list(self.workers)},
                           "task": {"type": "worker", "index": self.index}})

    def resolver(self):
        """A `tf.distribute.cluster_resolver.ClusterResolver` of this cluster."""
        import tensorflow as tf

        return tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({"worker": list(self.workers)}), task_type="worker", task_id=self.index,
            rpc_layer="grpc")
