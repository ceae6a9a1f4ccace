"""The attention branch of the Attention Branch Network (ABN), single- and multi-task."""

import keras
from keras import ops

from kerasfg.layers.base import AttentionLayer, check_channels, check_odd_kernel, check_rank

_MECHANISMS = ("residual", "multiply")
_POOLINGS = ("avg", "max")


@keras.saving.register_keras_serializable(package="kerasfg")
class AttentionBranch(AttentionLayer):
    """ABN's attention branch: class logits, an attention map M(x), and the reweighted features.

    Single-task (``num_tasks=None``), as the official code (``models/imagenet/resnet.py``):

    - ``a = relu(BN(conv1x1_K(BN(branch))))`` with K = ``num_classes``, bias-free convolutions;
    - attention map ``M = sigmoid(BN(conv_kxk_1(a)))`` (``map_kernel_size`` 3 as in the official
      code, 1 as in the paper's figure);
    - attention-branch logits ``GAP(conv1x1_K(a))``, trained with their own cross-entropy;
    - the mechanism ``g' = (1 + M) * g`` (the paper's Eq. 2, ``mechanism="residual"``) or
      ``g' = M * g`` (Eq. 1, ``"multiply"``), where ``g`` are the feature-extractor features.

    Multi-task (``num_tasks=T``, the paper's Sec. 3.4 and ABN_CelebA): a 1x1 convolution (with
    bias) from the branch to T maps, one per attribute; task logits ``pool(map_t)`` (``"avg"`` as
    in the paper, ``"max"`` as in ABN_CelebA), for a sigmoid cross-entropy; ``M_t = sigmoid(map_t)``
    and per-task features ``g'_t = (1 + M_t) * g`` stacked on a new axis 1, so that one shared
    perception branch can run on every task with ``keras.layers.TimeDistributed``.

    The branch body (a stride-1 copy of the last stage) belongs to the model builder: pass its
    output as ``branch``. The map and the logits are float32, also under mixed precision.

    Args:
        num_classes: K, the number of classes (single-task).
        num_tasks: None for single-task; T for the multi-task form (``num_classes`` is then unused).
        map_kernel_size: odd kernel size of the map convolution (single-task).
        mechanism: ``"residual"`` (Eq. 2, default) or ``"multiply"`` (Eq. 1).
        input_batchnorm: whether the branch input goes through BN first (the official ``bn_att``).
        task_pooling: ``"avg"`` or ``"max"``, pooling of the task maps into task logits.
        bn_momentum: momentum of the batch normalizations (PyTorch's 0.1 is 0.9 here).
        bn_epsilon: epsilon of the batch normalizations.
        kernel_initializer: initializer of the convolution kernels (official: He normal).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: the features ``g`` (4D tensor), or a list ``[g, branch]`` where ``branch`` is the
            output of the branch body, with the same height and width.
        training: whether the batch normalizations use batch statistics.
        return_attention: if True, also return ``{"attention": M}``, float32 of shape
            ``(batch, height, width, 1)`` (single-task) or ``(batch, height, width, T)``.

    Returns:
        ``[features, logits]``: the reweighted features (shape of ``g``; multi-task
        ``(batch, T, height, width, channels)``) and the float32 branch logits ``(batch, K)`` or
        ``(batch, T)``.

    Reference:
        Fukui et al., "Attention Branch Network: Learning of Attention Mechanism for Visual
        Explanation", CVPR 2019.
    """

    attention_map_names = ("attention",)

    def __init__(
        self,
        num_classes=None,
        num_tasks=None,
        map_kernel_size=3,
        mechanism="residual",
        input_batchnorm=True,
        task_pooling="avg",
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_tasks is None and (num_classes is None or num_classes < 1):
            raise ValueError(
                f"AttentionBranch: give `num_classes` >= 1 (single-task) or `num_tasks` >= 1; "
                f"received num_classes={num_classes!r}, num_tasks={num_tasks!r}."
            )
        if num_tasks is not None and num_tasks < 1:
            raise ValueError(f"AttentionBranch: `num_tasks` must be >= 1; received {num_tasks!r}.")
        check_odd_kernel("AttentionBranch", "map_kernel_size", map_kernel_size)
        if mechanism not in _MECHANISMS:
            raise ValueError(
                f"AttentionBranch: `mechanism` must be one of {_MECHANISMS}; received {mechanism!r}."
            )
        if task_pooling not in _POOLINGS:
            raise ValueError(
                f"AttentionBranch: `task_pooling` must be one of {_POOLINGS}; "
                f"received {task_pooling!r}."
            )
        self.num_classes = num_classes
        self.num_tasks = num_tasks
        self.map_kernel_size = map_kernel_size
        self.mechanism = mechanism
        self.input_batchnorm = input_batchnorm
        self.task_pooling = task_pooling
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _conv(self, filters, kernel_size, name, use_bias=False):
        return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias,
                                   kernel_initializer=self.kernel_initializer,
                                   dtype=self.dtype_policy, name=name)

    def _bn(self, name, dtype=None):
        return keras.layers.BatchNormalization(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                                               dtype=dtype or self.dtype_policy, name=name)

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            if len(input_shape) != 2:
                raise ValueError(
                    f"AttentionBranch '{self.name}' expects a feature map or a list "
                    f"[features, branch]; received {len(input_shape)} inputs."
                )
            features_shape, branch_shape = input_shape
        else:
            features_shape = branch_shape = input_shape
        for shape in (features_shape, branch_shape):
            check_rank(self, shape)
        if tuple(features_shape[1:3]) != tuple(branch_shape[1:3]):
            raise ValueError(
                f"AttentionBranch '{self.name}': the features {tuple(features_shape)} and the "
                f"branch {tuple(branch_shape)} must have the same height and width."
            )
        branch_channels = check_channels(self, branch_shape)
        spatial = tuple(branch_shape[:-1])
        if self.input_batchnorm:
            self.input_bn = self._bn("input_bn")
            self.input_bn.build(branch_shape)
        if self.num_tasks is None:
            k = self.num_classes
            self.class_conv = self._conv(k, 1, "class_conv")
            self.class_bn = self._bn("class_bn")
            self.map_conv = self._conv(1, self.map_kernel_size, "map_conv")
            self.map_bn = self._bn("map_bn", dtype="float32")
            self.logit_conv = self._conv(k, 1, "logit_conv")
            self.class_conv.build(branch_shape)
            self.class_bn.build((*spatial, k))
            self.map_conv.build((*spatial, k))
            self.map_bn.build((*spatial, 1))
            self.logit_conv.build((*spatial, k))
        else:
            self.task_conv = self._conv(self.num_tasks, 1, "task_conv", use_bias=True)
            self.task_conv.build((*spatial, branch_channels))

    def call(self, inputs, training=None, return_attention=False):
        if isinstance(inputs, (list, tuple)):
            features, branch = inputs
        else:
            features = branch = inputs
        a = self.input_bn(branch, training=training) if self.input_batchnorm else branch
        if self.num_tasks is None:
            a = ops.relu(self.class_bn(self.class_conv(a), training=training))
            map_logits = ops.cast(self.map_conv(a), "float32")
            attention = self._sigmoid_gate(self.map_bn(map_logits, training=training))
            logits = ops.mean(ops.cast(self.logit_conv(a), "float32"), axis=(1, 2))
            gate = attention if self.mechanism == "multiply" else 1.0 + attention
            outputs = self._apply_gate(features, gate)
        else:
            task_maps = ops.cast(self.task_conv(a), "float32")
            pool = ops.mean if self.task_pooling == "avg" else ops.max
            logits = pool(task_maps, axis=(1, 2))
            attention = self._sigmoid_gate(task_maps)
            gate = attention if self.mechanism == "multiply" else 1.0 + attention
            # (b, h, w, T) -> (b, T, h, w, 1), times (b, 1, h, w, c)
            gate = ops.expand_dims(ops.transpose(gate, (0, 3, 1, 2)), -1)
            outputs = self._apply_gate(ops.expand_dims(features, 1), gate)
        return self._outputs([outputs, logits], {"attention": attention}, return_attention)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            num_tasks=self.num_tasks,
            map_kernel_size=self.map_kernel_size,
            mechanism=self.mechanism,
            input_batchnorm=self.input_batchnorm,
            task_pooling=self.task_pooling,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
