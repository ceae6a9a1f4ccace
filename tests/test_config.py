import pytest

from kerasfg import config as config_lib
from kerasfg.config import ConfigError


def test_defaults_round_trip_through_yaml(tmp_path):
    config = config_lib.from_dict({"name": "x", "train": {"epochs": 3}})
    config_lib.save(config, tmp_path / "c.yaml")
    assert config_lib.load(tmp_path / "c.yaml") == config


def test_overrides_are_parsed_as_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: base\ntrain:\n  epochs: 5\n")
    config = config_lib.load(path, ["train.epochs=2", "model.attention=null",
                                    "data.inputs=[image, expression]", "train.optimizer.learning_rate=0.1",
                                    "train.jit_compile=true"])
    assert config.train.epochs == 2
    assert config.model.attention is None
    assert config.data.inputs == ["image", "expression"]
    assert config.train.optimizer.learning_rate == 0.1
    assert config.train.jit_compile is True


def test_integers_are_accepted_where_numbers_are_expected():
    config = config_lib.from_dict({"train": {"optimizer": {"learning_rate": 1}}})
    assert config.train.optimizer.learning_rate == 1.0
    assert isinstance(config.train.optimizer.learning_rate, float)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"trian": {}}, r"trian: unknown key; expected one of \['data', 'export'"),
        ({"train": {"epoch": 3}}, r"train\.epoch: unknown key"),
        ({"train": {"epochs": "ten"}}, r"train\.epochs: expected an integer, got str 'ten'"),
        ({"train": {"epochs": True}}, r"train\.epochs: expected an integer, got bool True"),
        ({"train": {"epochs": 0}}, r"train\.epochs: expected a positive integer, got 0"),
        ({"train": {"precision": "fp16"}},
         r"train\.precision: expected one of \['auto', 'float32'.*got 'fp16'"),
        ({"train": {"jit_compile": "yes"}}, r"train\.jit_compile: expected true, false or 'auto', got 'yes'"),
        ({"train": {"distribute": "tpu"}},
         r"train\.distribute: expected one of \['none', 'mirrored', 'multi_worker'\]"),
        ({"data": {"inputs": "image"}}, r"data\.inputs: expected a list of strings, got 'image'"),
        ({"data": {"inputs": ["expression"]}}, r"data\.inputs: expected a list containing 'image'"),
        ({"data": {"targets": []}}, r"data\.targets: expected at least one task"),
        ({"data": {"synthetic": {"difficulty": 2}}},
         r"data\.synthetic\.difficulty: expected a number in \[0, 1\], got 2"),
        ({"data": {"synthetic": {"difficulty": {"age": 1.5}}}},
         r"data\.synthetic\.difficulty\['age'\]: expected a number in \[0, 1\], got 1.5"),
        ({"data": {"synthetic": {"difficulty": {"eyeglass": 0.5}}}},
         r"data\.synthetic\.difficulty: unknown key\(s\) \['eyeglass'\]; expected 'default', a factor of"),
        ({"data": {"synthetic": {"subject_disjoint": True}}},
         r"data\.synthetic\.subject_disjoint: the identity task needs the same people"),
        ({"data": {"source": "imagenet"}},
         r"data\.source: expected one of \['synthetic', 'dataset'\], got 'imagenet'"),
        ({"data": {"source": "dataset", "dataset": {"root": "/data/fer"}}},
         r"data\.dataset\.name: expected a non-empty string when data\.source is 'dataset', got ''"),
        ({"data": {"source": "dataset", "dataset": {"name": "fer2013", "image_size": 48}}},
         r"data\.dataset\.image_size: expected a list of integers or null, got 48"),
        ({"data": {"synthetic": 3}}, r"data\.synthetic: expected a mapping, got int 3"),
        ({"model": {"attention": 5}}, r"model\.attention: expected a string or null, got 5"),
    ],
)
def test_bad_values_name_the_key_the_expected_form_and_the_value(data, message):
    with pytest.raises(ConfigError, match=message):
        config_lib.from_dict(data)


