"""The deconvnet against a NumPy deconvnet written from the paper (unpool at the switches, rectify, transposed
convolution with the layer's kernel, BN: its scale), a hand-written transpose of a residual block and of an
attention-gated block, and the transpose of a linear network's matrix."""

import keras
import numpy as np
import pytest
from vis_models import BUILDERS, model_inputs

from kerasfg.layers import CBAM
from kerasfg.vis.deconvolution import Deconvnet, deconvolution


def _same_padding(size, kernel, stride):
    out = -(-size // stride)
    return max((out - 1) * stride + kernel - size, 0) // 2


def np_conv(x, kernel, bias, stride, padding):
    """Forward convolution (TensorFlow's SAME/VALID) of one image (h, w, c)."""
    k = kernel.shape[0]
    top = _same_padding(x.shape[0], k, stride) if padding == "same" else 0
    left = _same_padding(x.shape[1], k, stride) if padding == "same" else 0
    out_h = -(-x.shape[0] // stride) if padding == "same" else (x.shape[0] - k) // stride + 1
    out_w = -(-x.shape[1] // stride) if padding == "same" else (x.shape[1] - k) // stride + 1
    padded = np.zeros((max(x.shape[0] + k, (out_h - 1) * stride + k), max(x.shape[1] + k, (out_w - 1) * stride + k),
                       x.shape[2]), x.dtype)
    padded[top:top + x.shape[0], left:left + x.shape[1]] = x
    out = np.zeros((out_h, out_w, kernel.shape[3]), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = np.tensordot(window, kernel, axes=3) + bias
    return out


def np_conv_transpose(y, kernel, stride, padding, shape):
    """The deconvnet's step through a convolution: each output value spreads its (flipped-filter) weights."""
    k = kernel.shape[0]
    top = _same_padding(shape[0], k, stride) if padding == "same" else 0
    left = _same_padding(shape[1], k, stride) if padding == "same" else 0
    out = np.zeros((shape[0] + 2 * k + stride * y.shape[0], shape[1] + 2 * k + stride * y.shape[1], shape[2]))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            out[i * stride:i * stride + k, j * stride:j * stride + k] += kernel @ y[i, j]
    return out[top:top + shape[0], left:left + shape[1]]


def np_pool(x):
    h, w = x.shape[0] // 2, x.shape[1] // 2
    return x[:2 * h, :2 * w].reshape(h, 2, w, 2, -1).max(axis=(1, 3))


def np_unpool(y, x):
    """Each value of y at the first maximum (row-major) of its 2x2 window of x."""
    out = np.zeros_like(x, dtype=np.float64)
    for i, j, c in np.ndindex(*y.shape):
        window = x[2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
        di, dj = divmod(int(np.argmax(window == window.max())), 2)
        out[2 * i + di, 2 * j + dj, c] = y[i, j, c]
    return out


def np_deconvnet(image, steps, top_n):
    """Run ``steps`` ([(kind, params)]) forward on one image, then project the top_n maps back."""
    values = [image.astype(np.float64)]
    for kind, p in steps:
        x = values[-1]
        if kind == "conv":
            x = np_conv(x, p["kernel"], p["bias"], p["stride"], p["padding"])
            x = np.maximum(x, 0) if p["relu"] else x
        elif kind == "bn":
            x = (x - p["mean"]) * p["scale"] + p["beta"]
        elif kind == "relu":
            x = np.maximum(x, 0)
        else:
            x = np_pool(x)
        values.append(x)
    features = values[-1]
    maxima = features.max(axis=(0, 1))
    order = np.argsort(-maxima, kind="stable")[:top_n]
    reconstructions = []
    for channel in order:
        signal = np.zeros_like(features)
        i, j = np.unravel_index(np.argmax(features[..., channel]), features.shape[:2])
        signal[i, j, channel] = features[i, j, channel]
        for depth in range(len(steps) - 1, -1, -1):
            kind, p = steps[depth]
            if kind == "pool":
                signal = np_unpool(signal, values[depth])
            elif kind == "relu":
                signal = np.maximum(signal, 0)
            elif kind == "bn":
                signal = signal * p["scale"]
            else:
                signal = np.maximum(signal, 0) if p["relu"] else signal
                signal = np_conv_transpose(signal, p["kernel"], p["stride"], p["padding"], values[depth].shape)
        reconstructions.append(signal)
    return np.stack(reconstructions), order


def conv_step(layer):
    bias = np.zeros(layer.filters) if layer.bias is None else layer.bias.numpy()
    return "conv", {"kernel": layer.kernel.numpy(), "bias": bias, "stride": layer.strides[0],
                    "padding": layer.padding, "relu": layer.activation is keras.activations.relu}


def test_unpooling_puts_the_maximum_at_its_switch_the_first_of_ties():
    x = np.array([[1, 5, 0, 2],
                  [3, 4, 9, 9],
                  [9, 0, 1, 1],
                  [2, 8, 6, 1]], np.float32).reshape(1, 4, 4, 1)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.MaxPooling2D(2, name="pool")])
    reconstructions, _ = deconvolution(model, x, "pool", top_n=1)
    expected = np.zeros((4, 4))
    expected[1, 2] = 9  # the strongest pooled value is the window with two 9s; the first is its switch
    np.testing.assert_array_equal(reconstructions[0, 0, ..., 0], expected)


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "same")])
def test_conv_relu_pool_equals_numpy(stride, padding):
    inputs = keras.Input((9, 9, 2))
    conv = keras.layers.Conv2D(4, 3, strides=stride, padding=padding, activation="relu", name="conv")
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2, name="pool")(conv(inputs)))
    conv.bias.assign(np.random.default_rng(5).normal(size=4) * 0.1)
    images = np.random.default_rng(6).normal(size=(2, 9, 9, 2)).astype("float32")
    reconstructions, indices = deconvolution(model, images, "pool", top_n=3)
    assert reconstructions.shape == (2, 3, 9, 9, 2) and indices.shape == (2, 3)
    for n in range(2):
        expected, order = np_deconvnet(images[n], [conv_step(conv), ("pool", {})], 3)
        np.testing.assert_array_equal(indices[n], order)
        np.testing.assert_allclose(reconstructions[n], expected, rtol=1e-4, atol=1e-5)
        assert np.abs(expected).max() > 0


