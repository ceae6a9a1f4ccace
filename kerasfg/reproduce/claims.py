"""The claims a results table makes, and whether our runs of it bear them out.

A grid file may list its table's claims, each as comparisons of two cells of the table::

    claims:
      - claim: Attention modules help expression recognition
        compare:                                   # [row, column] that should beat [row, column]
          - {better: [ResNet-50 + CBAM, CK+], worse: [ResNet-50, CK+]}
        direction: higher                          # optional: higher (default) or lower is better;
                                                   # lower by default for an error_percent metric
        caveat: >                                  # optional: why it may not hold on our runs
          ...

`evaluate` compares our means over seeds: a comparison **holds** when the better cell's mean beats the
worse one's by more than the standard error of the difference (``sqrt(s1^2/n1 + s2^2/n2)``, the
seeds' sample deviations), **holds within noise** when it beats it by less, and **does not hold**
otherwise; with one seed there is no spread and a win is reported as such (**holds, one seed**). A
claim holds when all its comparisons that ran hold (a scale may run only some cells: the synthetic
scale of Table 3.3 runs ResNet-50 on one dataset).
"""

import dataclasses
import math

from kerasfg.config import ConfigError, check_mapping

DIRECTIONS = ("higher", "lower")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One comparison: the cell ``better`` should beat the cell ``worse`` (each ``(row, column)``)."""

    better: tuple
    worse: tuple


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim of the table: its text, comparisons, which direction is better, and a caveat."""

    claim: str
    compare: tuple
    direction: str
    caveat: str | None = None


def parse_claims(claims, rows, columns, transform):
    """Validate a grid file's ``claims`` against the table's ``rows`` and ``columns``.

    Returns:
        A list of `Claim`.

    Raises:
        ConfigError: naming the dotted key (``claims[0].compare[1].better``) of what is wrong.
    """
    if not isinstance(claims, list):
        raise ConfigError(f"claims: expected a list of claims, got {claims!r}.")
    parsed = []
    for i, claim in enumerate(claims):
        key = f"claims[{i}]"
        check_mapping(key, claim, ("claim", "compare", "direction", "caveat"))
        if not isinstance(claim.get("claim"), str) or not claim["claim"]:
            raise ConfigError(f"{key}.claim: expected the claim as a non-empty string, got {claim.get('claim')!r}.")
        direction = claim.get("direction", "lower" if transform == "error_percent" else "higher")
        if direction not in DIRECTIONS:
            raise ConfigError(f"{key}.direction: expected one of {list(DIRECTIONS)}, got {direction!r}.")
        compare = claim.get("compare")
        if not isinstance(compare, list) or not compare:
            raise ConfigError(f"{key}.compare: expected a non-empty list of {{better: [row, column], "
                              f"worse: [row, column]}}, got {compare!r}.")
        comparisons = []
        for j, pair in enumerate(compare):
            item = f"{key}.compare[{j}]"
            if not isinstance(pair, dict) or set(pair) != {"better", "worse"}:
                raise ConfigError(f"{item}: expected {{better: [row, column], worse: [row, column]}}, got {pair!r}.")
            cells = [_cell(f"{item}.{side}", pair[side], rows, columns) for side in ("better", "worse")]
            comparisons.append(Comparison(*cells))
        caveat = claim.get("caveat")
        if caveat is not None and not isinstance(caveat, str):
            raise ConfigError(f"{key}.caveat: expected a string, got {caveat!r}.")
        parsed.append(Claim(claim["claim"], tuple(comparisons), direction, caveat and caveat.strip()))
    return parsed


def _cell(key, cell, rows, columns):
    if not (isinstance(cell, list) and len(cell) == 2 and all(isinstance(c, str) for c in cell)):
        raise ConfigError(f"{key}: expected [row label, column label] ('' for a table without columns), "
                          f"got {cell!r}.")
    row, column = cell
    if row not in rows:
        raise ConfigError(f"{key}: {row!r} is not a row of the table; its rows are {rows}.")
    if column not in columns:
        raise ConfigError(f"{key}: {column!r} is not a column of the table; its columns are {columns}.")
    return row, column


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A comparison on our runs: both cells' summaries, our advantage and its standard error (in the
    claim's direction: positive favours the claim), the paper's advantage, and the verdict."""

    comparison: Comparison
    better: dict
    worse: dict
    advantage: float | None
    standard_error: float | None
    paper_advantage: float | None
    verdict: str


def evaluate(claim, table):
    """Compare the cells of ``claim`` in ``table`` (`kerasfg.reproduce.results.summarize`).

    Returns:
        ``(verdict of the claim, [Outcome])``; the claim's verdict is ``"holds"``, ``"holds within
        noise"``, ``"partly holds"``, ``"does not hold"`` or ``"not run"``.
    """
    sign = 1.0 if claim.direction == "higher" else -1.0
    outcomes = []
    for comparison in claim.compare:
        better, worse = table[comparison.better], table[comparison.worse]
        advantage = error = None
        if better["n"] and worse["n"]:
            advantage = sign * (better["mean"] - worse["mean"])
            if better["n"] > 1 and worse["n"] > 1:
                error = math.sqrt(better["std"] ** 2 / better["n"] + worse["std"] ** 2 / worse["n"])
        paper = (sign * (better["paper"] - worse["paper"])
                 if better["paper"] is not None and worse["paper"] is not None else None)
        outcomes.append(Outcome(comparison, better, worse, advantage, error, paper, _verdict(advantage, error)))
    return _overall([outcome.verdict for outcome in outcomes]), outcomes


def _verdict(advantage, error):
    if advantage is None:
        return "not run"
    if advantage <= 0:
        return "does not hold"
    if error is None:
        return "holds, one seed"
    return "holds" if advantage > error else "holds within noise"


def _overall(verdicts):
    """The claim's verdict over the comparisons that ran (a scale may run only some of its cells)."""
    run = [v for v in verdicts if v != "not run"]
    if not run:
        return "not run"
    if all(v == "does not hold" for v in run):
        return "does not hold"
    if all(v in ("holds", "holds, one seed") for v in run):
        return "holds"
    if "does not hold" not in run:
        return "holds within noise"
    return "partly holds"
