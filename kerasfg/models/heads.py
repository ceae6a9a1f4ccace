"""Task heads any registered model can take in place of its softmax classifier: output codes and DEX.

``build_model(name, ..., output_codes={task: spec}, dex={task: [min_age, max_age]})`` builds the model,
then replaces the ``Dense`` output layer of each named task by:

- an output-code head (`kerasfg.codes`): ``Dense(k)`` named ``{task}_code`` (the predicted code) and
  `kerasfg.codes.OutputCodes` named ``{task}``, class probabilities from the distances to the code rows.
  ``spec`` is a code matrix, or the arguments of `kerasfg.codes.make_code` as a dict (``design``,
  ``bits``, ``binarization``, ``seed``, ``similarity``, ``candidates``);
- a DEX head (`kerasfg.age.DEXHead`) named ``{task}``: probabilities over the ages ``min_age`` ..
  ``max_age`` (``true`` for 0 .. 100), whose expectation is the age.

The heads read the features the replaced layer read, so the rest of the model, its layer names and its
other outputs stay as they were. Each head trains with its own default objective (`kerasfg.objectives`):
an output-code head with the cross-entropy of its probabilities and accuracy, a DEX head with the ``dex``
loss and ``dex_mae``.
"""

import keras
import numpy as np

from kerasfg.age import DEXHead, age_bins
from kerasfg.codes import OutputCodes, make_code


def dex_ranges(dex):
    """``{task: (min_age, max_age)}`` from a ``dex=`` argument (``true`` means 0 .. 100; None, no head)."""
    ranges = {}
    for task, value in (dex or {}).items():
        if value is None:
            continue
        low, high = (0, 100) if value is True else value
        age_bins(low, high)
        ranges[task] = (low, high)
    return ranges


def code_matrix(spec, num_classes, task):
    """The code matrix of an ``output_codes`` entry: an array, or `kerasfg.codes.make_code` arguments."""
    if isinstance(spec, dict):
        return make_code(num_classes=num_classes, **spec)
    code = np.asarray(spec, np.float32)
    if code.ndim != 2 or len(code) != num_classes:
        raise ValueError(f"output_codes[{task!r}]: a code for {num_classes} classes needs {num_classes} rows; "
                         f"received shape {code.shape}.")
    return code


def classifier_of(output, task, model_name):
    """The ``Dense`` classifier that makes ``output`` (looking through a separate softmax ``Activation``, as
    VGG-Face's ``fc8``) and the features it reads: ``(layer, features tensor)``."""
    from kerasfg.vis.introspect import producer

    found = producer(output)
    if found is not None and isinstance(found.layer, (keras.layers.Activation, keras.layers.Softmax)):
        found = producer(found.inputs[0], found.scopes)
    if found is None or not isinstance(found.layer, keras.layers.Dense) or found.scopes:
        kind = "an input" if found is None else type(found.layer).__name__
        raise ValueError(f"output {task!r} of model '{model_name}' comes from {kind}, not a Dense classifier "
                         f"whose features a head could read.")
    return found.layer, found.inputs[0]


def replace_heads(model, *, output_codes=None, dex=None):
    """The model with the output layers of the named tasks replaced (module docstring).

    Args:
        model: a flat functional model whose outputs include the named tasks, each made by a ``Dense`` layer
            (with its softmax inside or in a separate ``Activation``).
        output_codes: ``{task: code matrix or make_code arguments}`` (None: no head for that task).
        dex: ``{task: (min_age, max_age) or True}`` (None: no head for that task).

    Returns:
        A new functional model with the same inputs and output names.
    """
    # A task given None keeps its classifier (a config can switch a head off for one scale).
    output_codes = {task: spec for task, spec in (output_codes or {}).items() if spec is not None}
    dex = dex_ranges(dex)
    both = sorted(set(output_codes) & set(dex))
    if both:
        raise ValueError(f"tasks {both} are given both output codes and a DEX head; choose one.")
    outputs = model.output if isinstance(model.output, dict) else {model.output_names[0]: model.output}
    unknown = sorted((set(output_codes) | set(dex)) - set(outputs))
    if unknown:
        raise ValueError(f"output_codes / dex name tasks {unknown} that are not outputs of model "
                         f"'{model.name}'; its outputs are {sorted(outputs)}.")
    outputs = dict(outputs)
    for task in [*output_codes, *dex]:
        layer, features = classifier_of(outputs[task], task, model.name)
        if task in dex:
            low, high = dex[task]
            outputs[task] = DEXHead(low, high, name=task)(features)
        else:
            code = code_matrix(output_codes[task], layer.units, task)
            z = keras.layers.Dense(code.shape[1], name=f"{task}_code")(features)
            outputs[task] = OutputCodes(code, name=task)(z)
    structure = outputs if isinstance(model.output, dict) else outputs[model.output_names[0]]
    return keras.Model(model.input, structure, name=model.name)
