"""Training speed of the backbones per precision, against PyTorch + timm on the same CPU; and serving.

Prints, in one run (every candidate timed in interleaved rounds, so that load on a shared machine hits
all alike; the PyTorch models run in a worker process, see ``benchmarks/torch_baselines.py``):

1. training images/s of ResNet-50 and CBAM-ResNet-50 (112x112, batch 32) and of the quick-start model
   (64x64, batch 64), SGD with momentum, for
   - ``float32 (Keras BN)`` and ``mixed_bfloat16 (Keras BN)``: the models as kerasfg built them
     before its fused batch normalization; the second was ``precision: auto`` on CPUs with
     bfloat16 units ("today's default");
   - ``default``: ``precision: auto`` now (``onednn_bfloat16`` on such CPUs, with the fused batch
     normalization of ``kerasfg.layers.BatchNormalization``);
   - ``torch float32`` and ``torch bfloat16``: PyTorch + timm, channels_last, float32 and bf16 autocast,
     where torch and timm are installed (a clear line says so otherwise);
   - with ``--all-paths`` also ``float32``, ``mixed_bfloat16`` and ``onednn_bfloat16 (Keras BN)``, to
     split the gain between the graph rewrite and the fused normalization;
   and SE- and ECA-ResNet-50 under the default; with ``--fused-gates both`` also the attention models
   under the default with their gates composed of TensorFlow operations instead of the fused kernels of
   ``kerasfg.layers.fused_gates`` (``default, composed gates``);
2. the budgets as ratios of the same run: default / float32 (>= 1.6 on ResNet-50), default / the
   best PyTorch figure (>= 0.9; 1.0 is the goal), quick-start default / today's default (>= 1.0),
   and the attention gates under the default against the plain ResNet-50 (SE and ECA >= 0.95,
   CBAM >= 0.88);
3. ``serve_pixels`` throughput at batch 64 of the exported SavedModels, float32 as exported, called
   in process with and without the oneDNN bfloat16 rewrite, and through a TF1 session created with
   the session config that TF Serving's ``--tensorflow_session_config_file`` would read
   (``SERVING_SESSION_CONFIG``), with and without it; the largest probability change is printed.

    python -m benchmarks.bench_backbones [--rounds 3] [--steps 2] [--all-paths | --only-default]
        [--no-torch] [--torch-passive-wait] [--models resnet50,cbam_resnet50,quickstart] [--no-serving]
        [--no-training] [--clock wall|cpu] [--threads N] [--fused-gates on|both]

On a shared machine, PyTorch's OpenMP threads spin while they wait for each other and lose their
cores to other processes: ``--torch-passive-wait`` (``OMP_WAIT_POLICY=PASSIVE``) makes them sleep
instead; on a quiet machine leave it off (that is how PyTorch users run). ``--clock cpu --threads 1``
times the Keras candidates by one core's CPU time, which other processes disturb least (for the
attention gates' ratios on a shared machine; no PyTorch rows). ``--only-default`` times 9 rounds of 8 steps
unless told otherwise: the gates' ratios need that many.
"""

import argparse
import contextlib
import os
import pathlib
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import torch_baselines  # noqa: E402
from benchmarks.timing import interleaved_medians, print_table  # noqa: E402
from kerasfg import precision as precision_lib  # noqa: E402
from kerasfg import quickstart, training  # noqa: E402
from kerasfg.layers import BatchNormalization  # noqa: E402
from kerasfg.layers import fused_gates as fused_gates_lib  # noqa: E402
from kerasfg.models import build_model  # noqa: E402

CLASSES = 10
SHAPES = {"resnet50": (112, 32), "cbam_resnet50": (112, 32), "se_resnet50": (112, 32),
          "eca_resnet50": (112, 32), "quickstart": (64, 64)}  # model -> (image size, batch)
ATTENTION = {"resnet50": None, "cbam_resnet50": "cbam", "se_resnet50": "se", "eca_resnet50": "eca"}
GATE_BUDGETS = {"se_resnet50": 0.95, "eca_resnet50": 0.95, "cbam_resnet50": 0.88}
DEFAULT = "default"
COMPOSED = "default, composed gates"  # --fused-gates both: the gates without kerasfg.layers.fused_gates
BEFORE = {"float32 (Keras BN)": ("float32", True), "mixed_bfloat16 (Keras BN)": ("mixed_bfloat16", True)}
EXTRA = {"float32": ("float32", False), "mixed_bfloat16": ("mixed_bfloat16", False),
         "onednn_bfloat16 (Keras BN)": ("onednn_bfloat16", True)}
