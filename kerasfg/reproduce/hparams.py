"""The grid on TensorBoard's HParams dashboard: one session per cell, its axis labels as hyperparameters.

``tensorboard --logdir <grid directory>`` then lists every cell with its labels, seed, the table's value
and its test metrics, and opens each cell's training curves (its run directory's ``logs/train`` and
``logs/validation``, which the session sits above).
"""

import pathlib

TABLE_TAG = "table_value"


def _writer(directory):
    import tensorflow as tf

    directory = pathlib.Path(directory)
    if directory.is_dir():  # a session is rewritten whole, never appended to
        for stale in directory.glob("events.out.tfevents.*"):
            stale.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    return tf.summary.create_file_writer(str(directory))


def write_experiment(directory, grid, cells, results):
    """Write the experiment summary: each axis and the seed as discrete hyperparameters, the table's
    value, the test metrics and the validation loss as metrics."""
    from tensorboard.plugins.hparams import api as hp

    hparams = [hp.HParam(axis, hp.Discrete([value.label for value in values]))
               for axis, values in grid.axes.items()]
    hparams.append(hp.HParam("seed", hp.Discrete(sorted({cell.seed for cell in cells}))))
    test_keys = sorted({key for result in results.values() for key in result["test"]})
    metrics = [hp.Metric(TABLE_TAG, display_name=grid.metric["name"]),
               *(hp.Metric(f"test_{key}", display_name=f"test {key}") for key in test_keys),
               hp.Metric("epoch_loss", group="validation", display_name="validation loss")]
    writer = _writer(directory)
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)
    writer.close()


def write_session(directory, cell, result):
    """Write one cell's session: its labels and seed, its value and test metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = _writer(directory)
    with writer.as_default():
        hp.hparams({**cell.labels, "seed": cell.seed}, trial_id=cell.id)
        tf.summary.scalar(TABLE_TAG, result["value"], step=0)
        for key, value in result["test"].items():
            tf.summary.scalar(f"test_{key}", value, step=0)
    writer.close()
