"""OrthoReg: the thesis's cost (Eq. 5.2, 5.7) and its direct weight update (Eq. 5.10) in NumPy."""

import keras
import numpy as np
import pytest

from kerasfg.regularizers import OrthoReg, OrthoRegUpdate, orthoreg_step


def cosines(kernel):
    w = kernel.reshape(-1, kernel.shape[-1]).T
    f = w / np.linalg.norm(w, axis=1, keepdims=True)
    return w, f, f @ f.T


@pytest.mark.parametrize("shape", [(3, 3, 4, 6), (10, 5)])
def test_cost_matches_the_thesis(shape):
    kernel = np.random.default_rng(0).normal(size=shape)
    _, _, cos = cosines(kernel)
    off = ~np.eye(shape[-1], dtype=bool)
    local = np.log1p(np.exp(10 * (cos[off] - 1))).sum()  # Eq. 5.7, lambda = 10
    glob = 0.5 * (cos[off] ** 2).sum()  # Eq. 5.2
    k = kernel.astype("float32")
    np.testing.assert_allclose(float(OrthoReg(strength=0.1)(k)), 0.1 * local, rtol=1e-5)
    np.testing.assert_allclose(float(OrthoReg(strength=1.0, mode="global")(k)), glob, rtol=1e-5)


def test_local_cost_ignores_negatively_correlated_filters():
    """The point of the local form: filters at more than 90 degrees cost (almost) nothing."""
    opposite = np.array([[1.0, -1.0], [0.0, 0.0]], "float32")  # two filters: e1 and -e1
    same = np.array([[1.0, 1.0], [0.0, 0.0]], "float32")
    assert float(OrthoReg(strength=1.0)(opposite)) < 1e-7
    np.testing.assert_allclose(float(OrthoReg(strength=1.0)(same)), 2 * np.log(2), rtol=1e-5)
    assert float(OrthoReg(strength=1.0, mode="global")(opposite)) == pytest.approx(1.0)


def test_regularizer_in_a_layer_and_serialization():
    layer = keras.layers.Conv2D(4, 3, kernel_regularizer=OrthoReg(strength=0.5, lam=5.0))
    layer(np.zeros((1, 5, 5, 2), "float32"))
    cos = cosines(np.asarray(layer.kernel))[2][~np.eye(4, dtype=bool)]
    expected = 0.5 * np.log1p(np.exp(5 * (cos - 1))).sum()
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-5)
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(OrthoReg(0.2, 3.0)))
    assert isinstance(restored, OrthoReg) and restored.get_config()["lam"] == 3.0
    with pytest.raises(ValueError, match="`mode` must be one of"):
        OrthoReg(mode="loose")


def _update_numpy(kernel, step, lam=10.0):
    """Eq. 5.10 / official Torch hook: W -= step * ((G - diag G) F), G = lam e^{lam P}/(e^{lam P} + e^lam)."""
    w, f, p = cosines(kernel)
    g = lam * np.exp(lam * p) / (np.exp(lam * p) + np.exp(lam))
    np.fill_diagonal(g, 0)
    return (w - step * g @ f).T.reshape(kernel.shape)


def test_update_step_matches_eq_5_10():
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 5))
    kernel[..., 1] = kernel[..., 0] + 0.1 * kernel[..., 1]  # a strongly correlated pair
    out = np.asarray(orthoreg_step(kernel.astype("float32"), 0.01))
    np.testing.assert_allclose(out, _update_numpy(kernel, 0.01), rtol=1e-4, atol=1e-6)
    restored = np.asarray(orthoreg_step(kernel.astype("float32"), 0.01, restore_norms=True))
    np.testing.assert_allclose(np.linalg.norm(restored.reshape(-1, 5), axis=0),
                               np.linalg.norm(kernel.reshape(-1, 5), axis=0), rtol=1e-5)


def _model():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 2))
    y = keras.layers.Conv2D(6, 3, name="conv")(x)
    y = keras.layers.Dense(1, name="dense")(keras.layers.GlobalAveragePooling2D()(y))
    return keras.Model(x, y)


def test_callback_applies_the_update_with_the_current_learning_rate():
    model = _model()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    model.optimizer.iterations.assign(2)  # lr = 0.5 * 0.5^2 = 0.125
    before = np.asarray(model.get_layer("conv").kernel)
    dense_before = np.asarray(model.get_layer("dense").kernel)
    callback = OrthoRegUpdate(beta=0.1)
    callback.set_model(model)
    callback.on_train_batch_end(0)
    np.testing.assert_allclose(np.asarray(model.get_layer("conv").kernel),
                               _update_numpy(before.astype("float64"), 0.1 * 0.125),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(model.get_layer("dense").kernel), dense_before)


def test_callback_decorrelates_filters_during_fit():
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(2).normal(size=(8, 6, 6, 2)).astype("float32")
    y = np.zeros((8, 1), "float32")

    kernel = np.random.default_rng(3).normal(size=(3, 3, 2, 6))
    kernel[..., 1] = kernel[..., 0] + 0.2 * kernel[..., 1]  # a pair at cos ~ 0.98
    model.get_layer("conv").kernel.assign(kernel.astype("float32"))

    def worst_cosine():
        _, _, cos = cosines(np.asarray(model.get_layer("conv").kernel).astype("float64"))
        return cos[~np.eye(6, dtype=bool)].max()

    first = worst_cosine()
    model.fit(x, y, batch_size=2, epochs=5, verbose=0,
              callbacks=[OrthoRegUpdate(beta=0.5, layer_names=["conv"], restore_norms=True)])
    assert first > 0.95
    assert worst_cosine() < first - 0.05