TORCH = {"torch float32": False, "torch bfloat16": True}
# What TF Serving's --tensorflow_session_config_file would contain to serve under the rewrite.
SERVING_SESSION_CONFIG = "graph_options { rewrite_options { auto_mixed_precision_onednn_bfloat16: ON } }\n"


def with_keras_batch_norm(model):
    """A copy of ``model`` whose `kerasfg.layers.BatchNormalization` layers are Keras's own."""
    def clone(layer):
        if isinstance(layer, BatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def build(name):
    """A new (uncompiled) model ``name`` and one random batch ``(x, y)`` for it."""
    size, batch = SHAPES[name]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, batch)
    if name == "quickstart":
        config = quickstart.default_config(["data.synthetic.train_images=64", "data.synthetic.val_images=8",
                                            "data.synthetic.test_images=8"])
        model = training.build_model(config, training.build_datasets(config.data))
        x = {"image": rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"),
             "expression": rng.integers(0, 7, batch).astype("int32")}
        return model, x, {"identity": labels}
    model = build_model("resnet50", input_shape=(size, size, 3), num_classes=CLASSES, attention=ATTENTION[name])
    return model, rng.normal(size=(batch, size, size, 3)).astype("float32"), {"predictions": labels}


class KerasCandidate:
    """A compiled model trained by ``train_on_batch`` under its precision's scopes, each step timed
    with ``clock``."""

    def __init__(self, name, precision, keras_bn, clock=time.perf_counter, fused_gates=True):
        self.clock = clock
        self.gates = contextlib.nullcontext if fused_gates else fused_gates_lib.composed
        self.precision = precision_lib.resolve(precision, jit_compile="auto")
        with self.precision.build_scope():
            self.model, self.x, self.y = build(name)
            if keras_bn:
                self.model = with_keras_batch_norm(self.model)
        self.model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                           loss=keras.losses.SparseCategoricalCrossentropy(),
                           jit_compile=self.precision.jit_compile)
        self.batch = SHAPES[name][1]

    def steps(self, count):
        times = []
        with self.precision.training_scope(), self.gates():
            for _ in range(count):
                start = self.clock()
                self.model.train_on_batch(self.x, self.y)
                times.append(self.clock() - start)
        return times


class TorchCandidate:
    """A model trained in the PyTorch worker."""

    def __init__(self, worker, name, bfloat16):
        size, self.batch = SHAPES[name]
        self.worker, self.key = worker, f"{name}/{bfloat16}"
        worker.build(self.key, name, size, self.batch, CLASSES, bfloat16)

    def steps(self, count):
        return self.worker.steps(self.key, count)


def time_candidates(candidates, rounds, steps, warmup=2):
    """``{key: [per-round median step seconds]}``: each candidate runs ``steps`` steps in turn, per round."""
    for key, candidate in candidates.items():
        start = time.perf_counter()
        candidate.steps(warmup)
        print(f"  {' / '.join(key)}: traced and warmed up in {time.perf_counter() - start:.0f} s", flush=True)
    medians = {key: [] for key in candidates}
    for _ in range(rounds):
        for key, candidate in candidates.items():
            medians[key].append(statistics.median(candidate.steps(steps)))
    return medians


def paired_ratio(medians, faster, slower):
    """Median over rounds of the speed ratio ``faster / slower`` (images/s of the same round)."""
    return statistics.median(b / a for a, b in zip(medians[faster], medians[slower]))


