"""What `kerasfg.training.fit` hands its recording callbacks: the run's log folder and a fixed probe batch."""

import dataclasses
import pathlib

import numpy as np


@dataclasses.dataclass
class RecordingContext:
    """The run a recording callback records in, as `kerasfg.training.fit` knows it.

    A callback uses what it was not given itself: its own ``log_dir``, ``probe`` and so on win over the
    context's (see `kerasfg.callbacks.RecordingCallback`).

    Attributes:
        log_dir: the folder of the run's recordings (``<run>/logs/vis``).
        probe: a batch of model inputs chosen once (the first validation batch), an array or a dict of arrays.
        probe_targets: the probe's targets, ``{output name: array}``.
        class_names: ``{task: [class names]}``.
        masks: ``{task: bool (n, h, w)}``, the evidence masks of the probe images where they are known (the
            synthetic faces), or None.
    """

    log_dir: pathlib.Path
    probe: object = None
    probe_targets: dict | None = None
    class_names: dict | None = None
    masks: dict | None = None

    @classmethod
    def from_validation(cls, log_dir, validation, class_names=None, validation_masks=None):
        """The context of a run: its first validation batch as the probe, with the masks of those images.

        Args:
            log_dir: the folder of the recordings.
            validation: a `tf.data.Dataset` of ``(inputs, targets)`` batches.
            class_names: ``{task: [class names]}``.
            validation_masks: ``{task: bool (n, h, w)}`` of the validation set, in its order, or None.
        """
        inputs, targets = (_to_numpy(part) for part in next(iter(validation)))
        count = len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs)
        masks = None if not validation_masks else {task: np.asarray(value)[:count]
                                                    for task, value in validation_masks.items()}
        names = None if class_names is None else {task: list(value) for task, value in class_names.items()}
        return cls(pathlib.Path(log_dir), inputs, targets, names, masks)



def hand_context(callbacks, log_dir, validation, class_names=None, validation_masks=None):
    """Give kerasfg's recording callbacks among ``callbacks`` the `RecordingContext` of a run (built only when
    there is one); other callbacks are left alone. Arguments as for `RecordingContext.from_validation`."""
    from kerasfg.callbacks.base import TensorBoardRecorder

    recorders = [callback for callback in callbacks if isinstance(callback, TensorBoardRecorder)]
    if recorders:
        context = RecordingContext.from_validation(log_dir, validation, class_names, validation_masks)
        for callback in recorders:
            callback.set_context(context)


def _to_numpy(batch):
    return {name: np.asarray(value) for name, value in batch.items()} if isinstance(batch, dict) \
        else np.asarray(batch)
