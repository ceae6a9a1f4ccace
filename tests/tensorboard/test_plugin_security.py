"""Bad and hostile requests to the plugin get HTTP 400 (or TensorBoard's 404), never a 500 or a file."""

import http.client
import json
import pathlib
import urllib.parse

import pytest
from plugin_fixtures import XSS_RUN

HEATMAP = "kerasfg/gradcam/identity/stage2"
TABLE = "kerasfg/faithfulness/identity"
DECONVOLUTION = "kerasfg/deconvolution/stage2_block1"
GOOD = {"run": "alpha", "tag": HEATMAP, "step": "1", "index": "0"}


def raw_get(url, path):
    """``(status, body)`` of GET ``path`` sent as is, without the client normalising ``..``."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


BAD_QUERIES = {
    "run outside the log dir": ("picture", {**GOOD, "run": "../.."}),
    "absolute run": ("picture", {**GOOD, "run": "/etc"}),
    "unknown run": ("pictures", {**GOOD, "run": "gamma"}),
    "unknown tag": ("pictures", {**GOOD, "tag": "kerasfg/../../etc/passwd"}),
    "table of a heat map": ("table", {**GOOD, "tag": HEATMAP}),
    "pictures of a table": ("pictures", {**GOOD, "tag": TABLE}),
    "annotations of pictures": ("annotations", {**GOOD, "tag": DECONVOLUTION}),
    "annotations of a table": ("annotations", {**GOOD, "tag": TABLE}),
    "table of annotations": ("table", {**GOOD, "tag": f"{DECONVOLUTION}/annotations"}),
    "unknown annotations step": ("annotations", {**GOOD, "tag": f"{DECONVOLUTION}/annotations", "step": "7"}),
    "step out of range": ("pictures", {**GOOD, "step": "3"}),
    "negative step": ("pictures", {**GOOD, "step": "-1"}),
    "step not a number": ("picture", {**GOOD, "step": "one"}),
    "step in exponent form": ("picture", {**GOOD, "step": "1e0"}),
    "huge step": ("picture", {**GOOD, "step": "9" * 400}),
    "index out of range": ("picture", {**GOOD, "index": "4"}),
    "index not a number": ("picture", {**GOOD, "index": "0x0"}),
    "unicode digits": ("picture", {**GOOD, "index": "\u0661"}),
    "missing run": ("picture", {key: value for key, value in GOOD.items() if key != "run"}),
    "missing step": ("pictures", {"run": "alpha", "tag": HEATMAP}),
    "missing index": ("picture", {key: value for key, value in GOOD.items() if key != "index"}),
    "empty tag": ("steps", {"run": "alpha", "tag": ""}),
    "a blob key instead of a run": ("picture", {"key": "WyIiLCJrZXJhc2ZnIiwiYWxwaGEiXQ", "step": "0", "index": "0"}),
    "injection run with a foreign tag": ("pictures", {**GOOD, "run": XSS_RUN, "tag": "attention/x"}),
    "unknown table step": ("table", {"run": "alpha", "tag": TABLE, "step": "7"}),
}


@pytest.mark.parametrize("case", BAD_QUERIES, ids=list(BAD_QUERIES))
def test_bad_parameters_get_400_with_a_message(tensorboard, case):
    name, params = BAD_QUERIES[case]
    status, headers, body = tensorboard.get(f"/data/plugin/kerasfg/{name}?{urllib.parse.urlencode(params)}")
    assert status == 400, body
    assert headers["Content-Type"].startswith("application/json")
    message = json.loads(body)["error"]
    assert message and "Traceback" not in message


def test_a_good_request_next_to_the_bad_ones_is_answered(tensorboard):
    status, headers, _ = tensorboard.get(f"/data/plugin/kerasfg/picture?{urllib.parse.urlencode(GOOD)}")
    assert status == 200 and headers["Content-Type"] == "image/png"


@pytest.mark.parametrize("path", [
    "/data/plugin/kerasfg/static/../../etc/passwd",
    "/data/plugin/kerasfg/../../../../etc/passwd",
    "/data/plugin/kerasfg/index.js/../../../etc/passwd",
    "/data/plugin/kerasfg/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/data/plugin/kerasfg/static/index.js",
    "/data/plugin/kerasfg/plugin.py",
    "/data/plugin/kerasfg/blob?key=anything",
])
def test_no_path_reads_a_file_that_is_not_in_the_whitelist(tensorboard, path):
    status, body = raw_get(tensorboard.url, path)
    assert status in (400, 404), (status, body[:200])
    assert b"root:" not in body and b"import" not in body


def test_listings_hand_out_no_blob_keys(tensorboard):
    for path in ["/data/plugin/kerasfg/runs", f"/data/plugin/kerasfg/pictures?{urllib.parse.urlencode(GOOD)}"]:
        _, _, body = tensorboard.get(path)
        assert b"blob_key" not in body and b"blob-key" not in body


def test_hostile_run_names_come_back_as_json_strings(tensorboard):
    runs = tensorboard.json("/data/plugin/kerasfg/runs")
    assert XSS_RUN in runs
    params = {"run": XSS_RUN, "tag": HEATMAP, "step": "0", "index": "1"}
    status, _, _ = tensorboard.get(f"/data/plugin/kerasfg/picture?{urllib.parse.urlencode(params)}")
    assert status == 200


def _listening_addresses(port):
    """The local addresses of sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


@pytest.mark.skipif(not pathlib.Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_tensorboard_still_listens_on_loopback_only(tensorboard):
    addresses = _listening_addresses(urllib.parse.urlsplit(tensorboard.url).port)
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1, as the kernel prints them
    assert addresses and set(addresses) <= loopback, addresses
