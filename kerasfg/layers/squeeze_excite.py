"""Squeeze-and-Excitation (SE) channel attention."""

import keras
from keras import ops

from kerasfg.layers import fused_gates
from kerasfg.layers.base import AttentionLayer, check_channels, check_rank, mean_pool_and_input, reduced_channels


@keras.saving.register_keras_serializable(package="kerasfg")
class SqueezeExcite(AttentionLayer):
    """Squeeze-and-Excitation: ``x * sigmoid(W2 relu(W1 avgpool(x) + b1) + b2)``.

    As in the official SENet models: global average pooling, a bottleneck MLP with bias down to
    ``channels // ratio`` and back, ReLU between, a sigmoid gate per channel. The gate is computed
    in float32, also under mixed precision.

    Args:
        ratio: reduction ratio r; the hidden width is ``channels // ratio`` (SENet: 16).
        divisor: None for ``channels // ratio``; an integer to round ``channels / ratio`` to a
            multiple of it as timm's ``SEModule`` (``divisor=8``) and kecam do.
        activation: hidden activation (``"relu"`` in SENet; ``"swish"`` in EfficientNet).
        gate_activation: gate activation, ``"sigmoid"`` or ``"hard_sigmoid"`` (MobileNetV3; in
            Keras 3 this is ``relu6(x + 3) / 6``).
        use_bias: whether both dense layers have a bias (True in SENet).
        kernel_initializer: initializer of both kernels.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: a 4D tensor ``(batch, height, width, channels)``.
        training: True in the training step, where the gate runs as fused kernels on TensorFlow
            (`kerasfg.layers.fused_gates`); the values are the same.
        return_attention: if True, also return ``{"channel": gate}``, the float32 gate of shape
            ``(batch, channels)``.

    Input shape:
        4D tensor ``(batch, height, width, channels)``, channels known.

    Output shape:
        Same as the input.

    Reference:
        Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018 / TPAMI 2019.
    """

    attention_map_names = ("channel",)

    def __init__(
        self,
        ratio=16,
        divisor=None,
        activation="relu",
        gate_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if ratio < 1:
            raise ValueError(f"SqueezeExcite: `ratio` must be >= 1; received {ratio!r}.")
        self.ratio = ratio
        self.divisor = divisor
        self.activation = keras.activations.get(activation)
        self.gate_activation = keras.activations.get(gate_activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        check_rank(self, input_shape)
        channels = check_channels(self, input_shape)
        self.reduced_channels = reduced_channels(self, channels, self.ratio, self.divisor)
        common = {"use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                  "dtype": self.dtype_policy}
        self.squeeze = keras.layers.Dense(self.reduced_channels, activation=self.activation,
                                          name="squeeze", **common)
        self.excite = keras.layers.Dense(channels, name="excite", **common)
        self.squeeze.build((None, channels))
        self.excite.build((None, self.reduced_channels))

    def call(self, inputs, training=None, return_attention=False):
        fused = fused_gates.applies(training, inputs)
        pooled, inputs = mean_pool_and_input(inputs, fused)
        logits = self.excite(self.squeeze(pooled))
        gate = self.gate_activation(ops.cast(logits, "float32"))
        outputs = self._apply_channel_gate(inputs, gate, fused)
        return self._outputs(outputs, {"channel": gate}, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            ratio=self.ratio,
            divisor=self.divisor,
            activation=keras.activations.serialize(self.activation),
            gate_activation=keras.activations.serialize(self.gate_activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
