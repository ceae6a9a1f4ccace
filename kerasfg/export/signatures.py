"""The serving functions of an export, and the SavedModel archive that holds them.

Every signature returns a dict of named outputs (per classification head ``<head>_probs``, ``<head>_class``
and, with class names, ``<head>_name``), takes the model's extra inputs by name, and checks its inputs in the
graph with messages that name the expected spec (TF Serving answers them with INVALID_ARGUMENT):

- ``serving_default``: ``image_bytes``, a batch of encoded images decoded and resized in the graph by the
  preprocessing the model was trained with;
- ``serve_pixels``: the model's image input as float32 pixels in 0..255;
- ``explain``: the inputs of ``serving_default``; adds each head's Grad-CAM and the model's map outputs.
"""

from __future__ import annotations

import pathlib
import tempfile

import keras
import tensorflow as tf

from kerasfg.data import preprocessing as _pre
from kerasfg.export.plan import ExportPlan, labels_asset
from kerasfg.export.served import IMAGE_BYTES, arrange_inputs, named_outputs


class Signatures:
    """The serving functions of one :class:`~kerasfg.export.plan.ExportPlan`.

    Args:
        plan: the export plan.
        tables: ``{head: lookup table}`` from class index to class name (see :func:`write_archive`); heads
            without a table get no ``<head>_name`` output.
    """

    def __init__(self, plan: ExportPlan, tables=None):
        self.plan = plan
        self.served = plan.served
        self.pre = plan.preprocessing
        self.tables = dict(tables or {})

    # -- inputs

    def pixel_spec(self):
        h, w = self.pre.image_size
        return tf.TensorSpec((None, h, w, self.pre.channels), tf.float32, name=self.served.image_name)

    def bytes_spec(self):
        return tf.TensorSpec((None,), tf.string, name=IMAGE_BYTES)

    def input_specs(self, signature):
        """``{input name: tf.TensorSpec}`` of ``signature``."""
        image = {self.served.image_name: self.pixel_spec()} if signature == "serve_pixels" else \
            {IMAGE_BYTES: self.bytes_spec()}
        return {**image, **self.served.extra_specs()}

    def _check_inputs(self, pixels, extras):
        """In-graph checks that name the expected spec (TF Serving returns them as INVALID_ARGUMENT).

        The messages avoid quotes, which the Assert op prints escaped."""
        h, w = self.pre.image_size
        checks = [tf.debugging.assert_equal(
            tf.shape(pixels)[1:], tf.constant([h, w, self.pre.channels]),
            message=f"input {self.served.image_name} expects float32 pixels of shape (-1, {h}, {w}, "
                    f"{self.pre.channels}), got shape")]
        batch = tf.shape(pixels)[0]
        for name, value in extras.items():
            shape, dtype = self.served.extras[name]
            checks.append(tf.debugging.assert_equal(
                tf.shape(value)[0], batch,
                message=f"input {name} ({dtype} of shape (-1, {', '.join(map(str, shape))})) must have "
                        "the same batch size as the images; got batch sizes"))
        return checks

    def pixels_from_bytes(self, image_bytes):
        return _pre.decode_images(image_bytes, self.pre)

    def checked_inputs(self, pixels, extras):
        """The model's inputs, arranged as it takes them, from pixels and extra inputs checked in the graph."""
        with tf.control_dependencies(self._check_inputs(pixels, extras)):
            pixels = tf.identity(pixels)
        by_name = {self.served.image_name: tf.cast(pixels, self.served.image_dtype), **extras}
        return arrange_inputs(self.plan.model, by_name)

    def call(self, model, pixels, extras):
        """``model`` (the plan's model, or a model with the same inputs) on checked pixels and extra inputs."""
        return model(self.checked_inputs(pixels, extras), training=False)

    # -- outputs

    def top_classes(self, outputs):
        """``{head: int32 class per example}``: the argmax, or ``p > 0.5`` for a single sigmoid unit."""
        classes = {}
        for head in self.served.heads:
            probs = tf.cast(outputs[head], tf.float32)
            if probs.shape[-1] == 1:
                classes[head] = tf.cast(probs[:, 0] > 0.5, tf.int32)
            else:
                classes[head] = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return classes

    def head_outputs(self, outputs):
        """``<head>_probs``, ``<head>_class`` and (with a table) ``<head>_name`` of every head, and the outputs
        its layer adds (``serving_outputs``, e.g. a DEX head's ``<head>_years``)."""
        result = {}
        for head, cls in self.top_classes(outputs).items():
            result[f"{head}_probs"] = tf.cast(outputs[head], tf.float32)
            result[f"{head}_class"] = cls
            if head in self.tables:
                result[f"{head}_name"] = self.tables[head].lookup(tf.cast(cls, tf.int64))
            serving_outputs = getattr(self.plan.head_layers.get(head), "serving_outputs", None)
            if serving_outputs is not None:
                result.update(serving_outputs(head, result[f"{head}_probs"]))
        return result

    # -- the signatures

    def predict_pixels(self, pixels, extras):
        return self.head_outputs(named_outputs(self.plan.model, self.call(self.plan.model, pixels, extras)))

    def serve_bytes(self, inputs):
        extras = {k: v for k, v in inputs.items() if k != IMAGE_BYTES}
        return self.predict_pixels(self.pixels_from_bytes(inputs[IMAGE_BYTES]), extras)

    def serve_pixels(self, inputs):
        extras = {k: v for k, v in inputs.items() if k != self.served.image_name}
        return self.predict_pixels(inputs[self.served.image_name], extras)

    def explain_pixels(self, pixels, extras):
        """Prediction + Grad-CAM (``explain="gradcam"``) + map outputs, from pixels."""
        gradcam = self.plan.gradcam
        if gradcam is None:
            outputs = named_outputs(self.plan.model, self.call(self.plan.model, pixels, extras))
            result = self.head_outputs(outputs)
        else:
            outputs, maps = gradcam(self.checked_inputs(pixels, extras), self.top_classes)
            result = self.head_outputs(outputs)
            result.update({f"{head}_gradcam": cam for head, cam in maps.items()})
        for name in self.served.maps:
            result[name] = tf.cast(outputs[name], tf.float32)
        return result

    def explain(self, inputs):
        extras = {k: v for k, v in inputs.items() if k != IMAGE_BYTES}
        return self.explain_pixels(self.pixels_from_bytes(inputs[IMAGE_BYTES]), extras)

    def function(self, signature):
        """The Python function of ``signature`` (a name of ``plan.signature_names``)."""
        return {"serving_default": self.serve_bytes, "serve_pixels": self.serve_pixels,
                "explain": self.explain}[signature]


