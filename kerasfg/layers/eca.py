"""Efficient Channel Attention (ECA)."""

import math

import keras
from keras import ops

from kerasfg.layers import fused_gates
from kerasfg.layers.base import AttentionLayer, check_channels, check_odd_kernel, check_rank, mean_pool_and_input

_VARIANTS = ("paper", "fer_report")
_PADDINGS = ("zeros", "circular")


def eca_kernel_size(channels, gamma=2, b=1):
    """The ECA paper's adaptive kernel size ``k = |(log2(C) + b) / gamma|_odd``.

    As the paper's code (its Fig. 3): ``t = int(|(log2(C) + b) / gamma|)``, then ``t + 1`` if ``t``
    is even. For C = 64, 128, 256, 512, 1024, 2048 this gives 3, 5, 5, 5, 5, 7.
    """
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@keras.saving.register_keras_serializable(package="kerasfg")
class ECA(AttentionLayer):
    """Efficient Channel Attention: a per-channel gate from a 1-D convolution across channels.

    ``y = avgpool(x)`` (one value per channel), ``gate = sigmoid(conv1d_k(y))`` where the
    convolution runs along the channel axis with one shared kernel of ``k`` weights, no bias and
    zero padding (the official ``eca_layer``); output ``x * gate``. The gate is computed in
    float32, also under mixed precision.

    ``variant="fer_report"`` reproduces, only to explain the parameter counts of the FER report
    (``001_8567db0c98305053.txt``), that report's code: kernel size ``int(|log2(C) + b / gamma|)``
    made odd, and a Conv1D over a length-1 sequence with ``k * C`` weights whose single output
    gates all channels alike. It is not channel attention; do not use it otherwise.

    Args:
        kernel_size: odd kernel size, or None for the paper's adaptive rule (``eca_kernel_size``).
            The released checkpoints set it per stage (ECA-ResNet-50: 3, 5, 5, 7).
        gamma: gamma of the adaptive rule.
        b: b of the adaptive rule.
        padding: ``"zeros"`` (official) or ``"circular"`` (timm's CecaModule).
        variant: ``"paper"`` (default) or ``"fer_report"`` (see above).
        kernel_initializer: initializer of the convolution kernel.
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
        Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural
        Networks", CVPR 2020.
    """

    attention_map_names = ("channel",)

    def __init__(
        self,
        kernel_size=None,
        gamma=2,
        b=1,
        padding="zeros",
        variant="paper",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kernel_size is not None:
            check_odd_kernel("ECA", "kernel_size", kernel_size)
        if padding not in _PADDINGS:
            raise ValueError(f"ECA: `padding` must be one of {_PADDINGS}; received {padding!r}.")
        if variant not in _VARIANTS:
            raise ValueError(f"ECA: `variant` must be one of {_VARIANTS}; received {variant!r}.")
        self.kernel_size = kernel_size
        self.gamma = gamma
        self.b = b
        self.padding = padding
        self.variant = variant
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        check_rank(self, input_shape)
        channels = check_channels(self, input_shape)
        if self.kernel_size is not None:
            k = self.kernel_size
        elif self.variant == "fer_report":
            t = int(abs(math.log2(channels) + self.b / self.gamma))
            k = t if t % 2 else t + 1
        else:
            k = eca_kernel_size(channels, self.gamma, self.b)
        self.effective_kernel_size = k
        self.conv = keras.layers.Conv1D(
            1,
            k,
            # Zero padding is the convolution's own "same" padding (odd k, stride 1); circular
            # padding is written out in call().
            padding="valid" if self.padding == "circular" and self.variant == "paper" else "same",
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="conv",
        )
        if self.variant == "fer_report":
            self.conv.build((None, 1, channels))
        else:
            self.conv.build((None, channels + (k - 1 if self.padding == "circular" else 0), 1))

    def call(self, inputs, training=None, return_attention=False):
        fused = fused_gates.applies(training, inputs)
        pooled, inputs = mean_pool_and_input(inputs, fused)
        if self.variant == "fer_report":
            logits = ops.broadcast_to(self.conv(pooled[:, None, :])[:, 0, :], ops.shape(pooled))
        else:
            channels = pooled.shape[-1]
            y = ops.reshape(pooled, (-1, channels, 1))
            if self.padding == "circular":
                half = self.effective_kernel_size // 2
                y = ops.concatenate([y[:, channels - half:], y, y[:, :half]], axis=1)
            logits = ops.reshape(self.conv(y), (-1, channels))
        gate = self._sigmoid_gate(logits)
        outputs = self._apply_channel_gate(inputs, gate, fused)
        return self._outputs(outputs, {"channel": gate}, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            gamma=self.gamma,
            b=self.b,
            padding=self.padding,
            variant=self.variant,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
