"""The readers of the ABN tables' datasets (CIFAR-10/100, SVHN, ImageNet, CompCars), each on a tiny fixture
written here in its publisher's layout: labels, pixel layout, protocol, wrong layouts and corrupt files."""

import pickle

import numpy as np
import pytest
from data_fixtures import label_of, write_corrupt_jpeg, write_image, write_not_an_image
from scipy import io as scipy_io

from kerasfg.data import DatasetLayoutError, load_dataset, load_splits


def pattern(label):
    """A 32x32 RGB image: red encodes the label, green the row, blue the column."""
    rows, cols = np.mgrid[0:32, 0:32]
    return np.stack([np.full((32, 32), 20 + 30 * label), rows * 4, cols * 4], axis=-1).astype(np.uint8)


def assert_patterns(ds, task="label"):
    """Every image is the pattern of its label: channels, rows and columns kept apart and in order."""
    images, labels = ds.numpy()
    for image, label in zip(images, labels[task]):
        np.testing.assert_array_equal(image, pattern(label))


# === CIFAR ===

def cifar_row(label):
    """One row of a CIFAR batch: the red plane, then green, then blue, each row by row."""
    return pattern(label).transpose(2, 0, 1).reshape(-1)


def write_pickle(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)


def write_cifar10(root, per_batch=2):
    folder = root / "cifar-10-batches-py"
    names = [f"class{k}" for k in range(10)]
    write_pickle(folder / "batches.meta", {b"label_names": [n.encode() for n in names],
                                           b"num_cases_per_batch": per_batch, b"num_vis": 3072})
    labels = {}
    for k, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
        labels[name] = [(k + j) % 10 for j in range(per_batch)]
        write_pickle(folder / name, {b"batch_label": name.encode(), b"labels": labels[name],
                                     b"data": np.stack([cifar_row(c) for c in labels[name]]),
                                     b"filenames": [f"{name}_{j}.png".encode() for j in range(per_batch)]})
    return folder, labels


