"""The tf.data pipeline: order, pairing of images and labels, seeds, channels, caching, strategies."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from data_fixtures import label_of, write_corrupt_jpeg, write_image

from kerasfg.data import FaceDataset, load_dataset
from kerasfg.data.preprocessing import Preprocessing


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    for label, name in enumerate(["a", "b", "c", "d"]):
        for k in range(5):
            write_image(root / name / f"{k}.jpg", label, size=(20, 24))
    return root


def epoch(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy() if not isinstance(y, dict) else y["label"].numpy())
    return np.concatenate(xs), np.concatenate(ys)


def test_eval_pipeline_keeps_order_shapes_and_range(folder):
    ds = load_dataset("folder", folder, image_size=(16, 16))
    x, y = epoch(ds.as_dataset(batch_size=6, tasks="label"))
    assert x.shape == (20, 16, 16, 3) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 255
    np.testing.assert_array_equal(y, ds.labels["label"])
    assert [label_of(im) for im in x] == y.tolist()


def test_training_pipeline_is_seeded_shuffled_and_keeps_pairs(folder):
    ds = load_dataset("folder", folder, image_size=(16, 16))
    for cache in (True, False):
        pipe = ds.as_dataset(batch_size=4, training=True, tasks="label", augment="flip", seed=7, cache=cache)
        x1, y1 = epoch(pipe)
        _, y2 = epoch(pipe)
        again, _ = epoch(ds.as_dataset(batch_size=4, training=True, tasks="label", augment="flip", seed=7,
                                       cache=cache))
        assert len(y1) == 20 and sorted(y1.tolist()) == sorted(ds.labels["label"].tolist())
        assert not np.array_equal(y1, ds.labels["label"])   # shuffled
        assert not np.array_equal(y1, y2)                   # each epoch differs
        np.testing.assert_array_equal(x1, again)            # same seed, same first epoch
        assert [label_of(im) for im in x1] == y1.tolist()  # flips keep the grey level


def test_drop_remainder_and_repeat(folder):
    ds = load_dataset("folder", folder, image_size=(8, 8))
    assert sum(1 for _ in ds.as_dataset(batch_size=6, training=True)) == 3
    assert sum(1 for _ in ds.as_dataset(batch_size=6, training=False)) == 4
    batches = list(ds.as_dataset(batch_size=6, training=True, repeat=True).take(10))
    assert len(batches) == 10


def test_channels_are_explicit(folder, tmp_path):
    gray = load_dataset("folder", folder, image_size=(8, 8), channels=1)
    x, _ = epoch(gray.as_dataset(batch_size=20, tasks="label"))
    assert x.shape[-1] == 1
    write_image(tmp_path / "x" / "0.png", 2, mode="L")
    rgb = load_dataset("folder", tmp_path, image_size=(8, 8), channels=3)
    x, _ = epoch(rgb.as_dataset(batch_size=1, tasks="label"))
    assert x.shape == (1, 8, 8, 3) and np.all(x[..., 0] == x[..., 2])


def test_disk_cache_and_dtypes(folder, tmp_path):
    ds = load_dataset("folder", folder, image_size=(8, 8))
    cached = ds.as_dataset(batch_size=5, cache=str(tmp_path / "cache"), dtype="uint8")
    x1, _ = epoch(cached)
    x2, _ = epoch(cached)
    assert x1.dtype == np.uint8 and np.array_equal(x1, x2)
    assert any(p.name.startswith("cache") for p in tmp_path.iterdir())
    bf16 = next(iter(ds.as_dataset(batch_size=5, dtype="bfloat16")))[0]
    assert bf16.dtype == tf.bfloat16
    with pytest.raises(ValueError, match="augmentation needs float images"):
        ds.as_dataset(batch_size=5, training=True, augment="flip", dtype="uint8")


def test_arrays_implement_the_same_interface():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 10, 10, 3), dtype=np.uint8)
    labels = {"identity": np.arange(12) % 4, "expression": np.arange(12) % 7}
    ds = FaceDataset.from_arrays(images, labels, {"identity": list("abcd"), "expression": [str(i) for i in
                                                                                          range(7)]},
                                 subjects=np.arange(12) % 4)
    assert ds.num_classes == {"identity": 4, "expression": 7} and ds.report.read == 12
    assert ds.input_shape == (10, 10, 3)
    x, y = next(iter(ds.as_dataset(batch_size=12)))
    np.testing.assert_array_equal(x.numpy(), images.astype(np.float32))  # pixels 0..255
    np.testing.assert_array_equal(y["expression"].numpy(), labels["expression"])
    gray = FaceDataset.from_arrays(images, labels, {"identity": list("abcd"), "expression": list("0123456")},
                                   channels=1, image_size=(5, 5))
    assert next(iter(gray.as_dataset(batch_size=3)))[0].shape == (3, 5, 5, 1)
    with pytest.raises(ValueError, match=r"labels\['identity'\] must be in \[0, 2\)"):
        FaceDataset.from_arrays(images, labels, {"identity": ["a", "b"], "expression": list("0123456")})


def test_inputs_and_targets_form_of_the_training_interface(folder):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    labels = {"identity": np.arange(10) % 5, "expression": np.arange(10) % 7}
    ds = FaceDataset.from_arrays(images, labels, {"identity": list("abcde"), "expression": list("0123456")})
    x, y = next(iter(ds.as_dataset(10, inputs=["image", "expression"], targets=["identity"])))
    assert set(x) == {"image", "expression"} and set(y) == {"identity"}
    np.testing.assert_array_equal(x["image"].numpy(), images)
    np.testing.assert_array_equal(x["expression"].numpy(), labels["expression"])
    np.testing.assert_array_equal(y["identity"].numpy(), labels["identity"])
    with pytest.raises(ValueError, match="either tasks, or inputs and targets"):
        ds.as_dataset(2, tasks="identity", targets=["identity"])
    files = load_dataset("folder", folder, image_size=(16, 16), channels=1, antialias=False)
    assert files.preprocessing == Preprocessing((16, 16), channels=1, antialias=False, quantize=True)


def test_fit_under_mirrored_strategy(folder):
    ds = load_dataset("folder", folder, image_size=(16, 16))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds.as_dataset(batch_size=4, training=True, tasks="label", augment="default"),
                        epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    dist = strategy.experimental_distribute_dataset(ds.as_dataset(batch_size=4, tasks="label"))
    assert sum(1 for _ in dist) == 5


def test_without_validation_a_bad_file_raises_in_the_pipeline(tmp_path):
    write_image(tmp_path / "a" / "0.jpg", 0)
    write_corrupt_jpeg(tmp_path / "a" / "1.jpg")
    ds = load_dataset("folder", tmp_path, image_size=(8, 8), validate=False)
    with pytest.raises(tf.errors.InvalidArgumentError):
        epoch(ds.as_dataset(batch_size=2))


TWO_REPLICAS = """
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from kerasfg.data import FaceDataset

