"""What a model serves: its image input, extra inputs, classification heads and other outputs.

:func:`analyze_model` finds them in a functional (or Sequential) model; the helpers here arrange values in the
structure of the model's inputs and outputs. :class:`~kerasfg.export.plan.ExportPlan` is built on them.
"""

from __future__ import annotations

import dataclasses
import re

import keras
import tensorflow as tf

from kerasfg.vis.introspect import ModelInputs, output_names

IMAGE_BYTES = "image_bytes"
"""The input of ``serving_default`` and ``explain`` that holds the encoded images."""
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ExportError(ValueError):
    """The model cannot be exported as a servable SavedModel; the message names the cause."""


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """The parts of a functional model that shape its signatures.

    Attributes:
        image_name: the name of the image input.
        image_shape: ``(H, W, C)`` of the image input (None for a dynamic size).
        image_dtype: its dtype.
        extras: ``{name: (shape without batch, dtype)}`` of the other inputs.
        heads: the classification outputs, ``(batch, classes)``.
        maps: the other outputs (attention maps and the like), served by the ``explain`` signature.
    """

    image_name: str
    image_shape: tuple
    image_dtype: str
    extras: dict
    heads: list
    maps: list

    def extra_specs(self):
        """``{name: tf.TensorSpec}`` of the extra inputs, with a batch dimension."""
        return {
            name: tf.TensorSpec((None, *shape), tf.as_dtype(dtype), name=name)
            for name, (shape, dtype) in self.extras.items()
        }


def model_structure(model, attr):
    """``model.input``/``model.output`` (dict, list or tensor); Sequential models only have the plural."""
    try:
        return getattr(model, attr)
    except AttributeError:
        tensors = getattr(model, attr + "s")
        return tensors[0] if len(tensors) == 1 else list(tensors)


def named_outputs(model, values):
    """``values`` in the structure of ``model.output`` (dict, list or one tensor) as ``{output name: value}``."""
    if isinstance(values, dict):
        return dict(values)
    if isinstance(values, (list, tuple)):
        return dict(zip(output_names(model), values))
    return {output_names(model)[0]: values}


def output_tensors(model):
    """The model's outputs as an ordered dict name -> KerasTensor."""
    return named_outputs(model, model_structure(model, "output"))


def arrange_inputs(model, by_name):
    """Tensors keyed by input name, in the structure the model was built with."""
    return keras.tree.map_structure(lambda t: by_name[t.name], model_structure(model, "input"))


def _shapes(outputs):
    return {name: tuple(tensor.shape) for name, tensor in outputs.items()}


def analyze_model(model, heads=None) -> ServedModel:
    """Find the image input, the extra inputs, the classification heads and the map outputs of ``model``.

    Args:
        model: a built functional or Sequential ``keras.Model``.
        heads: the names of the classification outputs (a list, or one name); default every
            ``(batch, classes)`` output.

    Raises:
        ExportError: naming what is wrong: no or two image inputs, names that cannot be signature names, a
            head that is not a ``(batch, classes)`` output.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ExportError(f"expected a built functional keras.Model, got {type(model).__name__}")
    for name in (tensor.name for tensor in model.inputs):
        if not _NAME_RE.match(name):
            raise ExportError(f"model input name {name!r} is not a valid signature input name ([A-Za-z][A-Za-z0-9_]*)")
    try:  # the image input rule of kerasfg.vis: the only 4-D input, or the one named "image"
        inputs = ModelInputs(model)
    except ValueError as error:
        raise ExportError(f"the model has no image input it can decode images into: {error}") from error
    extras = {name: inputs.specs[name] for name in inputs.others}
    if IMAGE_BYTES in extras:
        raise ExportError(f"model input name {IMAGE_BYTES!r} is reserved for the encoded image signature input")
    outputs = output_tensors(model)
    if heads is None:
        heads = [name for name, t in outputs.items() if len(t.shape) == 2]
    else:
        if not isinstance(heads, (str, list, tuple)):
            raise ExportError(f"heads must be an output name or a list of them, got {type(heads).__name__}")
        heads = [heads] if isinstance(heads, str) else list(heads)
        for name in heads:
            if name not in outputs or len(outputs[name].shape) != 2:
                raise ExportError(f"head {name!r} is not a (batch, classes) output of the model; outputs are "
                                  f"{_shapes(outputs)}")
    if not heads:
        raise ExportError(f"the model has no classification output of shape (batch, classes): {_shapes(outputs)}")
    for name in outputs:
        if not _NAME_RE.match(name):
            raise ExportError(f"model output name {name!r} is not a valid signature output name")
    maps = [name for name in outputs if name not in heads]
    return ServedModel(inputs.image_name, inputs.image_shape, inputs.specs[inputs.image_name][1], extras, heads,
                       maps)


def check_servable_layers(model):
    """Reject layers whose code cannot be trusted to serve: Lambda layers (arbitrary Python).

    Ops are checked again on the written graph (py_function, custom ops), see
    :func:`kerasfg.export._verify_worker.scan_ops`.
    """
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))  # nested models
        if isinstance(layer, keras.layers.Lambda):
            raise ExportError(
                f"layer {layer.name!r} is a Lambda layer: its Python function is not part of a servable, "
                "reloadable model; write it as a registered keras.layers.Layer subclass using keras.ops"
            )
