"""The age datasets' protocols: the Images of Groups reader on a fixture in the distributed layout (labels,
skips, eye-aligned crops, the age-balanced test set) and MORPH II with a published split file."""

import numpy as np
import pytest
from data_fixtures import write_image, write_iog

from kerasfg.data import DatasetLayoutError, load_dataset
from kerasfg.data.align import template_points

def test_reads_faces_with_their_groups_and_reports_bad_rows(tmp_path):
    write_iog(tmp_path)
    with open(tmp_path / "Group2a" / "PersonData.txt", "a") as f:
        f.write("1\t2\t3\t4\t28\n")  # 5 fields
        f.write("1\t2\t3\t4\t28\t3\n")  # unknown gender code
        f.write("missing_photo.jpg\n5\t5\t9\t5\t16\t1\n")
    ds = load_dataset("iog", tmp_path, protocol="none")
    assert len(ds) == 7 and ds.num_classes == {"age": 7, "gender": 2}
    assert ds.paths.tolist()[:2] == ["Fam2a/1006149518_250f8036fc_1438_9284053@N07.jpg:0",
                                     "Fam2a/1006149518_250f8036fc_1438_9284053@N07.jpg:1"]
    names = [ds.class_names["age"][a] for a in ds.labels["age"]]
    assert names == ["20-36", "3-7", "0-2", "66+", "37-65", "13-19", "8-12"]
    assert [ds.class_names["gender"][g] for g in ds.labels["gender"]][:2] == ["male", "female"]
    assert len(set(ds.subjects)) == 3  # a face's subject is its photo
    reasons = sorted(s.reason for s in ds.report.skips)
    assert reasons[0].startswith("gender '3' is not one of the codes [1, 2]")
    assert any("image listed in PersonData.txt not found" in r for r in reasons)
    assert any("malformed face row: 5 fields" in r for r in reasons)


def test_crops_put_the_eyes_on_the_template(tmp_path):
    write_iog(tmp_path)
    ds = load_dataset("iog", tmp_path, protocol="none", image_size=(64, 64), margin=0.3, validate=False)
    images, _ = ds.numpy()
    expected = template_points(64, 0.3)[:2]
    for face in images:
        gray = face.mean(axis=-1)
        for x, y in expected:  # the eye's dot, and nothing else, is bright around the template's eye
            x0, y0 = round(x) - 5, round(y) - 5
            window = gray[y0:y0 + 11, x0:x0 + 11]
            ys, xs = np.nonzero(window > 150)
            assert window.max() > 200 and len(xs) > 0
            assert x0 + np.average(xs, weights=window[ys, xs]) == pytest.approx(x, abs=1.0)
            assert y0 + np.average(ys, weights=window[ys, xs]) == pytest.approx(y, abs=1.0)


def test_the_balanced_protocol_draws_the_same_number_of_test_faces_per_age_group(tmp_path):
    write_iog(tmp_path)
    test = load_dataset("iog", tmp_path, split="test", test_per_group=1, validate=False)
    assert sorted(test.labels["age"].tolist()) == list(range(7))  # one face of each of the 7 groups
    assert any("fewer than test_per_group=2" in n for n in
               load_dataset("iog", tmp_path, test_per_group=2, validate=False).report.notes)
    (tmp_path / "test.txt").write_text("Group2a/3333_f00dfeed00_3_222@N02.jpg:2\nFam2a/x.jpg:0\n")
    pinned = load_dataset("iog", tmp_path, split="test", test_faces=tmp_path / "test.txt", validate=False)
    assert pinned.paths.tolist() == ["Group2a/3333_f00dfeed00_3_222@N02.jpg:2"]


def test_a_root_without_person_data_is_a_layout_error(tmp_path):
    (tmp_path / "Fam2a").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"no \*/PersonData.txt found"):
        load_dataset("iog", tmp_path)


def test_morph_split_file_pins_the_published_parts(tmp_path):
    header = "id_num,picture_num,dob,doa,race,gender,facial_hair,age,age_diff,glasses,photo"
    rows = [f"00000{i},0,05/12/1960,01/12/2003,B,M,0,{20 + i},0,0,Album2/00000{i}_00M{20 + i}.JPG" for i in range(5)]
    for row in rows:
        write_image(tmp_path / row.rsplit(",", 1)[1], 0)
    (tmp_path / "morph.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "split.txt").write_text("Album2/000000_00M20.JPG,train\nAlbum2/000001_00M21.JPG train\n"
                                        "Album2/000003_00M23.JPG,test\n")
    parts = {part: load_dataset("morph", tmp_path, split=part, split_file=tmp_path / "split.txt", validate=False)
             for part in ("train", "test")}
    assert parts["train"].labels["age"].tolist() == [20, 21] and parts["test"].labels["age"].tolist() == [23]
    skipped = sorted(s.path for s in parts["train"].report.skips)
    assert [p.rsplit("/", 1)[-1] for p in skipped] == ["000002_00M22.JPG", "000004_00M24.JPG"]
