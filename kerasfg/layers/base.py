"""The contract every kerasfg attention layer follows, and the input checks they share.

Reading the maps (for ``kerasfg.vis`` and for users)
---------------------------------------------------
Every attention layer subclasses :class:`AttentionLayer` and accepts the call argument
``return_attention`` (default ``False``):

    outputs = layer(x)                                  # what goes on through the network
    outputs, maps = layer(x, return_attention=True)     # plus a dict of float32 maps

``maps`` is a dict whose keys are ``layer.attention_map_names``. Spatial maps have shape
``(batch, height, width, n)`` (``n`` = 1 for a single map, or the number of heads or tasks); channel
gates have shape ``(batch, channels)``; attention scores over positions have shape
``(batch, heads, queries, keys)``. Maps are always float32, also under mixed precision.

In a functional model the vis code therefore needs no special outputs: it finds the layers with
``isinstance(layer, AttentionLayer)``, computes their input with ``keras.Model(model.inputs,
layer.input)`` and calls ``layer(features, return_attention=True, training=False)``.
"""

import keras
from keras import ops

from kerasfg.layers import fused_gates

_HELD = fused_gates.ThreadSwitch()


def gates_held():
    """Attention layers called inside this context hold their gates constant for the gradient.

    A gated layer computes ``x * gate(x)``; inside the context it computes the same values as
    ``x * stop_gradient(gate(x))``, so that its gradient is the input's gradient multiplied by the gate at
    its forward value. The deconvnet (`kerasfg.vis.deconvolution`) projects through attention this way.
    It acts when a layer is called (or a compiled function traced), in this thread.
    """
    return _HELD.on()


class AttentionLayer(keras.layers.Layer):
    """Base class of the kerasfg attention layers (see the module docstring for the contract).

    Subclasses set ``attention_map_names`` and implement ``call(inputs, training=None,
    return_attention=False)``.
    """

    attention_map_names = ()

    def _sigmoid_gate(self, logits):
        """A sigmoid gate computed in float32 (float16 sigmoid saturates to 1 at x >= 8)."""
        return ops.sigmoid(ops.cast(logits, "float32"))

    def _apply_gate(self, x, gate, fused=False):
        """``x * gate``, with the float32 gate cast to the dtype of ``x`` (a constant inside `gates_held`).

        ``fused=True`` (where `kerasfg.layers.fused_gates.applies`) multiplies channel and pixel gates
        with the fused kernels.
        """
        gate = ops.cast(gate, x.dtype)
        if _HELD.active:
            return x * ops.stop_gradient(gate)
        if _is_channel_gate(x, gate):
            gate = ops.reshape(gate, (-1, x.shape[-1]))
            return fused_gates.scale_channels(x, gate) if fused else scale_channels(x, gate)
        if fused and _is_pixel_gate(x, gate):
            return fused_gates.scale_pixels(x, gate)
        return x * gate

    def _apply_channel_gate(self, x, gate, fused=False):
        """`_apply_gate` for a ``(batch, channels)`` gate over a 4D ``x``."""
        return self._apply_gate(x, ops.reshape(gate, (-1, 1, 1, x.shape[-1])), fused)

    def _outputs(self, outputs, maps, return_attention):
        if return_attention:
            return outputs, maps
        return outputs


def check_rank(layer, input_shape, rank=4, what="a feature map (batch, height, width, channels)"):
    """Raise a ValueError naming ``layer`` if ``input_shape`` does not have ``rank`` dimensions."""
    if len(input_shape) != rank:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' expects {what} of rank {rank}, "
            f"but received an input of shape {tuple(input_shape)} (rank {len(input_shape)})."
        )


def check_channels(layer, input_shape):
    """Return the (static) channel count of a channels-last input, or raise a ValueError."""
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' needs a known number of channels (last axis), "
            f"but received an input of shape {tuple(input_shape)}."
        )
    return int(channels)


def check_odd_kernel(layer_name, argument, value):
    """Raise a ValueError unless ``value`` is a positive odd integer ('same' padding stays centred)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value % 2 == 0:
        raise ValueError(
            f"{layer_name}: `{argument}` must be a positive odd integer, so that the padding is "
            f"symmetric; received {value!r}."
        )


def make_divisible(value, divisor, round_limit=0.0):
    """Round ``value`` to a multiple of ``divisor`` (timm / TF-slim ``make_divisible``)."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return new_value


