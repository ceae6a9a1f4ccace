"""The TensorFlow-only half of ``verify-export``; also run as a script in a process that cannot import Keras.

Run as ``python -I _verify_worker.py SAVED_MODEL REQUESTS OUT.json RTOL ATOL``. It blocks ``keras``,
``kerasfg`` and ``tf_keras`` before importing TensorFlow (TF 2.21 imports Keras whenever it can find it), so a
SavedModel that loads and answers here needs no Python model code, as in TensorFlow Serving. This module
imports nothing from kerasfg, and only TensorFlow and the tensorflow-serving-api protos at module level.
"""

import importlib.util
import json
import sys

BLOCKED = ("keras", "kerasfg", "tf_keras")
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
XLA_ATTRS = ("_XlaMustCompile", "_XlaCompile")
PREDICT_METHOD = "tensorflow/serving/predict"


class _ImportBlocker:
    """A meta-path finder that hides ``BLOCKED`` packages from every other finder (importlib.util.find_spec
    returns None for them, ``import`` raises ModuleNotFoundError)."""

    def __init__(self, finders):
        self.finders = finders

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        for finder in self.finders:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec else None
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self):
        for finder in self.finders:
            if hasattr(finder, "invalidate_caches"):
                finder.invalidate_caches()


def block_imports():
    loaded = [m for m in sys.modules if m.partition(".")[0] in BLOCKED]
    if loaded:
        raise RuntimeError(f"cannot block modules that are already imported: {loaded}")
    sys.meta_path[:] = [_ImportBlocker(list(sys.meta_path))]


def imports_blocked():
    """True when none of BLOCKED is imported or importable."""
    return all(name not in sys.modules and importlib.util.find_spec(name) is None for name in BLOCKED)


# === Op walk ===


def _attr_true(attrs, key):
    return key in attrs and attrs[key].b


