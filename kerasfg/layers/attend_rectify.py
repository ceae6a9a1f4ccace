"""Attend and Rectify: gated attention modules that rectify a network's prediction."""

import keras
from keras import ops

from kerasfg.layers.base import AttentionLayer, check_channels, check_odd_kernel, check_rank

_GATES = ("softmax", "sigmoid")


@keras.saving.register_keras_serializable(package="kerasfg")
class AttendRectify(AttentionLayer):
    """Attend-and-rectify (WARN) attention modules plus the global gate, as one layer.

    For each attended feature map ``Z`` (thesis ``002_c1e3dd09777d292a.txt`` ch. 4; official
    code ``prlz77/attend-and-rectify``), with K = ``num_heads`` heads and bias-free
    ``kernel_size`` convolutions:

    - masks ``H = spatial_softmax(conv_K(Z))``: one softmax over the ``h * w`` positions per head
      (Eq. 4.1);
    - per-head class scores ``o_k = sum_xy H_k * O_k`` with ``O = conv_{K * classes}(Z)``
      (channel ``k * classes + c``, the official head-major layout; Eq. 4.2-4.3);
    - head gates ``g = softmax_k(tanh(sum_xy H_k * conv_K(Z)_k))`` and the module output
      ``o = sum_k g_k o_k`` (Eq. 4.4-4.5).

    The global gate (Eq. 4.6-4.8, official ``Gate``) is ``c = tanh(BN(W GAP(Z_last)))`` with
    ``len(attended) + 1`` units and no bias, normalized by a softmax (``gate="softmax"``) or by
    ``sigmoid(c) / sum(sigmoid(c))`` (``"sigmoid"``, used by the official CIFAR-100 and ImageNet
    runs). Gate 0 weighs the network's own output, gate ``i`` the ``i``-th module. The layer
    returns the gated mixture of log-probabilities ``sum_i g_i log_softmax(o_i)``, as the official
    code does; train it with ``kerasfg.losses.NegativeLogLikelihood`` (the mixture is not
    normalized, so a softmax cross-entropy on it would change the objective).

    The masks' diversity penalty (the official code's form of Zhao et al.'s regularizer): masks
    average-pooled 2x2, ``A`` of shape ``(K, positions)``, ``mean(((A A^T) * (1 - I))^2)``,
    averaged over the modules and multiplied by ``reg_weight``, is added with ``add_loss``.

    Masks, gates and the mixture are computed in float32, also under mixed precision.

    Args:
        num_classes: number of classes.
        num_heads: K, attention heads per module (the thesis's attention width).
        gate: ``"softmax"`` or ``"sigmoid"`` normalization of the global gates.
        reg_weight: weight of the diversity penalty (official default 1e-3; 0 disables it).
        kernel_size: odd size of the mask, output and head-gate convolutions (3 officially).
        bn_momentum: momentum of the global gate's batch normalization.
        bn_epsilon: epsilon of the global gate's batch normalization.
        kernel_initializer: initializer of the kernels (official: He normal).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: a list ``[logits, last_features, *attended]``: the network's class logits
            ``(batch, num_classes)``, its last feature map (for the global gate) and one or more
            feature maps to attend (the attention depth).
        training: whether the batch normalization uses batch statistics.
        return_attention: if True, also return the float32 maps ``{"masks_i": (batch, h_i, w_i,
            K), "head_gates_i": (batch, K), "global_gates": (batch, len(attended) + 1)}`` for
            module ``i`` = 0, 1, ... in the order of ``attended``.

    Output shape:
        ``(batch, num_classes)`` float32 log-probability mixture.

    Reference:
        Rodríguez et al., "Attend and Rectify: a Gated Attention Mechanism for Fine-Grained
        Recovery", ECCV 2018.
    """

    def __init__(
        self,
        num_classes,
        num_heads=4,
        gate="softmax",
        reg_weight=1e-3,
        kernel_size=3,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (("num_classes", num_classes), ("num_heads", num_heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"AttendRectify: `{arg}` must be a positive integer; "
                                 f"received {value!r}.")
        if gate not in _GATES:
            raise ValueError(f"AttendRectify: `gate` must be one of {_GATES}; received {gate!r}.")
        check_odd_kernel("AttendRectify", "kernel_size", kernel_size)
        self.num_classes = num_classes
        self.num_heads = num_heads
        self.gate = gate
        self.reg_weight = reg_weight
        self.kernel_size = kernel_size
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _conv(self, filters, name):
        return keras.layers.Conv2D(filters, self.kernel_size, padding="same", use_bias=False,
                                   kernel_initializer=self.kernel_initializer,
                                   dtype=self.dtype_policy, name=name)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 3:
            raise ValueError(
                f"AttendRectify '{self.name}' expects a list [logits, last_features, "
                f"*attended] with at least one attended feature map; received {input_shape}."
            )
        logits_shape, last_shape, *attended = input_shape
        if len(logits_shape) != 2 or logits_shape[-1] != self.num_classes:
            raise ValueError(
                f"AttendRectify '{self.name}': the first input must be the network's logits of "
                f"shape (batch, {self.num_classes}); received {tuple(logits_shape)}."
            )
        check_rank(self, last_shape, what="the last feature map (batch, height, width, channels)")
        self.mask_convs, self.output_convs, self.head_gate_convs = [], [], []
        for i, shape in enumerate(attended):
            check_rank(self, shape, what=f"attended feature map {i} (batch, h, w, channels)")
            check_channels(self, shape)
            if shape[1] is not None and shape[2] is not None and min(shape[1:3]) < 2:
                raise ValueError(
                    f"AttendRectify '{self.name}': attended feature map {i} of shape "
                    f"{tuple(shape)} is smaller than 2x2, the pooling of the diversity penalty."
                )
            for convs, filters, name in (
                (self.mask_convs, self.num_heads, "mask_conv"),
                (self.output_convs, self.num_heads * self.num_classes, "output_conv"),
                (self.head_gate_convs, self.num_heads, "head_gate_conv"),
            ):
                convs.append(self._conv(filters, f"{name}_{i}"))
                convs[-1].build(shape)
        self.gate_dense = keras.layers.Dense(len(attended) + 1, use_bias=False,
                                             kernel_initializer=self.kernel_initializer,
                                             dtype=self.dtype_policy, name="gate_dense")
        self.gate_dense.build((None, check_channels(self, last_shape)))
        self.gate_bn = keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                       epsilon=self.bn_epsilon, dtype="float32",
                                                       name="gate_bn")
        self.gate_bn.build((None, len(attended) + 1))
        self.attention_map_names = (
            *(f"masks_{i}" for i in range(len(attended))),
            *(f"head_gates_{i}" for i in range(len(attended))),
            "global_gates",
        )

    def _module(self, z, i):
        """Masks (b, h, w, K), head gates (b, K) and class scores (b, classes) of module ``i``."""
        mask_conv, output_conv, gate_conv = (
            self.mask_convs[i], self.output_convs[i], self.head_gate_convs[i])
        height, width = ops.shape(z)[1], ops.shape(z)[2]
        k, c = self.num_heads, self.num_classes
        mask_logits = ops.reshape(ops.cast(mask_conv(z), "float32"), (-1, height * width, k))
        masks = ops.softmax(mask_logits, axis=1)
        scores = ops.reshape(ops.cast(output_conv(z), "float32"), (-1, height * width, k, c))
        head_scores = ops.einsum("bpk,bpkc->bkc", masks, scores)
        head_logits = ops.reshape(ops.cast(gate_conv(z), "float32"), (-1, height * width, k))
        head_gates = ops.softmax(ops.tanh(ops.sum(masks * head_logits, axis=1)), axis=-1)
        output = ops.einsum("bk,bkc->bc", head_gates, head_scores)
        return ops.reshape(masks, (-1, height, width, k)), head_gates, output

    def diversity_penalty(self, masks):
        """``mean(((A A^T) * (1 - I))^2)`` of the 2x2-average-pooled masks ``(b, h, w, K)``."""
        pooled = ops.average_pool(masks, pool_size=2, strides=2, padding="valid")
        a = ops.reshape(pooled, (ops.shape(pooled)[0], -1, self.num_heads))  # (b, positions, K)
        gram = ops.matmul(ops.transpose(a, (0, 2, 1)), a)  # (b, K, K)
        off_diagonal = gram * (1.0 - ops.eye(self.num_heads, dtype="float32"))
        return ops.mean(ops.square(off_diagonal))

    def call(self, inputs, training=None, return_attention=False):
        logits, last_features, *attended = inputs
        maps, outputs, penalties = {}, [ops.cast(logits, "float32")], []
        for i, z in enumerate(attended):
            masks, head_gates, output = self._module(z, i)
            maps[f"masks_{i}"], maps[f"head_gates_{i}"] = masks, head_gates
            outputs.append(output)
            penalties.append(self.diversity_penalty(masks))
        if self.reg_weight:
            self.add_loss(self.reg_weight * ops.mean(ops.stack(penalties)))
        pooled = ops.mean(last_features, axis=(1, 2))
        c = ops.tanh(self.gate_bn(ops.cast(self.gate_dense(pooled), "float32"), training=training))
        if self.gate == "softmax":
            gates = ops.softmax(c, axis=-1)
        else:
            gates = ops.sigmoid(c)
            gates = gates / ops.sum(gates, axis=-1, keepdims=True)
        maps["global_gates"] = gates
        log_probs = ops.stack([ops.log_softmax(o, axis=-1) for o in outputs], axis=1)
        mixture = ops.einsum("bm,bmc->bc", gates, log_probs)
        return self._outputs(mixture, maps, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            num_heads=self.num_heads,
            gate=self.gate,
            reg_weight=self.reg_weight,
            kernel_size=self.kernel_size,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
