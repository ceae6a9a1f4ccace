"""Attention-augmented convolution with 2-D relative position logits (Bello et al.)."""

import keras
import numpy as np
from keras import ops

from kerasfg.layers.base import AttentionLayer, check_channels, check_odd_kernel, check_rank
from kerasfg.layers.self_attention import attend, merge_heads, split_heads


def _depth(value, filters, argument):
    """An absolute channel count from an int, or from a float fraction of ``filters``."""
    if isinstance(value, float):
        return int(filters * value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"AugmentedConv2D: `{argument}` must be an int or a float fraction of "
                     f"`filters`; received {value!r}.")


@keras.saving.register_keras_serializable(package="kerasfg")
class AugmentedConv2D(AttentionLayer):
    """Attention-augmented convolution: ``concat[conv(x), MHA(x)]`` along channels.

    As in Bello et al. and the titu1994 Keras code that ``000_f74c9bd062c0cb9b.txt`` used: a
    convolution with ``filters - value_depth`` output channels, and multi-head self-attention over
    all ``height * width`` positions: a 1x1 convolution gives ``Q, K, V`` (``key_depth``,
    ``key_depth`` and ``value_depth`` channels, split into ``num_heads`` heads), per head

        O_h = softmax((Q K^T + S_H + S_W) / sqrt(dk_h)) V,

    where the relative logits are ``S_W[i, j] = q_i . r^W[x_j - x_i]`` and
    ``S_H[i, j] = q_i . r^H[y_j - y_i]`` with learned embeddings ``r^W`` (``2 * width - 1`` by
    ``dk_h``) and ``r^H`` (``2 * height - 1`` by ``dk_h``), shared by the heads. The heads are
    concatenated and projected by a 1x1 convolution with ``value_depth`` channels. Stride 1 only.

    The softmax and the scores are float32, also under mixed precision.

    Args:
        filters: output channels (convolution and attention together).
        kernel_size: odd size of the convolution.
        key_depth: total depth of queries and keys (int), or a float fraction of ``filters``.
        value_depth: total depth of values and of the attention output (int or fraction).
        num_heads: number of heads; must divide ``key_depth`` and ``value_depth``.
        relative: whether to add the 2-D relative logits (the input height and width must then be
            known when the layer is built).
        kernel_initializer: initializer of the convolution kernels (titu1994: He normal).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: a 4D tensor ``(batch, height, width, channels)``.
        return_attention: if True, also return ``{"scores": s}``, the float32 attention scores of
            shape ``(batch, num_heads, height * width, height * width)`` (row = query position,
            column = key position, row-major ``h * width + w``).

    Input shape:
        4D tensor ``(batch, height, width, channels)``.

    Output shape:
        4D tensor ``(batch, height, width, filters)``.

    Reference:
        Bello et al., "Attention Augmented Convolutional Networks", ICCV 2019.
    """

    attention_map_names = ("scores",)

    def __init__(
        self,
        filters,
        kernel_size=3,
        key_depth=0.2,
        value_depth=0.2,
        num_heads=8,
        relative=True,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_odd_kernel("AugmentedConv2D", "kernel_size", kernel_size)
        dk = _depth(key_depth, filters, "key_depth")
        dv = _depth(value_depth, filters, "value_depth")
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"AugmentedConv2D: `num_heads` must be a positive integer; "
                             f"received {num_heads!r}.")
        for argument, depth in (("key_depth", dk), ("value_depth", dv)):
            if depth < num_heads or depth % num_heads:
                raise ValueError(
                    f"AugmentedConv2D: `{argument}` ({depth} channels) must be a positive "
                    f"multiple of num_heads={num_heads}."
                )
        if dv >= filters:
            raise ValueError(f"AugmentedConv2D: `value_depth` ({dv}) must be smaller than "
                             f"`filters` ({filters}), leaving channels for the convolution.")
        self.filters = filters
        self.kernel_size = kernel_size
        self.key_depth = key_depth
        self.value_depth = value_depth
        self.num_heads = num_heads
        self.relative = relative
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dk, self.dv = dk, dv

    def build(self, input_shape):
        check_rank(self, input_shape)
        channels = check_channels(self, input_shape)

        def conv(filters, kernel_size, name):
            return keras.layers.Conv2D(filters, kernel_size, padding="same",
                                       kernel_initializer=self.kernel_initializer,
                                       dtype=self.dtype_policy, name=name)

        self.conv = conv(self.filters - self.dv, self.kernel_size, "conv")
        self.qkv = conv(2 * self.dk + self.dv, 1, "qkv")
        self.attention_output = conv(self.dv, 1, "attention_output")
        self.conv.build(input_shape)
        self.qkv.build(input_shape)
        self.attention_output.build((*input_shape[:-1], self.dv))
        if self.relative:
            height, width = input_shape[1:3]
            if height is None or width is None:
                raise ValueError(
                    f"AugmentedConv2D '{self.name}': relative logits need a known height and "
                    f"width; received an input of shape {tuple(input_shape)}."
                )
            dkh = self.dk // self.num_heads
            init = keras.initializers.RandomNormal(stddev=dkh ** -0.5)
            self.rel_width = self.add_weight(name="rel_width", shape=(2 * width - 1, dkh),
                                             initializer=init)
            self.rel_height = self.add_weight(name="rel_height", shape=(2 * height - 1, dkh),
                                              initializer=init)
            # index[i, j] = j - i + (n - 1): the embedding row of key j seen from query i
            self._width_index = np.arange(width)[None, :] - np.arange(width)[:, None] + width - 1
            self._height_index = (np.arange(height)[None, :] - np.arange(height)[:, None]
                                  + height - 1)

    def _relative_logits(self, q, height, width):
        """``S_H + S_W`` for queries ``q`` of shape (batch, heads, h * w, dk_h), as (b, n, hw, hw)."""
        q = ops.reshape(q, (-1, self.num_heads, height, width, q.shape[-1]))
        rel_w = ops.cast(ops.take(self.rel_width, self._width_index, axis=0), q.dtype)
        rel_h = ops.cast(ops.take(self.rel_height, self._height_index, axis=0), q.dtype)
        s_w = ops.einsum("bnhwd,wvd->bnhwv", q, rel_w)  # key column v
        s_h = ops.einsum("bnhwd,hud->bnhwu", q, rel_h)  # key row u
        logits = s_h[..., :, None] + s_w[..., None, :]  # (b, n, h, w, u, v)
        return ops.reshape(logits, (-1, self.num_heads, height * width, height * width))

    def call(self, inputs, return_attention=False):
        height, width = inputs.shape[1], inputs.shape[2]
        if not self.relative:
            height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        conv_out = self.conv(inputs)
        qkv = ops.reshape(self.qkv(inputs), (-1, height * width, 2 * self.dk + self.dv))
        q, k, v = ops.split(qkv, [self.dk, 2 * self.dk], axis=-1)
        q, k, v = (split_heads(t, self.num_heads) for t in (q, k, v))
        q = q * ops.cast((self.dk // self.num_heads) ** -0.5, q.dtype)
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        if self.relative:
            logits = ops.cast(logits, "float32") + ops.cast(
                self._relative_logits(q, height, width), "float32")
        z, scores = attend(logits, v)
        z = ops.reshape(merge_heads(z), (-1, height, width, self.dv))
        outputs = ops.concatenate([conv_out, self.attention_output(z)], axis=-1)
        return self._outputs(outputs, {"scores": scores}, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            key_depth=self.key_depth,
            value_depth=self.value_depth,
            num_heads=self.num_heads,
            relative=self.relative,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