def scan_ops(saved_model_dir):
    """Walk every op of a SavedModel: graph nodes and the bodies of every library function (While/If bodies,
    ``tf.map_fn``, gradients), which ``saved_model_cli show``/``scan`` miss.

    Returns ``{"ops": {op: count}, "problems": [str], "signatures": {name: method}}``. Problems: Python ops
    (PyFunc, EagerPyFunc), ops that stock TensorFlow does not register (unknown ones, and those of a loaded
    library), XLA must-compile attributes, and a missing or non-predict ``serving_default``.
    """
    import os

    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    stock = set(dir(tf.raw_ops))  # the ops stock TensorFlow registers (a loaded library's are not among them)
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(os.fspath(saved_model_dir), "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    counts, problems, signatures = {}, [], {}
    for meta in saved.meta_graphs:
        places = [("graph", meta.graph_def.node)]
        places += [(f"function {fn.signature.name}", fn.node_def) for fn in meta.graph_def.library.function]
        for fn in meta.graph_def.library.function:
            for key in XLA_ATTRS:
                if _attr_true(fn.attr, key):
                    problems.append(f"function {fn.signature.name} has {key}=True: stock TF Serving does not "
                                    "JIT-compile (do not export jit_compile=True tf.functions)")
        for where, nodes in places:
            for node in nodes:
                counts[node.op] = counts.get(node.op, 0) + 1
                at = f"node {node.name!r} in {where}"
                if node.op in PYTHON_OPS:
                    problems.append(f"op {node.op} ({at}) runs Python (tf.py_function / tf.numpy_function); "
                                    "TF Serving has no Python")
                elif node.op not in stock:
                    problems.append(f"op {node.op} ({at}) is not registered in stock TensorFlow "
                                    f"{tf.__version__} (a custom op, unknown or loaded from a library); TF Serving "
                                    "fails with 'Op type not registered'")
                for key in XLA_ATTRS:
                    if _attr_true(node.attr, key):
                        problems.append(f"{at} has {key}=True: stock TF Serving does not JIT-compile")
        for name, sig in meta.signature_def.items():
            signatures[name] = sig.method_name
    if "serving_default" not in signatures:
        problems.append(f"no serving_default signature (signatures: {sorted(signatures)})")
    for name, method in signatures.items():
        if name != "__saved_model_init_op" and method != PREDICT_METHOD:
            problems.append(f"signature {name!r} has method {method!r}, expected {PREDICT_METHOD!r}")
    return {"ops": dict(sorted(counts.items())), "problems": problems, "signatures": signatures}


# === Running the signatures ===


def _compare(name, got, want, rtol, atol):
    """None when ``got`` matches ``want``, else a message."""
    import numpy as np

    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"{name}: shape {got.shape}, expected {want.shape}"
    if want.dtype.kind == "f":
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            return f"{name}: max abs difference {np.max(np.abs(got - want)):.3g} > tolerance"
        return None
    if not np.array_equal(got, want):
        return f"{name}: {got.tolist()!r} != expected {want.tolist()!r}"
    return None


def _read_requests(path):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        if not log.HasField("predict_log"):
            raise ValueError(f"record {len(requests)} holds {log.WhichOneof('log_type')!r}, not a predict_log")
        request, response = log.predict_log.request, log.predict_log.response
        requests.append((request.model_spec.signature_name or "serving_default",
                         {k: tf.make_ndarray(v) for k, v in request.inputs.items()},
                         {k: tf.make_ndarray(v) for k, v in response.outputs.items()}))
    return requests


def run_checks(saved_model_dir, requests_file, rtol, atol):
    """Load the SavedModel two ways and run every request; returns a list of check dicts."""
    import os

    import tensorflow as tf

    checks = []

    def check(name, ok, detail=""):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    scan = scan_ops(saved_model_dir)
    check("ops", not scan["problems"],
          "; ".join(scan["problems"]) or f"{sum(scan['ops'].values())} ops of {len(scan['ops'])} stock types, "
                                         "function bodies included")
    requests = []
    if not os.path.exists(requests_file):
        check("warmup records parse", False, f"{requests_file} does not exist: no sample requests, so the "
                                             "signatures are loaded but not run")
    else:
        try:
            requests = _read_requests(requests_file)
            check("warmup records parse", 0 < len(requests) <= 1000, f"{len(requests)} PredictionLog records")
        except (ValueError, tf.errors.OpError) as err:
            check("warmup records parse", False, str(err))
            return checks, scan

    try:
        loaded = tf.saved_model.load(saved_model_dir)
    except (tf.errors.OpError, ValueError, RuntimeError) as err:  # RuntimeError: "Op type not registered"
        check("tf2 load", False, f"{type(err).__name__}: {err}")
        return checks, scan
    check("tf2 load", True, f"tf.saved_model.load: signatures {sorted(loaded.signatures)}")
    tf2 = []
    for k, (signature, inputs, expected) in enumerate(requests):
        label = f"tf2 {signature} #{k}"
        if signature not in loaded.signatures:
            check(label, False, f"no signature {signature!r}")
            tf2.append(None)
            continue
        try:
            got = {n: t.numpy() for n, t in loaded.signatures[signature](
                **{n: tf.constant(v) for n, v in inputs.items()}).items()}
        except (tf.errors.OpError, TypeError, ValueError) as err:
            check(label, False, f"{type(err).__name__}: {err}")
            tf2.append(None)
            continue
        tf2.append(got)
        if not expected:
            check(label, True, "ran (no expected outputs recorded)")
            continue
        errors = []
        if set(got) != set(expected):
            errors.append(f"outputs {sorted(got)} != expected {sorted(expected)}")
        errors += [e for n in sorted(set(got) & set(expected))
                   if (e := _compare(n, got[n], expected[n], rtol, atol))]
        check(label, not errors, "; ".join(errors) or f"{len(got)} outputs match the Keras model")

    # The TF1 graph-mode loader and SignatureDef tensor names: what saved_model_cli run and the C++ server use.
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        try:
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], saved_model_dir)
        except (tf.errors.OpError, ValueError, RuntimeError) as err:
            check("tf1-session load", False, f"{type(err).__name__}: {err}")
            return checks, scan
        check("tf1-session load", True, "tf.compat.v1 SavedModel loader, tags {'serve'}, tables initialized")
        for k, (signature, inputs, _) in enumerate(requests):
            label = f"tf1-session {signature} #{k}"
            sig = meta.signature_def.get(signature)
            if sig is None or tf2[k] is None:
                check(label, False, "not run: the signature is missing or failed under the TF2 loader")
                continue
            try:
                feed = {sig.inputs[n].name: v for n, v in inputs.items()}
                got = session.run({n: t.name for n, t in sig.outputs.items()}, feed)
            except (tf.errors.OpError, KeyError, ValueError) as err:
                check(label, False, f"{type(err).__name__}: {err}")
                continue
            errors = [e for n in sorted(got) if (e := _compare(n, got[n], tf2[k].get(n), rtol, atol))]
            check(label, not errors, "; ".join(errors) or "matches the TF2 loader")

    # Corrupt bytes must be a clean INVALID_ARGUMENT, not a crash.
    for signature, inputs, _ in requests:
        if signature in loaded.signatures and "image_bytes" in inputs:
            bad = {n: tf.constant(v[:1]) for n, v in inputs.items()}
            bad["image_bytes"] = tf.constant([b"\x00 these bytes are not an image"])
            try:
                loaded.signatures[signature](**bad)
                check(f"corrupt bytes -> INVALID_ARGUMENT ({signature})", False, "the signature accepted them")
            except tf.errors.InvalidArgumentError as err:
                noise = ("Graph execution error", "Detected at node", "<stack", "[[", "File ")
                lines = [line.strip() for line in err.message.splitlines() if line.strip()]
                reason = next((line for line in lines if not line.startswith(noise)), lines[-1] if lines else "")
                check(f"corrupt bytes -> INVALID_ARGUMENT ({signature})", True, reason.strip())
            break
    return checks, scan


def main(argv):
    saved_model_dir, requests_file, out_json, rtol, atol = argv
    block_imports()
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    checks, scan = run_checks(saved_model_dir, requests_file, float(rtol), float(atol))
    blocked = imports_blocked()
    checks.insert(0, {"name": "no keras/kerasfg in the loading process", "ok": blocked,
                      "detail": "import keras, kerasfg and tf_keras blocked; TensorFlow imported without them"
                      if blocked else f"importable or imported: {[m for m in sys.modules if 'keras' in m][:5]}"})
    with open(out_json, "w") as f:
        json.dump({"checks": checks, "ops": scan["ops"], "signatures": scan["signatures"],
                   "keras_blocked": blocked}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
