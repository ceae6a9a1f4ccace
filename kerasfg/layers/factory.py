"""``get_attention``: the one place that maps attention names to layer classes (timm's create_attn)."""

import functools
import inspect

import keras

from kerasfg.layers.cbam import CBAM
from kerasfg.layers.eca import ECA
from kerasfg.layers.self_attention import SelfAttention2D
from kerasfg.layers.squeeze_excite import SqueezeExcite

# Drop-in modules: same shape in and out, so a model builder can put them anywhere.
_ATTENTION_LAYERS = {
    "cbam": CBAM,
    "eca": ECA,
    "se": SqueezeExcite,
    "self_attention": SelfAttention2D,
    "mhsa": SelfAttention2D,
    "squeeze_excite": SqueezeExcite,
}
_NONE_NAMES = ("none", "")


def get_attention(name_or_class, **kwargs):
    """Return a builder of attention layers, or None for no attention.

    Model builders take an ``attention=`` argument and call this once; the result builds one
    configured layer per block:

        attention = get_attention("cbam", ratio=8)
        if attention is not None:
            x = attention(name="stage2_block1_cbam")(x)

    Args:
        name_or_class: one of

            - ``None`` or ``"none"``: no attention; returns None;
            - a name (case-insensitive): see ``available_attention()``;
            - a ``keras.layers.Layer`` subclass: built with ``kwargs``;
            - any other callable that returns a layer (for instance a ``functools.partial``):
              returned as is when ``kwargs`` is empty, otherwise wrapped with them.
        **kwargs: default constructor arguments of the layer (``ratio=8``, ``kernel_size=5``...);
            arguments given to the builder override them.

    Returns:
        A callable ``builder(**layer_kwargs) -> keras.layers.Layer``, or None.

    Raises:
        ValueError: for an unknown name, with the list of known ones.
        TypeError: for an argument that is neither None, a string, nor a callable.
    """
    if name_or_class is None:
        return None
    if isinstance(name_or_class, str):
        key = name_or_class.strip().lower().replace("-", "_")
        if key in _NONE_NAMES:
            return None
        if key not in _ATTENTION_LAYERS:
            raise ValueError(
                f"Unknown attention {name_or_class!r}; expected None, 'none' or one of "
                f"{sorted(_ATTENTION_LAYERS)}, a keras Layer subclass or a callable."
            )
        return functools.partial(_ATTENTION_LAYERS[key], **kwargs)
    if inspect.isclass(name_or_class) and issubclass(name_or_class, keras.layers.Layer):
        return functools.partial(name_or_class, **kwargs)
    if callable(name_or_class):
        return functools.partial(name_or_class, **kwargs) if kwargs else name_or_class
    raise TypeError(
        "get_attention expects None, an attention name, a keras Layer subclass or a callable "
        f"returning a layer; received {name_or_class!r} of type {type(name_or_class).__name__}."
    )


def available_attention():
    """The names ``get_attention`` accepts (besides None / "none")."""
    return sorted(_ATTENTION_LAYERS)
