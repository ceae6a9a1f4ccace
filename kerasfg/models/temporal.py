"""The temporal model of ``002_c1e3dd09777d292a.txt`` §2.2.2: an LSTM over windows of frame features.

``features`` ``(length, feature_dim)`` (rho = 16 frames of the frame CNN's fc6, 4096-d) -> optionally
``feature_standardization`` (a ``Normalization`` layer adapted on the training features, as the author's
LSTM-on-CNN code's ``--standarize``) -> ``lstm`` (Eq. 2.4-2.9, Keras' ``LSTM``; ``num_layers`` stacked)
-> the last hidden state only (many-to-one) -> the window's last frame's label:

- ``task="regression"``: one linear unit ``pspi`` (MSE on the standardized PSPI);
- ``task="classification"``: a softmax ``expression`` (or ``pain`` with two classes, the thesis's one-hot
  ``t in {0, 1}^2``).

The thesis gives no size; the defaults are the author's code's (one layer of 256 units, no dropout).
Windows come from `kerasfg.data.windows.sliding_windows`.
"""

import keras

from kerasfg.models.frame_cnn import task_output
from kerasfg.models.registry import register_model


@register_model("temporal_lstm")
def temporal_lstm(*, input_shape=(16, 4096), num_classes=1, attention=None, activation="relu", task="regression",
                  units=256, num_layers=1, dropout=0.0, standardize=True, name=None):
    """Build the LSTM over frame features (module docstring).

    Args:
        input_shape: ``(length, feature_dim)``: rho and the feature size.
        num_classes: as in `kerasfg.models.frame_cnn.pain_cnn`.
        attention: must be None (there is no attention module in this model).
        activation: unused: the LSTM's gates are the sigmoid and tanh of Eq. 2.4-2.9; the argument exists
            because every registered model takes it.
        task: ``"regression"`` or ``"classification"``.
        units: hidden size of each LSTM layer.
        num_layers: stacked LSTM layers.
        dropout: dropout on the inputs of each LSTM layer and before the output.
        standardize: standardize the features with statistics that ``adapt`` sets
            (``model.get_layer("feature_standardization").adapt(train_features)``).
        name: model name.

    Returns:
        A flat functional model ``features -> {output: (batch, 1) or (batch, classes) float32}``.
    """
    del activation
    if attention not in (None, "none"):
        raise ValueError("temporal_lstm has no attention module; pass attention=None.")
    output, count, activation_out = task_output(task, num_classes, "temporal_lstm")
    input_shape = tuple(input_shape)
    if len(input_shape) != 2 or None in input_shape[1:]:
        raise ValueError(f"input_shape must be (length, feature_dim) with a known feature_dim; received "
                         f"{input_shape}.")
    if num_layers < 1 or units < 1:
        raise ValueError(f"num_layers and units must be positive; received {num_layers!r}, {units!r}.")
    features = keras.Input(shape=input_shape, name="features")
    x = features
    if standardize:
        x = keras.layers.Normalization(axis=-1, name="feature_standardization")(x)
    for layer in range(1, num_layers + 1):
        last = layer == num_layers
        x = keras.layers.LSTM(units, dropout=dropout, return_sequences=not last,
                              name="lstm" if num_layers == 1 else f"lstm{layer}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="lstm_dropout")(x)
    outputs = {output: keras.layers.Dense(count, activation=activation_out, dtype="float32", name=output)(x)}
    return keras.Model(features, outputs, name=name or f"temporal_lstm_{task}")