def test_batch_norm_padding_and_identity_layers():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(1, name="pad")(inputs)
    conv = keras.layers.Conv2D(5, 3, use_bias=False, name="conv")
    bn = keras.layers.BatchNormalization(name="bn")
    x = keras.layers.Activation("relu", name="relu")(bn(conv(x)))
    x = keras.layers.Dropout(0.5, name="drop")(x)
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2, name="pool")(x))
    rng = np.random.default_rng(7)
    bn.set_weights([rng.uniform(0.5, 2, 5), rng.normal(size=5), rng.normal(size=5), rng.uniform(0.5, 2, 5)])
    images = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    deconvnet = Deconvnet(model, "pool")
    reconstructions, indices = deconvnet(images, top_n=2)
    gamma, beta, mean, variance = bn.get_weights()
    steps = [conv_step(conv), ("bn", {"scale": gamma / np.sqrt(variance + bn.epsilon), "beta": beta, "mean": mean}),
             ("relu", {}), ("pool", {})]
    for n in range(2):
        padded = np.pad(images[n], ((1, 1), (1, 1), (0, 0)))
        expected, order = np_deconvnet(padded, steps, 2)
        np.testing.assert_array_equal(indices[n], order)
        np.testing.assert_allclose(reconstructions[n], expected[:, 1:-1, 1:-1], rtol=1e-4, atol=1e-5)


def test_top_n_picks_the_maps_with_the_largest_maximum():
    images = np.zeros((2, 4, 4, 5), np.float32)
    images[0, 1, 2] = [3, 9, 1, 7, 5]
    images[0, 3, 3] = [4, 0, 0, 0, 0]  # channel 0's maximum is 4, in another window
    images[1, 0, 0] = [1, 2, 3, 4, 6]
    model = keras.Sequential([keras.Input((4, 4, 5)), keras.layers.MaxPooling2D(2, name="pool")])
    reconstructions, indices = deconvolution(model, images, "pool", top_n=3)
    np.testing.assert_array_equal(indices, [[1, 3, 4], [4, 3, 2]])
    for n, k in np.ndindex(2, 3):
        expected = np.zeros((4, 4, 5), np.float32)
        position = (1, 2) if n == 0 else (0, 0)
        expected[(*position, indices[n, k])] = images[(n, *position, indices[n, k])]
        np.testing.assert_array_equal(reconstructions[n, k], expected)  # only that map's maximum, at its switch


