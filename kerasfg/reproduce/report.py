"""The reproduction page: for each paper, the claims its tables make and what our runs of them show.

```bash
kerasfg reproduce experiments/*/*.yaml --scale synthetic                                  # run the grids
kerasfg reproduce experiments/*/*.yaml --scale synthetic --report docs/reproduction.md    # write the page
```

The page is generated, never typed: it reads the finished cells of each grid at one scale (their
``result.json``), checks every claim of the grid file (``claims:``, see `kerasfg.reproduce.grid`), and
puts each table (our mean ± standard deviation over seeds beside the paper's number) under its claims.

A comparison "``better`` beats ``than``" is judged on the difference of the two means, signed so that a
positive difference goes the claim's way, against its standard error over seeds,
``se = sqrt(s_b² / n_b + s_t² / n_t)`` (sample standard deviations ``s``, ``n`` finished seeds, times
the folds of the grid's ``repeats`` if it has any):

- ``reproduces``: the difference is more than twice its standard error;
- ``reversed``: it is more than twice its standard error the other way;
- ``within the spread``: neither (the seeds cannot tell the two apart);
- ``one seed``: a side has a single seed, so there is no spread to judge by (the sign is shown);
- ``not run``: a side has no finished cell.

A claim ``reproduces`` when all its comparisons that ran do, ``partly reproduces`` when some do,
``does not reproduce`` when none does and some are reversed, and is ``inconclusive`` otherwise.
"""

import dataclasses
import math
import pathlib

from kerasfg.io_utils import write_text
from kerasfg.reproduce.results import SCALE_NOTES, finished_results, grid_directory, summarize, table_lines

REPRODUCES, REVERSED, WITHIN, ONE_SEED, NOT_RUN = (
    "reproduces", "reversed", "within the spread", "one seed", "not run")
SPREAD = 2.0  # a difference counts when it exceeds this many standard errors


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One comparison in one row or column of the table.

    Attributes:
        better, than: the ``(row, column)`` entries compared.
        difference: our mean of ``better`` minus that of ``than``, in the metric's units (None if not run).
        se: its standard error over seeds (None with fewer than two seeds on a side).
        n: the finished seeds of ``better`` and ``than``.
        paper: the paper's ``better`` minus ``than`` (None without both targets).
        verdict: one of the module docstring's verdicts.
    """

    better: tuple
    than: tuple
    difference: float | None
    se: float | None
    n: tuple
    paper: float | None
    verdict: str


def judge(comparison, table, better="higher"):
    """The `Outcome` of each pair of ``comparison`` (a `kerasfg.reproduce.grid.Comparison`) in
    ``table`` (`kerasfg.reproduce.results.summarize`); ``better`` is the metric's direction."""
    sign = 1.0 if better == "higher" else -1.0
    outcomes = []
    for first, second in comparison.pairs():
        a, b = table[first], table[second]
        paper = a["paper"] - b["paper"] if a["paper"] is not None and b["paper"] is not None else None
        if not a["n"] or not b["n"]:
            outcomes.append(Outcome(first, second, None, None, (a["n"], b["n"]), paper, NOT_RUN))
            continue
        difference = a["mean"] - b["mean"]
        se = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"]) if min(a["n"], b["n"]) > 1 else None
        toward = sign * difference
        if se is None:
            verdict = ONE_SEED
        elif toward > SPREAD * se:
            verdict = REPRODUCES
        elif toward < -SPREAD * se:
            verdict = REVERSED
        else:
            verdict = WITHIN
        outcomes.append(Outcome(first, second, difference, se, (a["n"], b["n"]), paper, verdict))
    return outcomes


def claim_verdict(outcomes):
    """The verdict of a claim from the `Outcome`s of its comparisons."""
    ran = [outcome.verdict for outcome in outcomes if outcome.verdict != NOT_RUN]
    if not ran:
        return NOT_RUN
    held = ran.count(REPRODUCES)
    if held == len(ran):
        return "reproduces"
    if held:
        return "partly reproduces"
    return "does not reproduce" if REVERSED in ran else "inconclusive"


def _relative(path):
    path = pathlib.Path(path)
    try:
        return path.resolve().relative_to(pathlib.Path.cwd())
    except ValueError:
        return path


def _label(label):
    return label or "(none)"


def _entry(key, comparison):
    """Where a comparison is made: the column of two rows, or the row of two columns."""
    return _label(key[1] if comparison.along == "rows" else key[0])


def _signed(value):
    return "–" if value is None else f"{value:+.2f}"


