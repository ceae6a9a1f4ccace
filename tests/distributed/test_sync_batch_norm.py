import keras
import pytest

from kerasfg.distributed.batch_norm import batch_norm_layers, synchronize_batch_norm
from kerasfg.models import build_model


def test_every_batch_norm_is_synchronized_nested_ones_included():
    model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes={"identity": 3}, attention="cbam",
                        widths=[16], blocks=[1], hidden_units=8)
    nested = model.get_layer("stage1_block1_attention").spatial_bn  # inside the CBAM layer
    moving_means = [v for v in model.non_trainable_weights if v.path.endswith("moving_mean")]
    assert synchronize_batch_norm(model) == len(moving_means) == 4  # stem, two convolutions, CBAM
    assert nested.synchronized and all(layer.synchronized for layer in batch_norm_layers(model))


def test_a_batch_norm_out_of_reach_is_an_error():
    class Hidden(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self._norm = keras.layers.BatchNormalization()

        def call(self, x):
            return self._norm(x)

    inputs = keras.Input((4,))
    model = keras.Model(inputs, Hidden()(keras.layers.BatchNormalization()(inputs)))
    with pytest.raises(ValueError, match="2 batch-normalization moving means but only 1 batch-normalization "
                                         "layers could be reached"):
        synchronize_batch_norm(model)