@pytest.mark.parametrize("kind", BUILDERS)
def test_every_kind_of_model(kind):
    model = BUILDERS[kind]()
    inputs = model_inputs(kind, np.random.default_rng(8))
    deconvnet = Deconvnet(model, "conv2")
    prefix = "backbone/" if kind == "nested" else ""
    assert deconvnet.layer == prefix + "conv2"
    reconstructions, indices = deconvnet(inputs, top_n=2)
    layers = [deconvnet.graph.layers[prefix + name] for name in ("conv1", "pool", "conv2")]
    images = inputs["image"] if isinstance(inputs, dict) else inputs
    for n in range(len(images)):
        expected, order = np_deconvnet(images[n], [conv_step(layers[0]), ("pool", {}), conv_step(layers[2])], 2)
        np.testing.assert_array_equal(indices[n], order)
        np.testing.assert_allclose(reconstructions[n], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("switches", ["pooling", "relu"])
def test_a_residual_block_equals_its_hand_written_transpose(switches):
    """x -> conv1 (ReLU) -> conv2 -> add(x) -> ReLU: the signal is rectified, then goes to the shortcut and,
    through conv2's and conv1's transposes (rectified between them), to the image; both parts add up. With
    switches at the ReLUs, each rectification also passes the signal only where the forward ReLU's input
    was positive."""
    image = keras.Input((7, 7, 3))
    conv1 = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(3, 3, padding="same", name="conv2")
    added = keras.layers.Add(name="add")([image, conv2(conv1(image))])
    model = keras.Model(image, keras.layers.ReLU(name="out")(added))
    rng = np.random.default_rng(12)
    images = rng.normal(size=(2, 7, 7, 3)).astype("float32")
    deconvnet = Deconvnet(model, "out", switches=switches)
    reconstructions, indices = deconvnet(images, top_n=2)
    outputs = model.predict(images, verbose=0)
    hidden = np.stack([np_conv(x, conv1.kernel.numpy(), conv1.bias.numpy(), 1, "same") for x in images])
    switched = switches == "relu"
    for n, k in np.ndindex(2, 2):
        channel = indices[n, k]
        signal = np.zeros((7, 7, 3))
        i, j = np.unravel_index(np.argmax(outputs[n, ..., channel]), (7, 7))
        signal[i, j, channel] = outputs[n, i, j, channel]
        signal = np.maximum(signal, 0) * (outputs[n] > 0 if switched else 1)  # the output ReLU
        branch = np_conv_transpose(signal, conv2.kernel.numpy(), 1, "same", (7, 7, 3))
        branch = np.maximum(branch, 0) * (hidden[n] > 0 if switched else 1)  # conv1's ReLU
        branch = np_conv_transpose(branch, conv1.kernel.numpy(), 1, "same", (7, 7, 3))
        np.testing.assert_allclose(reconstructions[n, k], signal + branch, rtol=1e-4, atol=1e-5)


def test_switches_at_the_relus_unless_max_pooling_follows_every_downsampling():
    image = keras.Input((16, 16, 3))
    strided = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="strided")(image)
    pooled = keras.layers.MaxPooling2D(name="pool")(strided)  # Zeiler and Fergus's conv1 has a stride too
    later = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="later")(pooled)
    plain = keras.layers.Conv2D(4, 3, activation="relu", name="plain")(image)
    model = keras.Model(image, [keras.layers.Conv2D(2, 1, name="after_stride")(strided),
                                keras.layers.Conv2D(2, 1, name="after_pool")(pooled),
                                keras.layers.Conv2D(2, 1, name="after_later_stride")(later),
                                keras.layers.Conv2D(2, 1, name="unpooled")(plain)])
    chosen = {layer: Deconvnet(model, layer).switches
              for layer in ("after_stride", "after_pool", "after_later_stride", "unpooled")}
    assert chosen == {"after_stride": "relu", "after_pool": "pooling", "after_later_stride": "relu",
                      "unpooled": "relu"}
    assert Deconvnet(model, "after_stride", switches="pooling").switches == "pooling"
    with pytest.raises(ValueError, match="switches must be one of"):
        Deconvnet(model, "after_pool", switches="max")


def test_without_rectification_pooling_or_normalization_it_is_the_transpose_of_the_linear_map():
    """A linear network computes y = A x + b; its deconvnet projection of a signal s is A^T s, with A read off
    the network's own outputs on the basis images."""
    image = keras.Input((6, 6, 2))
    a = keras.layers.Conv2D(3, 3, strides=2, padding="same", name="strided")(image)
    b = keras.layers.SeparableConv2D(3, 3, padding="same", name="separable")(
        keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")(image))
    b = keras.layers.AveragePooling2D(2, name="average")(b)
    joined = keras.layers.Concatenate(name="concat")([a, b, keras.layers.Add(name="add")([a, b])])
    x = keras.layers.Conv2D(4, 1, name="mix")(keras.layers.ZeroPadding2D(1, name="pad")(joined))
    spread = keras.layers.UpSampling2D(name="up")(keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x))
    model = keras.Model(image, keras.layers.Add(name="top")([x, keras.layers.ZeroPadding2D(((1, 2), (1, 2)))(spread)]))
    rng = np.random.default_rng(13)
    for layer in model.layers:
        for weight in layer.weights:
            weight.assign(rng.normal(size=weight.shape) * 0.5)
    size = 6 * 6 * 2
    offset = model.predict(np.zeros((1, 6, 6, 2), "float32"), verbose=0)
    basis = np.eye(size, dtype="float32").reshape(size, 6, 6, 2)
    matrix = (model.predict(basis, verbose=0) - offset).reshape(size, -1).T  # A: (outputs, inputs)
    images = rng.normal(size=(2, 6, 6, 2)).astype("float32")
    outputs = model.predict(images, verbose=0)
    reconstructions, indices = deconvolution(model, images, "top", top_n=3)
    for n, k in np.ndindex(2, 3):
        signal = np.zeros_like(outputs[n])
        position = np.unravel_index(np.argmax(outputs[n, ..., indices[n, k]]), outputs.shape[1:3])
        signal[(*position, indices[n, k])] = outputs[(n, *position, indices[n, k])]
        expected = (matrix.T @ signal.reshape(-1)).reshape(6, 6, 2)
        np.testing.assert_allclose(reconstructions[n, k], expected, rtol=1e-4, atol=1e-4)


