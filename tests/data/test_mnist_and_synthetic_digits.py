"""MNIST's reader on idx files written here in the published layout (gzipped or not, corrupt, misnamed), and
the synthetic digits that stand in for MNIST at the smoke and synthetic scales."""

import gzip
import struct

import numpy as np
import pytest

from kerasfg.config import ConfigError
from kerasfg.config import from_dict as config_from_dict
from kerasfg.data import DatasetLayoutError, load_dataset, load_splits
from kerasfg.data.synthetic_digits import synthetic_digits

# === MNIST ===


def digit_image(label, k):
    """A 28x28 image whose top-left pixel is the label and the next one the item's index in its file."""
    image = np.zeros((28, 28), np.uint8)
    image[0, 0], image[0, 1], image[5:20, 10:14] = 10 * label, k, 255
    return image


def idx_bytes(array):
    """An idx file of unsigned bytes, written from the format's definition (big-endian header)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_mnist(root, labels=None, gz=True, names="{prefix}-{kind}-idx{rank}-ubyte"):
    labels = labels or {"train": [5, 0, 4, 1, 9], "t10k": [7, 2]}
    root.mkdir(parents=True, exist_ok=True)
    for prefix, values in labels.items():
        images = np.stack([digit_image(label, k) for k, label in enumerate(values)])
        for kind, rank, array in (("images", 3, images), ("labels", 1, np.asarray(values, np.uint8))):
            path = root / (names.format(prefix=prefix, kind=kind, rank=rank) + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(idx_bytes(array)) if gz else idx_bytes(array))
    return labels


@pytest.mark.parametrize("gz, names", [(True, "{prefix}-{kind}-idx{rank}-ubyte"),
                                       (False, "{prefix}-{kind}-idx{rank}-ubyte"),
                                       (False, "{prefix}-{kind}.idx{rank}-ubyte")])
def test_mnist_idx_files_labels_pixels_and_parts(tmp_path, gz, names):
    labels = write_mnist(tmp_path, gz=gz, names=names)
    ds = load_dataset("mnist", tmp_path)
    assert (ds.image_size, ds.channels, ds.class_names["label"]) == ((28, 28), 1, [str(d) for d in range(10)])
    assert ds.labels["label"].tolist() == labels["train"] + labels["t10k"]
    assert ds.partitions.tolist() == ["train"] * 5 + ["test"] * 2
    images, _ = ds.numpy()
    for image, label, k in zip(images, ds.labels["label"], [0, 1, 2, 3, 4, 0, 1]):
        np.testing.assert_array_equal(image[..., 0], digit_image(label, k))
    parts = load_splits("mnist", tmp_path, ("train", "test"), image_size=(32, 32))
    assert (len(parts["train"]), len(parts["test"]), parts["test"].input_shape) == (5, 2, (32, 32, 1))


def test_mnist_corrupt_part_and_bad_labels_are_skipped_and_counted(tmp_path):
    write_mnist(tmp_path, labels={"train": [3, 12, 8], "t10k": [1, 2]})
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(8)))
    ds = load_dataset("mnist", tmp_path)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in ds.report.skips}
    assert reasons["train-images-idx3-ubyte.gz:1"] == "label out of range: label=12, expected 0..9"
    assert reasons["t10k-images-idx3-ubyte.gz"] == ("unreadable part, its digits are missing: not an idx file of 3-d "
                                                    "unsigned bytes: magic number 0x00000801, expected 0x00000803")
    assert (ds.report.read, ds.report.used, ds.report.skipped) == (4, 2, 2)
    assert ds.labels["label"].tolist() == [3, 8]


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[:-30]), "not a readable gzip file"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-2])),
     "3 values after the header, expected 5 for shape (5,)"),
])
def test_mnist_truncated_files_name_the_problem(tmp_path, damage, reason):
    write_mnist(tmp_path)
    damage(tmp_path / "train-labels-idx1-ubyte.gz")
    (skip,) = load_dataset("mnist", tmp_path).report.skips
    assert reason in skip.reason and skip.path.endswith("train-images-idx3-ubyte.gz")


def test_mnist_counts_that_differ_and_wrong_layout(tmp_path):
    write_mnist(tmp_path, labels={"train": [1, 2], "t10k": [3]})
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.array([3, 4], np.uint8))))
    (skip,) = load_dataset("mnist", tmp_path).report.skips
    assert "1 images in t10k-images-idx3-ubyte.gz but 2 labels in t10k-labels-idx1-ubyte.gz" in skip.reason
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetLayoutError, match=rf"{tmp_path}: missing t10k-labels-idx1-ubyte\[\.gz\]; "
                                                 r"expected MNIST's idx files train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DatasetLayoutError, match=r"does not exist; expected MNIST's idx files"):
        load_dataset("mnist", tmp_path / "nowhere")


# === synthetic digits ===


@pytest.fixture(scope="module")
def clean_digits():
    return synthetic_digits(200, difficulty=0.0, seed=1), synthetic_digits(200, difficulty=0.0, seed=2)


def test_synthetic_digits_show_their_labels(clean_digits):
    """Labels and images agree: the nearest clean digit of another draw (plain NumPy) has the same label."""
    reference, query = clean_digits
    assert reference.images.shape == (200, 28, 28, 1) and reference.images.dtype == np.uint8
    assert set(np.unique(reference.labels["label"])) == set(range(10))
    a = reference.images.reshape(200, -1).astype(np.float32)
    b = query.images.reshape(200, -1).astype(np.float32)
    nearest = ((b[:, None, :] - a[None, :, :]) ** 2).sum(-1).argmin(1)
    assert np.mean(reference.labels["label"][nearest] == query.labels["label"]) > 0.9


def test_synthetic_digits_masks_difficulty_and_determinism(clean_digits):
    clean, _ = clean_digits
    mask = clean.masks["label"]
    assert np.all(clean.images[..., 0][mask] >= 64) and 0.05 < mask.mean() < 0.5  # strokes, not the background
    assert np.all(clean.images[..., 0][~mask] <= 64)  # nothing else is drawn at difficulty 0 (64: rounding)
    hard = synthetic_digits(200, difficulty=1.0, seed=1)
    np.testing.assert_array_equal(hard.labels["label"], clean.labels["label"])  # the labels come first
    assert hard.images[..., 0][~hard.masks["label"]].mean() > 3 * clean.images[..., 0][~mask].mean() + 10
    assert np.abs(hard.nuisance["rotation"]).max() > 30 >= np.abs(clean.nuisance["rotation"]).max() + 25
    again = synthetic_digits(20, difficulty=1.0, seed=1, image_size=16)
    np.testing.assert_array_equal(again.images, synthetic_digits(20, difficulty=1.0, seed=1, image_size=16).images)
    assert again.images.shape == (20, 16, 16, 1)
    features, targets = next(iter(clean.as_dataset(targets=["label"], batch_size=4)))
    assert features["image"].shape == (4, 28, 28, 1) and targets["label"].numpy().tolist() == \
        clean.labels["label"][:4].tolist()


@pytest.mark.parametrize("arguments, message", [
    ({"num_images": 4, "difficulty": 1.5}, r"difficulty: expected a number in \[0, 1\]"),
    ({"num_images": 4, "image_size": 8}, "image_size must be an integer of at least 16, got 8"),
    ({"num_images": 2, "labels": [1, 10]}, r"labels must be 2 digits in 0..9"),
])
def test_synthetic_digits_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        synthetic_digits(**arguments)


@pytest.mark.parametrize("synthetic, message", [
    ({"kind": "letters"}, r"data.synthetic.kind: expected one of \['faces', 'digits'\], got 'letters'"),
    ({"kind": "digits", "difficulty": {"nuisance": 0.5}}, "data.synthetic.difficulty: the synthetic digits take one"),
])
def test_synthetic_kind_config_errors(synthetic, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"data": {"synthetic": synthetic, "targets": ["label"]}})