def _labels_table(path):
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(str(path), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                      tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value="")


def write_archive(plan: ExportPlan, directory) -> dict:
    """Trace every signature of ``plan`` and write the SavedModel to ``directory``.

    The class names are read by the graph from ``assets/<head>_labels.txt``, which the SavedModel copies.

    Returns:
        ``{signature: {"inputs": {name: {"dtype", "shape"}}, "outputs": [names]}}``.
    """
    with tempfile.TemporaryDirectory(prefix="kerasfg-labels-") as labels_dir:
        archive = keras.export.ExportArchive()
        archive.track(plan.model)
        tables = {}
        for head, names in plan.class_names.items():
            labels = pathlib.Path(labels_dir) / labels_asset(head)
            labels.write_text("\n".join(names) + "\n", encoding="utf-8")
            tables[head] = _labels_table(labels)
            archive.track(tables[head])
        sigs = Signatures(plan, tables)
        signatures = {}
        for name in plan.signature_names:
            inputs = sigs.input_specs(name)
            endpoint = archive.add_endpoint(name, sigs.function(name), input_signature=[inputs])
            concrete = endpoint.get_concrete_function()
            signatures[name] = {
                "inputs": {k: {"dtype": v.dtype.name, "shape": [-1 if d is None else d for d in v.shape]}
                           for k, v in inputs.items()},
                "outputs": sorted(concrete.structured_outputs),
            }
        archive.write_out(str(directory), verbose=False)
    return signatures