rng = np.random.default_rng(0)
ds = FaceDataset.from_arrays(rng.integers(0, 256, (48, 16, 16, 3), dtype=np.uint8),
                             {"y": np.arange(48) % 3}, {"y": ["a", "b", "c"]})
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
pipe = ds.as_dataset(batch_size=8, training=True, augment="default", tasks="y")
per_replica = [v.shape[0] for v in strategy.experimental_local_results(
    next(iter(strategy.experimental_distribute_dataset(pipe)))[0])]
history = model.fit(pipe, epochs=2, verbose=0, shuffle=False)
print("REPLICAS", strategy.num_replicas_in_sync, per_replica, "LOSS", history.history["loss"])
"""


@pytest.mark.slow
def test_fit_with_two_replicas_in_a_subprocess():
    """Two logical CPUs need a fresh process (devices are fixed once TensorFlow starts)."""
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    out = subprocess.run([sys.executable, "-c", TWO_REPLICAS], cwd=root, env=env, capture_output=True,
                         text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("REPLICAS"))
    assert line.startswith("REPLICAS 2 [4, 4] LOSS")
    losses = [float(v) for v in line.split("LOSS")[1].strip(" []").split(",")]
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_cli_side_imports_stay_tensorflow_free():
    """The `kerasfg` command registers prepare-faces, and alignment workers start, without TensorFlow."""
    import subprocess
    import sys

    code = ("import sys, argparse, kerasfg.data, kerasfg.data.prepare as p; "
            "p.add_prepare_faces_parser(argparse.ArgumentParser().add_subparsers()); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"
