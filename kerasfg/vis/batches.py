"""Batches of model inputs: an array, or a dict of named arrays, with the examples along the first axis."""

import numpy as np


def take(inputs, count=None):
    """The first ``count`` examples of a batch (an array, or a dict of named arrays); all by default."""
    if isinstance(inputs, dict):
        return {name: np.asarray(value)[:count] for name, value in inputs.items()}
    return np.asarray(inputs)[:count]
