"""Build models by name: ``build_model("face_resnet", input_shape=..., num_classes=...)``.

Each registered model also says what it learns by default and how small it can be built:

- ``objective``: its default objective, ``{output: {"target": ..., "loss": ..., "weight": ...,
  "metrics": [...], "options": {...}}}`` with any field left out taking the rule of
  `kerasfg.objectives` (the target of the output's name, the loss and metrics of the target's kind);
  None for a plain classifier, whose every output learns the task of its name. A config's
  ``objectives`` section overrides it field by field.
- ``single_task``: the builder takes ``num_classes`` as one int (the ABNs, WARN): it predicts one
  task, through however many outputs.
- ``smoke_options``: builder options of its smallest form (depth, width), for one-step smoke runs
  of a config (`kerasfg reproduce --scale smoke`, the tests): the same builder and objective, only
  smaller. A dict, or a function of the config's options that returns one (e.g. a bottleneck CIFAR
  ResNet's smallest depth is 11, a basic one's 8). ``smoke_image_size`` is the side of the smallest
  images it takes in that form (16 unless said).
"""

import collections.abc
import dataclasses
import functools
import inspect


@dataclasses.dataclass(frozen=True)
class RegisteredModel:
    """A builder and what the registry knows about it (see the module docstring)."""

    name: str
    builder: object
    objective: dict | None = None
    single_task: bool = False
    smoke_options: object = None
    smoke_image_size: int = 16

    def smallest(self, options):
        """``options`` with the smoke options of this model laid over them."""
        smoke = self.smoke_options(options) if callable(self.smoke_options) else self.smoke_options
        return {**options, **(smoke or {})}

    def network(self, options):
        """What decides the network built with ``options``: the builder function's qualified name and
        its keyword arguments (a registered partial's, e.g. ``depth=152``, under ``options``), so that
        ``resnet101`` and ``resnet152`` with ``depth=18`` are the same network."""
        builder, keywords = self.builder, {}
        while isinstance(builder, functools.partial):
            keywords = {**builder.keywords, **keywords}
            builder = builder.func
        return f"{builder.__module__}.{builder.__qualname__}", {**keywords, **options}

    def accepts(self, argument):
        """Whether the builder takes keyword ``argument`` (e.g. ``"extra_inputs"``)."""
        parameters = inspect.signature(self.builder).parameters
        return argument in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


_MODELS = {}


def register_model(name, *, objective=None, single_task=False, smoke_options=None, smoke_image_size=16):
    """Decorator that makes a builder function available to `build_model` under ``name``.

    Args:
        name: the registered name.
        objective: the default objective (module docstring), or None.
        single_task: whether ``num_classes`` must be an int.
        smoke_options: builder options of the smallest form, e.g. ``{"depth": 8}``, or a function
            of the config's options that returns them.
        smoke_image_size: the side of the smallest images the smallest form takes.
    """

    def decorator(builder):
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _MODELS[name] = RegisteredModel(name, builder, objective, single_task, smoke_options,
                                        smoke_image_size)
        return builder

    return decorator


def available_models():
    """Names of all registered models."""
    return sorted(_MODELS)


def registered_model(name):
    """The `RegisteredModel` of ``name``.

    Raises:
        ValueError: if no model of that name is registered.
    """
    if name not in _MODELS:
        raise ValueError(f"Unknown model {name!r}; expected one of {available_models()}.")
    return _MODELS[name]


def build_model(name, *, input_shape, num_classes, attention=None, activation="relu", output_codes=None,
                dex=None, attention_options=None, **options):
    """Build a registered model.

    Args:
        name: registered model name (see `available_models`).
        input_shape: shape of one image, `(height, width, channels)`.
        num_classes: number of classes, or a dict mapping each output name to its number of classes.
        attention: attention module name or layer class (see `kerasfg.layers.get_attention`), or None.
        activation: activation of the backbone.
        output_codes: ``{task: code}``: output-code heads in place of those tasks' softmax classifiers
            (see `kerasfg.models.heads`).
        dex: ``{task: [min_age, max_age]}`` (or ``true`` for 0..100): DEX age heads; a DEX task needs no
            entry in ``num_classes``.
        attention_options: constructor arguments of every attention layer (``{"ratio": 4}`` for SE or
            CBAM, ``{"kernel_size": 3}`` for ECA); the config's ``model.options.attention_options``.
        **options: further keyword arguments of the builder.

    Returns:
        A flat functional `keras.Model`.

    Raises:
        ValueError: for a name that is not registered.
        TypeError: for an ``input_shape`` that is not a sequence of sizes.
    """
    builder = registered_model(name).builder
    input_shape = _shape_tuple(input_shape)
    if attention_options and attention not in (None, "none"):
        from kerasfg.layers import get_attention

        attention = get_attention(attention, **attention_options)
    if not (output_codes or dex):
        return builder(input_shape=input_shape, num_classes=num_classes, attention=attention,
                       activation=activation, **options)
    from kerasfg.models.heads import dex_ranges, replace_heads

    tasks = dict(num_classes) if isinstance(num_classes, dict) else {"predictions": num_classes}
    tasks.update({task: high - low + 1 for task, (low, high) in dex_ranges(dex).items()})
    model = builder(input_shape=input_shape, num_classes=tasks, attention=attention,
                    activation=activation, **options)
    return replace_heads(model, output_codes=output_codes, dex=dex)


def _shape_tuple(input_shape):
    """``input_shape`` as a tuple; a clear error when it is not a sequence of sizes."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, collections.abc.Iterable):
        raise TypeError(f"input_shape must be a sequence of sizes such as (height, width, channels); received "
                        f"{type(input_shape).__name__} {input_shape!r}.")
    return tuple(input_shape)