def test_cifar10_batches_labels_and_pixels(tmp_path):
    folder, labels = write_cifar10(tmp_path)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.image_size == (32, 32) and ds.channels == 3 and ds.class_names["label"][3] == "class3"
    assert len(ds) == 12 and ds.partitions.tolist() == ["train"] * 10 + ["test"] * 2
    expected = [c for name in [f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"] for c in labels[name]]
    assert ds.labels["label"].tolist() == expected
    assert_patterns(ds)
    parts = load_splits("cifar10", folder, ("train", "test"))  # the batches folder itself as the root
    assert len(parts["train"]) == 10 and len(parts["test"]) == 2


def test_cifar10_corrupt_batch_and_bad_rows_are_skipped_and_counted(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:300])  # truncated
    write_pickle(folder / "data_batch_5", {b"labels": [4, 12], b"data": np.stack([cifar_row(4)] * 3)})
    ds = load_dataset("cifar10", tmp_path)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in ds.report.skips}
    assert reasons["data_batch_3"].startswith("corrupt batch file, its images are missing: not a readable pickle")
    assert reasons["data_batch_5:1"] == "label out of range: label=12, expected 0..9"
    assert reasons["data_batch_5:2"] == "missing label label"  # more images than labels
    assert (ds.report.read, ds.report.used, ds.report.skipped) == (1 + 3 * 2 + 3 + 2, 9, 3)
    assert len(ds) == 9
    assert_patterns(ds)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    fine = [f"fine{k}" for k in range(100)]
    coarse = [f"coarse{k}" for k in range(20)]
    write_pickle(folder / "meta", {b"fine_label_names": [n.encode() for n in fine],
                                   b"coarse_label_names": [n.encode() for n in coarse]})
    for name, fine_labels in (("train", [0, 57, 99, 3]), ("test", [8, 42])):
        write_pickle(folder / name, {b"fine_labels": fine_labels, b"coarse_labels": [f // 5 for f in fine_labels],
                                     b"data": np.stack([cifar_row(f % 8) for f in fine_labels])})
    ds = load_dataset("cifar100", tmp_path, split="train")
    assert ds.num_classes == {"label": 100, "coarse_label": 20}
    assert ds.labels["label"].tolist() == [0, 57, 99, 3] and ds.labels["coarse_label"].tolist() == [0, 11, 19, 0]
    images, _ = ds.numpy()
    np.testing.assert_array_equal(images[1], pattern(57 % 8))
    assert len(load_dataset("cifar100", tmp_path, split="test")) == 2


@pytest.mark.parametrize("name, missing", [("cifar10", "data_batch_1, data_batch_2"),
                                           ("cifar100", "train, test, meta")])
def test_cifar_wrong_layout_names_the_folder_and_the_expected_files(tmp_path, name, missing):
    (tmp_path / "cifar").mkdir()
    (tmp_path / "cifar" / "data_batch_1.bin").write_bytes(b"binary version")
    with pytest.raises(DatasetLayoutError, match=rf"{tmp_path / 'cifar'}: missing {missing}.*expected cifar-1"):
        load_dataset(name, tmp_path / "cifar")


def test_cifar_unreadable_meta_file_is_a_layout_error(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    (folder / "batches.meta").write_text("not a pickle")
    with pytest.raises(DatasetLayoutError, match=r"batches\.meta: not a readable pickle.*expected"):
        load_dataset("cifar10", tmp_path)


# === SVHN ===

def write_svhn(path, stored_labels):
    """A cropped-digits file: X [32, 32, 3, N], y [N, 1] with 10 for the digit 0."""
    x = np.stack([pattern(label % 10) for label in stored_labels], axis=-1)
    scipy_io.savemat(str(path), {"X": x, "y": np.asarray(stored_labels, np.uint8)[:, None]})


def test_svhn_digits_label_ten_is_zero_and_extra_joins_training(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", [1, 10, 5, 9])
    write_svhn(tmp_path / "test_32x32.mat", [10, 3])
    write_svhn(tmp_path / "extra_32x32.mat", [2, 10, 7])
    ds = load_dataset("svhn", tmp_path)
    assert ds.class_names["label"] == [str(d) for d in range(10)]
    assert ds.labels["label"].tolist() == [1, 0, 5, 9, 0, 3, 2, 0, 7]
    assert ds.partitions.tolist() == ["train"] * 4 + ["test"] * 2 + ["train"] * 3
    assert_patterns(ds)
    parts = load_splits("svhn", tmp_path, ("train", "test"))
    assert (len(parts["train"]), len(parts["test"])) == (7, 2)
    separate = load_dataset("svhn", tmp_path, extra="separate")
    assert separate.split_names == ("train", "test", "extra")
    assert len(load_dataset("svhn", tmp_path, extra="skip")) == 6
    with pytest.raises(ValueError, match=r"extra must be one of \['train', 'separate', 'skip'\], got 'yes'"):
        load_dataset("svhn", tmp_path, extra="yes")


def test_svhn_corrupt_file_and_bad_labels_are_skipped_and_counted(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", [1, 0, 11, 4])
    write_svhn(tmp_path / "test_32x32.mat", [10, 3])
    (tmp_path / "extra_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    ds = load_dataset("svhn", tmp_path)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in ds.report.skips}
    assert reasons["train_32x32.mat:1"] == "label out of range: y=0, expected 1..10 (10 for the digit 0)"
    assert reasons["train_32x32.mat:2"].startswith("label out of range: y=11")
    assert reasons["extra_32x32.mat"].startswith("unreadable file, its digits are missing: not a readable MATLAB")
    assert (ds.report.read, ds.report.used, ds.report.skipped) == (7, 4, 3)
    assert ds.labels["label"].tolist() == [1, 4, 0, 3]
    assert_patterns(ds)


def test_svhn_wrong_layout_and_missing_extra(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", [1])
    with pytest.raises(DatasetLayoutError, match=rf"{tmp_path}: missing test_32x32\.mat; expected train_32x32"):
        load_dataset("svhn", tmp_path)
    write_svhn(tmp_path / "test_32x32.mat", [2])
    ds = load_dataset("svhn", tmp_path)
    assert any("extra_32x32.mat not found" in note for note in ds.report.notes)
    scipy_io.savemat(str(tmp_path / "test_32x32.mat"), {"X": np.zeros((28, 28, 1, 1), np.uint8), "y": [[1]]})
    skipped = load_dataset("svhn", tmp_path).report.skips
    assert "X of shape (28, 28, 1, 1)" in skipped[0].reason


# === ImageNet ===

WNIDS = ["n01440764", "n01443537", "n02085620"]


def write_imagenet_train(data, per_class=2):
    for k, wnid in enumerate(WNIDS):
        for j in range(per_class):
            write_image(data / "train" / wnid / f"{wnid}_{j}.JPEG", k, size=(40, 48), fmt="JPEG")


def write_meta_mat(path, ids):
    """The devkit's synsets table: ILSVRC2012_ID -> WNID (ids in the devkit's order, not sorted WNIDs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    synsets = np.array([(i, w, f"words of {w}") for i, w in ids],
                       dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O")])
    scipy_io.savemat(str(path), {"synsets": synsets.reshape(-1, 1)})


def test_imagenet_devkit_ground_truth_maps_ids_to_sorted_synsets(tmp_path):
    write_imagenet_train(tmp_path)
    write_not_an_image(tmp_path / "train" / WNIDS[0] / "readme.txt")
    write_corrupt_jpeg(tmp_path / "train" / WNIDS[1] / "broken.JPEG")
    # The devkit numbers the synsets in its own order: ID 1 is the third sorted WNID here.
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    write_meta_mat(devkit / "meta.mat", [(1, WNIDS[2]), (2, WNIDS[0]), (3, WNIDS[1]), (1001, "n00001740")])
    truth = [1, 2, 3, 1, 2]  # ILSVRC2012_val_00000001 ... 00000005
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(map(str, truth)) + "\n")
    sorted_index = {1: 2, 2: 0, 3: 1}
    for k, id_ in enumerate(truth[:4], start=1):  # image 5 is listed but missing
        write_image(tmp_path / "val" / f"ILSVRC2012_val_{k:08d}.JPEG", sorted_index[id_], size=(40, 48), fmt="JPEG")
    write_image(tmp_path / "val" / "ILSVRC2012_val_00000099.JPEG", 0, fmt="JPEG")  # no ground truth
    ds = load_dataset("imagenet", tmp_path, image_size=(24, 24))
    assert ds.class_names["label"] == WNIDS and ds.info["class_descriptions"][WNIDS[2]] == f"words of {WNIDS[2]}"
    val = ds.subset(ds.partitions == "val")
    assert val.labels["label"].tolist() == [2, 0, 1, 2]
    images, labels = ds.numpy()
    assert [label_of(im) for im in images] == labels["label"].tolist()  # images and labels stay paired
    truth_file = devkit / "ILSVRC2012_validation_ground_truth.txt"
    reasons = sorted(s.reason.split(":")[0] for s in ds.report.skips)
    assert reasons == ["corrupt or truncated JPEG image", f"listed in {truth_file} but not found in {tmp_path / 'val'}",
                       f"no entry for the image in {truth_file}", "not an image file (extension '.txt')"]
    assert (ds.report.read, ds.report.used) == (6 + 2 + 5 + 1, 10)
    parts = load_splits("imagenet", tmp_path, ("train", "val"), image_size=(24, 24))
    assert (len(parts["train"]), len(parts["val"])) == (6, 4)


def test_imagenet_val_folders_and_the_kaggle_layout(tmp_path):
    data = tmp_path / "ILSVRC" / "Data" / "CLS-LOC"
    write_imagenet_train(data, per_class=1)
    for k in range(len(WNIDS)):
        write_image(data / "val" / f"ILSVRC2012_val_{k + 1:08d}.JPEG", k, fmt="JPEG")
    rows = [f"ILSVRC2012_val_{k + 1:08d},{wnid} 1 2 30 40 {wnid} 5 6 7 8" for k, wnid in enumerate(WNIDS)]
    (tmp_path / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    (tmp_path / "LOC_synset_mapping.txt").write_text("\n".join(f"{w} a {w}, the fish" for w in WNIDS) + "\n")
    kaggle = load_dataset("imagenet", tmp_path, image_size=(16, 16))
    assert kaggle.subset(kaggle.partitions == "val").labels["label"].tolist() == [0, 1, 2]
    assert kaggle.info["class_descriptions"][WNIDS[0]] == f"a {WNIDS[0]}, the fish"
    # Validation images in folders per synset, as most preparation scripts leave them.
    folders = tmp_path / "folders"
    write_imagenet_train(folders, per_class=1)
    write_image(folders / "val" / WNIDS[1] / "ILSVRC2012_val_00000007.JPEG", 1, fmt="JPEG")
    ds = load_dataset("imagenet", folders, image_size=(16, 16), split="val")
    assert ds.labels["label"].tolist() == [1]


def test_imagenet_wrong_layouts_name_the_path_and_the_expected_layout(tmp_path):
    write_image(tmp_path / "flat" / "n01440764_1.JPEG", 0, fmt="JPEG")
    looked = tmp_path / "flat" / "train"
    with pytest.raises(DatasetLayoutError, match=rf"no train/ folder \(looked in {looked}\).*expected train/<WordNet"):
        load_dataset("imagenet", tmp_path / "flat")
    write_image(tmp_path / "cats" / "train" / "tabby" / "1.jpg", 0)
    with pytest.raises(DatasetLayoutError, match=r"folders that are not WordNet IDs: \['tabby'\]"):
        load_dataset("imagenet", tmp_path / "cats")
    write_imagenet_train(tmp_path / "unlabelled", per_class=1)
    write_image(tmp_path / "unlabelled" / "val" / "ILSVRC2012_val_00000001.JPEG", 0, fmt="JPEG")
    with pytest.raises(DatasetLayoutError, match=r"the val/ folder is flat, and neither ILSVRC2012_validation_"
                                                 r"ground_truth\.txt \(with meta\.mat\) nor LOC_val_solution\.csv"):
        load_dataset("imagenet", tmp_path / "unlabelled")


# === CompCars ===

def write_compcars(root):
    """Two makes, three models; the split files list paths relative to data/image/."""
    data = root / "data"
    items = {"train": [(78, 1, 2014, "a1"), (78, 1, 2014, "a2"), (78, 5, 2012, "b1"), (121, 934, 2010, "c1")],
             "test": [(78, 5, 2012, "b2"), (121, 934, 2011, "c2")]}
    models = sorted({m for split in items.values() for _, m, _, _ in split})
    lines = {}
    for split, rows in items.items():
        lines[split] = []
        for make, model, year, name in rows:
            rel = f"{make}/{model}/{year}/{name}.jpg"
            write_image(data / "image" / rel, models.index(model), size=(60, 80), fmt="JPEG")
            lines[split].append(rel)
    split_dir = data / "train_test_split" / "classification"
    split_dir.mkdir(parents=True)
    (split_dir / "train.txt").write_text("\n".join(lines["train"] + ["78/1/2014/gone.jpg", "not a path"]) + "\n")
    (split_dir / "test.txt").write_text("\n".join(lines["test"]) + "\n")
    make_names = np.empty((130, 1), object)
    make_names[:] = ""
    make_names[77, 0], make_names[120, 0] = "Audi", "BWM"
    model_names = np.empty((1000, 1), object)
    model_names[:] = ""
    model_names[0, 0], model_names[4, 0], model_names[933, 0] = "A4L", "Q5", "A4L"
    (data / "misc").mkdir()
    scipy_io.savemat(str(data / "misc" / "make_model_name.mat"), {"make_names": make_names,
                                                                  "model_names": model_names})
    return data


def test_compcars_classification_split_models_and_makes(tmp_path):
    data = write_compcars(tmp_path)
    write_corrupt_jpeg(data / "image" / "78" / "5" / "2012" / "b1.jpg")
    ds = load_dataset("compcars", tmp_path, image_size=(30, 40))
    assert ds.class_names == {"model": ["A4L (1)", "Q5", "A4L (934)"], "make": ["Audi", "BWM"]}
    assert ds.split_names == ("train", "test") and len(ds) == 5
    images, labels = ds.numpy()
    assert [label_of(im) for im in images] == labels["model"].tolist()
    np.testing.assert_array_equal(labels["make"], [0, 0, 1, 0, 1])
    reasons = sorted(s.reason.split(":")[0] for s in ds.report.skips)
    assert reasons == ["corrupt or truncated JPEG image", "image listed in train.txt not found",
                       "malformed line 'not a path'"]
    assert (ds.report.read, ds.report.used) == (8, 5)
    parts = load_splits("compcars", data, ("train", "test"), image_size=(30, 40))  # data/ as the root
    assert (len(parts["train"]), len(parts["test"])) == (3, 2)


def test_compcars_without_names_and_in_a_wrong_layout(tmp_path):
    data = write_compcars(tmp_path)
    (data / "misc" / "make_model_name.mat").unlink()
    assert load_dataset("compcars", tmp_path, validate=False).class_names["make"] == ["78", "121"]
    (data / "train_test_split" / "classification" / "test.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing .*classification/test\.txt; expected data/image/"
                                                 r"<make>/<model>/<year>/\*\.jpg"):
        load_dataset("compcars", tmp_path)
