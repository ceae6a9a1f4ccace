import json

import pytest

from kerasfg.distributed import Cluster


def test_flags_and_tf_config_describe_the_same_cluster():
    cluster = Cluster.parse("10.0.0.1:2222, node-2.example.org:2222,[::1]:2300", index=2)
    assert cluster.workers == ("10.0.0.1:2222", "node-2.example.org:2222", "[::1]:2300")
    assert cluster.size == 3 and not cluster.is_chief
    assert Cluster.from_tf_config(cluster.tf_config()) == cluster
    assert json.loads(cluster.tf_config()) == {
        "cluster": {"worker": ["10.0.0.1:2222", "node-2.example.org:2222", "[::1]:2300"]},
        "task": {"type": "worker", "index": 2}}


def test_a_separate_chief_job_comes_first():
    spec = {"cluster": {"chief": ["c:1"], "worker": ["w0:1", "w1:1"]}}
    assert Cluster.from_tf_config(json.dumps({**spec, "task": {"type": "chief", "index": 0}})) == \
        Cluster(("c:1", "w0:1", "w1:1"), 0)
    assert Cluster.from_tf_config(json.dumps({**spec, "task": {"type": "worker", "index": 1}})).index == 2


def test_the_environment_without_tf_config_has_no_cluster():
    assert Cluster.from_environment({}) is None
    assert Cluster.from_environment({"TF_CONFIG": " "}) is None
    assert Cluster.from_environment({"TF_CONFIG": Cluster(("a:1", "b:2"), 1).tf_config()}).index == 1


@pytest.mark.parametrize("workers, index, message", [
    ("", 0, "at least one HOST:PORT"),
    ("host1:2222,host2", 0, r"HOST:PORT addresses .* got 'host2'"),
    ("host1:70000", 0, "port in 1..65535"),
    ("a:1,a:1", 0, r"\['a:1'\] appear twice"),
    ("a:1,b:1", 2, "integer in 0..1 for 2 workers, got 2"),
    ("a:1,b:1", -1, "got -1"),
])
def test_bad_flags_name_what_was_expected(workers, index, message):
    with pytest.raises(ValueError, match=message):
        Cluster.parse(workers, index)


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG: expected JSON"),
    ('{"cluster": {"worker": ["a:1"]}}', "TF_CONFIG: expected JSON"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}}',
     r"jobs \['ps', 'worker'\]"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "evaluator", "index": 0}}', "task type 'evaluator'"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "got 3"),
])
def test_bad_tf_config_is_reported(text, message):
    with pytest.raises(ValueError, match=message):
        Cluster.from_tf_config(text)
