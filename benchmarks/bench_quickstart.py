"""The quick start end to end, as a newcomer runs it: wall time, peak memory and accuracy.

Runs ``kerasfg quickstart`` in a fresh process in a temporary directory and prints its wall time
(budget: under 5 minutes on 2 cores), its peak resident memory (budget: under 4 GiB) and its test
accuracy against chance. With ``--against``, it runs the quick start a second time with those
overrides and prints the ratios of the two runs (issue 19: ``--against train.precision=mixed_bfloat16``,
the default before ``onednn_bfloat16``; budget: the default's wall time no worse, its training
images/s at least as high).

    python -m benchmarks.bench_quickstart [--set key=value ...] [--against key=value ...]
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time


def run_quickstart(overrides):
    """``(wall seconds, metrics.json)`` of one ``kerasfg quickstart`` with ``overrides``."""
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "kerasfg", "quickstart", "--set", "train.verbose=0"]
        for value in overrides:
            command += ["--set", value]
        start = time.perf_counter()
        subprocess.run(command, cwd=workdir, check=True)
        seconds = time.perf_counter() - start
        (metrics_file,) = pathlib.Path(workdir).glob("runs/quickstart/*/metrics.json")
        return seconds, json.loads(metrics_file.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    parser.add_argument("--against", action="append", default=[],
                        help="override of a second run to compare with (e.g. train.precision=mixed_bfloat16)")
    args = parser.parse_args(argv)
    seconds, metrics = run_quickstart(args.set)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    speed = metrics["train_images_per_second"]
    print(f"\nquick start: {seconds:.0f} s wall (budget < 300 s), peak memory {peak_gib:.2f} GiB "
          f"(budget < 4 GiB), test accuracy {metrics['test']['accuracy']:.3f} (chance 0.100), "
          f"{speed:.0f} training images/s")
    if not args.against:
        return
    other_seconds, other = run_quickstart(args.set + args.against)
    other_speed = other["train_images_per_second"]
    print(f"with {' '.join(args.against)}: {other_seconds:.0f} s wall, test accuracy "
          f"{other['test']['accuracy']:.3f}, {other_speed:.0f} training images/s\n"
          f"ratios, default / that: wall time {seconds / other_seconds:.2f} (budget <= 1.0), "
          f"training images/s {speed / other_speed:.2f} (budget >= 1.0)")


if __name__ == "__main__":
    main()
