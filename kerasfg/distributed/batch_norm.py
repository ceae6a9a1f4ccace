"""Synchronized batch normalization: batch statistics over the global batch instead of each replica's.

With ``train.sync_batch_norm: true``, every `keras.layers.BatchNormalization` of the model (nested
ones included, such as CBAM's spatial gate) normalizes with the mean and variance of the whole global
batch, summed across replicas at every step (Keras's ``synchronized=True`` on the TensorFlow
backend). A run on ``W`` workers then computes what one process computes with the same global batch,
at the price of three small all-reduces per batch-norm layer in each forward pass.
"""

import keras


def batch_norm_layers(model):
    """Every `keras.layers.BatchNormalization` of ``model``, nested models and layers included.

    Sublayers are found as Keras tracks them: the layers of nested models and the layers (or lists,
    tuples and dicts of layers) a layer holds as public attributes.
    """
    found, seen, pending = [], set(), list(model.layers)
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        pending.extend(getattr(layer, "layers", ()) if isinstance(layer, keras.Model) else ())
        for name, value in vars(layer).items():
            if name.startswith("_"):
                continue
            values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) \
                else (value,)
            pending.extend(item for item in values if isinstance(item, keras.layers.Layer))
    return found


def synchronize_batch_norm(model):
    """Make every batch-normalization layer of ``model`` use the statistics of the global batch.

    Returns:
        The number of layers changed.

    Raises:
        ValueError: when some batch-normalization layers cannot be reached (their moving means
            outnumber the layers found), so that none is silently left per-replica.
    """
    layers = batch_norm_layers(model)
    moving_means = [v for v in model.non_trainable_weights if v.path.endswith("moving_mean")]
    if len(moving_means) > len(layers):
        raise ValueError(f"sync_batch_norm: {model.name} has {len(moving_means)} batch-normalization moving "
                         f"means but only {len(layers)} batch-normalization layers could be reached; a "
                         "layer keeps one in a private attribute.")
    for layer in layers:
        layer.synchronized = True
    return len(layers)
