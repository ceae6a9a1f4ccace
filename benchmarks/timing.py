"""Timing helpers shared by the benchmark scripts.

The machines are small shared VMs, so a single timing is noisy. Compare candidates by interleaving their
repeats (A, B, A, B, ...) in one process and taking medians, so that drift hits all candidates alike.
"""

import statistics
import time


def median_seconds(fn, repeats=5, warmup=1):
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(candidates, repeats=5, warmup=1, clock=time.perf_counter):
    """Times of each zero-argument callable in ``candidates`` (a dict), timed in turns.

    ``clock`` is wall time by default; ``time.process_time`` measures the CPU time of this
    process (all its threads), which other processes on a shared machine disturb less.

    Returns:
        A dict with the same keys, mapping to the list of ``repeats`` times in seconds; entry
        ``i`` of every list comes from the same round, so per-round ratios can be taken.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def interleaved_medians(candidates, repeats=5, warmup=1):
    """Median wall time of each zero-argument callable in ``candidates`` (a dict), timed in turns.

    Returns:
        A dict with the same keys, mapping to the median seconds per call.
    """
    times = interleaved_times(candidates, repeats, warmup)
    return {name: statistics.median(values) for name, values in times.items()}


def median_ratio(times, numerator, denominator):
    """Median over rounds of ``times[numerator][i] / times[denominator][i]`` (``interleaved_times``).

    Pairing the two timings of each round cancels the load drift that the rounds share, which
    matters on shared machines more than the spread within a round.
    """
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator]))


def print_table(rows, headers):
    """Print ``rows`` (lists of cells) as an aligned plain-text table."""
    cells = [[str(c) for c in headers]] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for k, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
        if k == 0:
            print("  ".join("-" * width for width in widths))
