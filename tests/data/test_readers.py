"""Every reader on a tiny fixture in its publisher's exact layout, made here."""

import json

import numpy as np
import pytest
from data_fixtures import label_of, level, write_image

from kerasfg.data import EXPRESSIONS, DatasetLayoutError, load_dataset

E = {n: i for i, n in enumerate(EXPRESSIONS)}


def images_and_labels(ds, task):
    images, labels = ds.numpy()
    return images, labels[task]


def assert_paired(ds, task, expected=None):
    """Each image's grey level encodes its label: the pipeline kept images and labels together."""
    images, labels = images_and_labels(ds, task)
    decoded = np.array([label_of(im) for im in images])
    np.testing.assert_array_equal(decoded, labels if expected is None else expected(labels))


# === FER2013 ===

def fer_row(code, usage, pixels=None):
    pixels = pixels if pixels is not None else [level(code)] * 2304
    return f"{code},{' '.join(map(str, pixels))},{usage}"


def test_fer2013_csv_protocols_labels_and_pixels(tmp_path):
    rows = [fer_row(0, "Training"), fer_row(6, "Training"), fer_row(3, "PublicTest"),
            fer_row(4, "PrivateTest")]
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    ds = load_dataset("fer2013", tmp_path)
    assert ds.image_size == (48, 48) and ds.channels == 1
    # FER codes 0 Angry, 6 Neutral, 3 Happy, 4 Sad -> the shared alphabetical label space
    np.testing.assert_array_equal(ds.labels["expression"], [E["angry"], E["neutral"], E["happy"], E["sad"]])
    assert ds.partitions.tolist() == ["train", "train", "test", "test"]
    images, _ = ds.numpy()
    assert images.shape == (4, 48, 48, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0, 0, 0], [level(0), level(6), level(3), level(4)])
    icml = load_dataset("fer2013", tmp_path / "fer2013.csv", protocol="icml")
    assert icml.partitions.tolist() == ["train", "train", "val", "test"]
    assert len(load_dataset("fer2013", tmp_path, split="test", protocol="icml")) == 1
    assert len(load_dataset("fer2013", tmp_path, split="test")) == 2


def test_fer2013_folders(tmp_path):
    for split, names in {"train": ["angry", "happy", "surprise"], "test": ["happy", "neutral"]}.items():
        for name in names:
            for k in range(2):
                write_image(tmp_path / split / name / f"im{k}.jpg", E[name], size=(48, 48), mode="L")
    ds = load_dataset("fer2013", tmp_path)
    assert ds.name == "fer2013" and ds.class_names["expression"] == list(EXPRESSIONS)
    assert len(ds) == 10 and sorted(ds.split_names) == ["test", "train"]
    assert_paired(ds, "expression")
    train = load_dataset("fer2013_folders", tmp_path, split="train")
    assert len(train) == 6 and set(train.labels["expression"]) == {E["angry"], E["happy"], E["surprise"]}


# === CK+ ===

def write_ckplus(root, sequences):
    """sequences: {(subject, seq): (n_frames, emotion code or None)}"""
    for (subject, seq), (n, code) in sequences.items():
        for k in range(1, n + 1):
            label = E["neutral"] if k == 1 else (k % 7)
            write_image(root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{k:08d}.png",
                        label, size=(40, 30), mode="L")
        if code is not None:
            f = root / "Emotion" / subject / seq / f"{subject}_{seq}_{n:08d}_emotion.txt"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"   {code:.7e}\n")


