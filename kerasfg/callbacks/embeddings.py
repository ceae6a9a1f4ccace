"""Record the penultimate features of a fixed probe set for TensorBoard's embedding projector."""

import pathlib

import numpy as np
from PIL import Image

from kerasfg.callbacks.base import RecordingCallback, by_output
from kerasfg.io_utils import atomic_file, write_text
from kerasfg.vis import render
from kerasfg.vis.embeddings import penultimate_layer

SPRITE = "sprite.png"
CHECKPOINT = "embeddings.ckpt"


class Embeddings(RecordingCallback):
    """Write the probe's penultimate features of outputs for TensorBoard's projector (PCA, t-SNE, UMAP).

    Every recording adds one embedding per output, ``<output>_epoch<step>`` (the features computed after
    ``step`` epochs), to a checkpoint in ``log_dir`` (`tf.train.Checkpoint`, the newest kept), and lists all
    of them in ``projector_config.pbtxt`` with a sprite of the probe faces (``sprite.png``, one tile per
    image, in probe order) and a metadata table per recording and output
    (``metadata_<output>_epoch<step>.tsv``: a header, then one row per probe image with its index in the
    probe, the class name of every target of the probe and the output's predicted class at that step).

    The features are the input of the layer that computes the output (see
    `kerasfg.vis.penultimate_layer`).

    Args:
        probe: a batch of model inputs.
        log_dir: folder of the projector files (and of the probe images' event file).
        every_n_epochs: record before training, after every this many epochs (every 5 by default: each
            recording is a checkpoint) and after the last; None: only when training ends.
        outputs: the outputs whose penultimate features are recorded; the model's first output by default.
        max_images: at most this many probe images are embedded.
        probe_targets: the probe's targets (an array, or a dict by output name), for the metadata; the
            context's by default.
        class_names: ``{name: [class names]}`` of the targets; the context's, or class indices, by default.
    """

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=5, outputs=None, max_images=None,
                 probe_targets=None, class_names=None):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        self.outputs = outputs
        self._probe_targets = probe_targets
        self._class_names = class_names
        self._variables = {}
        self._features_layers = {}

    @property
    def probe_targets(self):
        """The probe's targets given, or the context's when the probe is the context's."""
        return self._of_probe(self._probe_targets, "probe_targets")

    def _outputs(self):
        return self.chosen_outputs(self.outputs if self.outputs is not None else self.chosen_outputs(None)[:1])

    def probe_requests(self):
        return {"taps": [penultimate_layer(self.model, output) for output in self._outputs()],
                "count": self.max_images}

    def setup(self):
        self._features_layers = {output: penultimate_layer(self.model, output) for output in self._outputs()}
        self._variables = {}
        self._folder = pathlib.Path(self.log_dir)
        images = render.to_uint8_rgb(self.probe_images())
        with atomic_file(self._folder / SPRITE, mode="wb") as handle:
            Image.fromarray(render.tile(images, padding=0, fill=0)).save(handle, format="PNG")

    def _columns(self, count):
        targets = {} if self.probe_targets is None else by_output(self.model, self.probe_targets)
        names = self.class_names or {}
        return {task: [str(names[task][k]) if task in names else str(k) for k in np.ravel(values)[:count]]
                for task, values in targets.items() if np.ndim(values) == 1 or np.shape(values)[-1] == 1}

    def record(self, step):
        import tensorflow as tf
        from google.protobuf import text_format
        from tensorboard.plugins import projector
        from tensorboard.plugins.projector import metadata as projector_metadata

        result = self.shared_pass(self.probe, self.max_images)
        for output, layer in self._features_layers.items():
            features = result.taps[layer]
            features = features.reshape(len(features), -1)
            predicted = result.logits[output].argmax(axis=-1)
            self._variables[output, step] = tf.Variable(features, trainable=False)
            names = (self.class_names or {}).get(output)
            columns = {"image": [str(k) for k in range(len(features))], **self._columns(len(features)),
                       f"predicted_{output}": [str(names[k]) if names else str(k) for k in predicted]}
            lines = ["\t".join(columns)] + ["\t".join(row) for row in zip(*columns.values())]
            write_text(self._folder / metadata_file(step, output), "\n".join(lines) + "\n")
        checkpoint = tf.train.Checkpoint(**{self._name(*key): v for key, v in self._variables.items()})
        tf.train.CheckpointManager(checkpoint, self._folder, max_to_keep=1, checkpoint_name=CHECKPOINT).save()

        config = projector.ProjectorConfig()
        height, width = self.probe_images(1).shape[1:3]
        for output, recorded in self._variables:
            embedding = config.embeddings.add()
            embedding.tensor_name = f"{self._name(output, recorded)}/.ATTRIBUTES/VARIABLE_VALUE"
            embedding.metadata_path = metadata_file(recorded, output)
            embedding.sprite.image_path = SPRITE
            embedding.sprite.single_image_dim.extend([width, height])
        write_text(self._folder / projector_metadata.PROJECTOR_FILENAME, text_format.MessageToString(config))

    @staticmethod
    def _name(output, step):
        return f"{output}_epoch{step}"


def metadata_file(step, output):
    """The name of the metadata table of the embedding of ``output`` recorded at ``step``."""
    return f"metadata_{output}_epoch{step}.tsv"
