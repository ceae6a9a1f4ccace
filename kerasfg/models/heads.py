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
other outputs stay as they were.
"""

import keras
import numpy as np

from kerasfg.age import DEXHead, age_bins


def dex_ranges(dex):
    """``{task: (min_age, max_age)}`` from a ``dex=`` argument (``true`` means 0 .. 100)."""
    ranges = {}
    for task, value in (dex or {}).items():
        low, high = (0, 100) if value is True else value
        age_bins(low, high)
        ranges[task] = (low, high)
    return ranges


def code_matrix(spec, num_classes, task):
    """The code matrix of an ``output_codes`` entry: an array, or `kerasfg.codes.make_code` arguments."""
    from kerasfg.codes import make_code

    if isinstance(spec, dict):
        return make_code(num_classes=num_classes, **spec)
    code = np.asarray(spec, np.float32)
    if code.ndim != 2 or len(code) != num_classes:
        raise ValueError(f"output_codes[{task!r}]: a code for {num_classes} classes needs {num_classes} rows; "
                         f"received shape {code.shape}.")
    return code


def replace_heads(model, *, output_codes=None, dex=None):
    """The model with the output layers of the named tasks replaced (module docstring).

    Args:
        model: a functional model whose outputs include the named tasks, each a ``Dense`` layer.
        output_codes: ``{task: code matrix or make_code arguments}``.
        dex: ``{task: (min_age, max_age) or True}``.

    Returns:
        A new functional model with the same inputs and output names.
    """
    from kerasfg.codes import OutputCodes

    output_codes, dex = dict(output_codes or {}), dex_ranges(dex)
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
        layer = model.get_layer(task)
        if not isinstance(layer, keras.layers.Dense):
            raise ValueError(f"output {task!r} of model '{model.name}' is a {type(layer).__name__}, not a Dense "
                             f"classifier whose features a head could read.")
        features = layer.input
        if task in dex:
            low, high = dex[task]
            outputs[task] = DEXHead(low, high, name=task)(features)
        else:
            code = code_matrix(output_codes[task], layer.units, task)
            z = keras.layers.Dense(code.shape[1], name=f"{task}_code")(features)
            outputs[task] = OutputCodes(code, name=task)(z)
    structure = outputs if isinstance(model.output, dict) else outputs[model.output_names[0]]
    return keras.Model(model.input, structure, name=model.name)
