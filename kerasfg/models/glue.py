"""Small parameter-free (or nearly) layers the model builders need between standard layers.

They exist because functional models must not use ``Lambda`` layers (those do not load back under
``safe_mode``); each is registered, has a complete ``get_config`` and computes with ``keras.ops``.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasfg")
class DepthToSpace(keras.layers.Layer):
    """Rearrange ``(b, h, w, s*s*c)`` into ``(b, h*s, w*s, c)``, as ``tf.nn.depth_to_space`` (DCR).

    ``output[b, h*s + i, w*s + j, c] = input[b, h, w, (i*s + j)*c_out + c]``: every output pixel
    comes from the input pixel it lies over, unlike a plain reshape, which scrambles positions.

    Args:
        block_size: ``s``, the upscaling factor.
    """

    def __init__(self, block_size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"DepthToSpace: `block_size` must be a positive int; "
                             f"received {block_size!r}.")
        self.block_size = block_size

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.block_size
        if c is None or c % (s * s):
            raise ValueError(f"DepthToSpace '{self.name}': the channels of {tuple(input_shape)} must "
                             f"be a known multiple of block_size**2 = {s * s}.")
        return (b, None if h is None else h * s, None if w is None else w * s, c // (s * s))

    def call(self, inputs):
        s = self.block_size
        c_out = inputs.shape[-1] // (s * s)
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        x = ops.reshape(inputs, (-1, height, width, s, s, c_out))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height * s, width * s, c_out))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="kerasfg")
class MapWeightedPooling(keras.layers.Layer):
    """Per-task average pooling weighted by per-task attention maps: ``(b, T)`` task scores.

    ``out[b, t] = mean_xy(gate[b, x, y, t] * values[b, x, y, t]) + bias[t]``, where ``gate`` is
    ``1 + M`` (``mechanism="residual"``, ABN's Eq. 2) or ``M`` (``"multiply"``, Eq. 1), and the maps
    ``M`` are bilinearly resized to the resolution of ``values`` when they differ.

    With ``values = conv1x1_T(P)`` (one bias-free 1x1 convolution, one filter per task) this is,
    exactly, a per-task linear classifier on the map-weighted average of the features ``P``: the
    multi-task ABN's perception head, computed for all tasks in one pass. Computed in float32.

    Args:
        mechanism: ``"residual"`` or ``"multiply"``.
        use_bias: whether to add a learned bias per task.

    Call arguments:
        inputs: ``[values, maps]``, both ``(batch, height, width, T)``.
    """

    def __init__(self, mechanism="residual", use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if mechanism not in ("residual", "multiply"):
            raise ValueError(f"MapWeightedPooling: `mechanism` must be 'residual' or 'multiply'; "
                             f"received {mechanism!r}.")
        self.mechanism = mechanism
        self.use_bias = use_bias

    def build(self, input_shape):
        values_shape, maps_shape = input_shape
        if values_shape[-1] != maps_shape[-1] or values_shape[-1] is None:
            raise ValueError(f"MapWeightedPooling '{self.name}': values {tuple(values_shape)} and "
                             f"maps {tuple(maps_shape)} need the same, known, number of tasks.")
        if self.use_bias:
            self.bias = self.add_weight(shape=(values_shape[-1],), initializer="zeros", name="bias",
                                        dtype="float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][-1])

    def call(self, inputs):
        values, maps = inputs
        values = ops.cast(values, "float32")
        maps = ops.cast(maps, "float32")
        size = tuple(values.shape[1:3])
        if tuple(maps.shape[1:3]) != size:
            maps = ops.image.resize(maps, size, interpolation="bilinear")
        gate = 1.0 + maps if self.mechanism == "residual" else maps
        out = ops.mean(gate * values, axis=(1, 2))
        return out + self.bias if self.use_bias else out

    def get_config(self):
        return {**super().get_config(), "mechanism": self.mechanism, "use_bias": self.use_bias}
