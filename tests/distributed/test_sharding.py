"""Each worker's part of the data: by data, the workers' batches at every step make up the single
process's global batch; by file, nobody reads another's files; in evaluation, contiguous blocks."""

import pathlib

import numpy as np
import pytest

from kerasfg.data import FaceDataset, load_dataset
from kerasfg.distributed import InputShard


def numbered_faces(count):
    """Faces whose first pixels spell their index, so a batch tells which examples it holds."""
    images = np.zeros((count, 4, 4, 3), np.uint8)
    images[:, 0, 0, 0], images[:, 0, 1, 0] = np.arange(count) % 256, np.arange(count) // 256
    return FaceDataset.from_arrays(images, {"identity": np.arange(count) % 3}, {"identity": list("abc")},
                                   image_size=(4, 4))


def example_ids(batch):
    images = np.asarray(batch[0] if isinstance(batch, tuple) else batch)
    return (images[:, 0, 0, 0] + 256 * images[:, 0, 1, 0]).astype(int).tolist()


def epochs(dataset, count):
    return [[example_ids(batch) for batch in dataset] for _ in range(count)]


@pytest.mark.parametrize("workers, replicas", [(2, 1), (3, 1), (2, 2)])
def test_by_data_the_workers_batches_make_up_the_single_process_batches(workers, replicas):
    faces, batch, seed = numbered_faces(50), 12, 7
    single = epochs(faces.as_dataset(batch, training=True, seed=seed), 2)
    parts = [epochs(faces.as_dataset(batch, training=True, seed=seed,
                                     shard=InputShard(index, workers, replicas)), 2)
             for index in range(workers)]
    steps = 50 // batch
    assert InputShard(0, workers, replicas).steps_per_epoch(faces.source, faces.source_index, batch) == steps
    for epoch in range(2):
        assert single[epoch][0] != single[1 - epoch][0]  # the set is reshuffled every epoch
        for step in range(steps):
            together = [example for part in parts
                        for local in part[epoch][step * replicas:(step + 1) * replicas] for example in local]
            assert sorted(together) == sorted(single[epoch][step])
        assert all(len(part[epoch]) == steps * replicas for part in parts)
        assert all(len(local) == batch // (workers * replicas) for part in parts for local in part[epoch])


def test_synthetic_faces_shard_the_same_way():
    from kerasfg.data.synthetic import synthetic_faces

    faces = synthetic_faces(40, num_identities=3, image_size=16, seed=1)
    kwargs = dict(inputs=["image"], targets=["identity"], batch_size=8, shuffle=True, seed=3)
    single = [x["image"].numpy() for x, _ in faces.as_dataset(**kwargs)]
    parts = [[x["image"].numpy() for x, _ in faces.as_dataset(**kwargs, shard=InputShard(i, 2), training=True)]
             for i in range(2)]
    for step, batch in enumerate(single):
        together = np.concatenate([parts[0][step], parts[1][step]])
        assert sorted(map(bytes, together)) == sorted(map(bytes, batch))


def test_evaluation_blocks_cover_the_set_once_and_the_chief_starts_it():
    faces = numbered_faces(23)
    blocks = [[example for batch in faces.as_dataset(9, shard=InputShard(index, 3)) for example in
               example_ids(batch)] for index in range(3)]
    assert sum(blocks, []) == list(range(23))  # in order, each example once
    assert [len(block) for block in blocks] == [8, 7, 8]
    first_chief_batch = example_ids(next(iter(faces.as_dataset(9, shard=InputShard(0, 3)))))
    assert first_chief_batch == list(range(len(first_chief_batch)))  # the recording callbacks' probe


def test_tfrecord_folders_are_read_by_file(tmp_path):
    numbered_faces(31).write_tfrecords(tmp_path / "records", num_shards=4)  # 8, 8, 8, 7 records
    records = load_dataset("tfrecord", tmp_path / "records")
    shards = [InputShard(index, 2) for index in range(2)]
    assert all(shard.by_file(records.source) for shard in shards)
    files = [shard.training_examples(records.source, records.source_index)[0].files for shard in shards]
    assert [[pathlib.Path(name).name for name in part] for part in files] == [
        ["faces-00000-of-00004.tfrecord", "faces-00002-of-00004.tfrecord"],
        ["faces-00001-of-00004.tfrecord", "faces-00003-of-00004.tfrecord"]]
    # 16 and 15 examples, 4 per worker and step: 3 steps each, the same on both workers.
    assert {shard.steps_per_epoch(records.source, records.source_index, 8) for shard in shards} == {3}
    seen = [epochs(records.as_dataset(8, training=True, shard=shard), 1)[0] for shard in shards]
    assert [len(part) for part in seen] == [3, 3] and all(len(batch) == 4 for part in seen for batch in part)
    mine = [{example for batch in part for example in batch} for part in seen]
    assert not mine[0] & mine[1]
    assert all(example % 4 in (0, 2) for example in mine[0]) and all(example % 4 in (1, 3) for example in mine[1])
    # Fewer files than workers: by data, as for arrays.
    assert not InputShard(0, 5).by_file(records.source)


def test_each_worker_draws_its_own_augmentation():
    shards = [InputShard(index, 2) for index in range(2)]
    assert InputShard().seed(5) == 5 and len({shard.seed(5) for shard in shards}) == 2
    faces = numbered_faces(16)
    flips = []
    for shard in shards:
        images = np.concatenate([np.asarray(x) for x, _ in faces.as_dataset(8, training=True, augment="flip",
                                                                             shuffle=False, shard=shard)])
        flips.append(images[:, 0, 3, 0] > 0)  # the number moved to the other side
    assert flips[0].tolist() != flips[1].tolist()


def test_a_global_batch_must_split_over_the_replicas():
    with pytest.raises(ValueError, match=r"global batch size 30 does not split evenly over 4 replicas \(2 workers "
                                         r"x 2 per worker\); use a multiple of 4"):
        InputShard(0, 2, 2).replica_batch_size(30)
    with pytest.raises(ValueError, match="10 training examples give no full global batch of 16 over 2 workers"):
        numbered_faces(10).as_dataset(16, training=True, shard=InputShard(0, 2))
    with pytest.raises(ValueError, match=r"index must be in \[0, 2\), got 2"):
        InputShard(2, 2)
