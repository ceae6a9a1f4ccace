"""Convolutional Block Attention Module (CBAM)."""

import keras
from keras import ops

from kerasfg.layers import fused_gates
from kerasfg.layers.base import (
    AttentionLayer,
    check_channels,
    check_odd_kernel,
    check_rank,
    global_pool,
    max_mean_pool,
    mean_pool_and_input,
    reduced_channels,
)
from kerasfg.layers.batch_norm import BatchNormalization

_ORDERS = ("channel_first", "spatial_first", "parallel")
_POOL_ORDERS = ("max_mean", "mean_max")


@keras.saving.register_keras_serializable(package="kerasfg")
class CBAM(AttentionLayer):
    """Convolutional Block Attention Module: a channel gate, then a spatial gate.

    Follows the official code (Jongchan/attention-module, ``MODELS/cbam.py``):

    - channel gate ``Mc = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))``, with one MLP shared by both
      pooled vectors (``Dense(C // ratio, relu) -> Dense(C)``, both with bias);
    - spatial gate ``Ms = sigmoid(BN(conv_kxk([max_c(x'), mean_c(x')])))``, a bias-free convolution
      from the two channel-pooled maps to one map, then batch normalization (epsilon 1e-5, gamma
      initialised to 0 as in the official initialisation, so that the gate starts at 0.5);
    - output ``x'' = Ms * x'`` with ``x' = Mc * x``.

    Both gates are computed in float32, also under mixed precision.

    Args:
        ratio: reduction of the channel MLP: its hidden width is ``channels // ratio``.
        kernel_size: odd size of the spatial convolution (7 in the paper).
        mlp_bias: whether the MLP layers have a bias (True officially; timm's ``CbamModule`` uses
            False).
        divisor: None for ``channels // ratio``; an integer to round ``channels / ratio`` to a
            multiple of it as timm does (``divisor=1``: round half up, timm's CBAM).
        order: ``"channel_first"`` (the paper's and official order), ``"spatial_first"``
            (spatial gate on the input, then channel gate) or ``"parallel"`` (both gates computed
            from the input and applied together, ``x * Mc * Ms``): the orderings of the paper's
            ablation.
        spatial_pool_order: ``"max_mean"`` (official) or ``"mean_max"`` (timm) order of the two maps
            fed to the spatial convolution.
        use_spatial: False drops the spatial gate (the official ``no_spatial`` flag).
        bn_momentum: momentum of the spatial batch normalization (Keras convention; PyTorch's 0.01
            is 0.99 here).
        bn_epsilon: epsilon of the spatial batch normalization.
        kernel_initializer: initializer of the MLP and convolution kernels.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: a 4D tensor ``(batch, height, width, channels)``.
        training: whether the batch normalization uses batch statistics; True also runs the gates as
            fused kernels on TensorFlow (`kerasfg.layers.fused_gates`), with the same values.
        return_attention: if True, also return the dict of maps ``{"channel": (batch, channels),
            "spatial": (batch, height, width, 1)}`` (float32; no ``"spatial"`` entry when
            ``use_spatial=False``).

    Input shape:
        4D tensor ``(batch, height, width, channels)``, channels known.

    Output shape:
        Same as the input.

    Reference:
        Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
    """

    attention_map_names = ("channel", "spatial")

    def __init__(
        self,
        ratio=16,
        kernel_size=7,
        mlp_bias=True,
        divisor=None,
        order="channel_first",
        spatial_pool_order="max_mean",
        use_spatial=True,
        bn_momentum=0.99,
        bn_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_odd_kernel(type(self).__name__, "kernel_size", kernel_size)
        if order not in _ORDERS:
            raise ValueError(f"CBAM: `order` must be one of {_ORDERS}; received {order!r}.")
        if spatial_pool_order not in _POOL_ORDERS:
            raise ValueError(
                f"CBAM: `spatial_pool_order` must be one of {_POOL_ORDERS}; "
                f"received {spatial_pool_order!r}."
            )
        if ratio < 1:
            raise ValueError(f"CBAM: `ratio` must be >= 1; received {ratio!r}.")
        self.ratio = ratio
        self.kernel_size = kernel_size
        self.mlp_bias = mlp_bias
        self.divisor = divisor
        self.order = order
        self.spatial_pool_order = spatial_pool_order
        self.use_spatial = use_spatial
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        if not use_spatial:
            self.attention_map_names = ("channel",)

    def build(self, input_shape):
        check_rank(self, input_shape)
        channels = check_channels(self, input_shape)
        self.reduced_channels = reduced_channels(self, channels, self.ratio, self.divisor)
        self.mlp_hidden = keras.layers.Dense(
            self.reduced_channels,
            activation="relu",
            use_bias=self.mlp_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="mlp_hidden",
        )
        self.mlp_out = keras.layers.Dense(
            channels,
            use_bias=self.mlp_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="mlp_out",
        )
        self.mlp_hidden.build((None, channels))
        self.mlp_out.build((None, self.reduced_channels))
        if self.use_spatial:
            self.spatial_conv = keras.layers.Conv2D(
                1,
                self.kernel_size,
                padding="same",
                use_bias=False,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name="spatial_conv",
            )
            self.spatial_bn = BatchNormalization(
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                gamma_initializer="zeros",
                dtype="float32",
                name="spatial_bn",
            )
            self.spatial_conv.build((*input_shape[:-1], 2))
            self.spatial_bn.build((*input_shape[:-1], 1))

    def channel_gate(self, x, fused=False):
        """The float32 channel gate ``sigmoid(MLP(avg) + MLP(max))`` and the input to apply it to.

        Returns:
            ``(gate, x)``: the ``(batch, channels)`` gate and a tensor equal to ``x``; gate that
            one (`kerasfg.layers.base.mean_pool_and_input` explains why).
        """
        if fused:
            mean, maximum, gated_input = fused_gates.mean_max_pool_and_input(x)
        else:
            mean, gated_input = mean_pool_and_input(x)
            maximum = global_pool(x, "max")
        # Both pooled vectors through the shared MLP as one batch of 2 * batch rows: 2D matrix
        # products, where a (batch, 2, channels) input would go through Tensordot's reshapes.
        pooled = ops.concatenate([maximum, mean], axis=0)
        from_max, from_mean = ops.split(self.mlp_out(self.mlp_hidden(pooled)), 2, axis=0)
        return self._sigmoid_gate(from_max + from_mean), gated_input

    def spatial_gate(self, x, training=None, fused=False):
        """The float32 spatial gate ``sigmoid(BN(conv([max, mean])))`` and the input to apply it to.

        Returns:
            ``(gate, x)``: the ``(batch, height, width, 1)`` gate and a tensor equal to ``x``; gate
            that one (with ``fused``, its gradient and the channel pooling's are one pass:
            `kerasfg.layers.fused_gates.channel_max_mean_and_input`).
        """
        if fused:
            pooled, x = fused_gates.channel_max_mean_and_input(x)
        else:
            pooled = max_mean_pool(x, axis=(3,))  # [max, mean] over channels
        if self.spatial_pool_order == "mean_max":
            pooled = ops.flip(pooled, axis=-1)
        logits = self.spatial_conv(pooled)
        logits = self.spatial_bn(ops.cast(logits, "float32"), training=training)
        return self._sigmoid_gate(logits), x

    def call(self, inputs, training=None, return_attention=False):
        x = inputs
        maps = {}
        fused = fused_gates.applies(training, x)
        if self.order == "spatial_first" and self.use_spatial:
            maps["spatial"], x = self.spatial_gate(x, training, fused)
            x = self._apply_gate(x, maps["spatial"], fused)
        maps["channel"], x = self.channel_gate(x, fused)
        if self.order == "channel_first" and self.use_spatial:
            x = self._apply_channel_gate(x, maps["channel"], fused)
            maps["spatial"], x = self.spatial_gate(x, training, fused)
            x = self._apply_gate(x, maps["spatial"], fused)
        elif self.order == "parallel" and self.use_spatial:
            maps["spatial"], _ = self.spatial_gate(x, training)
            x = self._apply_gate(x, maps["channel"][:, None, None, :] * maps["spatial"])
        else:
            x = self._apply_channel_gate(x, maps["channel"], fused)
        return self._outputs(x, maps, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            ratio=self.ratio,
            kernel_size=self.kernel_size,
            mlp_bias=self.mlp_bias,
            divisor=self.divisor,
            order=self.order,
            spatial_pool_order=self.spatial_pool_order,
            use_spatial=self.use_spatial,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