def test_ckplus_peak_and_neutral_frames(tmp_path):
    write_ckplus(tmp_path, {("S005", "001"): (6, 3), ("S005", "002"): (5, None), ("S010", "004"): (7, 5),
                            ("S011", "001"): (5, 2)})
    ds = load_dataset("ck+", tmp_path)
    # S005/001 disgust: frames 4,5,6 + neutral frame 1; S010/004 happy: frames 5,6,7 + frame 1;
    # S011/001 contempt: its peak frames are dropped, its neutral first frame kept
    names = [p.rsplit("/", 1)[-1] for p in ds.paths]
    assert names == ["S005_001_00000004.png", "S005_001_00000005.png", "S005_001_00000006.png",
                     "S005_001_00000001.png", "S010_004_00000005.png", "S010_004_00000006.png",
                     "S010_004_00000007.png", "S010_004_00000001.png", "S011_001_00000001.png"]
    assert ds.labels["expression"].tolist() == [E["disgust"]] * 3 + [E["neutral"]] + [E["happy"]] * 3 + [
        E["neutral"]] * 2
    assert ds.subjects.tolist() == ["S005"] * 4 + ["S010"] * 4 + ["S011"]
    reasons = [s.reason for s in ds.report.skips]
    assert "no emotion label file (unlabelled sequence)" in reasons
    assert sum("contempt excluded" in r for r in reasons) == 3
    assert ds.report.read == ds.report.used + ds.report.skipped == 9 + 1 + 3
    with_contempt = load_dataset("ck+", tmp_path, include_contempt=True, neutral_first_frame=False,
                                 peak_frames=1)
    assert with_contempt.num_classes == {"expression": 8}
    assert with_contempt.class_names["expression"][with_contempt.labels["expression"][-1]] == "contempt"


# === JAFFE ===

def test_jaffe_tiff_names(tmp_path):
    codes = {"AN": "angry", "HA": "happy", "NE": "neutral", "SU": "surprise"}
    for k, (subject, code) in enumerate([("KA", "AN"), ("KA", "HA"), ("YM", "NE"), ("TM", "SU")]):
        write_image(tmp_path / "jaffe" / f"{subject}.{code}1.{30 + k}.tiff", E[codes[code]], size=(64, 64),
                    mode="L", fmt="TIFF")
    write_image(tmp_path / "jaffe" / "KA.XX1.99.tiff", 0, mode="L", fmt="TIFF")
    (tmp_path / "jaffe" / "README").write_text("JAFFE")
    ds = load_dataset("jaffe", tmp_path)
    assert ds.source.decoder == "pil" and len(ds) == 4
    assert sorted(set(ds.subjects)) == ["KA", "TM", "YM"]
    assert_paired(ds, "expression")
    assert [s.reason.split(":")[0] for s in ds.report.skips] == ["label out of range"]


# === FEI ===

def test_fei_original_with_gender_file(tmp_path):
    for subject in (1, 2, 101):
        for pose in (1, 2, 14):
            part = "originalimages_part1" if subject < 100 else "originalimages_part3"
            write_image(tmp_path / part / f"{subject}-{pose:02d}.jpg", 0)
    (tmp_path / "gender.json").write_text(json.dumps({"1": "male", "101": "f"}))
    write_image(tmp_path / "originalimages_part1" / "Thumbs.jpg", 0)
    ds = load_dataset("fei", tmp_path, labels_file=tmp_path / "gender.json")
    assert ds.class_names == {"identity": ["1", "2", "101"], "gender": ["female", "male"]}
    assert len(ds) == 6 and sorted(set(ds.subjects)) == ["1", "101"]
    gender = dict(zip(ds.subjects, ds.labels["gender"]))
    assert gender == {"1": 1, "101": 0}
    reasons = [s.reason for s in ds.report.skips]
    assert reasons[0] == "file name is neither <subject>-<pose>.jpg nor <subject>a|b.jpg"
    assert reasons[1:] == ["no gender label for subject 2 in " + str(tmp_path / "gender.json")] * 3
    with pytest.raises(DatasetLayoutError, match="labels_file"):
        load_dataset("fei", tmp_path, labels_file=tmp_path / "missing.csv")


def test_fei_frontal_smile(tmp_path):
    for subject in (1, 2):
        write_image(tmp_path / "frontalimages_manuallyaligned_part1" / f"{subject}a.jpg", 0)
        write_image(tmp_path / "frontalimages_manuallyaligned_part1" / f"{subject}b.jpg", 1)
    ds = load_dataset("fei", tmp_path)
    assert ds.info["images"] == "frontal"
    assert_paired(ds, "smile")


# === IMFDB ===

