"""Run every benchmark module in this folder, one after the other, in separate processes."""

import pathlib
import subprocess
import sys


def main():
    folder = pathlib.Path(__file__).parent
    names = sorted(p.stem for p in folder.glob("bench_*.py"))
    failed = []
    for name in names:
        print(f"\n=== benchmarks.{name}", flush=True)
        if subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *sys.argv[1:]]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
