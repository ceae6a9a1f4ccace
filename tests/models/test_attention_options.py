"""``model.options.attention_options``: constructor arguments of every attention layer of a model."""

from kerasfg.layers import CBAM, ECA, SqueezeExcite
from kerasfg.models.registry import build_model


def attention_layers(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_attention_options_reach_every_attention_layer():
    plain = build_model("resnet50", input_shape=(32, 32, 1), num_classes=3, attention="se", depth=18)
    ratio4 = build_model("resnet50", input_shape=(32, 32, 1), num_classes=3, attention="se", depth=18,
                         attention_options={"ratio": 4})
    assert {layer.ratio for layer in attention_layers(plain, SqueezeExcite)} == {16}
    layers = attention_layers(ratio4, SqueezeExcite)
    assert len(layers) == len(attention_layers(plain, SqueezeExcite)) == 8 and {layer.ratio for layer in layers} == {4}
    assert ratio4.count_params() > plain.count_params()  # wider excitation layers

    eca = build_model("resnet50", input_shape=(32, 32, 1), num_classes=3, attention="eca", depth=18,
                      attention_options={"kernel_size": 3})
    assert {layer.kernel_size for layer in attention_layers(eca, ECA)} == {3}
    cbam = build_model("vgg16", input_shape=(32, 32, 1), num_classes=3, attention="cbam", fc_units=8,
                       pool_padding="same", attention_options={"ratio": 8})
    assert [layer.ratio for layer in attention_layers(cbam, CBAM)] == [8]


def test_attention_options_without_attention_change_nothing():
    model = build_model("resnet50", input_shape=(32, 32, 1), num_classes=3, attention=None, depth=18,
                        attention_options={"ratio": 4})
    assert not attention_layers(model, SqueezeExcite)