def training_table(args, worker):
    models = args.models.split(",")
    paths = {**({} if args.only_default else BEFORE), DEFAULT: ("auto", False),
             **(EXTRA if args.all_paths else {})}
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    candidates = {}
    for name in models:
        for path, (precision, keras_bn) in paths.items():
            candidates[(name, path)] = KerasCandidate(name, precision, keras_bn, clock)
        if worker:
            for path, bfloat16 in TORCH.items():
                candidates[(name, path)] = TorchCandidate(worker, name, bfloat16)
    if "resnet50" in models and args.gates:
        for name in ("se_resnet50", "eca_resnet50"):
            candidates[(name, DEFAULT)] = KerasCandidate(name, "auto", False, clock)
    if args.fused_gates == "both":
        for name in [name for name, _ in candidates if name != "resnet50"]:
            candidates.setdefault((name, COMPOSED), KerasCandidate(name, "auto", False, clock, fused_gates=False))
    medians = time_candidates(candidates, args.rounds, args.steps)

    default = precision_lib.resolve("auto", "auto")
    print(f"\ntraining images/s; default = precision auto = {default.name}, jit_compile={default.jit_compile}; "
          f"median of {args.rounds} rounds x {args.steps} steps, each round's steps in turn"
          + ("; images per second of this process's CPU time" if args.clock == "cpu" else ""))
    rows = []
    for (name, path), values in medians.items():
        rows.append([name, f"{SHAPES[name][0]}px b{SHAPES[name][1]}", path,
                     SHAPES[name][1] / statistics.median(values),
                     paired_ratio(medians, (name, DEFAULT), (name, path)) if (name, DEFAULT) in medians else ""])
    print_table(rows, ["model", "shape", "path", "images/s", "default / this"])
    print()
    lines = []
    for name in models if not args.only_default else ():
        lines.append((f"{name}: default / float32 (Keras BN)",
                      paired_ratio(medians, (name, DEFAULT), (name, "float32 (Keras BN)")),
                      ">= 1.6" if name == "resnet50" else ""))
        if args.all_paths:
            lines.append((f"{name}: default / float32 (fused BN)",
                          paired_ratio(medians, (name, DEFAULT), (name, "float32")), ""))
        lines.append((f"{name}: default / today's default (mixed_bfloat16, Keras BN)",
                      paired_ratio(medians, (name, DEFAULT), (name, "mixed_bfloat16 (Keras BN)")),
                      ">= 1.0" if name == "quickstart" else ""))
        if worker:
            best = min(TORCH, key=lambda path: statistics.median(medians[(name, path)]))
            lines.append((f"{name}: default / best PyTorch ({best})",
                          paired_ratio(medians, (name, DEFAULT), (name, best)), ">= 0.9 (goal 1.0)"))
    if "resnet50" in models and args.gates:
        for name, budget in GATE_BUDGETS.items():
            if (name, DEFAULT) in medians:
                lines.append((f"{name} / resnet50, both default",
                              paired_ratio(medians, (name, DEFAULT), ("resnet50", DEFAULT)), f">= {budget}"))
            if (name, COMPOSED) in medians:
                lines.append((f"{name} ({COMPOSED}) / resnet50",
                              paired_ratio(medians, (name, COMPOSED), ("resnet50", DEFAULT)), ""))
    if args.fused_gates == "both":
        for name in models:
            if (name, COMPOSED) in medians:
                lines.append((f"{name}: default / {COMPOSED}",
                              paired_ratio(medians, (name, DEFAULT), (name, COMPOSED)), ""))
    print_table([[what, ratio, budget] for what, ratio, budget in lines], ["ratio (paired rounds)", "value", "budget"])


