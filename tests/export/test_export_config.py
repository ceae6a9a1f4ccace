"""models.config: written with and validated by the official ModelServerConfig proto."""

import pytest
from google.protobuf import text_format

from kerasfg.export.config import ModelServerEntry, read_models_config, write_models_config


def test_several_models_with_policies_and_labels_round_trip(tmp_path):
    path = write_models_config(tmp_path / "models.config", [
        ModelServerEntry("facecls", "/models/facecls", versions=[1, 2], labels={"stable": 1, "canary": 2}),
        ModelServerEntry("expression", "/models/expression", versions="all"),
        ModelServerEntry("gender", "/models/gender", latest=2),
        ModelServerEntry("age", "/models/age"),
    ])
    config = read_models_config(path)
    face, expression, gender, age = config.model_config_list.config
    assert (face.name, face.base_path, face.model_platform) == ("facecls", "/models/facecls", "tensorflow")
    assert list(face.model_version_policy.specific.versions) == [1, 2]
    assert dict(face.version_labels) == {"stable": 1, "canary": 2}
    assert expression.model_version_policy.WhichOneof("policy_choice") == "all"
    assert gender.model_version_policy.latest.num_versions == 2
    assert age.model_version_policy.WhichOneof("policy_choice") is None  # server default: latest version
    text = path.read_text()
    assert "model_config_list {" in text and 'version_labels {\n      key: "canary"' in text
    assert not list(tmp_path.glob(".*partial"))


def test_hand_written_config_from_the_docs_parses():
    text = '''model_config_list {
      config { name: "facecls" base_path: "/models/facecls" model_platform: "tensorflow"
               model_version_policy { specific { versions: 1 versions: 2 } }
               version_labels { key: "stable" value: 1 } }
    }'''
    from kerasfg.export.config import read_models_config_text

    assert read_models_config_text(text).model_config_list.config[0].version_labels["stable"] == 1
    with pytest.raises(text_format.ParseError):
        read_models_config_text(text.replace("base_path", "basepath"))


@pytest.mark.parametrize("entries, message", [
    ([ModelServerEntry("a", "/m/a"), ModelServerEntry("a", "/m/b")], "unique"),
    ([ModelServerEntry("a", "/m/a", versions=[1], labels={"stable": 2})], "not served"),
    ([ModelServerEntry("a", "/m/a", versions=[])], "versions must be"),
    ([ModelServerEntry("a/b", "/m/a")], "model name"),
    ([ModelServerEntry("a", "/m/a", labels={"bad label": 1})], "alphanumeric"),
    ([], "at least one"),
])
def test_invalid_configs_are_refused(tmp_path, entries, message):
    with pytest.raises(ValueError, match=message):
        write_models_config(tmp_path / "models.config", entries)
    assert not (tmp_path / "models.config").exists()


def test_entries_as_dicts_or_one_entry_and_wrong_forms(tmp_path):
    one = read_models_config(write_models_config(tmp_path / "a.config", ModelServerEntry("m", "/models/m")))
    as_dict = read_models_config(write_models_config(tmp_path / "b.config", [{"name": "m", "base_path": "/models/m"}]))
    assert one == as_dict and one.model_config_list.config[0].name == "m"
    with pytest.raises(ValueError, match=r"takes the keys \['name', 'base_path', .*got \['model', 'path'\]"):
        write_models_config(tmp_path / "c.config", [{"model": "m", "path": "/models/m"}])
    with pytest.raises(ValueError, match="must be ModelServerEntry objects .*got str"):
        write_models_config(tmp_path / "c.config", ["m"])
    with pytest.raises(ValueError, match=r"labels must be \{label: version\}.*got list"):
        write_models_config(tmp_path / "c.config", [ModelServerEntry("m", "/m", labels=["stable"])])
    assert not (tmp_path / "c.config").exists()
