"""Which examples each worker reads, and in which batches.

Data-parallel training splits every global batch of ``B`` examples over ``W`` workers with ``R``
replicas (devices) each: every replica trains on ``B / (W * R)`` examples per step, and the gradients
are summed across all replicas. `InputShard` says which part of the data this worker reads:

- **training, by data** (in-memory sets, image files, TFRecord folders with fewer shard files than
  workers): every worker shuffles the whole set with the same seed, keeps the first
  ``steps_per_epoch * B`` examples of that order and takes every ``W``-th of them, starting at its own
  index. The examples of the ``W`` workers at step ``t`` are then exactly the examples of a single
  process's global batch ``t``: a multi-worker run sees the data as one process would.
- **training, by file** (TFRecord folders with at least as many shard files as workers): worker ``w``
  reads the files ``w, w + W, w + 2W, ...`` and shuffles what it reads, so nobody reads or decodes
  the others' files. All workers run the same number of steps: that of the worker with the fewest
  examples, counted from the manifest.
- **evaluation**: worker ``w`` reads the ``w``-th contiguous block of the (unshuffled) set, so the
  chief's first batch starts the set as it does in a single process (recording callbacks keep their
  probe images), and the metrics summed over the workers are those of the whole set.

Example:

```python
shard = InputShard(index=1, count=4)
shard.replica_batch_size(256)  # 64 examples per step on this worker
```
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class InputShard:
    """The part of the data one worker reads.

    Attributes:
        index: this worker's index, 0 (the chief) to ``count - 1``.
        count: number of workers.
        replicas: replicas (devices) per worker; each consumes one batch per step.
    """

    index: int = 0
    count: int = 1
    replicas: int = 1

    def __post_init__(self):
        if not 0 <= self.index < self.count:
            raise ValueError(f"InputShard: index must be in [0, {self.count}), got {self.index}.")
        if self.replicas < 1:
            raise ValueError(f"InputShard: replicas must be positive, got {self.replicas}.")

    @property
    def total_replicas(self):
        """Replicas over all workers."""
        return self.count * self.replicas

    def replica_batch_size(self, global_batch_size):
        """The batch of one replica for a global batch of ``global_batch_size`` examples.

        Raises:
            ValueError: if the global batch does not split evenly over the replicas.
        """
        if global_batch_size % self.total_replicas:
            raise ValueError(
                f"the global batch size {global_batch_size} does not split evenly over "
                f"{self.total_replicas} replicas ({self.count} workers x {self.replicas} per worker); "
                f"use a multiple of {self.total_replicas}.")
        return global_batch_size // self.total_replicas

    def by_file(self, source):
        """Whether training reads ``source`` by file: a TFRecord source with a file per worker."""
        return len(getattr(source, "files", ())) >= self.count > 1

    def training_examples(self, source, source_index):
        """``(source, positions)``: the source this worker trains from and the positions in
        ``source_index`` of its items: those of its files when reading by file, all of them
        otherwise (they are split after shuffling, by `interleave`)."""
        if not self.by_file(source):
            return source, slice(None)
        return source.shard(self.index, self.count, source_index)

    def evaluation_examples(self, count):
        """The positions (a slice) of this worker's contiguous block of ``count`` examples."""
        bounds = np.linspace(0, count, self.count + 1).round().astype(int)
        return slice(bounds[self.index], bounds[self.index + 1])

    def steps_per_epoch(self, source, source_index, global_batch_size):
        """Training steps per epoch, the same on every worker.

        By data it is ``len(source_index) // global_batch_size``; by file, the steps of the worker
        with the fewest examples. Raises `ValueError` when an epoch would have no step.
        """
        if self.by_file(source):
            local_batch = self.replica_batch_size(global_batch_size) * self.replicas
            fewest = min(len(source.shard(index, self.count, source_index)[1]) for index in range(self.count))
            steps = fewest // local_batch
        else:
            steps = len(source_index) // global_batch_size
        if steps < 1:
            raise ValueError(f"{len(source_index)} training examples give no full global batch of "
                             f"{global_batch_size} over {self.count} workers; use a smaller batch size.")
        return steps

    def interleave(self, dataset, num_examples, global_batch_size):
        """Every ``count``-th of the first ``steps * global_batch_size`` elements of the shuffled
        ``dataset``, starting at ``index`` (training by data)."""
        usable = num_examples // global_batch_size * global_batch_size
        return dataset.take(usable).shard(self.count, self.index)

    def seed(self, seed):
        """A seed of this worker's own random stream (augmentation) derived from ``seed``."""
        if self.count == 1:
            return seed
        return int(np.random.SeedSequence([seed, self.index]).generate_state(1)[0])