def _claim_lines(claim, table, better):
    outcomes = [(comparison, outcome) for comparison in claim.compare for outcome in judge(comparison, table, better)]
    verdict = claim_verdict([outcome for _, outcome in outcomes])
    lines = [f"**Claim: {claim.statement}** — {verdict}.", ""]
    ran = [(comparison, outcome) for comparison, outcome in outcomes if outcome.verdict != NOT_RUN]
    if ran:
        lines += ["| comparison | in | ours: Δ ± se (n) | paper: Δ | verdict |", "|---|---|---|---|---|"]
    for comparison, outcome in ran:
        ours = "" if outcome.difference is None else (
            f"{outcome.difference:+.2f}" + (f" ± {outcome.se:.2f}" if outcome.se is not None else "")
            + f" (n={outcome.n[0]}, {outcome.n[1]})")
        lines.append(f"| {_label(comparison.better)} vs {_label(comparison.than)} "
                     f"| {_entry(outcome.better, comparison)} | {ours} | {_signed(outcome.paper)} "
                     f"| {outcome.verdict} |")
    if len(ran) < len(outcomes):
        left = len(outcomes) - len(ran)
        lines += ["", f"{left} of its {len(outcomes)} comparisons {'has' if left == 1 else 'have'} no finished "
                      "cells at this scale."]
    if claim.caveat and verdict not in ("reproduces", NOT_RUN):
        lines += ["", f"Why it may not reproduce here: {claim.caveat}"]
    return lines, verdict


def grid_section(grid, scale, out="runs/reproduce"):
    """The page's section of one grid, and ``[(statement, verdict)]`` of its claims."""
    cells = grid.cells(scale)
    directory = grid_directory(grid, scale, out)
    results = finished_results(directory, cells)
    seeds = sorted({cell.seed for cell in cells})
    repeats = f" and the {', '.join(grid.repeats)} axis" if grid.repeats else ""
    lines = [f"### {grid.table}: {grid.title}", "",
             f"Grid `{_relative(grid.path)}`; {scale} scale, seeds {seeds}{repeats}; {len(results)} of {len(cells)} "
             f"cells finished (`{_relative(directory)}`). Metric: {grid.metric['name']}, "
             f"{grid.metric['better']} is better. Targets: `{grid.notes or '?'}`"
             f"{', ' + grid.provenance if grid.provenance else ''}.", ""]
    if not results:
        lines += [f"Not run at the {scale} scale yet: `kerasfg reproduce {_relative(grid.path)} --scale {scale}`.",
                  ""]
        return lines, [(claim.statement, NOT_RUN) for claim in grid.claims]
    table = summarize(grid, cells, results)
    verdicts = []
    for claim in grid.claims:
        claim_lines, verdict = _claim_lines(claim, table, grid.metric["better"])
        lines += [*claim_lines, ""]
        verdicts.append((claim.statement, verdict))
    if not grid.claims:
        lines += ["The grid file states no claims.", ""]
    if grid.description:
        lines += [f"Protocol: {grid.description.strip()}", ""]
    lines += [*table_lines(grid, table), ""]
    return lines, verdicts


def report_markdown(grids, scale, out="runs/reproduce", command=None):
    """The reproduction page of ``grids`` (`kerasfg.reproduce.Grid`s) at ``scale``, as Markdown."""
    sections, summary = [], []
    for paper in sorted({grid.paper for grid in grids}):
        papers = [grid for grid in grids if grid.paper == paper]
        sources = sorted({grid.source for grid in papers if grid.source})
        sections += [f"## Paper {paper}" + (f" (`{', '.join(sources)}`)" if sources else ""), ""]
        for grid in papers:
            lines, verdicts = grid_section(grid, scale, out)
            sections += lines
            summary += [f"| {paper} | {grid.table} | {statement} | {verdict} |" for statement, verdict in verdicts]
    lines = ["# Reproducing the papers", "",
             "<!-- Generated by `kerasfg reproduce --report`; do not edit by hand: run the command again. -->", ""]
    if command:
        lines += [f"Generated by `{command}` from the runs under `{_relative(out)}`.", ""]
    lines += [SCALE_NOTES[scale], "",
              f"Each claim of a table is checked on our runs: Δ is our mean of the first entry minus that of "
              f"the second, with its standard error over seeds (se = sqrt(s₁²/n₁ + s₂²/n₂)); a comparison "
              f"reproduces when Δ goes the claim's way by more than {SPREAD:g} se, is reversed when it goes "
              f"the other way by as much, and is within the spread otherwise. With one seed there is no spread "
              f"to judge by. The paper's Δ comes from its published numbers (the grid file's targets).", ""]
    if summary:
        lines += ["| paper | table | claim | ours |", "|---|---|---|---|", *summary, ""]
    return "\n".join(lines + sections).rstrip() + "\n"


def write_report(path, grids, scale, out="runs/reproduce", command=None):
    """Write `report_markdown` to ``path`` (atomically)."""
    write_text(path, report_markdown(grids, scale, out, command))
    return pathlib.Path(path)
