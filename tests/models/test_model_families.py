"""Properties every model family has: flat and readably named, trains under XLA and mixed bfloat16,
round-trips ``.keras`` exactly and exports a SavedModel that computes the same outputs."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_cases import CASES, case_params

from kerasfg.models import available_models, build_model, registry

READABLE = re.compile(r"^[a-z][a-z0-9_]*$")


def _numpy(outputs):
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


@pytest.mark.parametrize("case", case_params())
def test_flat_unique_readable_names(case):
    model = case.build()
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert all(READABLE.match(n) for n in names), [n for n in names if not READABLE.match(n)]
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert isinstance(model.output, dict)
    # stable: a second build gives the same names
    keras.utils.clear_session()
    assert [layer.name for layer in case.build().layers] == names


@pytest.mark.slow
@pytest.mark.parametrize("case", case_params(xla_only=True))
def test_trains_under_xla_and_mixed_bfloat16_round_trips_and_exports(case, tmp_path):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = case.build()
    assert any(w.dtype == "float32" for w in model.weights)
    x, y = case.inputs(model), case.targets(model)
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=True,
                  **case.compile_arguments(model))
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert model.jit_compile is True  # no silent fallback to the non-XLA path
    assert np.isfinite(history.history["loss"][-1])
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    for value in model(x, training=False).values():
        assert value.dtype == "float32"  # outputs and maps stay float32

    expected = _numpy(model(x, training=False))
    path = tmp_path / f"{case.id}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for key, value in _numpy(loaded(x, training=False)).items():
        np.testing.assert_array_equal(value, expected[key])

    export_dir = tmp_path / f"{case.id}_savedmodel"
    model.export(str(export_dir), verbose=False)
    reloaded = tf.saved_model.load(str(export_dir))
    served = reloaded.serve(x)
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(served[key]), value, atol=2e-2, rtol=2e-2)


def _builder_function(name):
    """The function behind a registered name (``resnet50`` is ``partial(resnet, depth=50)``), by its
    qualified name."""
    return registry.registered_model(name).network({})[0]


def test_every_registered_model_has_a_case_family():
    """Every model in the registry is built by the function of some case above, so the family tests
    (names, XLA, mixed precision, .keras round trip, export) exercise its code."""
    covered = {_builder_function(case.name) for case in CASES}
    uncovered = [name for name in available_models() if _builder_function(name) not in covered]
    assert not uncovered, f"add a ModelCase to tests/models/model_cases.py for {uncovered}"
    assert len(available_models()) >= len(covered) > 1


def test_unknown_model_and_bad_input_shape_are_clear():
    with pytest.raises(ValueError, match="Unknown model 'resnet51'"):
        build_model("resnet51", input_shape=(32, 32, 3), num_classes=2)
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, channels\)"):
        build_model("resnet18", input_shape=(32, 32), num_classes=2)
    with pytest.raises(TypeError, match=r"input_shape must be a sequence of sizes .* received int 32"):
        build_model("resnet18", input_shape=32, num_classes=2)
    with pytest.raises(ValueError, match="depth must be one of"):
        build_model("resnet50", input_shape=(32, 32, 3), num_classes=2, depth=51)


def test_rescale_lets_a_model_take_raw_pixels():
    raw = build_model("cifar_resnet20", input_shape=(16, 16, 3), num_classes=3, rescale="symmetric")
    plain = build_model("cifar_resnet20", input_shape=(16, 16, 3), num_classes=3)
    plain.set_weights(raw.get_weights())
    pixels = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(raw(pixels)["predictions"]),
                               np.asarray(plain(pixels / 127.5 - 1.0)["predictions"]),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="rescale must be None or one of"):
        build_model("resnet18", input_shape=(32, 32, 3), num_classes=3, rescale="imagenet")


def test_built_from_a_config():
    """The training config's model section builds any registered backbone for the data's tasks."""
    import types

    from kerasfg import config as config_lib
    from kerasfg import training

    config = config_lib.from_dict({
        "name": "backbone",
        "data": {"inputs": ["image"], "targets": ["identity", "expression"]},
        "model": {"name": "resnet18v2", "attention": "eca", "activation": "elu",
                  "options": {"rescale": "symmetric"}},
    })
    data = types.SimpleNamespace(input_shape=(32, 32, 3),
                                 num_classes={"identity": 4, "expression": 7})
    model = training.build_model(config, data)
    assert sorted(model.output) == ["expression", "identity"]
    assert model.get_layer("stage2_block1_eca") is not None
    assert model.get_layer("rescale") is not None and model.get_layer("stage1_block1_1_elu")


def test_attention_names_in_layer_names():
    import functools

    from kerasfg.layers import CBAM, ECA, SelfAttention2D, SqueezeExcite
    from kerasfg.models.blocks import attention_tag

    assert [attention_tag(a) for a in ("cbam", "Squeeze-Excite", CBAM, ECA, SqueezeExcite,
                                       SelfAttention2D, functools.partial(SqueezeExcite, ratio=4))] == [
        "cbam", "squeeze_excite", "cbam", "eca", "squeeze_excite", "self_attention2d",
        "squeeze_excite"]
    model = build_model("cifar_resnet", input_shape=(8, 8, 3), num_classes=2, depth=8,
                        attention=functools.partial(SqueezeExcite, ratio=4))
    assert model.get_layer("stage2_block1_squeeze_excite").ratio == 4