def imfdb_line(name, expression):
    fields = ["1", "movie", name, "x", "y", "w", "h", "actor", "MALE", "FRONTAL", "GOOD", expression, "NONE"]
    return " ".join(fields)


def test_imfdb_annotations(tmp_path):
    movie = tmp_path / "AamirKhan" / "Ghajini"
    for name, expr in [("a1.jpg", "HAPPINESS"), ("a2.jpg", "ANGER")]:
        write_image(movie / "images" / name, E["happy" if expr == "HAPPINESS" else "angry"])
    write_image(movie / "images" / "a3.jpg", 0)       # no annotation line
    write_image(movie / "images" / "a4.jpg", 0)       # unknown expression
    (movie / "Ghajini.txt").write_text("\n".join([imfdb_line("a1.jpg", "HAPPINESS"), imfdb_line("a2.jpg", "ANGER"),
                                                   imfdb_line("a4.jpg", "?"), imfdb_line("gone.jpg", "FEAR")]))
    other = tmp_path / "Kajol" / "DDLJ"
    write_image(other / "images" / "k1.jpg", E["sad"])
    (other / "DDLJ.txt").write_text(imfdb_line("k1.jpg", "SADNESS") + "\n")
    write_image(tmp_path / "Kajol" / "NoNotes" / "images" / "k2.jpg", 0)   # movie without annotation file
    ds = load_dataset("imfdb", tmp_path)
    assert ds.class_names["identity"] == ["AamirKhan", "Kajol"]
    assert len(ds) == 3 and ds.labels["identity"].tolist() == [0, 0, 1]
    assert_paired(ds, "expression")
    reasons = sorted(s.reason.split(" (")[0].split(":")[0] for s in ds.report.skips)
    assert reasons == ["image listed in annotation file not found", "missing annotation file",
                       "missing or unknown expression label '?'", "no annotation line for the image in Ghajini.txt"]
    assert ds.report.read == 7


# === Adience ===

ADIENCE_HEADER = ("user_id\toriginal_image\tface_id\tage\tgender\tx\ty\tdx\tdy\ttilt_ang\t"
                  "fiducial_yaw_angle\tfiducial_score")


def write_adience(root):
    rows = {k: [] for k in range(5)}
    ages = ["(0, 2)", "(25, 32)", "(60, 100)", "35", "(8, 12)"]
    for k in range(5):
        for j in range(2):
            user = f"user{k}"
            image = f"img{j}.jpg"
            gender = "f" if j == 0 else ("m" if k != 3 else "u")
            rows[k].append(f"{user}\t{image}\t{j + 1}\t{ages[k]}\t{gender}\t0\t0\t10\t10\t0\t0\t50")
            write_image(root / "aligned" / user / f"landmark_aligned_face.{j + 1}.{image}", j)
        (root / f"fold_{k}_data.txt").write_text(ADIENCE_HEADER + "\n" + "\n".join(rows[k]) + "\n")


def test_adience_folds(tmp_path):
    write_adience(tmp_path)
    ds = load_dataset("adience", tmp_path)
    # fold 3 has age "35" (between groups) -> both rows skipped
    assert len(ds) == 8 and sorted(set(ds.partitions)) == ["fold0", "fold1", "fold2", "fold4"]
    assert ds.class_names["age"][ds.labels["age"][ds.partitions == "fold2"][0]] == "60+"
    assert_paired(ds, "gender")  # image j=0 is female (label 0), j=1 male (label 1)
    test = load_dataset("adience", tmp_path, split="test", fold=1)
    train = load_dataset("adience", tmp_path, split="train", fold=1)
    assert set(test.subjects) == {"user1"} and "user1" not in set(train.subjects)
    assert len(test) + len(train) == 8
    age_only = load_dataset("adience", tmp_path, tasks=("age",))
    assert age_only.num_classes == {"age": 8}
    with pytest.raises(DatasetLayoutError, match="fold_2_data.txt"):
        (tmp_path / "fold_2_data.txt").unlink()
        load_dataset("adience", tmp_path)


