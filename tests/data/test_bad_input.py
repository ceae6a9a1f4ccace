"""Bad input is skipped, counted and reported with its path and reason; the counts reconcile."""

import json

import numpy as np
import pytest
from data_fixtures import write_corrupt_jpeg, write_image, write_not_an_image

from kerasfg.data import DatasetLayoutError, load_dataset, load_splits


def reasons_by_name(report):
    return {s.path.rsplit("/", 1)[-1]: s for s in report.skips}


def test_corrupt_truncated_and_non_images_are_skipped_with_reasons(tmp_path):
    for k in range(3):
        write_image(tmp_path / "a" / f"ok{k}.jpg", 0)
        write_image(tmp_path / "b" / f"ok{k}.png", 1)
    write_corrupt_jpeg(tmp_path / "a" / "truncated.jpg")
    png = write_image(tmp_path / "b" / "truncated.png", 1, size=(64, 64))
    png.write_bytes(png.read_bytes()[:60])
    write_not_an_image(tmp_path / "a" / "text.jpg")
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    write_not_an_image(tmp_path / "b" / "readme.md")
    ds = load_dataset("folder", tmp_path, image_size=(8, 8), run_dir=tmp_path / "run")
    r = ds.report
    assert (r.read, r.used, r.skipped) == (11, 6, 5) and len(ds) == 6
    by = reasons_by_name(r)
    assert by["truncated.jpg"].reason.startswith("corrupt or truncated JPEG image")
    assert by["truncated.jpg"].stage == "decode"
    assert by["truncated.png"].reason.startswith("corrupt or truncated PNG image")
    assert by["text.jpg"].reason.startswith("not an image: unknown file signature")
    assert by["empty.png"].reason == "empty file"
    assert by["readme.md"].reason == "not an image file (extension '.md')" and by["readme.md"].stage == "read"
    written = json.loads((tmp_path / "run" / "data_report_folder.json").read_text())
    assert (written["read"], written["used"], written["skipped"]) == (11, 6, 5)
    tsv = (tmp_path / "run" / "data_report_folder_skipped.tsv").read_text().splitlines()
    assert tsv[0] == "path\tstage\treason" and len(tsv) == 6
    assert "truncated.jpg" in r.summary()
    x, _ = next(iter(ds.as_dataset(batch_size=6)))  # the pipeline over what is left runs
    assert x.shape[0] == 6


def test_file_removed_after_listing_is_reported(tmp_path):
    write_image(tmp_path / "a" / "0.jpg", 0)
    gone = write_image(tmp_path / "a" / "1.jpg", 0)
    ds = load_dataset("folder", tmp_path, image_size=(8, 8), validate=False)
    gone.unlink()
    ds = ds.validate()
    assert len(ds) == 1 and ds.report.skips[-1].reason == "file not found"


def test_fer_csv_bad_rows_reconcile(tmp_path):
    good = " ".join(["100"] * 2304)
    rows = ["emotion,pixels,Usage", f"3,{good},Training", f"3,{' '.join(['1'] * 2000)},Training",
            f"9,{good},Training", f"-1,{good},PublicTest", f"2,{good},Validation",
            f"1,{good.replace('100', 'x', 1)},Training", "4,1 2 3", f"5,{good},PrivateTest"]
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset("fer2013", tmp_path)
    reasons = [s.reason for s in ds.report.skips]
    assert reasons == ["wrong pixel count: 2000, expected 2304 (48x48)",
                       "label out of range: emotion=9, expected 0..6",
                       "label out of range: emotion=-1, expected 0..6",
                       "unknown Usage 'Validation', expected one of ['PrivateTest', 'PublicTest', 'Training']",
                       "unparsable row: emotion and pixels must be integers",
                       "malformed row: 2 fields, expected 3"]
    assert [s.path.rsplit(":", 1)[-1] for s in ds.report.skips] == ["3", "4", "5", "6", "7", "8"]
    assert (ds.report.read, ds.report.used, len(ds)) == (8, 2, 2)


def test_manifest_labels_out_of_range_and_missing_images(tmp_path):
    write_image(tmp_path / "0.png", 0)
    write_image(tmp_path / "1.png", 1)
    (tmp_path / "m.csv").write_text("path,y\n0.png,0\n1.png,1\n1.png,7\nmissing.png,1\n0.png,\n")
    ds = load_dataset("manifest", tmp_path / "m.csv", class_names={"y": ["no", "yes"]})
    reasons = [s.reason.split(":")[0] for s in ds.report.skips]
    assert reasons == ["label out of range", "image listed in the manifest not found", "missing y label"]
    assert ds.labels["y"].tolist() == [0, 1]


def test_missing_annotation_files_are_layout_errors_naming_the_file(tmp_path):
    write_image(tmp_path / "img_align_celeba" / "000001.jpg", 0)
    (tmp_path / "list_attr_celeba.txt").write_text("1\nSmiling\n000001.jpg 1\n")
    with pytest.raises(DatasetLayoutError, match="partition file.*list_eval_partition.txt"):
        load_dataset("celeba", tmp_path)


def test_reconciliation_holds_across_splits(tmp_path):
    for k in range(10):
        write_image(tmp_path / ("a" if k % 2 else "b") / f"{k}.jpg", k % 2)
    write_corrupt_jpeg(tmp_path / "a" / "bad.jpg")
    parts = load_splits("folder", tmp_path, ("train", "test"), image_size=(8, 8), by="image",
                        fractions={"train": 0.6, "test": 0.4})
    train, test = parts["train"], parts["test"]
    alone = load_dataset("folder", tmp_path, "test", image_size=(8, 8), by="image",
                         fractions={"train": 0.6, "test": 0.4})
    assert alone.paths.tolist() == test.paths.tolist()
    assert train.report.read == train.report.used + train.report.skipped == 11
    assert len(train) + len(test) == train.report.used == 10
    assert not set(train.paths) & set(test.paths)
    assert np.all(np.isin(train.labels["label"], [0, 1]))


def test_corrupt_tiff_decoded_by_pillow_is_skipped(tmp_path):
    """JAFFE's TIFFs go through Pillow inside tf.data; a truncated one is found and named up front."""
    for k, code in enumerate(["AN", "HA", "SU"]):
        write_image(tmp_path / f"KA.{code}1.{k}.tiff", 0, size=(64, 64), mode="L", fmt="TIFF")
    bad = tmp_path / "KA.HA1.1.tiff"
    bad.write_bytes(bad.read_bytes()[:200])
    ds = load_dataset("jaffe", tmp_path)
    assert len(ds) == 2 and ds.report.skipped == 1
    assert ds.report.skips[0].path == str(bad)
    assert ds.report.skips[0].reason.startswith("corrupt or truncated TIFF image")
