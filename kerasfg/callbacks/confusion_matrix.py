"""Record the confusion matrix of every output of a model on held-out data while it trains."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback, by_output
from kerasfg.tensorboard import summary
from kerasfg.vis.batches import take
from kerasfg.vis.confusion import confusion_matrix, render_confusion_matrix

_CHUNK = 256


def class_indices(values):
    """Class indices `(n,)` from sparse labels `(n,)` / `(n, 1)` or from scores and one-hot rows `(n, k)`."""
    values = np.asarray(values)
    if values.ndim >= 2 and values.shape[-1] > 1:
        return values.argmax(axis=-1).ravel()
    return values.reshape(len(values)).astype(np.int64)


class ConfusionMatrix(RecordingCallback):
    """Write each output's confusion matrix to TensorBoard, as a picture and as a table.

    The picture (tag ``confusion_matrix/<output>``, kind ``confusion_matrix`` in kerasfg's plugin) has
    the true classes as rows and the predicted classes as columns, coloured by the share of each true
    class and with the counts printed; the counts are also written as a table
    (``confusion_matrix/<output>/counts``), which the picture's field ``counts`` names.

    Args:
        validation_data: what the matrices are counted on: a `tf.data.Dataset` of ``(inputs, targets)``
            batches, or an ``(inputs, targets)`` pair of arrays (or dicts of arrays); the probe and its
            targets by default (under `kerasfg.training.fit`, the first validation batch).
        outputs: names of the outputs to record; all outputs by default.
        probe: a batch of model inputs; by default the first examples of ``validation_data``.
        log_dir: folder of the event files.
        every_n_epochs: recording cadence.
        probe_targets: the probe's targets (an array, or a dict by output name).
        class_names: ``{output name: [class names]}``; class indices by default.
    """

    def __init__(self, validation_data=None, outputs=None, probe=None, log_dir=None, every_n_epochs=1,
                 probe_targets=None, class_names=None):
        super().__init__(probe=probe, log_dir=log_dir, every_n_epochs=every_n_epochs, probe_targets=probe_targets,
                         class_names=class_names)
        self.validation_data = validation_data
        self.outputs = outputs

    def on_train_begin(self, logs=None):
        if self.probe is None and self.validation_data is not None:
            self.probe = take(next(iter(self._batches()))[0], 16)
        super().on_train_begin(logs)

    def _batches(self):
        data = self.validation_data
        if data is None:
            if self.probe_targets is None:
                raise ValueError("ConfusionMatrix needs validation_data or probe_targets (kerasfg.training.fit "
                                 "provides the probe's targets).")
            yield self.probe, self.probe_targets
        elif isinstance(data, (tuple, list)):
            inputs, targets = data
            total = len(next(iter(by_output(self.model, targets).values())))
            for start in range(0, total, _CHUNK):
                yield _slice(inputs, start), _slice(targets, start)
        else:
            for batch in data:
                yield batch[0], batch[1]

    def record(self, step):
        labels, predicted = {}, {}
        for inputs, targets in self._batches():
            outputs = by_output(self.model, self.model.predict_on_batch(inputs))
            targets = by_output(self.model, targets)
            for name in self.outputs or outputs:
                labels.setdefault(name, []).append(class_indices(targets[name]))
                predicted.setdefault(name, []).append(outputs[name])
        for name in labels:
            scores = np.concatenate(predicted[name])
            names = list((self.class_names or {}).get(name) or range(scores.shape[-1]))
            matrix = confusion_matrix(np.concatenate(labels[name]), class_indices(scores), len(names))
            tag = f"confusion_matrix/{name}"
            summary.recording(self.writer, tag, render_confusion_matrix(matrix, names, title=name), step,
                              kind="confusion_matrix", output=name, class_names=[str(n) for n in names],
                              counts=f"{tag}/counts",
                              description=f"confusion matrix of output {name}: rows true, columns predicted")
            summary.table(self.writer, f"{tag}/counts", ["true \\ predicted", *map(str, names)],
                          [[str(n), *map(int, row)] for n, row in zip(names, matrix)], step,
                          description=f"counts of output {name}: rows true, columns predicted")


def _slice(values, start):
    if isinstance(values, dict):
        return {name: np.asarray(value)[start:start + _CHUNK] for name, value in values.items()}
    return np.asarray(values)[start:start + _CHUNK]
