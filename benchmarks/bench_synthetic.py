"""Rendering speed of the synthetic faces against the renderer of an earlier git revision.

The baseline is ``kerasfg/data/synthetic.py`` as it was at ``--baseline`` (default: the last commit before
the attributes and age were added), loaded from git into this process, so both renderers run interleaved on
the same machine in the same run. Budget: rendering must not regress, the images with the masks of the
four original tasks at least as fast as the baseline (which always computed them), at the quick start's
64x64 and at 112x112.

Run: ``python -m benchmarks.bench_synthetic`` (about a minute on 2 CPU cores; ``--quick`` for fewer repeats).
Needs a git checkout of the repository.
"""

import argparse
import importlib.util
import pathlib
import subprocess
import sys
import tempfile

from benchmarks.timing import interleaved_times, print_table
from kerasfg.data import synthetic

REPO = pathlib.Path(__file__).resolve().parents[1]
BASELINE = "c20350f"
ORIGINAL_TASKS = ("identity", "expression", "gender", "age_group")


def load_baseline(revision):
    """The synthetic module as it was at ``revision``, imported under another name."""
    source = subprocess.run(["git", "show", f"{revision}:kerasfg/data/synthetic.py"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    folder = pathlib.Path(tempfile.mkdtemp())
    path = folder / "synthetic_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("synthetic_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline renderer")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 3
    try:
        baseline = load_baseline(args.baseline)
    except subprocess.CalledProcessError as error:
        sys.exit(f"bench_synthetic: cannot read the baseline from git revision {args.baseline!r}: "
                 f"{error.stderr.strip()}")
    n = args.images
    rows = []
    for size in (64, 112):
        def current(names, size=size):
            def run():
                faces = synthetic.synthetic_faces(n, image_size=size, seed=2)
                for name in names:
                    faces.masks[name]
            return run

        candidates = {
            f"baseline {args.baseline} (images + 4 task masks)":
                lambda size=size: baseline.synthetic_faces(n, image_size=size, seed=2),
            "now: images only (masks on demand)": current(()),
            "now: images + the 4 original task masks": current(ORIGINAL_TASKS),
            "now: images + every mask (6 tasks, 23 attributes)": current(synthetic.MASK_NAMES),
        }
        times = interleaved_times(candidates, repeats=args.repeats, warmup=1)
        medians = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
        base = next(iter(medians.values()))
        for name, seconds in medians.items():
            rows.append([f"{size}x{size}", name, f"{n / seconds:,.0f}", f"{base / seconds:.2f}x"])
    print(f"Synthetic faces rendered per second ({n} images per call, median of {args.repeats} interleaved "
          f"repeats, difficulty 0.5)")
    print_table(rows, ["size", "renderer", "images/s", "vs baseline (budget >= 1.0 for the 4 task masks)"])


if __name__ == "__main__":
    main()