def test_attention_gates_are_held_at_their_forward_values():
    """conv -> CBAM: the signal is multiplied by the spatial and channel gates of the forward pass, then goes
    through the convolution's transpose."""
    image = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(8, 3, padding="same", name="conv")
    attention = CBAM(ratio=2, name="cbam")
    model = keras.Model(image, attention(conv(image)))
    keras.utils.set_random_seed(14)
    attention.spatial_bn.gamma.assign(np.full(1, 2.0, "float32"))  # gates that vary over the positions
    images = np.random.default_rng(14).normal(size=(2, 8, 8, 3)).astype("float32")
    features = conv(images)
    outputs, maps = attention(features, return_attention=True)
    outputs, gate = np.asarray(outputs), np.asarray(maps["channel"])[:, None, None, :] * np.asarray(maps["spatial"])
    assert gate.std() > 0.01
    reconstructions, indices = deconvolution(model, images, "cbam", top_n=2)
    for n, k in np.ndindex(2, 2):
        signal = np.zeros((8, 8, 8))
        position = np.unravel_index(np.argmax(outputs[n, ..., indices[n, k]]), (8, 8))
        signal[(*position, indices[n, k])] = outputs[(n, *position, indices[n, k])]
        expected = np_conv_transpose(signal * gate[n], conv.kernel.numpy(), 1, "same", (8, 8, 3))
        np.testing.assert_allclose(reconstructions[n, k], expected, rtol=1e-4, atol=1e-5)


def test_bad_layers_and_top_n_are_named():
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(image)
    model = keras.Model(image, keras.layers.Dense(3, name="dense")(keras.layers.GlobalAveragePooling2D(name="gap")(x)))
    with pytest.raises(ValueError, match="layer 'dense' has a 2-D output"):
        Deconvnet(model, "dense")
    with pytest.raises(ValueError, match="top_n must be between 1 and the 4 feature maps of 'conv'"):
        Deconvnet(model)(np.zeros((1, 8, 8, 3), "float32"), top_n=5)
    assert Deconvnet(model).layer == "conv"  # the layer Grad-CAM weighs


def test_mixed_precision_models_are_projected_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")  # the conftest restores float32
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name="bn")(x))
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2, name="pool")(x))
    reconstructions, indices = Deconvnet(model, "pool")(np.random.default_rng(9).normal(size=(2, 8, 8, 3)), top_n=2)
    assert reconstructions.dtype == np.float32 and reconstructions.shape == (2, 2, 8, 8, 3)
    assert np.isfinite(reconstructions).all() and np.abs(reconstructions).max() > 0


def test_the_path_steps_into_and_out_of_nested_models():
    backbone = keras.Sequential([keras.Input((10, 10, 2)), keras.layers.Conv2D(3, 3, activation="relu", name="conv1"),
                                 keras.layers.MaxPooling2D(name="pool")], name="backbone")
    image = keras.Input((10, 10, 2), name="image")
    head = keras.layers.Conv2D(4, 2, activation="relu", name="head")
    model = keras.Model(image, keras.layers.Flatten()(head(backbone(image))))
    deconvnet = Deconvnet(model, "head")
    images = np.random.default_rng(10).normal(size=(2, 10, 10, 2)).astype("float32")
    reconstructions, indices = deconvnet(images, top_n=2)
    for n in range(2):
        expected, order = np_deconvnet(images[n], [conv_step(backbone.get_layer("conv1")), ("pool", {}),
                                                   conv_step(head)], 2)
        np.testing.assert_array_equal(indices[n], order)
        np.testing.assert_allclose(reconstructions[n], expected, rtol=1e-4, atol=1e-5)


