"""kerasfg's stock summaries are those TensorFlow writes: images as `tf.summary.image` (with PNGs encoded by PIL),
scalars as `tf.summary.scalar` (several in one event)."""

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


def _scalar_values(log_dir):
    (path,) = log_dir.glob("events.out.tfevents.*")
    return [(event.step, value.tag, value.metadata, tf.make_ndarray(value.tensor).dtype,
             tf.make_ndarray(value.tensor).tolist())
            for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value]


def test_scalars_are_what_tf_summary_scalar_writes(tmp_path):
    values = {"progress/epoch": 0.25, "progress/loss": np.float64(1 / 3), "progress/count": 7,
              "progress/accuracy": np.float32(0.875)}
    writer = summary.file_writer(tmp_path / "kerasfg")
    for step in (1, 2):
        summary.scalars(writer, {tag: value * step for tag, value in values.items()}, step)
    summary.scalars(writer, {}, 3)
    writer.close()
    reference = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with reference.as_default():
        for step in (1, 2):
            for tag, value in values.items():
                tf.summary.scalar(tag, float(value * step), step=step)
    reference.close()

    ours = _scalar_values(tmp_path / "kerasfg")
    assert ours == _scalar_values(tmp_path / "tf")
    assert len(ours) == 8 and ours[1][1] == "progress/loss" and ours[1][4] == np.float32(1 / 3)
