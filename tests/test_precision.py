"""Precision selection per device, the scoped oneDNN bfloat16 rewrite, and convergence against float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg import convergence, precision
from kerasfg.layers import BatchNormalization, SqueezeExcite

needs_bfloat16_units = pytest.mark.skipif(
    not precision.cpu_has_bfloat16_units(),
    reason="the oneDNN bfloat16 path is chosen only on CPUs with bfloat16 units (AMX / AVX512-BF16)")


def fake_devices(monkeypatch, gpus=0, compute_capability=(8, 0), bfloat16_units=True):
    devices = [tf.config.PhysicalDevice(f"/physical_device:GPU:{k}", "GPU") for k in range(gpus)]
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: devices if kind in (None, "GPU") else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"compute_capability": compute_capability})
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: bfloat16_units)


@pytest.mark.parametrize("gpus,capability,units,expected,jit", [
    (0, None, True, "onednn_bfloat16", False),
    (0, None, False, "float32", False),
    (1, (8, 0), False, "mixed_bfloat16", True),
    (1, (7, 5), False, "mixed_float16", True),
    (1, (6, 1), False, "float32", True),
])
def test_auto_picks_the_path_of_the_device(monkeypatch, gpus, capability, units, expected, jit):
    fake_devices(monkeypatch, gpus, capability, units)
    chosen = precision.resolve("auto", "auto")
    assert (chosen.name, chosen.jit_compile) == (expected, jit)
    assert chosen.dtype_policy == ("float32" if expected == "onednn_bfloat16" else expected)
    assert chosen.graph_rewrite == (expected == "onednn_bfloat16")


def test_explicit_values_are_kept_and_unknown_ones_rejected(monkeypatch):
    fake_devices(monkeypatch)
    assert precision.resolve("mixed_float16", True) == precision.Precision("mixed_float16", True)
    with pytest.raises(ValueError, match=r"precision must be one of \['auto', .*received 'fp8'"):
        precision.resolve("fp8")


def matmul_error(function, a):
    exact = a.numpy().astype("float64") @ a.numpy().astype("float64")
    return float(np.abs(function(a).numpy() - exact).max() / np.abs(exact).max())


@needs_bfloat16_units
def test_rewrite_applies_inside_the_block_only_and_restores_the_option():
    a = tf.constant(np.random.default_rng(0).normal(size=(128, 128)).astype("float32"))
    product = tf.function(lambda a: tf.matmul(a, a))
    assert matmul_error(product, a) < 1e-5  # float32
    with precision.onednn_bfloat16_rewrite():
        assert product(a).dtype == tf.float32  # float32 comes out
        assert matmul_error(product, a) > 1e-4  # but bfloat16 products (8-bit mantissas) inside
    assert matmul_error(product, a) < 1e-5  # the same function, float32 again after the block
    assert precision.REWRITE_OPTION not in tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({precision.REWRITE_OPTION: True})
    try:  # a setting the user made before is restored, not dropped
        with precision.onednn_bfloat16_rewrite():
            pass
        assert tf.config.optimizer.get_experimental_options()[precision.REWRITE_OPTION] is True
    finally:
        tf.config.optimizer.set_experimental_options({precision.REWRITE_OPTION: None})


def test_training_precision_builds_with_the_policy_and_restores_it(monkeypatch):
    fake_devices(monkeypatch, gpus=1, compute_capability=(8, 6))
    with precision.training_precision() as chosen:
        layer = keras.layers.Dense(2)
        assert chosen == precision.Precision("mixed_bfloat16", True)
    assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"


def tiny_classifier():
    """Conv-BN-ReLU, an SE gate, a strided conv, pooling and a float32 softmax, on 16x16 faces."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(BatchNormalization()(x))
    x = SqueezeExcite(ratio=4)(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(BatchNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    return model


@pytest.mark.slow
@needs_bfloat16_units
def test_onednn_bfloat16_trains_as_well_as_float32_over_three_seeds():
    """300 steps per seed; the stated tolerance (docs/performance.md): mean final training loss within
    0.05 and mean held-out accuracy within 0.04 of float32's."""
    from kerasfg.data.synthetic import synthetic_faces

    def arrays(count, seed):
        faces = synthetic_faces(count, num_identities=10, image_size=16, difficulty=0.2, seed=seed)
        return faces.images.astype("float32"), faces.labels["identity"]

    runs = convergence.compare_to_float32(tiny_classifier, arrays(1024, 1), arrays(512, 2),
                                          precision="onednn_bfloat16", steps=300)
    table = convergence.summary(runs)
    plain, bf16 = table["float32"], table["onednn_bfloat16"]
    assert plain["test_accuracy"] > 0.5  # the task is learned at all (chance: 0.1)
    assert abs(bf16["train_loss"] - plain["train_loss"]) <= 0.05, table
    assert abs(bf16["test_accuracy"] - plain["test_accuracy"]) <= 0.04, table
    # The runs did compute in bfloat16: same weights and batches, different arithmetic.
    assert [r.train_loss for r in runs["float32"]] != [r.train_loss for r in runs["onednn_bfloat16"]]