def reduced_channels(layer, channels, ratio, divisor=None):
    """Width of the bottleneck of a channel-attention MLP.

    ``channels // ratio`` when ``divisor`` is None (SENet / official CBAM); otherwise timm's
    ``make_divisible(channels / ratio, divisor, round_limit=0)`` (``divisor=1`` rounds half up, as
    timm's CBAM does; ``divisor=8`` is timm's SE). Raises a ValueError when this is below 1.
    """
    if divisor is None:
        reduced = channels // ratio
    else:
        reduced = make_divisible(channels / ratio, divisor)
    if reduced < 1:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {channels} input channels with ratio={ratio} "
            f"give a bottleneck of {reduced} channels; expected at least 1. Use a smaller `ratio` "
            f"(at most {channels}) or more channels."
        )
    return reduced


def global_pool(x, kind):
    """Mean or max of a 4D channels-last ``x`` over its spatial axes, ``(batch, channels)``.

    One pooling operation with a window as large as the map (``ops.average_pool`` /
    ``ops.max_pool``): the values of ``ops.mean`` / ``ops.max`` over axes 1 and 2, but on TensorFlow
    the forward and backward passes are single pooling kernels (oneDNN on CPUs, cuDNN on GPUs),
    where the reduction's gradient tiles and divides the whole map in separate passes. Where a
    maximum is tied, the pooling gradient goes whole to one of the tied positions (a subgradient, as
    PyTorch's ``adaptive_max_pool2d``); ``ops.max`` shares it among them. Maps of unknown height or
    width are reduced with ``ops.mean`` / ``ops.max``.

    Args:
        x: a ``(batch, height, width, channels)`` tensor.
        kind: ``"mean"`` or ``"max"``.

    Returns:
        A ``(batch, channels)`` tensor of the dtype of ``x``.
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        reduce = ops.mean if kind == "mean" else ops.max
        return reduce(x, axis=(1, 2))
    pool = ops.average_pool if kind == "mean" else ops.max_pool
    pooled = pool(x, (height, width), strides=(height, width), padding="valid")
    return ops.reshape(pooled, (-1, x.shape[-1]))


def mean_pool_and_input(x, fused=False):
    """``(global_pool(x, "mean"), x)``: a channel gate's pooled input, and ``x`` to apply the gate to.

    The values are those of ``global_pool(x, "mean")`` and ``x``; the point is the gradient. A
    channel gate reads ``x`` twice, by its pooling and by its multiplication, and autodiff would
    write the pooling's gradient as a whole map (``mean`` broadcast over height and width) and then
    add the two maps. Gating the returned ``x`` instead makes the gradient of ``x`` one broadcast
    addition, ``d_x + d_pooled / (height * width)``: per gate and training step, one full map fewer
    written and read. Maps of unknown height or width, and the PyTorch backend (whose
    ``ops.custom_gradient`` takes functions of one output), return ``x`` itself.

    Args:
        x: a ``(batch, height, width, channels)`` tensor.
        fused: whether the gradient's addition runs as the fused kernel
            (`kerasfg.layers.fused_gates.add_channels`, where `kerasfg.layers.fused_gates.applies`).

    Returns:
        A tuple ``(pooled, x)``: the ``(batch, channels)`` mean of ``x`` and a tensor equal to ``x``.

    Example:

    ```python
    pooled, x = mean_pool_and_input(x)
    gate = sigmoid(mlp(pooled))             # (batch, channels)
    y = x * gate[:, None, None, :]          # gate the returned x, not the original
    ```
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None or keras.backend.backend() == "torch":
        return global_pool(x, "mean"), x
    size = height * width

    @ops.custom_gradient
    def pool(x):
        def grad(*args, upstream=None):
            d_pooled, d_x = _upstreams(args, upstream)
            if d_pooled is None:
                return d_x
            d_pooled = d_pooled / size
            if d_x is not None and fused:
                return fused_gates.add_channels(d_x, ops.cast(d_pooled, d_x.dtype))
            d_pooled = ops.reshape(d_pooled, (-1, 1, 1, x.shape[-1]))
            return d_pooled if d_x is None else d_x + d_pooled

        return (global_pool(x, "mean"), x), grad

    return pool(x)