@pytest.mark.parametrize(
    "key, value, allowed, message",
    [
        ("claims[0]", [1], None, r"^claims\[0\]: expected a mapping, got list \[1\]\.$"),
        ("", "text", None, r"^expected a mapping at the top level, got str 'text'\.$"),
        ("scales.smoke", {"set": {}, "sets": 1}, ("set", "seeds"),
         r"^scales\.smoke\.sets: unknown key; expected one of \['seeds', 'set'\]\.$"),
        ("", {"paper": "001", "colour": 1}, ("paper",), r"^colour: unknown key; expected one of \['paper'\]\.$"),
    ],
)
def test_check_mapping_names_the_key_and_what_was_expected(key, value, allowed, message):
    with pytest.raises(ConfigError, match=message):
        config_lib.check_mapping(key, value, allowed)


def test_check_mapping_returns_a_valid_mapping():
    value = {"set": {}, "seeds": [0]}
    assert config_lib.check_mapping("scales.smoke", value, ("set", "seeds", "only")) is value
    assert config_lib.check_mapping("base", value) is value


def test_fingerprint_counts_only_what_differs_from_the_defaults():
    defaults = config_lib.ExperimentConfig().to_dict()
    tuned = config_lib.from_dict({"train": {"epochs": 3}, "model": {"options": {"depth": 18}}}).to_dict()
    fingerprint = config_lib.fingerprint(tuned, defaults)
    assert fingerprint == config_lib.fingerprint({"train": {"epochs": 3}, "model": {"options": {"depth": 18}}},
                                                 defaults)
    # a field added with a default that keeps the old behaviour does not change it
    added = {"new_section": {"flag": False}}
    assert config_lib.fingerprint({**tuned, **added}, {**defaults, **added}) == fingerprint
    assert config_lib.fingerprint({**tuned, "train": {**tuned["train"], "epochs": 4}}, defaults) != fingerprint
    assert config_lib.fingerprint(defaults, defaults) == config_lib.fingerprint({}, defaults)
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="expected the form key=value"):
        config_lib.apply_overrides({}, ["train.epochs"])
    with pytest.raises(ConfigError, match="does not exist"):
        config_lib.load(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        config_lib.load(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match=r"overrides: expected a list of key=value strings.*'train\.epochs=1'"):
        config_lib.apply_overrides({}, "train.epochs=1")


def test_as_config_takes_a_config_a_mapping_or_a_file(tmp_path):
    config = config_lib.from_dict({"name": "x", "train": {"epochs": 3}})
    config_lib.save(config, tmp_path / "c.yaml")
    assert config_lib.as_config(config) is config
    assert config_lib.as_config({"name": "x", "train": {"epochs": 3}}) == config
    assert config_lib.as_config(tmp_path / "c.yaml") == config
    assert config_lib.as_config(str(tmp_path / "c.yaml")) == config
    with pytest.raises(ConfigError, match=r"config: expected an ExperimentConfig, a mapping of sections or a "
                                          r"YAML file path, got list \['x'\]"):
        config_lib.as_config(["x"])


def test_get_key_reads_what_set_keys_wrote_and_none_where_the_path_breaks():
    data = {"test": {"accuracy": 0.9}, "history": {"loss": [2.0, 1.0]}}
    config_lib.set_keys(data, {"test_tables.age.confusion": {"values": [[1]]}})
    assert config_lib.get_key(data, "test_tables.age.confusion") == {"values": [[1]]}
    assert config_lib.get_key(data, "history.loss") == [2.0, 1.0]
    assert config_lib.get_key(data, "test.top5") is None
    assert config_lib.get_key(data, "test.accuracy.value") is None  # through a number, not a mapping
    assert config_lib.get_key(data, "history.loss.0") is None  # nor through a list
