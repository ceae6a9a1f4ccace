"""Build models by name: ``build_model("face_resnet", input_shape=..., num_classes=...)``."""

_BUILDERS = {}


def register_model(name):
    """Decorator that makes a builder function available to `build_model` under ``name``."""

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _BUILDERS[name] = builder
        return builder

    return decorator


def available_models():
    """Names of all registered models."""
    return sorted(_BUILDERS)


def build_model(name, *, input_shape, num_classes, attention=None, activation="relu", output_codes=None,
                dex=None, **options):
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
        **options: further keyword arguments of the builder.

    Returns:
        A flat functional `keras.Model`.
    """
    if name not in _BUILDERS:
        raise ValueError(f"Unknown model {name!r}; expected one of {available_models()}.")
    if not (output_codes or dex):
        return _BUILDERS[name](input_shape=tuple(input_shape), num_classes=num_classes,
                               attention=attention, activation=activation, **options)
    from kerasfg.models.heads import dex_ranges, replace_heads

    tasks = dict(num_classes) if isinstance(num_classes, dict) else {"predictions": num_classes}
    tasks.update({task: high - low + 1 for task, (low, high) in dex_ranges(dex).items()})
    model = _BUILDERS[name](input_shape=tuple(input_shape), num_classes=tasks, attention=attention,
                            activation=activation, **options)
    return replace_heads(model, output_codes=output_codes, dex=dex)
