"""The MNIST tables' CNNs: layer shapes and parameter counts worked out by hand from the papers' descriptions."""

import pytest

from kerasfg.models import build_model


def conv(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def dense(n_in, n_out):
    return n_in * n_out + n_out


@pytest.mark.parametrize("name, shapes, params", [
    # 000 Table 1. A and B end in the "24 x 24 x 32" convolution the paper quotes; A's dense acts per pixel.
    ("vanilla_cnn_a", {"dense128": (28, 28, 128), "conv1": (26, 26, 64), "conv2": (24, 24, 32)},
     dense(1, 128) + conv(3, 128, 64) + conv(3, 64, 32) + dense(24 * 24 * 32, 10)),
    ("vanilla_cnn_b", {"conv1": (26, 26, 64), "conv2": (24, 24, 32)},
     conv(3, 1, 64) + conv(3, 64, 32) + dense(24 * 24 * 32, 10)),
    # Conv(32, 5x5) -> max pool 2 -> Conv(64, 5x5) -> GAP -> Dense(128) -> Dense(10): an 8x8x64 CAM layer.
    ("maxpool_cam_cnn", {"conv1": (24, 24, 32), "pool1": (12, 12, 32), "conv2": (8, 8, 64), "fc": (128,)},
     conv(5, 1, 32) + conv(5, 32, 64) + dense(64, 128) + dense(128, 10)),
])
def test_paper_000_mnist_models(name, shapes, params):
    model = build_model(name, input_shape=(28, 28, 1), num_classes=10)
    for layer, shape in shapes.items():
        assert tuple(model.get_layer(layer).output.shape[1:]) == shape, layer
    assert model.count_params() == params
    assert model.output["predictions"].shape[-1] == 10


def test_cam_model_without_its_hidden_layer_is_exact_cam():
    model = build_model("maxpool_cam_cnn", input_shape=(28, 28, 1), num_classes=10, hidden_units=0)
    assert [layer.name for layer in model.layers][-2:] == ["gap", "predictions"]


@pytest.mark.parametrize("dropout", [0.5, 0.0])
def test_thesis_002_small_cnn(dropout):
    """c32-c64-l512-d0.5-l10 on 32x32: 5x5 same convolutions, each pooled by 2 (32 -> 16 -> 8)."""
    model = build_model("mnist_small_cnn", input_shape=(32, 32, 1), num_classes=10, dropout=dropout)
    assert tuple(model.get_layer("conv2").output.shape[1:]) == (16, 16, 64)
    assert model.count_params() == conv(5, 1, 32) + conv(5, 32, 64) + dense(8 * 8 * 64, 512) + dense(512, 10)
    assert ("dropout" in [layer.name for layer in model.layers]) == bool(dropout)
    assert model.get_layer("rescale").scale == pytest.approx(1 / (255 * 0.3081))


@pytest.mark.parametrize("name, options, message", [
    ("vanilla_cnn_b", {"attention": "se"}, "vanilla_cnn_b has no attention modules"),
    ("mnist_small_cnn", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ("maxpool_cam_cnn", {"rescale": "imagenet"}, "rescale must be one of"),
])
def test_bad_options(name, options, message):
    with pytest.raises(ValueError, match=message):
        build_model(name, input_shape=(28, 28, 1), num_classes=10, **options)
