"""The quick start end to end, as a newcomer runs it: wall time, peak memory and accuracy.

Runs ``kerasfg quickstart`` in a fresh process in a temporary directory and prints its wall time
(budget: under 5 minutes on 2 cores), its peak resident memory (budget: under 4 GiB) and its test
accuracy against chance.

    python -m benchmarks.bench_quickstart [--set key=value ...]
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], help="quick-start config override")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "kerasfg", "quickstart", "--set", "train.verbose=0"]
        for value in args.set:
            command += ["--set", value]
        start = time.perf_counter()
        subprocess.run(command, cwd=workdir, check=True)
        seconds = time.perf_counter() - start
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        (metrics_file,) = pathlib.Path(workdir).glob("runs/quickstart/*/metrics.json")
        metrics = json.loads(metrics_file.read_text())
    print(f"\nquick start: {seconds:.0f} s wall (budget < 300 s), peak memory {peak_gib:.2f} GiB "
          f"(budget < 4 GiB), test accuracy {metrics['test']['accuracy']:.3f} (chance 0.100), "
          f"{metrics['train_images_per_second']:.0f} training images/s")


if __name__ == "__main__":
    main()
