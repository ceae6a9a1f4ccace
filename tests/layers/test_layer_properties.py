"""Properties every attention layer has: serialization, XLA, mixed precision, SavedModel, JAX, PyTorch."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from layer_cases import CASES, case_params, flatten, randomize

from kerasfg.layers import AttentionLayer

REPO = pathlib.Path(__file__).resolve().parents[2]


def _numpy(outputs):
    return [keras.ops.convert_to_numpy(o) for o in flatten(outputs)]


def _randomized_model(case, with_maps=True):
    model, layer = case.model(with_maps=with_maps)
    randomize(layer)
    return model, layer


@pytest.mark.parametrize("case", case_params())
def test_keras_file_round_trip_is_exact(case, tmp_path):
    model, layer = _randomized_model(case)
    x = case.inputs()
    path = tmp_path / f"{case.id}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer(layer.name)) is type(layer)
    assert loaded.get_layer(layer.name).get_config() == layer.get_config()
    for a, b in zip(_numpy(model(x)), _numpy(loaded(x))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", case_params())
def test_maps_follow_the_contract(case):
    _, layer = case.model()
    if not case.has_maps:  # not an attention layer, so not found by the vis code
        assert not isinstance(layer, AttentionLayer)
        return
    _, maps = layer(case.inputs(), return_attention=True)
    assert isinstance(layer, AttentionLayer)
    assert set(maps) == set(layer.attention_map_names)
    for name, m in maps.items():
        assert keras.backend.standardize_dtype(m.dtype) == "float32", name
        assert m.shape[0] == 2, name


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.parametrize("case", case_params())
def test_fit_step_under_xla(case):
    model, layer = _randomized_model(case, with_maps=False)
    x = case.inputs(batch=4)
    rng = np.random.default_rng(5)
    y = [rng.normal(size=(4, *o.shape[1:])).astype("float32") for o in model.outputs]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
    before = [keras.ops.convert_to_numpy(v) for v in layer.trainable_weights]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert model.jit_compile is True  # Keras falls back silently (with a warning) otherwise
    assert np.isfinite(history.history["loss"]).all()
    changed = [not np.array_equal(b, keras.ops.convert_to_numpy(v))
               for b, v in zip(before, layer.trainable_weights)]
    assert any(changed) or not layer.trainable_weights


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("case", case_params())
def test_mixed_precision_keeps_maps_in_float32(case, policy):
    reference, ref_layer = _randomized_model(case)
    x = case.inputs()
    expected = _numpy(reference(x))
    keras.config.set_dtype_policy(policy)
    _, layer = case.model()
    layer.set_weights(ref_layer.get_weights())
    y, maps = layer(x, return_attention=True) if case.has_maps else (layer(x), {})
    compute = policy.removeprefix("mixed_")
    main_dtype = "float32" if case.float32_output else compute
    assert keras.backend.standardize_dtype(flatten(y)[0].dtype) == main_dtype
    for name, m in maps.items():
        assert keras.backend.standardize_dtype(m.dtype) == "float32", name
    outputs = [*flatten(y), *(maps[k] for k in sorted(maps))]
    tol = 0.05 if compute == "bfloat16" else 5e-3
    for out, ref in zip(outputs, expected, strict=True):
        out = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * max(1.0, np.abs(ref).max()))
    # and gradients are finite in the low-precision dtype
    inputs = [keras.ops.convert_to_tensor(a) for a in (x if case.multi_input else [x])]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = layer(inputs if case.multi_input else inputs[0], training=True)
        loss = sum(keras.ops.mean(keras.ops.square(keras.ops.cast(o, "float32")))
                   for o in flatten(y))
    grads = tape.gradient(loss, [*layer.trainable_weights, *inputs])
    for g in grads:
        if g is not None:
            assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(g, "float32"))).all()


def _run_python(script, env_extra, cwd):
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


_SERVE_SCRIPT = textwrap.dedent(
    """
    import json, sys

    # A None entry in sys.modules makes `import keras` raise ImportError, and makes
    # importlib.util.find_spec("keras") answer "not installed", which is how TensorFlow probes it.
    for blocked in ("keras", "kerasfg", "tf_keras"):
        sys.modules[blocked] = None
    try:
        import keras  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the import blocker did not block keras")

    import numpy as np
    import tensorflow as tf

    results = {}
    for name in json.loads(sys.argv[1] if len(sys.argv) > 1 else open("cases.json").read()):
        data = np.load(f"{name}.npz")
        inputs = [data[k] for k in sorted(data) if k.startswith("x")]
        served = tf.saved_model.load(f"{name}_savedmodel")
        out = served.serve(inputs[0] if len(inputs) == 1 else inputs)
        out = out if isinstance(out, (list, tuple)) else [out]
        results[name] = max(float(np.max(np.abs(np.asarray(o) - data[f"y{i}"])))
                            for i, o in enumerate(out))
    assert all(sys.modules[m] is None for m in ("keras", "kerasfg", "tf_keras"))
    print(json.dumps(results))
    """
)


@pytest.mark.slow
def test_savedmodel_serves_from_a_tensorflow_only_process(tmp_path):
    for case in CASES:  # the maps are outputs too: a served model can return them
        model, _ = _randomized_model(case)
        x = case.inputs()
        arrays = {f"x{i}": a for i, a in enumerate(x if case.multi_input else [x])}
        ys = {f"y{i}": y for i, y in enumerate(_numpy(model(x)))}
        np.savez(tmp_path / f"{case.id}.npz", **arrays, **ys)
        model.export(str(tmp_path / f"{case.id}_savedmodel"), format="tf_saved_model",
                     verbose=False)
    (tmp_path / "cases.json").write_text(json.dumps([c.id for c in CASES]))
    diffs = json.loads(_run_python(_SERVE_SCRIPT, {}, tmp_path).strip().splitlines()[-1])
    assert set(diffs) == {c.id for c in CASES}
    for name, diff in diffs.items():
        assert diff <= 1e-5, (name, diff)


def test_import_blocker_blocks(tmp_path):
    """The TensorFlow-only process of the SavedModel test really cannot import keras."""
    probe = _SERVE_SCRIPT.split("import numpy")[0] + "print('blocked')\n"
    assert _run_python(probe, {}, tmp_path).strip().endswith("blocked")
    leaky = probe.replace('("keras", "kerasfg", "tf_keras")', '("nothing",)')
    assert leaky != probe
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", leaky], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "did not block keras" in result.stderr


_JAX_SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np
    import kerasfg.layers  # noqa: F401  (registers the layers)

    assert keras.backend.backend() == "jax", keras.backend.backend()
    results = {}
    for name in json.load(open("cases.json")):
        data = np.load(f"{name}.npz")
        inputs = [data[k] for k in sorted(data) if k.startswith("x")]
        model = keras.saving.load_model(f"{name}.keras")
        x = inputs if len(inputs) > 1 else inputs[0]

        def loss_and_outputs(trainable, non_trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return sum(jnp.mean(jnp.square(o)) for o in outputs), outputs

        step = jax.jit(jax.value_and_grad(loss_and_outputs, has_aux=True))
        (loss, outputs), grads = step([v.value for v in model.trainable_variables],
                                      [v.value for v in model.non_trainable_variables], x)
        diff = max(float(np.max(np.abs(np.asarray(o) - data[f"y{i}"])))
                   for i, o in enumerate(outputs))
        finite = all(bool(jnp.isfinite(g).all()) for g in grads) and bool(jnp.isfinite(loss))
        results[name] = [diff, finite, len(grads)]
    print(json.dumps(results))
    """
)


