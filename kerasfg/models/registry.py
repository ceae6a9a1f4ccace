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


def build_model(name, *, input_shape, num_classes, attention=None, activation="relu", **options):
    """Build a registered model.

    Args:
        name: registered model name (see `available_models`).
        input_shape: shape of one image, `(height, width, channels)`.
        num_classes: number of classes, or a dict mapping each output name to its number of classes.
        attention: attention module name or layer class (see `kerasfg.layers.get_attention`), or None.
        activation: activation of the backbone.
        **options: further keyword arguments of the builder.

    Returns:
        A flat functional `keras.Model`.
    """
    if name not in _BUILDERS:
        raise ValueError(f"Unknown model {name!r}; expected one of {available_models()}.")
    return _BUILDERS[name](input_shape=tuple(input_shape), num_classes=num_classes,
                           attention=attention, activation=activation, **options)