def serving_inputs(name, batch=64):
    size, _ = SHAPES[name]
    rng = np.random.default_rng(1)
    inputs = {"image": rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")}
    if name == "quickstart":
        inputs["expression"] = rng.integers(0, 7, batch).astype("int32")
    return inputs


def session_runner(path, inputs, config_text):
    """``serve_pixels`` through a TF1 session of the SavedModel, as TF Serving runs it."""
    from google.protobuf import text_format

    config = text_format.Parse(config_text, tf.compat.v1.ConfigProto())
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
    signature = meta.signature_def["serve_pixels"]
    feeds = {signature.inputs[k].name: v for k, v in inputs.items()}
    fetches = {k: v.name for k, v in signature.outputs.items()}
    return lambda: session.run(fetches, feeds)


def serving_table(args):
    from kerasfg.export import export_saved_model

    print("\nserve_pixels at batch 64, images/s (float32 SavedModel as exported)")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            keras.utils.set_random_seed(0)
            model, _, _ = build(name)
            heads = list(model.output_names)
            result = export_saved_model(model, pathlib.Path(folder) / name, verify=False, warmup=False,
                                        class_names={h: [f"c{k}" for k in range(CLASSES)] for h in heads})
            signature = tf.saved_model.load(str(result.path)).signatures["serve_pixels"]
            inputs = serving_inputs(name)
            tensors = {k: tf.constant(v) for k, v in inputs.items()}

            def rewritten(signature=signature, tensors=tensors):
                with precision_lib.onednn_bfloat16_rewrite():
                    return signature(**tensors)

            calls = {
                "in process": lambda signature=signature, tensors=tensors: signature(**tensors),
                "in process, rewrite": rewritten,
                "TF1 session (TF Serving)": session_runner(result.path, inputs, ""),
                "TF1 session + rewrite config": session_runner(result.path, inputs, SERVING_SESSION_CONFIG),
            }
            probabilities = {k: np.asarray(call()[f"{heads[0]}_probs"]) for k, call in calls.items()}
            seconds = interleaved_medians(calls, repeats=args.serving_repeats, warmup=1)
            base = seconds["in process"]
            for path, value in seconds.items():
                change = np.abs(probabilities[path] - probabilities["in process"]).max()
                rows.append([name, path, 64 / value, base / value, f"{change:.1e}"])
    print_table(rows, ["model", "how", "images/s", "vs in process", "max |probability change|"])
    print(f"TF Serving reads the rewrite from --tensorflow_session_config_file, a text ConfigProto:\n"
          f"  {SERVING_SESSION_CONFIG.strip()}")


def torch_skip_reason(args):
    """Why the PyTorch rows are left out, or None."""
    if not args.training:
        return "--no-training"
    if args.clock == "cpu":
        return "--clock cpu (the PyTorch worker times its steps by wall clock)"
    if not args.torch:
        return "--no-torch"
    return torch_baselines.available()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 3; 9 with --only-default)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per round and candidate (default 2; 8 with --only-default)")
    parser.add_argument("--models", default="resnet50,cbam_resnet50,quickstart")
    parser.add_argument("--all-paths", action="store_true", help="also float32 and mixed_bfloat16 with the "
                        "fused BN, and onednn_bfloat16 with Keras's BN")
    parser.add_argument("--only-default", action="store_true",
                        help="Keras models under the default precision only (the attention gates' ratios)")
    parser.add_argument("--no-gates", dest="gates", action="store_false",
                        help="skip SE- and ECA-ResNet-50")
    parser.add_argument("--no-torch", dest="torch", action="store_false")
    parser.add_argument("--torch-passive-wait", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE for PyTorch (shared machines)")
    parser.add_argument("--no-serving", dest="serving", action="store_false")
    parser.add_argument("--fused-gates", choices=("on", "both"), default="on",
                        help="both: also time the attention models with their gates composed of TensorFlow "
                             "operations instead of kerasfg.layers.fused_gates' kernels (KERASFG_FUSED_GATES=0 "
                             "turns them off for every candidate)")
    parser.add_argument("--no-training", dest="training", action="store_false",
                        help="serve_pixels only")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time the Keras steps by wall clock or by this process's CPU time (less "
                             "disturbed by other processes on a shared machine; no PyTorch rows)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all cores)")
    parser.add_argument("--serving-repeats", type=int, default=5)
    args = parser.parse_args(argv)
    # The attention gates' ratios need about 70 timed steps per network: runs of 2-6 steps a round scattered
    # CBAM's from 0.856 to 0.911 (docs/performance.md).
    args.rounds = args.rounds or (9 if args.only_default else 3)
    args.steps = args.steps or (8 if args.only_default else 2)
    tf.get_logger().setLevel("ERROR")  # retracing notes of train_on_batch across models
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    print(f"{os.cpu_count()} CPUs; bfloat16 units: {precision_lib.cpu_has_bfloat16_units()}; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}"
          + (f"; {args.threads} TensorFlow thread(s)" if args.threads else ""))
    worker = None
    missing = torch_skip_reason(args)
    if missing:
        print(f"PyTorch rows skipped: {missing}.")
    else:
        if args.torch_passive_wait:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        worker = torch_baselines.Worker()
        print(f"PyTorch {worker.info['torch']} with {worker.info['threads']} threads in a worker process"
              + (" (OMP_WAIT_POLICY=PASSIVE)" if args.torch_passive_wait else ""))
    try:
        if args.training:
            training_table(args, worker)
    finally:
        if worker:
            worker.close()
    if args.serving:
        serving_table(args)
    print(f"\nload average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
