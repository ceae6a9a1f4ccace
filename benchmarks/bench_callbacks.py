"""What kerasfg's recording callbacks add to the quick start's training time.

Trains the quick-start model (its config, export off) without kerasfg's recordings and with all of
them at their default cadence (`kerasfg.quickstart.recordings`), in turns in one process, and prints
the median ratio of the two fit times (budget: at most 1.05) and the seconds each callback spent in
its hooks.

    python -m benchmarks.bench_callbacks [--rounds 2] [--set key=value ...]
"""

import argparse
import collections
import functools
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.timing import median_ratio, print_table
from kerasfg import quickstart, training

HOOKS = ("on_train_begin", "on_epoch_end", "on_train_batch_end", "on_train_end")


def timed(callbacks, spent):
    """Make each callback add the seconds of its hooks to ``spent[<callback's label>]``."""
    counts = collections.Counter()
    for callback in callbacks:
        name = type(callback).__name__
        method = getattr(callback, "method", None)
        label = f"{name}({method})" if method else name
        counts[label] += 1
        label = label if counts[label] == 1 else f"{label}#{counts[label]}"
        for hook in HOOKS:
            original = getattr(callback, hook)

            @functools.wraps(original)
            def wrapper(*args, _original=original, _label=label, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    spent[_label] += time.perf_counter() - start

            setattr(callback, hook, wrapper)
    return callbacks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    args = parser.parse_args(argv)
    spent = collections.defaultdict(float)
    times = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as runs:
        config = quickstart.default_config(["export.enabled=false", "train.verbose=0", f"runs_dir={runs}",
                                            *args.set])

        def fit(recordings):
            start = time.perf_counter()
            training.fit(config, callbacks=recordings)
            return time.perf_counter() - start

        warm = quickstart.default_config(["export.enabled=false", "train.verbose=0", f"runs_dir={runs}",
                                          "train.epochs=1", "data.synthetic.train_images=640", *args.set])
        training.fit(warm)  # the process's one-time start-up costs fall on neither side
        for _ in range(args.rounds):
            times["without"].append(fit([]))
            times["with"].append(fit(timed(quickstart.recordings(config), spent)))

    ratio = median_ratio(times, "with", "without")
    without = statistics.median(times["without"])
    hooks = sum(spent.values()) / args.rounds
    print(f"\nquick-start fit ({config.train.epochs} epochs, {config.data.synthetic.train_images} images): "
          f"{without:.1f} s without recordings, {statistics.median(times['with']):.1f} s with all of them")
    print(f"ratio with / without: {ratio:.3f} (budget <= 1.05)")
    print(f"the callbacks' hooks: {hooks:.1f} s per fit, {hooks / without:.1%} of the fit without them (the part of "
          "the ratio that does not depend on how fast this machine happens to train in each round)\n")
    rows = [(label, seconds / args.rounds) for label, seconds in sorted(spent.items(), key=lambda item: -item[1])]
    print_table(rows, ["callback", "seconds per fit"])


if __name__ == "__main__":
    main()
