"""Multi-worker training: per-step overhead of the distributed path, and the all-reduce payload of ResNet-50.

Two local workers on a 2-core machine cannot show a speed-up, so this prints what scaling depends on:

1. **Per-step overhead.** ``kerasfg.training.fit`` of the quick-start model at the same batch per
   process: one process (``train.distribute: none``, Keras's ``fit``), and two workers
   (``multi_worker``, global batch twice as large) without and with synchronized batch norm. The ratio
   of a worker's CPU time per step to the single process's is the work the distributed path adds
   (all-reduces, the per-step metric reduction, the training loop) at that batch; the wall ratio also
   holds the waiting for the other worker. The processes share the machine's cores; ``--pin`` gives
   each one core (``taskset``) instead, which on a 2-core machine measures TensorFlow's collective and
   RPC threads fighting the training threads for that core (steps 4x slower, see
   ``docs/distributed.md``), not the distributed path.
2. **All-reduce payload.** The gradient bytes every step sums across workers for ResNet-50 at 224x224
   (1000 classes), the bytes each worker sends in a ring all-reduce, and the all-reduces synchronized
   batch norm adds; and the time two local workers take to all-reduce that payload over loopback.

``docs/distributed.md`` turns these figures into the expected scaling. Run it alone (``flock
/tmp/kerasfg-bench.lock python -m benchmarks.bench_distributed``); on a busy machine the ratios are
noisy.

    python -m benchmarks.bench_distributed [--batch 32] [--steps 24] [--rounds 2] [--pin] [--set KEY=VALUE ...]
"""

import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.timing import print_table  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
PAYLOAD_REPEATS = 5


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return ",".join(addresses)


def pinned(core, pin):
    """``taskset`` to one core, when asked, when it exists and the machine has that core."""
    if pin and shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core)]
    return []


