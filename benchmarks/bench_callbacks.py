"""What kerasfg's recording callbacks add to the quick start's training time.

Trains the quick-start model (its config; export off unless ``--export``) without kerasfg's recordings and
with all of them at their default cadence (`kerasfg.quickstart.recordings`), in turns in one process
(without and with, then with and without, and so on), and prints the median ratio of the two
`kerasfg.training.fit` times (budget: at most 1.05), the seconds each callback spent in its hooks
(``set_model`` included) and in its deferred end-of-training recording (which runs while ``fit`` tests,
saves and exports the model: `kerasfg.callbacks.context.DeferredRecordings`), and the fit with recordings
less its hooks against the fit without, which tells the machine's noise apart from any cost the
recordings have outside their hooks (the deferred recordings' share of the machine included). Last, what
the recordings add to the fit, measured apart from how fast the machine happens to train in each round:
their hooks, and how much longer the end of the fit (testing, saving and exporting the model, from the end
of training to the return of `kerasfg.training.fit`) takes with the deferred recordings beside it.
``--clock cpu`` times the fits and the hooks by this process's CPU time instead of the wall clock, which
other processes on a shared machine disturb less; with ``--threads 1`` it counts one core's work, the
fairest comparison on a loaded machine.

    python -m benchmarks.bench_callbacks [--rounds 2] [--export] [--runs-dir DIR] [--clock wall|cpu] [--threads N]
        [--set key=value ...]
"""

import argparse
import collections
import functools
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from benchmarks.timing import median_ratio, print_table
from kerasfg import quickstart, training

HOOKS = ("set_model", "on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_batch_end", "on_train_end")


def timed(callbacks, spent, clock=time.perf_counter, deferred=None):
    """Make each callback add the seconds of its hooks, by ``clock``, to ``spent[<callback's label>]``, and those
    of its deferred end-of-training recording to ``deferred[<callback's label>]`` (when given)."""
    counts = collections.Counter()
    for callback in callbacks:
        name = type(callback).__name__
        method = getattr(callback, "method", None)
        label = f"{name}({method})" if method else name
        counts[label] += 1
        label = label if counts[label] == 1 else f"{label}#{counts[label]}"
        counted = [(hook, spent) for hook in HOOKS]
        if deferred is not None and hasattr(callback, "_record_and_close"):
            counted.append(("_record_and_close", deferred))
        for hook, seconds in counted:
            original = getattr(callback, hook)

            @functools.wraps(original)
            def wrapper(*args, _original=original, _label=label, _seconds=seconds, **kwargs):
                start = clock()
                try:
                    return _original(*args, **kwargs)
                finally:
                    _seconds[_label] += clock() - start

            setattr(callback, hook, wrapper)
    return callbacks


class TrainingEnd(keras.callbacks.Callback):
    """Notes when training ends (the last callback's ``on_train_end``), by ``clock``."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.time = None

    def on_train_end(self, logs=None):
        self.time = self.clock()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    parser.add_argument("--runs-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the runs are written (default: memory, /dev/shm, so that the disk's stalls on "
                             "writing the per-epoch backups fall on neither side)")
    parser.add_argument("--export", action="store_true",
                        help="export and check the SavedModel, as `kerasfg quickstart` does (off: training and test)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time by wall clock or by this process's CPU time (less disturbed by other processes)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; clock {args.clock}"
          + (f"; {args.threads} TensorFlow thread(s)" if args.threads else ""))
    spent, deferred = collections.defaultdict(float), collections.defaultdict(float)
    times = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(dir=args.runs_dir) as runs:
        config = quickstart.default_config([f"export.enabled={str(args.export).lower()}", "train.verbose=0",
                                            f"runs_dir={runs}", f"export.base_path={runs}/saved_models", *args.set])

        def fit(recordings, variant):
            end_of_training = TrainingEnd(clock)
            start = clock()
            training.fit(config, callbacks=[*recordings, end_of_training])
            finished = clock()
            times[f"after training, {variant}"].append(finished - end_of_training.time)
            return finished - start

        warm = quickstart.default_config(["export.enabled=false", "train.verbose=0", f"runs_dir={runs}",
                                          "train.epochs=1", "data.synthetic.train_images=640", *args.set])
        training.fit(warm)  # the process's one-time start-up costs fall on neither side
        for round_ in range(args.rounds):
            # without, with; then with, without: a load that drifts during the run falls on both sides
            for variant in ("without", "with") if round_ % 2 == 0 else ("with", "without"):
                if variant == "without":
                    times["without"].append(fit([], variant))
                else:
                    before = sum(spent.values())
                    times["with"].append(fit(timed(quickstart.recordings(config), spent, clock, deferred), variant))
                    times["outside hooks"].append(times["with"][-1] - (sum(spent.values()) - before))

    ratio = median_ratio(times, "with", "without")
    without = statistics.median(times["without"])
    hooks = sum(spent.values()) / args.rounds
    print(f"\nquick-start fit ({config.train.epochs} epochs, {config.data.synthetic.train_images} images, "
          f"export {'on' if args.export else 'off'}): "
          f"{without:.1f} s without recordings, {statistics.median(times['with']):.1f} s with all of them")
    print(f"ratio with / without: {ratio:.3f} (budget <= 1.05), per round: "
          f"{', '.join(f'{a / b:.3f}' for a, b in zip(times['with'], times['without']))}")
    print(f"the callbacks' hooks: {hooks:.1f} s per fit, {hooks / without:.1%} of the fit without them (the part of "
          "the ratio that does not depend on how fast this machine happens to train in each round)")
    outside = median_ratio(times, "outside hooks", "without")
    in_background = sum(deferred.values()) / args.rounds
    print(f"deferred end-of-training recordings: {in_background:.1f} s per fit, run while fit tested"
          f"{', saved and exported' if args.export else ' and saved'} the model (not in the hooks)")
    after = {variant: statistics.median(times[f"after training, {variant}"]) for variant in ("without", "with")}
    print(f"after training (testing, saving{' and exporting' if args.export else ''} the model): "
          f"{after['without']:.1f} s without recordings, {after['with']:.1f} s with the deferred ones beside it")
    visible = hooks + after["with"] - after["without"]
    print(f"what the recordings add to the fit: the hooks and the longer end, {visible:.1f} s, "
          f"{visible / without:.1%} of the fit without them (budget 5%)")
    print(f"the fit with recordings less its hooks / the fit without: {outside:.3f}"
          " (1 when the recordings cost nothing outside their hooks; the rest is how much this machine's speed "
          "varied between rounds)\n")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rows = [(label, seconds / args.rounds, deferred.get(label, 0.0) / args.rounds)
            for label, seconds in sorted(spent.items(), key=lambda item: -item[1] - deferred.get(item[0], 0.0))]
    print_table(rows, ["callback", "seconds per fit in hooks", "deferred"])


if __name__ == "__main__":
    main()
