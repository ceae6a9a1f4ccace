"""Max unpooling with switches recomputed from the pooling input and output (deconvnets)."""

import keras
from keras import ops

from kerasfg.layers.base import check_rank

_PADDINGS = ("valid", "same")


@keras.saving.register_keras_serializable(package="kerasfg")
class MaxUnpooling2D(keras.layers.Layer):
    """Max unpooling: puts each value back where its pooling window had its maximum.

    Zeiler and Fergus's deconvnet needs the "switches" of every max pooling: the position of the
    maximum in each window. Keras's ``MaxPooling2D`` does not return them, so they are recomputed
    here from the pooling input and output: the switch of a window is the first position (in
    row-major order) whose input equals the pooled output. Each value of ``x`` (shaped like the
    pooled output) is written at its window's switch; every other position is zero. Positions
    that the pooling did not cover (``"valid"`` padding with a remainder) are zero as well.

    Non-overlapping windows only (``strides == pool_size``, the deconvnet and VGG setting).

    Args:
        pool_size: int or pair, the pooling window (and stride).
        padding: ``"valid"`` or ``"same"``, as used by the pooling.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: a list ``[x, pool_input, pool_output]``: the tensor to unpool (shape of the
            pooled output), and the input and output of the max pooling.

    Input shape:
        ``x`` and ``pool_output``: ``(batch, h, w, channels)``; ``pool_input``:
        ``(batch, height, width, channels)``.

    Output shape:
        Shape of ``pool_input``.

    Reference:
        Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
    """

    def __init__(self, pool_size=2, padding="valid", **kwargs):
        super().__init__(**kwargs)
        pool_size = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
        if len(pool_size) != 2 or any(not isinstance(p, int) or p < 1 for p in pool_size):
            raise ValueError(f"MaxUnpooling2D: `pool_size` must be a positive int or a pair of "
                             f"them; received {pool_size!r}.")
        if padding not in _PADDINGS:
            raise ValueError(f"MaxUnpooling2D: `padding` must be one of {_PADDINGS}; "
                             f"received {padding!r}.")
        self.pool_size = pool_size
        self.padding = padding

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
            raise ValueError(f"MaxUnpooling2D '{self.name}' expects a list [x, pool_input, "
                             f"pool_output]; received {input_shape}.")
        x_shape, in_shape, out_shape = input_shape
        for what, shape in (("x", x_shape), ("pool_input", in_shape),
                            ("pool_output", out_shape)):
            check_rank(self, shape, what=f"`{what}` (batch, height, width, channels)")
        if any(d is None for d in (*in_shape[1:], *out_shape[1:])):
            raise ValueError(f"MaxUnpooling2D '{self.name}' needs known heights, widths and "
                             f"channels; received pool_input {tuple(in_shape)} and pool_output "
                             f"{tuple(out_shape)}.")
        if tuple(x_shape[1:]) != tuple(out_shape[1:]):
            raise ValueError(f"MaxUnpooling2D '{self.name}': `x` {tuple(x_shape)} must have the "
                             f"shape of the pooled output {tuple(out_shape)}.")
        for axis in (1, 2):
            size, pooled, p = in_shape[axis], out_shape[axis], self.pool_size[axis - 1]
            expected = size // p if self.padding == "valid" else -(-size // p)
            if pooled != expected:
                raise ValueError(
                    f"MaxUnpooling2D '{self.name}': a {self.padding} max pooling of size "
                    f"{self.pool_size} maps {tuple(in_shape)} to {expected} along axis {axis}, "
                    f"but pool_output is {tuple(out_shape)}."
                )

    def call(self, inputs):
        x, pool_input, pool_output = inputs
        ph, pw = self.pool_size
        h, w, c = pool_output.shape[1], pool_output.shape[2], pool_output.shape[3]
        height, width = pool_input.shape[1], pool_input.shape[2]
        # Bring the pooling input to exactly (h * ph, w * pw): crop ("valid") or pad ("same").
        covered = pool_input[:, : h * ph, : w * pw, :]
        pad_h, pad_w = h * ph - covered.shape[1], w * pw - covered.shape[2]
        if pad_h or pad_w:
            covered = ops.pad(covered, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)),
                              constant_values=float("-inf"))
        # (b, h, ph, w, pw, c) -> (b, h, w, c, ph * pw): one row per window
        windows = ops.reshape(covered, (-1, h, ph, w, pw, c))
        windows = ops.reshape(ops.transpose(windows, (0, 1, 3, 5, 2, 4)), (-1, h, w, c, ph * pw))
        is_max = ops.cast(ops.equal(windows, ops.expand_dims(pool_output, -1)), "int32")
        first = ops.logical_and(is_max > 0, ops.cumsum(is_max, axis=-1) == 1)
        switches = ops.stop_gradient(ops.cast(first, x.dtype))
        unpooled = switches * ops.expand_dims(x, -1)
        unpooled = ops.transpose(ops.reshape(unpooled, (-1, h, w, c, ph, pw)), (0, 1, 4, 2, 5, 3))
        unpooled = ops.reshape(unpooled, (-1, h * ph, w * pw, c))
        # Back to the pooling input's size: crop the "same" padding, or zero-fill the remainder.
        unpooled = unpooled[:, :height, :width, :]
        rest_h, rest_w = height - unpooled.shape[1], width - unpooled.shape[2]
        if rest_h or rest_w:
            unpooled = ops.pad(unpooled, ((0, 0), (0, rest_h), (0, rest_w), (0, 0)))
        return unpooled

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, padding=self.padding)
        return config
