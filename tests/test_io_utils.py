import json

import pytest

from kerasfg.io_utils import TEMP_PREFIX, atomic_directory, atomic_file, write_json


def test_atomic_directory_appears_only_when_complete(tmp_path):
    target = tmp_path / "1"
    with atomic_directory(target) as temp:
        (temp / "a.txt").write_text("x")
        assert not target.exists()
        assert temp.name.startswith(TEMP_PREFIX)
    assert (target / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]


def test_atomic_directory_leaves_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "1") as temp:
        (temp / "half.txt").write_text("x")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_refuses_to_overwrite_unless_asked(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "old").write_text("old")
    with pytest.raises(FileExistsError, match="never overwritten"), atomic_directory(tmp_path / "1"):
        pass
    with atomic_directory(tmp_path / "1", overwrite=True) as temp:
        (temp / "new").write_text("new")
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["1"]


def test_atomic_file_keeps_the_old_content_when_the_write_fails(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("{half")
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_file_path_mode_keeps_the_suffix(tmp_path):
    with atomic_file(tmp_path / "model.keras", mode=None) as temp:
        assert temp.suffix == ".keras"
        temp.write_bytes(b"zip")
    assert (tmp_path / "model.keras").read_bytes() == b"zip"