def test_adience_unknown_gender_skipped_when_asked(tmp_path):
    write_adience(tmp_path)
    (tmp_path / "fold_3_data.txt").write_text(
        ADIENCE_HEADER + "\nuser3\timg1.jpg\t2\t(25, 32)\tu\t0\t0\t1\t1\t0\t0\t1\n")
    write_image(tmp_path / "aligned" / "user3" / "landmark_aligned_face.2.img1.jpg", 1)
    both = load_dataset("adience", tmp_path, validate=False)
    assert "missing gender label ('u')" in [s.reason for s in both.report.skips]
    assert len(load_dataset("adience", tmp_path, tasks="age", validate=False)) == len(both) + 1


# === UTKFace ===

def test_utkface_names(tmp_path):
    names = ["25_0_2_20170116174525125.jpg.chip.jpg", "3_1_0_20161219140623097.jpg.chip.jpg",
             "80_1_4_20170110.jpg", "39_1_20170116174525125.jpg.chip.jpg", "26_2_0_20170104.jpg"]
    for n in names:
        write_image(tmp_path / "UTKFace" / n, 0)
    ds = load_dataset("utkface", tmp_path)
    assert sorted(ds.labels["age"].tolist()) == [3, 25, 80]
    assert ds.tasks["age"].kind == "regression" and ds.num_classes == {"gender": 2, "race": 5}
    reasons = sorted(s.reason.split(":")[0] for s in ds.report.skips)
    assert reasons == ["file name does not match <age>_<gender>_<race>_<datetime>", "label out of range"]


# === CelebA ===

ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling"]


def test_celeba_official_layout(tmp_path):
    rows = []
    for k in range(1, 7):
        values = [1 if (k >> b) & 1 else -1 for b in range(3)]
        rows.append(f"{k:06d}.jpg " + " ".join(f"{v:2d}" for v in values))
        if k != 5:
            write_image(tmp_path / "Img" / "img_align_celeba" / f"{k:06d}.jpg", k % 3, size=(218, 178))
    rows.append("000007.jpg 1 1")   # wrong count
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Anno" / "list_attr_celeba.txt").write_text("7\n" + " ".join(ATTRS) + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "Eval").mkdir()
    (tmp_path / "Eval" / "list_eval_partition.txt").write_text(
        "\n".join(f"{k:06d}.jpg {0 if k <= 3 else 1 if k == 4 else 2}" for k in range(1, 8)) + "\n")
    (tmp_path / "Anno" / "identity_CelebA.txt").write_text(
        "\n".join(f"{k:06d}.jpg {100 + k % 2}" for k in range(1, 8)) + "\n")
    ds = load_dataset("celeba", tmp_path, image_size=(64, 64))
    assert ds.class_names["attributes"] == ATTRS and ds.tasks["attributes"].kind == "multilabel"
    assert len(ds) == 5 and ds.report.skipped == 2
    expected = np.array([[(k >> b) & 1 for b in range(3)] for k in (1, 2, 3, 4, 6)])
    np.testing.assert_array_equal(ds.labels["attributes"], expected)
    assert ds.partitions.tolist() == ["train", "train", "train", "val", "test"]
    train = load_dataset("celeba", tmp_path, split="train", image_size=(64, 64))
    x, y = next(iter(train.as_dataset(batch_size=3)))
    assert x.shape == (3, 64, 64, 3) and y["attributes"].dtype.name == "float32"
    np.testing.assert_array_equal(y["attributes"].numpy(), expected[:3])
    assert sorted(set(ds.subjects)) == ["100", "101"]


# === MORPH ===

