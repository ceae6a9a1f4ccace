"""kerasfg's stock image summaries are those `tf.summary.image` writes, with PNGs encoded by PIL."""

import numpy as np
import tensorflow as tf

from kerasfg.tensorboard import summary


def _only_value(log_dir):
    (path,) = log_dir.glob("events.out.tfevents.*")
    values = [(event.step, value) for event in tf.compat.v1.train.summary_iterator(str(path))
              for value in event.summary.value]
    assert len(values) == 1
    return values[0]


def test_image_summary_matches_tf_summary_image(tmp_path):
    pictures = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    writer = summary.file_writer(tmp_path / "kerasfg")
    summary.image(writer, "probe/images", pictures, 4, description="three pictures")
    writer.close()
    reference = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with reference.as_default():
        tf.summary.image("probe/images", pictures, step=4, max_outputs=3, description="three pictures")
    reference.close()

    (step, ours), (reference_step, theirs) = _only_value(tmp_path / "kerasfg"), _only_value(tmp_path / "tf")
    assert (step, ours.tag) == (reference_step, theirs.tag)
    assert ours.metadata.plugin_data.plugin_name == theirs.metadata.plugin_data.plugin_name == "images"
    assert ours.metadata.summary_description == theirs.metadata.summary_description
    ours, theirs = tf.make_ndarray(ours.tensor), tf.make_ndarray(theirs.tensor)
    assert list(ours[:2]) == list(theirs[:2]) == [b"7", b"5"]  # width, height
    for mine, reference_png in zip(ours[2:], theirs[2:], strict=True):
        np.testing.assert_array_equal(tf.io.decode_png(mine), tf.io.decode_png(reference_png))
