"""Multi-head self-attention over the positions of a feature map."""

import keras
from keras import ops

from kerasfg.layers.base import AttentionLayer, check_channels, check_rank


def split_heads(x, num_heads):
    """``(batch, positions, heads * depth)`` -> ``(batch, heads, positions, depth)``."""
    depth = x.shape[-1] // num_heads
    x = ops.reshape(x, (-1, ops.shape(x)[1], num_heads, depth))
    return ops.transpose(x, (0, 2, 1, 3))


def merge_heads(x):
    """``(batch, heads, positions, depth)`` -> ``(batch, positions, heads * depth)``."""
    x = ops.transpose(x, (0, 2, 1, 3))
    return ops.reshape(x, (-1, ops.shape(x)[1], x.shape[2] * x.shape[3]))


def attend(logits, values):
    """Softmax of ``logits`` over keys in float32, then the weighted sum of ``values``.

    Returns the output in the dtype of ``values`` and the float32 attention scores.
    """
    scores = ops.softmax(ops.cast(logits, "float32"), axis=-1)
    return ops.matmul(ops.cast(scores, values.dtype), values), scores


@keras.saving.register_keras_serializable(package="kerasfg")
class SelfAttention2D(AttentionLayer):
    """Multi-head self-attention over the ``height * width`` positions of a feature map.

    Each position is a token: ``t = x + P`` (``P`` a learned 2-D position embedding, optional),
    pre-layer-normalized, ``Q = t Wq, K = t Wk, V = t Wv`` split into heads,
    ``Z = softmax(Q K^T / sqrt(key_dim)) V`` per head (Vaswani et al.; Eq. 1-4 of
    ``000_f74c9bd062c0cb9b.txt``), heads concatenated and projected back to the input channels by
    ``Wo``. With ``residual=True`` the output is ``x + gamma * Z Wo`` with a learned scalar
    ``gamma`` initialised to 0 (SAGAN / non-local style), so that the layer starts as the identity.

    The softmax and the scores are float32, also under mixed precision.

    Args:
        num_heads: number of attention heads.
        key_dim: depth of each head's queries and keys; None for ``channels // num_heads``.
        value_dim: depth of each head's values; None for ``key_dim``.
        position_embedding: whether to add a learned ``(height, width, channels)`` embedding
            (the input height and width must then be known when the layer is built).
        layer_norm: whether to layer-normalize the tokens first (pre-LN).
        residual: whether to add the input back through the zero-initialised scalar ``gamma``.
        use_bias: whether the projections have biases.
        kernel_initializer: initializer of the projection kernels.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: a 4D tensor ``(batch, height, width, channels)``.
        return_attention: if True, also return ``{"scores": s}``, the float32 attention scores of
            shape ``(batch, num_heads, height * width, height * width)`` (row = query position,
            column = key position, both in row-major ``h * width + w`` order).

    Input shape:
        4D tensor ``(batch, height, width, channels)``.

    Output shape:
        Same as the input.

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017; Zhang et al., "Self-Attention
        Generative Adversarial Networks", ICML 2019 (zero-initialised residual scale).
    """

    attention_map_names = ("scores",)

    def __init__(
        self,
        num_heads=4,
        key_dim=None,
        value_dim=None,
        position_embedding=True,
        layer_norm=True,
        residual=True,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"SelfAttention2D: `{arg}` must be a positive integer; received {value!r}."
                )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.position_embedding = position_embedding
        self.layer_norm = layer_norm
        self.residual = residual
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        check_rank(self, input_shape)
        channels = check_channels(self, input_shape)
        key_dim = self.key_dim or channels // self.num_heads
        if key_dim < 1:
            raise ValueError(
                f"SelfAttention2D '{self.name}': {channels} channels cannot be split into "
                f"num_heads={self.num_heads} heads of at least 1 channel; give `key_dim`."
            )
        self.head_key_dim = key_dim
        self.head_value_dim = self.value_dim or key_dim
        if self.position_embedding:
            height, width = input_shape[1:3]
            if height is None or width is None:
                raise ValueError(
                    f"SelfAttention2D '{self.name}': a position embedding needs a known height "
                    f"and width; received an input of shape {tuple(input_shape)}. Use "
                    f"position_embedding=False for inputs of any size."
                )
            self.position = self.add_weight(
                name="position", shape=(height, width, channels),
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )
        if self.layer_norm:
            self.norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype=self.dtype_policy,
                                                        name="norm")
            self.norm.build((None, None, channels))

        def dense(units, name, input_units=channels):
            layer = keras.layers.Dense(units, use_bias=self.use_bias, dtype=self.dtype_policy,
                                       kernel_initializer=self.kernel_initializer, name=name)
            layer.build((None, None, input_units))
            return layer

        value_units = self.num_heads * self.head_value_dim
        self.query = dense(self.num_heads * key_dim, "query")
        self.key = dense(self.num_heads * key_dim, "key")
        self.value = dense(value_units, "value")
        self.output_dense = dense(channels, "output", input_units=value_units)
        if self.residual:
            self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, inputs, return_attention=False):
        channels = inputs.shape[-1]
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        tokens = inputs
        if self.position_embedding:
            tokens = tokens + ops.cast(self.position, inputs.dtype)
        tokens = ops.reshape(tokens, (-1, height * width, channels))
        if self.layer_norm:
            tokens = self.norm(tokens)
        q = split_heads(self.query(tokens), self.num_heads)
        k = split_heads(self.key(tokens), self.num_heads)
        v = split_heads(self.value(tokens), self.num_heads)
        q = q * ops.cast(self.head_key_dim ** -0.5, q.dtype)
        z, scores = attend(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), v)
        z = self.output_dense(merge_heads(z))
        z = ops.reshape(z, ops.shape(inputs))
        outputs = inputs + ops.cast(self.gamma, z.dtype) * z if self.residual else z
        return self._outputs(outputs, {"scores": scores}, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            position_embedding=self.position_embedding,
            layer_norm=self.layer_norm,
            residual=self.residual,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
