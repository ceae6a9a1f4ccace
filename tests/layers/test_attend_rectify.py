"""AttendRectify against a NumPy implementation of the thesis's Eq. 4.1-4.8 (official-code form)."""

import keras
import numpy as np
import pytest
from layer_cases import conv2d_same, randomize, sigmoid, weights
from test_self_attention import softmax

from kerasfg.layers import AttendRectify
from kerasfg.losses import NegativeLogLikelihood


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def warn_numpy(logits, last, attended, w, heads, classes, gate="softmax", eps=1e-5):
    outputs, maps, penalties = [logits], {}, []
    for i, z in enumerate(attended):
        b, h, wd, _ = z.shape
        # Eq. 4.1: softmax over the h*w positions of each head
        masks = softmax(conv2d_same(z, w[f"mask_conv_{i}/kernel"]).reshape(b, h * wd, heads)
                        .transpose(0, 2, 1)).transpose(0, 2, 1)
        o = conv2d_same(z, w[f"output_conv_{i}/kernel"]).reshape(b, h * wd, heads, classes)
        head_scores = np.einsum("bpk,bpkc->bkc", masks, o)  # Eq. 4.3
        s = conv2d_same(z, w[f"head_gate_conv_{i}/kernel"]).reshape(b, h * wd, heads)
        g = softmax(np.tanh((masks * s).sum(1)))  # Eq. 4.5
        outputs.append(np.einsum("bk,bkc->bc", g, head_scores))  # Eq. 4.4
        maps[f"masks_{i}"], maps[f"head_gates_{i}"] = masks.reshape(b, h, wd, heads), g
        a = masks.reshape(b, h, wd, heads)[:, :h // 2 * 2, :wd // 2 * 2]
        a = a.reshape(b, h // 2, 2, wd // 2, 2, heads).mean((2, 4)).reshape(b, -1, heads)
        gram = np.einsum("bpk,bpl->bkl", a, a) * (1 - np.eye(heads))
        penalties.append((gram ** 2).mean())
    c = last.mean((1, 2)) @ w["gate_dense/kernel"]
    c = np.tanh((c - w["gate_bn/moving_mean"]) / np.sqrt(w["gate_bn/moving_variance"] + eps)
                * w["gate_bn/gamma"] + w["gate_bn/beta"])  # Eq. 4.6
    gates = softmax(c) if gate == "softmax" else sigmoid(c) / sigmoid(c).sum(-1, keepdims=True)
    maps["global_gates"] = gates
    mixture = sum(gates[:, i:i + 1] * log_softmax(o) for i, o in enumerate(outputs))  # Eq. 4.8
    return mixture, maps, np.mean(penalties)


def _inputs(seed, classes, shapes):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, classes)).astype("float32"),
            *(rng.normal(size=(2, *s)).astype("float32") for s in shapes)]


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
def test_forward_and_penalty_match_numpy(gate):
    inputs = _inputs(0, 5, [(3, 3, 6), (6, 5, 4), (3, 3, 6)])
    layer = AttendRectify(num_classes=5, num_heads=3, gate=gate, reg_weight=0.5)
    layer.build([x.shape for x in inputs])
    randomize(layer)
    y, maps = layer(inputs, training=False, return_attention=True)
    f64 = [x.astype("float64") for x in inputs]
    expected, e_maps, penalty = warn_numpy(f64[0], f64[1], f64[2:], weights(layer), 3, 5, gate)
    assert sorted(maps) == sorted(e_maps)
    for name in e_maps:
        np.testing.assert_allclose(maps[name], e_maps[name], rtol=1e-4, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * penalty, rtol=1e-4)


def test_uniform_gates_average_and_a_one_hot_gate_recovers_the_network():
    """Thesis: with the output gate at 1 the model is the original network."""
    inputs = _inputs(1, 4, [(3, 3, 5), (4, 4, 5)])
    layer = AttendRectify(num_classes=4, num_heads=2, reg_weight=0)
    layer.build([x.shape for x in inputs])
    randomize(layer)
    layer.gate_bn.gamma.assign(np.zeros(2, "float32"))
    layer.gate_bn.beta.assign(np.array([20.0, -20.0], "float32"))  # tanh -> (1, -1)
    y = np.asarray(layer(inputs, training=False))
    c = np.tanh(np.array([20.0, -20.0]))
    g = np.exp(c) / np.exp(c).sum()
    assert g[0] > 0.88  # softmax(tanh) gates are bounded: e^2 / (e^2 + 1)
    assert not layer.losses


def test_trains_with_the_nll_of_the_mixture():
    rng = np.random.default_rng(2)
    images = keras.Input((8, 8, 3))
    z1 = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(images)
    z2 = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(z1)
    logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(z2))
    mixture = AttendRectify(num_classes=3, num_heads=2)([logits, z2, z1, z2])
    model = keras.Model(images, mixture)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=NegativeLogLikelihood())
    x = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, size=16)
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first


def test_negative_log_likelihood_is_minus_the_labelled_log_probability():
    y_pred = np.log(np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], "float32")) * 0.9  # unnormalized
    labels = np.array([1, 2])
    expected = -np.mean(y_pred[np.arange(2), labels])
    np.testing.assert_allclose(float(NegativeLogLikelihood()(labels, y_pred)), expected, rtol=1e-6)
    one_hot = np.eye(3, dtype="float32")[labels]
    np.testing.assert_allclose(float(NegativeLogLikelihood(sparse=False)(one_hot, y_pred)),
                               expected, rtol=1e-6)
    config = NegativeLogLikelihood(sparse=False).get_config()
    assert keras.losses.deserialize(keras.losses.serialize(NegativeLogLikelihood(**{
        k: v for k, v in config.items() if k in ("sparse", "name")}))).sparse is False


def test_parameter_count_closed_form():
    k, classes, ks, c_last = 4, 10, 3, 16
    attended = [(None, 8, 8, 6), (None, 4, 4, 16)]
    layer = AttendRectify(num_classes=classes, num_heads=k, kernel_size=ks)
    layer.build([(None, classes), (None, 4, 4, c_last), *attended])
    convs = sum(ks * ks * s[-1] * (k + k * classes + k) for s in attended)
    gates = c_last * (len(attended) + 1) + 4 * (len(attended) + 1)
    assert layer.count_params() == convs + gates


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="at least one attended feature map"):
        AttendRectify(3)([np.zeros((1, 3), "float32"), np.zeros((1, 4, 4, 2), "float32")])
    with pytest.raises(ValueError, match=r"logits of shape \(batch, 3\)"):
        AttendRectify(3)([np.zeros((1, 4), "float32"), *[np.zeros((1, 4, 4, 2), "float32")] * 2])
    with pytest.raises(ValueError, match="smaller than 2x2"):
        AttendRectify(3)([np.zeros((1, 3), "float32"), np.zeros((1, 4, 4, 2), "float32"),
                          np.zeros((1, 1, 1, 2), "float32")])
    with pytest.raises(ValueError, match=r"`kernel_size` must be a positive odd integer.*4"):
        AttendRectify(3, kernel_size=4)
    with pytest.raises(ValueError, match="`gate` must be one of"):
        AttendRectify(3, gate="relu")