def run_processes(commands, timeout=1800):
    """Run the commands together; return the JSON each printed on its last line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for command in commands]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise RuntimeError(f"benchmark worker failed ({process.returncode}):\n{err[-3000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return results


# === One training process (run as a subprocess) ===

def train_once(args):
    """Train with kerasfg.training.fit for two epochs; print the wall and CPU seconds per step of the
    second (its training steps only, from the first step's start to the last step's end)."""
    import keras

    from kerasfg import quickstart, training
    from kerasfg.distributed import Cluster

    class SecondEpochSteps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:
                self.start = (time.perf_counter(), time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1:
                self.end, self.steps = (time.perf_counter(), time.process_time()), batch + 1

    workers = args.workers.split(",") if args.workers else []
    count = max(1, len(workers))
    steps = args.steps
    overrides = [
        f"data.batch_size={args.batch * count}", f"data.synthetic.train_images={args.batch * count * steps}",
        f"data.synthetic.val_images={args.batch * count}", f"data.synthetic.test_images={args.batch * count}",
        "train.epochs=2", "train.verbose=0", "train.precision=float32", "export.enabled=false",
        f"runs_dir={args.runs}", f"train.distribute={'multi_worker' if workers else 'none'}",
        f"train.sync_batch_norm={str(args.sync_batch_norm).lower()}", *args.set]
    config = quickstart.default_config(overrides)
    cluster = Cluster(tuple(workers), args.index) if workers else None
    steps = SecondEpochSteps()
    result = training.fit(config, callbacks=[steps], cluster=cluster)
    record = {"step_seconds": (steps.end[0] - steps.start[0]) / steps.steps,
              "step_cpu_seconds": (steps.end[1] - steps.start[1]) / steps.steps}
    if workers and args.payload:
        record["allreduce_seconds"] = time_allreduce(result.model.distribute_strategy, args.payload)
    print(json.dumps(record))


def time_allreduce(strategy, num_floats):
    """Median seconds of a SUM all-reduce of ``num_floats`` float32 values across the workers."""
    import numpy as np

    from kerasfg.distributed import Worker

    worker = Worker.of(strategy)
    value = np.ones([num_floats], np.float32)
    worker.sum([value])  # trace and warm up
    times = []
    for _ in range(PAYLOAD_REPEATS):
        start = time.perf_counter()
        (total,) = worker.sum([value])
        total.numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# === The report ===

def resnet50_payload():
    """Gradient floats, batch-norm layers and trainable variables of ResNet-50 at 224x224, 1000 classes."""
    import keras

    from kerasfg.models import build_model

    model = build_model("resnet50", input_shape=(224, 224, 3), num_classes=1000)
    floats = sum(int(keras.ops.size(v)) for v in model.trainable_variables)
    batch_norms = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    return floats, batch_norms, len(model.trainable_variables)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32, help="batch per process (per worker)")
    parser.add_argument("--steps", type=int, default=24, help="training steps per epoch (2 epochs, the first untimed)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three runs")
    parser.add_argument("--pin", action="store_true", help="pin each process to one core (taskset)")
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workers", default="", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--runs", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sync-batch-norm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--payload", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return train_once(args)

    floats, batch_norms, variables = resnet50_payload()
    megabytes = floats * 4 / 1e6
    print(f"ResNet-50 (224x224, 1000 classes): {floats / 1e6:.2f} M trainable floats in {variables} variables, "
          f"{batch_norms} batch-norm layers")
    print(f"  gradient all-reduce per step: {megabytes:.1f} MB (float32); in a ring all-reduce each worker "
          "sends and receives 2 (W-1)/W of it:")
    print_table([[w, f"{2 * (w - 1) / w * megabytes:.1f}"] for w in (2, 4, 8, 16)], ["workers W", "MB per worker"])
    print(f"  synchronized batch norm adds {3 * batch_norms} small all-reduces per forward pass "
          f"({batch_norms} layers x sum, sum of squares, count) and as many in the backward pass")

    common = [sys.executable, "-m", "benchmarks.bench_distributed", "--worker", "--batch", str(args.batch),
              "--steps", str(args.steps), *(f"--set={s}" for s in args.set)]
    runs = {"1 process (Keras fit)": [], "2 workers": [], "2 workers, sync batch norm": []}
    cpu = {label: [] for label in runs}
    allreduce_seconds = []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):  # the runs of a round follow each other, so load drift hits all
            (single,) = run_processes([[*pinned(0, args.pin), *common, "--runs", f"{folder}/single-{round_}"]])
            runs["1 process (Keras fit)"].append(single["step_seconds"])
            cpu["1 process (Keras fit)"].append(single["step_cpu_seconds"])
            for label, extra in (("2 workers", []), ("2 workers, sync batch norm", ["--sync-batch-norm"])):
                workers = free_ports(2)
                payload = ["--payload", str(floats)] if round_ == 0 and not extra else []
                results = run_processes([
                    [*pinned(index, args.pin), *common, "--workers", workers, "--index", str(index), "--runs",
                     f"{folder}/{label}-{round_}-{index}", *extra, *payload] for index in (0, 1)])
                runs[label].append(max(r["step_seconds"] for r in results))
                cpu[label].append(max(r["step_cpu_seconds"] for r in results))
                allreduce_seconds += [r["allreduce_seconds"] for r in results if "allreduce_seconds" in r]

    def ratio(values, baseline):  # per round, then the median: the rounds' load drift cancels
        return f"{statistics.median(v / b for v, b in zip(values, baseline)):.2f}"

    baseline, baseline_cpu = runs["1 process (Keras fit)"], cpu["1 process (Keras fit)"]
    rows = [[label, args.batch * (1 if label.startswith("1 ") else 2), f"{statistics.median(runs[label]) * 1000:.1f}",
             ratio(runs[label], baseline), f"{statistics.median(cpu[label]) * 1000:.1f}",
             ratio(cpu[label], baseline_cpu)] for label in runs]
    placement = ("one core per process (taskset)" if pinned(0, args.pin)
                 else f"the processes share the machine's {os.cpu_count()} cores")
    print(f"\nQuick-start model, {args.batch} images per process and step, {placement}, "
          f"median of {args.rounds} round(s):")
    print_table(rows, ["run", "global batch", "wall ms/step", "x single", "CPU ms/step", "x single"])
    print("(wall: what a step takes, waiting for the other worker included; CPU: the process's own work, "
          "less disturbed by other load on the machine)")
    seconds = statistics.median(allreduce_seconds)
    print(f"\nAll-reduce of the ResNet-50 payload ({megabytes:.1f} MB) between the 2 local workers: "
          f"{seconds * 1000:.0f} ms ({megabytes / seconds:.0f} MB/s of gradient over loopback)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
