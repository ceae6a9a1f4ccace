"""Speed budgets of kerasfg, each measured as a ratio against a baseline run in the same process.

Run one with ``python -m benchmarks.<name>``; ``python -m benchmarks`` runs them all.
"""