def test_morph_csv(tmp_path):
    header = "id_num,picture_num,dob,doa,race,gender,facial_hair,age,age_diff,glasses,photo"
    rows = ["000001,0,05/12/1960,01/12/2003,B,M,0,42,0,0,Album2/000001_00M42.JPG",
            "000001,1,05/12/1960,01/12/2004,B,M,0,43,1,0,Album2/000001_01M43.JPG",
            "000002,0,05/12/1990,01/12/2003,W,F,0,13,0,0,Album2/000002_00F13.JPG",
            "000003,0,05/12/1980,01/12/2003,W,X,0,23,0,0,Album2/000003_00X23.JPG"]
    for r in rows:
        write_image(tmp_path / r.rsplit(",", 1)[1], 0)
    (tmp_path / "morph.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    ds = load_dataset("morph", tmp_path, age_range=(16, 77))
    assert ds.labels["age"].tolist() == [42, 43] and ds.subjects.tolist() == ["000001", "000001"]
    assert ds.class_names["race"][ds.labels["race"][0]] == "black"
    reasons = sorted(s.reason.split(":")[0] for s in ds.report.skips)
    assert reasons == ["age 13 outside age_range (16, 77)", "label out of range"]


# === generic forms ===

def test_folder_per_class_with_bad_files(tmp_path):
    for name, label in [("cat", 0), ("dog", 1)]:
        for k in range(3):
            write_image(tmp_path / name / f"{k}.png", label)
    (tmp_path / "dog" / "notes.txt").write_text("x")
    ds = load_dataset("folder", tmp_path, image_size=(16, 16))
    assert ds.class_names == {"label": ["cat", "dog"]} and len(ds) == 6
    assert_paired(ds, "label")
    assert ds.report.skips[0].reason == "not an image file (extension '.txt')"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_manifest(tmp_path, fmt):
    items = [{"path": f"im/{k}.jpg", "expression": ["happy", "sad"][k % 2], "subject": f"p{k // 2}",
              "split": "train" if k < 4 else "test"} for k in range(6)]
    for it in items:
        write_image(tmp_path / it["path"], ["happy", "sad"].index(it["expression"]))
    items.append({"path": "im/x.jpg", "expression": "bored", "subject": "p9", "split": "test"})
    if fmt == "csv":
        text = "path,expression,subject,split\n" + "\n".join(",".join(i.values()) for i in items) + "\n"
        (tmp_path / "manifest.csv").write_text(text)
    else:
        (tmp_path / "manifest.json").write_text(json.dumps({"items": items}))
    ds = load_dataset("manifest", tmp_path, class_names={"expression": ["happy", "sad"]})
    assert len(ds) == 6 and ds.split_names == ("train", "test")
    assert_paired(ds, "expression")
    assert ds.report.skips[0].reason.startswith("label out of range: expression='bored'")
    assert len(load_dataset("manifest", tmp_path, split="test")) == 2


def test_tfrecord_roundtrip(tmp_path):
    for name, label in [("a", 0), ("b", 1), ("c", 2)]:
        for k in range(4):
            write_image(tmp_path / "src" / name / f"{k}.png", label)
    ds = load_dataset("folder", tmp_path / "src", image_size=(24, 24))
    ds.write_tfrecords(tmp_path / "records", num_shards=5)  # uneven: 3, 3, 2, 2, 2 records
    back = load_dataset("tfrecord", tmp_path / "records")
    assert back.class_names == ds.class_names and back.image_size == (24, 24) and len(back) == 12
    images, labels = back.numpy()
    ref_images, ref_labels = ds.numpy()
    np.testing.assert_array_equal(images, ref_images)  # PNG is lossless and the manifest order is kept
    np.testing.assert_array_equal(labels["label"], ref_labels["label"])
    np.testing.assert_array_equal(back.labels["label"], ds.labels["label"])
    part = back.subset(back.labels["label"] == 1)
    assert {label_of(im) for im in part.numpy()[0]} == {1} and len(part) == 4


@pytest.mark.parametrize("name", ["fer2013", "ck+", "jaffe", "fei", "imfdb", "adience", "utkface", "celeba",
                                  "cifar10", "cifar100", "svhn", "imagenet", "compcars", "folder"])
def test_wrong_root_names_expected_layout(tmp_path, name):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "unrelated.txt").write_text("x")
    with pytest.raises(DatasetLayoutError, match="expected"):
        load_dataset(name, tmp_path / "empty")
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        load_dataset(name if name != "fer2013" else "ck+", tmp_path / "nowhere")


def test_unknown_dataset_and_option():
    with pytest.raises(ValueError, match="unknown dataset 'lfw'"):
        load_dataset("lfw", "/tmp")
    with pytest.raises(TypeError, match="unknown options"):
        load_dataset("jaffe", "/tmp", protocol="icml")
