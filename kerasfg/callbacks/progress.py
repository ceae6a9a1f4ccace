"""Per-batch training progress of every output, for TensorBoard's Scalars dashboard."""

from kerasfg.callbacks.base import TensorBoardRecorder
from kerasfg.tensorboard import summary


class TrainingProgress(TensorBoardRecorder):
    """Record every loss and metric of every output per batch, and the validation results per epoch.

    Keras's own TensorBoard callback logs epoch averages; this records the training curves at batch
    resolution, as the visualisation thesis's training-progress view does. Scalars are written at the
    global batch step under ``progress/<name>`` (``progress/identity_loss``, ``progress/val_loss``,
    ...), together with ``progress/epoch``, the fractional epoch at that step, so the curves can be
    read against epochs. Multi-output models record each output's loss and metrics.

    Args:
        log_dir: folder of the event files.
        every_n_batches: record at every global batch step that is a multiple of this.
    """

    def __init__(self, *, log_dir=None, every_n_batches=1):
        super().__init__(log_dir=log_dir)
        if every_n_batches < 1:
            raise ValueError(f"every_n_batches must be a positive integer, got {every_n_batches!r}.")
        self.every_n_batches = every_n_batches
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 0
        step = self._epoch * steps + batch + 1  # the global batch step, counted from 1
        if not logs or step % self.every_n_batches:
            return
        fraction = self._epoch + (batch + 1) / steps if steps else float(self._epoch)
        summary.scalars(self.writer, {"progress/epoch": fraction,
                                      **{f"progress/{name}": value for name, value in logs.items()}}, step)

    def on_epoch_end(self, epoch, logs=None):
        validation = {f"progress/{name}": value for name, value in (logs or {}).items()
                      if name.startswith("val_")}
        if validation:
            steps = self.params.get("steps") or 0
            summary.scalars(self.writer, validation, (epoch + 1) * steps)
        self.writer.flush()
