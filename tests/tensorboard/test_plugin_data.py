"""`kerasfg.tensorboard.plugin_data` on TensorBoard's in-process data provider, as a log directory grows."""

import numpy as np
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

from kerasfg.tensorboard import summary
from kerasfg.tensorboard.plugin_data import BadRequest, Recordings, png_size

CTX = context.RequestContext()


def write_step(log_dir, step):
    writer = summary.file_writer(log_dir)
    summary.recording(writer, "activations/conv", np.full((2, 4, 6, 1), step, np.uint8), step, kind="activations",
                      layer="conv")
    writer.close()


@pytest.fixture
def growing(tmp_path):
    """``(recordings, reload)`` over a log directory with one run, reloaded on demand."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"kerasfg": 0})
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    recordings = Recordings(data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path)), downsample=100)

    def reload():
        multiplexer.AddRunsFromDirectory(str(tmp_path))
        multiplexer.Reload()

    return recordings, reload


def test_steps_written_after_a_picture_was_served_are_found(tmp_path, growing):
    recordings, reload = growing
    write_step(tmp_path / "run", 0)
    reload()
    args = {"run": "run", "tag": "kerasfg/activations/conv", "index": "1"}
    assert png_size(recordings.picture(CTX, "", {**args, "step": "0"})) == (6, 4)
    with pytest.raises(BadRequest, match="step 1"):
        recordings.picture(CTX, "", {**args, "step": "1"})
    write_step(tmp_path / "run", 1)
    reload()
    pictures = recordings.pictures(CTX, "", {**args, "step": "1"})
    assert [(p["index"], p["width"], p["height"]) for p in pictures] == [(0, 6, 4), (1, 6, 4)]
    (recording,) = recordings.runs(CTX, "")["run"]
    assert recording["steps"] == [0, 1] and recording["content"]["layer"] == "conv"


def test_png_size_reads_the_header_and_refuses_other_bytes():
    from kerasfg.tensorboard.summary import _png

    assert png_size(_png(np.zeros((3, 5, 1), np.uint8))) == (5, 3)
    assert png_size(b"GIF89a" + bytes(30)) == (0, 0)
