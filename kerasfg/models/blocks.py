"""Pieces every builder shares: attention and activation naming, convolution + BN, classifier heads.

Layer names are part of the public interface (the visualization code reaches layers by name), so the
naming rules live here, in one place:

- an attention module inside a block is named ``{block}_{tag}``, where ``tag`` is the attention's
  short name (``stage3_block2_cbam``, ``stage1_block1_se``...; see `attention_tag`);
- an activation is named ``{prefix}_{activation}`` (``stage2_block1_1_relu``, ``..._elu``);
- classifier outputs are named after their task (``predictions`` when there is a single unnamed
  one), and the model's output dict uses the same names.
"""

import functools
import inspect
import re

import keras

from kerasfg.layers import BatchNormalization, get_attention

BN_EPSILON = 1.001e-5  # keras.applications' ResNets; the parity tests rely on it


def attention_tag(attention):
    """The short name an attention module gets in layer names.

    ``"cbam"`` -> ``"cbam"``, ``"squeeze-excite"`` -> ``"squeeze_excite"``, ``CBAM`` (the class) ->
    ``"cbam"``, ``SqueezeExcite`` -> ``"squeeze_excite"``, ``SelfAttention2D`` ->
    ``"self_attention2d"``, a ``functools.partial`` -> the tag of
    its function, any other callable -> its snake-cased ``__name__`` (or ``"attention"``).
    """
    if isinstance(attention, str):
        return attention.strip().lower().replace("-", "_")
    while isinstance(attention, functools.partial):
        attention = attention.func
    name = getattr(attention, "__name__", "attention")
    if inspect.isclass(attention) and name.isupper():
        return name.lower()
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def resolve_attention(attention, **kwargs):
    """``(builder, tag)`` for an ``attention=`` argument; ``(None, None)`` for no attention.

    ``builder(name=...)`` returns a new attention layer (`kerasfg.layers.get_attention`); ``tag``
    is what goes into its layer names (`attention_tag`).
    """
    builder = get_attention(attention, **kwargs)
    if builder is None:
        return None, None
    return builder, attention_tag(attention)


class Attention:
    """An ``attention=`` argument resolved once per model: ``att(x, "stage2_block1")``.

    Calling it returns ``x`` unchanged when there is no attention, otherwise the output of a new
    attention layer named ``stage2_block1_{tag}``.
    """

    def __init__(self, attention, **kwargs):
        self.builder, self.tag = resolve_attention(attention, **kwargs)

    def __bool__(self):
        return self.builder is not None

    def __call__(self, x, prefix):
        if self.builder is None:
            return x
        return self.builder(name=f"{prefix}_{self.tag}")(x)


def activation_tag(activation):
    """Name fragment of an activation: ``"relu"``, ``"elu"``..., ``"act"`` for unnamed callables."""
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", "act")


def act(x, activation, name):
    """``Activation(activation)`` named ``{name}_{activation}``."""
    return keras.layers.Activation(activation, name=f"{name}_{activation_tag(activation)}")(x)


def conv_bn(x, filters, kernel_size, *, strides=1, padding="same", use_bias=True, name,
            bn_epsilon=BN_EPSILON, kernel_initializer="glorot_uniform"):
    """``Conv2D`` named ``{name}_conv`` followed by ``BatchNormalization`` named ``{name}_bn``."""
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                            use_bias=use_bias, kernel_initializer=kernel_initializer,
                            name=f"{name}_conv")(x)
    return BatchNormalization(epsilon=bn_epsilon, name=f"{name}_bn")(x)


def task_classes(num_classes, default="predictions"):
    """``num_classes`` as a dict ``{output name: classes}``; an int becomes ``{default: n}``."""
    if isinstance(num_classes, dict):
        if not num_classes:
            raise ValueError("num_classes is an empty dict; give at least one output.")
        tasks = dict(num_classes)
    elif isinstance(num_classes, int) and not isinstance(num_classes, bool):
        tasks = {default: num_classes}
    else:
        raise TypeError(f"num_classes must be an int or a dict {{output name: classes}}; received "
                        f"{num_classes!r}.")
    for task, count in tasks.items():
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"num_classes[{task!r}] must be a positive int; received {count!r}.")
    return tasks


def classifier_outputs(x, num_classes, *, classifier_activation="softmax", default="predictions"):
    """One float32 ``Dense`` per task, named after it: ``{task: probabilities}``.

    ``classifier_activation=None`` gives logits instead of probabilities.
    """
    return {task: keras.layers.Dense(count, activation=classifier_activation, dtype="float32",
                                     name=task)(x)
            for task, count in task_classes(num_classes, default).items()}


POOLINGS = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}


def global_pooling(x, pooling="avg", name="features"):
    """The feature map ``x`` pooled over its positions: ``"avg"`` (global average) or ``"max"`` (global max),
    by a layer named ``name``."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {sorted(POOLINGS)}; received {pooling!r}.")
    return POOLINGS[pooling](name=name)(x)


RESCALE = {"unit": (1 / 255, 0.0), "symmetric": (1 / 127.5, -1.0)}


def image_input(input_shape, rescale=None, name="image"):
    """The image input and the tensor the network starts from: ``(image, x)``.

    Args:
        input_shape: ``(height, width, channels)``; anything else is a clear error.
        rescale: None (the model takes preprocessed images, as keras.applications'), ``"unit"``
            (pixels 0..255 to [0, 1]) or ``"symmetric"`` (to [-1, 1], as `face_resnet`), done by
            a ``Rescaling`` layer named ``rescale``, so that a config can feed raw pixels.
        name: name of the input.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels); received {input_shape}.")
    image = keras.Input(shape=input_shape, name=name)
    if rescale is None:
        return image, image
    if rescale not in RESCALE:
        raise ValueError(f"rescale must be None or one of {sorted(RESCALE)}; received {rescale!r}.")
    scale, offset = RESCALE[rescale]
    return image, keras.layers.Rescaling(scale, offset=offset, name="rescale")(image)