# One configuration per code path: each costs a JAX compilation.
JAX_CASES = [c for c in CASES
             if c.id not in ("cbam_parallel_timm", "self_attention_plain", "attend_rectify_sigmoid")]


@pytest.mark.slow
def test_jax_backend_matches_tensorflow(tmp_path):
    n_trainable = {}
    for case in JAX_CASES:
        model, _ = _randomized_model(case)
        x = case.inputs()
        arrays = {f"x{i}": a for i, a in enumerate(x if case.multi_input else [x])}
        ys = {f"y{i}": y for i, y in enumerate(_numpy(model(x)))}
        np.savez(tmp_path / f"{case.id}.npz", **arrays, **ys)
        model.save(tmp_path / f"{case.id}.keras")
        n_trainable[case.id] = len(model.trainable_weights)
    (tmp_path / "cases.json").write_text(json.dumps([c.id for c in JAX_CASES]))
    out = _run_python(_JAX_SCRIPT, {"KERAS_BACKEND": "jax"}, tmp_path)
    results = json.loads(out.strip().splitlines()[-1])
    assert set(results) == {c.id for c in JAX_CASES}
    for name, (diff, finite, n_grads) in results.items():
        assert diff <= 1e-4, (name, diff)
        assert finite and n_grads == n_trainable[name], name


_TORCH_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import torch
    import keras
    from kerasfg.layers import CBAM, ECA, SqueezeExcite

    assert keras.backend.backend() == "torch", keras.backend.backend()
    rng = np.random.default_rng(0)
    results = {}
    for cls in (SqueezeExcite, ECA, CBAM):
        layer = cls()
        x = torch.tensor(rng.normal(size=(2, 6, 5, 32)), dtype=torch.float32, requires_grad=True)
        y = layer(x, training=True)
        (y * y).sum().backward()
        grads = [x.grad] + [v.value.grad for v in layer.trainable_variables]
        results[cls.__name__] = [list(y.shape), all(g is not None and bool(torch.isfinite(g).all())
                                                    for g in grads)]
    print(json.dumps(results))
    """
)


@pytest.mark.slow
def test_gates_train_on_the_pytorch_backend(tmp_path):
    """The gates' custom gradients run where Keras's PyTorch ``custom_gradient`` takes one output only."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    out = _run_python(_TORCH_SCRIPT, {"KERAS_BACKEND": "torch"}, tmp_path)
    results = json.loads(out.strip().splitlines()[-1])
    assert results == {name: [[2, 6, 5, 32], True] for name in ("SqueezeExcite", "ECA", "CBAM")}