def _upstreams(args, upstream):
    """The upstream gradients an `ops.custom_gradient` gradient function received, as a tuple.

    TensorFlow passes one positional argument per output, JAX one argument holding the outputs'
    structure, and Keras may pass a single one as ``upstream=``.
    """
    if upstream is not None:
        args = (upstream,)
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _is_channel_gate(x, gate):
    """Whether ``gate`` is ``(batch, 1, 1, channels)`` over a 4D ``x`` of known height and width."""
    return (len(x.shape) == 4 and len(gate.shape) == 4 and tuple(gate.shape[1:3]) == (1, 1)
            and gate.shape[3] == x.shape[3] and None not in x.shape[1:3])


def _is_pixel_gate(x, gate):
    """Whether ``gate`` is ``(batch, height, width, 1)`` over a 4D ``x`` of the same height and width."""
    return (len(x.shape) == 4 and len(gate.shape) == 4 and gate.shape[3] == 1
            and tuple(gate.shape[1:3]) == tuple(x.shape[1:3]) and None not in x.shape[1:3])


def scale_channels(x, gate):
    """``x * gate[:, None, None, :]``: a 4D channels-last ``x`` scaled by a ``(batch, channels)`` gate.

    The value and gradient are those of the multiplication, but the gate's gradient (the sum of
    ``upstream * x`` over the map) is taken with one pooling kernel (`global_pool`) instead of a
    reduction over the two spatial axes, which on TensorFlow's CPU kernels costs about twice as
    much and is part of every channel gate's backward pass.

    Args:
        x: a ``(batch, height, width, channels)`` tensor of known height and width.
        gate: a ``(batch, channels)`` tensor of the dtype of ``x``.

    Returns:
        A tensor of the shape and dtype of ``x``.
    """
    size = x.shape[1] * x.shape[2]

    @ops.custom_gradient
    def scale(x, gate):
        def grad(*args, upstream=None):
            (upstream,) = _upstreams(args, upstream)
            return (upstream * gate[:, None, None, :],
                    global_pool(upstream * x, "mean") * ops.cast(size, upstream.dtype))

        return x * gate[:, None, None, :], grad

    return scale(x, gate)


def _counting_dtype(size):
    """The narrowest float dtype that counts up to ``size`` exactly, whatever the order of the additions.

    Every partial sum of a count is an integer of at most ``size``: bfloat16 holds every integer up to
    256, float16 up to 2048. Counting a map's ties in them writes and reads half the bytes of float32.
    """
    if size <= 256:
        return "bfloat16"
    return "float16" if size <= 2048 else "float32"


def max_mean_pool(x, axis):
    """Max and mean of ``x`` over ``axis``, concatenated (``[max, mean]``) along ``axis[0]``.

    The values and gradient are those of ``ops.max`` and ``ops.mean`` (ties share the gradient
    of the max equally, as TensorFlow and JAX do), but the gradient is written as one fused
    expression: TensorFlow's own max gradient alone makes five passes over ``x``, which made
    CBAM's two max poolings a large part of its training cost. ``axis`` is a tuple of axes.
    """
    size = 1
    for a in axis:
        size *= x.shape[a]

    @ops.custom_gradient
    def pool(x):
        maximum = ops.max(x, axis=axis, keepdims=True)
        pooled = ops.concatenate([maximum, ops.mean(x, axis=axis, keepdims=True)], axis=axis[0])

        def grad(*args, upstream=None):
            (upstream,) = _upstreams(args, upstream)
            g_max, g_mean = ops.split(upstream, 2, axis=axis[0])
            is_max = ops.equal(x, maximum)
            count = ops.sum(ops.cast(is_max, _counting_dtype(size)), axis=axis, keepdims=True)
            g_mean = g_mean / size
            return ops.where(is_max, g_max / ops.cast(count, upstream.dtype) + g_mean, g_mean)

        return pooled, grad

    return pool(x)
