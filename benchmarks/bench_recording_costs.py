"""Where the seconds of kerasfg's recording callbacks go: tracing, first call, later calls, summary writing.

Trains the quick-start model with every recording callback at its default cadence
(`kerasfg.quickstart.recordings`), on a tenth of its training images so that the run takes a minute (the
model, the probe and the recordings are the quick start's: 6 epochs, recorded at the same steps), and prints

- the seconds each callback spends in its hooks (as `benchmarks.bench_callbacks` counts them);
- for each compiled recording function (`kerasfg.vis.compiled.RecordingFunction`) and each callback that
  called it: the seconds of its trace (Python building the graph), of its first call (instantiating
  the graph: placement, TensorFlow's graph passes, kernels; and the first run) and of its later calls,
  and how many times it was traced and called;
- the seconds spent writing summaries (rendering, PNG encoding and event writing), by callback.

Times are this process's CPU time, on one TensorFlow thread by default (``--threads``). The recordings of the
end of training are made in their hook here, not deferred to run beside the test and save of the model
(`kerasfg.callbacks.context.DeferredRecordings`), so that this process's CPU time is theirs alone.

    python -m benchmarks.bench_recording_costs [--threads 1] [--set key=value ...]
"""

import argparse
import collections
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from benchmarks.bench_callbacks import timed
from benchmarks.timing import print_table
from kerasfg import quickstart, training
from kerasfg.callbacks import context
from kerasfg.tensorboard import summary
from kerasfg.vis import compiled

SUMMARIES = ("recording", "image", "heatmaps", "probe_images", "table", "scalars")


class Ledger:
    """What the recording functions and summary writers cost, by the callback whose hook is running."""

    def __init__(self):
        self.hook = "outside the hooks"
        self.functions = collections.defaultdict(lambda: collections.Counter())
        self.writing = collections.Counter()
        self._writing_depth = 0

    def instrument(self):
        """Patch `RecordingFunction.trace`, `RecordingFunction.__call__` and the summary writers to count their
        seconds."""
        ledger = self
        trace_now = compiled.RecordingFunction.trace

        def costs_of(function):
            name = function.function.python_function.__qualname__.replace(".<locals>", "")
            return ledger.functions[(ledger.hook, name)]

        def trace(function, *args):
            start = time.process_time()
            traced = function.function.experimental_get_tracing_count()
            trace_now(function, *args)
            if function.function.experimental_get_tracing_count() > traced:
                costs_of(function)["trace"] += time.process_time() - start

        def call(function, *args):
            function.trace(*args)
            costs = costs_of(function)
            start = time.process_time()
            with compiled.without_graph_rewrites():
                result = function.function(*args)
            first = not function.__dict__.setdefault("_ledger_called", False)
            function._ledger_called = True
            costs["first call" if first else "later calls"] += time.process_time() - start
            costs["calls"] += 1
            costs["traces"] = function.function.experimental_get_tracing_count()
            return result

        compiled.RecordingFunction.trace = trace
        compiled.RecordingFunction.__call__ = call
        for name in SUMMARIES:
            original = getattr(summary, name)

            def writer(*args, _original=original, **kwargs):
                ledger._writing_depth += 1
                start = time.process_time()
                try:
                    return _original(*args, **kwargs)
                finally:
                    ledger._writing_depth -= 1
                    if not ledger._writing_depth:
                        ledger.writing[ledger.hook] += time.process_time() - start

            setattr(summary, name, writer)


def labelled(callbacks, ledger):
    """Make every hook of ``callbacks`` tell ``ledger`` whose it is while it runs."""
    for callback in callbacks:
        method = getattr(callback, "method", None)
        label = f"{type(callback).__name__}({method})" if method else type(callback).__name__
        for hook in ("set_model", "on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_batch_end",
                     "on_train_end"):
            original = getattr(callback, hook)

            def running(*args, _original=original, _label=label, **kwargs):
                previous, ledger.hook = ledger.hook, _label
                try:
                    return _original(*args, **kwargs)
                finally:
                    ledger.hook = previous

            setattr(callback, hook, running)
    return callbacks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads (0: all cores)")
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    ledger = Ledger()
    ledger.instrument()
    # made in the hook that hands them over, counted there
    context.DeferredRecordings.defer = lambda deferred, job: job()
    spent = collections.defaultdict(float)
    with tempfile.TemporaryDirectory() as runs:
        overrides = ["export.enabled=false", "train.verbose=0", f"runs_dir={runs}", "data.synthetic.train_images=640",
                     "data.synthetic.val_images=128", *args.set]
        training.fit(quickstart.default_config([*overrides, "train.epochs=1"]))  # start-up costs fall outside
        config = quickstart.default_config(overrides)
        start = time.process_time()
        training.fit(config, callbacks=timed(labelled(quickstart.recordings(config), ledger), spent,
                                             time.process_time))
        fit = time.process_time() - start
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"\nfit ({config.train.epochs} epochs, {config.data.synthetic.train_images} images): {fit:.1f} s of CPU "
          f"time, the callbacks' hooks {sum(spent.values()):.2f} s\n")
    print_table(sorted(spent.items(), key=lambda item: -item[1]), ["callback", "seconds in its hooks"])
    print()
    rows = [(hook, function, f"{costs['trace']:.2f}", f"{costs['first call']:.2f}", f"{costs['later calls']:.2f}",
             costs["traces"], costs["calls"])
            for (hook, function), costs in sorted(ledger.functions.items(),
                                                  key=lambda item: -(item[1]["trace"] + item[1]["first call"]
                                                                     + item[1]["later calls"]))]
    print_table(rows, ["callback", "function", "trace s", "first call s", "later calls s", "traces",
                       "calls"])
    print()
    print_table(sorted(ledger.writing.items(), key=lambda item: -item[1]), ["callback", "writing summaries s"])


if __name__ == "__main__":
    main()
