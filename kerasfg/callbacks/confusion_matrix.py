"""Record the confusion matrix of every output of a model on held-out data while it trains."""

import numpy as np

from kerasfg.callbacks.base import RecordingCallback, by_output
from kerasfg.tensorboard import summary
from kerasfg.vis.batches import take
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.confusion import confusion_matrix, render_confusion_matrix

_CHUNK = 256


def class_indices(values):
    """Class indices `(n,)` from sparse labels `(n,)` / `(n, 1)` or from one-hot rows `(n, k)`."""
    values = np.asarray(values)
    if values.ndim >= 2 and values.shape[-1] > 1:
        return values.argmax(axis=-1).ravel()
    return values.reshape(len(values)).astype(np.int64)


def predicted_classes(scores, threshold):
    """``(predicted class indices (n,), number of classes)`` of scores `(n, k)`: the top class of ``k``,
    or for a single score per example (a binary output) 1 where it is above ``threshold`` (0.5 for
    probabilities, 0 for logits), of 2."""
    scores = np.asarray(scores)
    if scores.ndim >= 2 and scores.shape[-1] > 1:
        return scores.argmax(axis=-1).ravel(), scores.shape[-1]
    return (scores.reshape(len(scores)) > threshold).astype(np.int64), 2


class ConfusionMatrix(RecordingCallback):
    """Write each output's confusion matrix to TensorBoard, as a picture and as a table.

    The picture (tag ``confusion_matrix/<output>``, kind ``confusion_matrix`` in kerasfg's plugin) has
    the true classes as rows and the predicted classes as columns, coloured by the share of each true
    class and with the counts printed; the counts are also written as a table
    (``confusion_matrix/<output>/counts``), which the picture's field ``counts`` names.

    Args:
        probe: a batch of model inputs; by default the first examples of ``validation_data``.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs (every epoch by default) and
            after the last; None: only when training ends.
        validation_data: what the matrices are counted on: a `tf.data.Dataset` of ``(inputs, targets)``
            batches, or an ``(inputs, targets)`` pair of arrays (or dicts of arrays); the probe and its
            targets by default (under `kerasfg.training.fit`, the first validation batch).
        outputs: names of the outputs to record; every output with class scores by default.
        max_images: counted on at most this many probe examples (all by default), without ``validation_data``.
        probe_targets: the probe's targets (an array, or a dict by output name); the context's by default.
        class_names: ``{output name: [class names]}``; the context's, or class indices, by default.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, validation_data=None, outputs=None,
                 max_images=None, probe_targets=None, class_names=None):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        self.validation_data = validation_data
        self.outputs = outputs
        self._probe_targets = probe_targets
        self._class_names = class_names

    @property
    def probe_targets(self):
        """The probe's targets given, or the context's when the probe is the context's."""
        return self._of_probe(self._probe_targets, "probe_targets")

    def on_train_begin(self, logs=None):
        data = self.validation_data
        if self.probe is None and data is not None:  # the probe images the Images dashboard shows
            self._probe = take(data[0] if isinstance(data, (tuple, list)) else next(iter(data))[0], 16)
        super().on_train_begin(logs)

    def probe_requests(self):
        if self.validation_data is not None:
            return None
        return {"count": self.max_images}  # the predictions on the probe

    def _batches(self):
        """``(targets, {output: (predicted classes, number of classes)})`` of each batch counted."""
        data = self.validation_data
        if data is None:
            if self.probe_targets is None:
                raise ValueError("ConfusionMatrix needs validation_data or probe_targets (kerasfg.training.fit "
                                 "provides the probe's targets).")
            logits = self.shared_pass(self.probe, self.max_images).logits
            targets = {name: np.asarray(value)[:self.max_images]
                       for name, value in by_output(self.model, self.probe_targets).items()}
            yield targets, {name: predicted_classes(value, 0.0) for name, value in logits.items()}
            return
        if isinstance(data, (tuple, list)):
            all_inputs, all_targets = data
            total = len(next(iter(by_output(self.model, all_targets).values())))
            batches = [(_slice(all_inputs, start), _slice(all_targets, start)) for start in range(0, total, _CHUNK)]
        else:
            batches = ((batch[0], batch[1]) for batch in data)
        for inputs, targets in batches:
            outputs = by_output(self.model, self._predict(inputs))
            yield targets, {name: predicted_classes(value, 0.5) for name, value in outputs.items()}

    def _predict(self, inputs):
        """The model's outputs on ``inputs``, by a plain compiled forward pass: ``predict_on_batch`` would
        gather its outputs across the workers of a multi-worker run, where only the chief records."""
        if getattr(self, "_forward_model", None) is not self.model:
            model = self.model
            self._forward_model, self._forward = model, RecordingFunction(lambda x: model(x, training=False))
        return self._forward(inputs)

    def record(self, step):
        labels, predicted, counts = {}, {}, {}
        for targets, classes in self._batches():
            targets = by_output(self.model, targets)
            for name in self.chosen_outputs(self.outputs):
                labels.setdefault(name, []).append(class_indices(targets[name]))
                predicted.setdefault(name, []).append(classes[name][0])
                counts[name] = classes[name][1]
        for name in labels:
            names = list((self.class_names or {}).get(name) or range(counts[name]))
            matrix = confusion_matrix(np.concatenate(labels[name]), np.concatenate(predicted[name]), len(names))
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
