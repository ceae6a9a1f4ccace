"""Data-dependent initialization: LSUV, layer-sequential unit-variance (Mishkin and Matas, "All you need is a
good init", ICLR 2016), the "Base+LSUV" column of thesis 002's Table 5.1.

The algorithm (their Algorithm 1):

1. Fill every convolution and dense kernel with an orthonormal matrix (Saxe et al. 2014: the kernel seen as a
   ``fan_in x filters`` matrix has orthonormal columns, or rows when it is wider than tall) and zero biases.
2. From the first such layer to the last: run a batch of training images through the network, take the
   variance ``v`` of the layer's output, and divide its kernel by ``sqrt(v)``; repeat until ``|v - 1|`` is
   below a tolerance or a number of iterations is spent.

The variance is that of the layer's own output before its activation (kerasfg's builders put activations in
layers of their own; a layer with a fused activation, as a softmax classifier, is measured without it), over
the whole batch, all positions and channels, in inference mode.
"""

import logging

import keras
import numpy as np

log = logging.getLogger(__name__)

_KERNEL_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def lsuv_initialize(model, batch, *, tolerance=0.1, max_iterations=10, seed=None):
    """Initialize ``model``'s convolution and dense layers by LSUV, in place (see the module docstring).

    Args:
        model: a functional `keras.Model`.
        batch: a batch of its inputs (an image array, or a dict of the model's inputs), e.g. the first
            training batch.
        tolerance: stop rescaling a layer when its output variance is within ``tolerance`` of 1 (the paper's
            ``Tol_var``, 0.1).
        max_iterations: at most this many rescalings of one layer (the paper's ``T_max``).
        seed: seed of the orthonormal matrices.

    Returns:
        ``{layer name: output variance after its last rescaling}``, in the order of the layers.

    Raises:
        ValueError: ``model`` has no convolution or dense layer.

    Example:

    ```python
    model = kerasfg.models.build_model("mnist_small_cnn", input_shape=(32, 32, 1), num_classes=10)
    lsuv_initialize(model, images[:64])
    ```
    """
    layers = [layer for layer in model.layers if isinstance(layer, _KERNEL_LAYERS)]
    if not layers:
        raise ValueError(f"lsuv_initialize: model {model.name!r} has no convolution or dense layer to initialize.")
    for k, layer in enumerate(layers):
        orthonormal = keras.initializers.Orthogonal(seed=None if seed is None else seed + k)
        layer.kernel.assign(orthonormal(layer.kernel.shape, dtype=layer.kernel.dtype))
        if layer.bias is not None:
            layer.bias.assign(np.zeros(layer.bias.shape, layer.bias.dtype))
    variances = {}
    for layer in layers:
        probe = keras.Model(model.inputs, layer.output)
        activation, layer.activation = layer.activation, keras.activations.linear
        try:
            for _ in range(max_iterations):
                variance = _output_variance(probe, batch)
                if abs(variance - 1.0) < tolerance or variance == 0.0:
                    break
                layer.kernel.assign(layer.kernel / np.sqrt(variance))
            variances[layer.name] = _output_variance(probe, batch)
        finally:
            layer.activation = activation
        log.debug("LSUV: %s output variance %.3f", layer.name, variances[layer.name])
    return variances


def _output_variance(probe, batch):
    """The variance of ``probe``'s output on ``batch``, in float32 (a mixed-precision layer computes in 16 bits)."""
    return float(np.var(keras.ops.convert_to_numpy(keras.ops.cast(probe(batch, training=False), "float32"))))


__all__ = ["lsuv_initialize"]
