"""The reproduction report: for each paper, the claims its tables make and what our runs show.

``kerasfg reproduce --report docs/reproduction.md --scale synthetic experiments/*/*.yaml`` writes it
from the finished cells of each grid under ``--out`` (nothing is trained): per paper, each table's
claims (`kerasfg.reproduce.claims`) with both sides' mean and standard deviation over seeds, our
advantage and its standard error beside the paper's, and a verdict; where a claim does not hold, the
grid's caveat says why that may be. Then each table: our numbers beside the paper's, and its class tables
(`kerasfg.reproduce.class_tables`: a confusion or an accuracy per group, summed over folds and seeds). Tables without
finished cells at the scale are listed as not run. A derived table (`kerasfg.reproduce.derived`) is computed from
whatever cells of its source grid have finished.
"""

import datetime
import json
import pathlib

from kerasfg.io_utils import atomic_file
from kerasfg.reproduce.claims import evaluate
from kerasfg.reproduce.grid import finished_results, grid_directory
from kerasfg.reproduce.results import SCALE_NOTES, summarize

PAPERS = {
    "000": "Chen (2019), Class Activation and Attention Models for Face Classification (FEI faces)",
    "001": "Miskow (2022), Emotion Recognition using Deep Learning on a GPU (attention modules, FER)",
    "002": "Rodriguez (2019), Towards Robust Neural Models for Fine-Grained Image Recognition (thesis)",
    "003": "Fukui et al. (CVPR 2019), Attention Branch Network",
    "004": "Aasen and Bjerga (2017), Web Interface for Deep Learning, face recognition case study (IMFDB)",
}


def _digits(grid):
    """Decimals of the grid's numbers: 4 for a metric read as it is (fractions such as 0.7724, losses),
    where two would round most differences to zero; 2 for percentages and derived tables (Table 4.4's
    accuracy per million parameters)."""
    return 4 if grid.metric["transform"] == "identity" and grid.runner != "derived" else 2


def _ours(entry, digits=2):
    if not entry["n"]:
        return "not run"
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f} (n={entry['n']})"


def _signed(value, error=None, digits=2):
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" + (f" ± {error:.{digits}f}" if error is not None else "")


def _label(cell):
    row, column = cell
    return " / ".join(part for part in (row, column) if part) or "(the table's value)"


def _setting(grid, scale):
    """The scale's overrides of the grid, in one line."""
    block = grid.scales.get(scale, {})
    parts = [f"`{key}: {json.dumps(value, default=str)}`" for key, value in block.get("set", {}).items()
             if not key.startswith("data.source")]
    only = block.get("only")
    if only:
        parts.append("cells " + ", ".join(f"{axis} in {labels}" for axis, labels in only.items()))
    return "; ".join(parts)


def grid_section(grid, scale, out):
    """The report's Markdown for one grid: its claims and its table, or a line saying it did not run."""
    lines = [f"### {grid.table}: {grid.title}", ""]
    if grid.runner == "derived":
        from kerasfg.reproduce.derived import parameter_lines, summarize_derived

        table, entries, _, parameters, _ = summarize_derived(grid, scale, out, strict=False)
        seeds = sorted({entry.seed for entry in entries})
        if entries:
            lines += [f"`{grid.path.as_posix()}`: {grid.metric_line(scale, seeds)} Metric: "
                      f"{grid.metric['name']}.", ""]
        after = parameter_lines(grid, parameters)
    else:
        cells, results = finished_results(grid, scale, out)
        entries = results
        if results:
            table = summarize(grid, cells, results)
            seeds = sorted({cell.seed for cell in cells if cell.id in results})
            lines += [f"`{grid.path.as_posix()}`: {len(results)} of {len(cells)} cells finished, seeds {seeds}. "
                      f"Metric: {grid.metric['name']}. Setting: {_setting(grid, scale) or 'the grid as written'}.",
                      ""]
            directory = grid_directory(grid, scale, out)
            after = [line for class_table in grid.class_tables
                     for line in class_table.markdown(class_table.summarize(directory, cells, results))]
    if not entries:
        source = grid.grid.path if grid.runner == "derived" else grid.path
        lines += [f"Not run at {scale} scale (`kerasfg reproduce {source.as_posix()} --scale {scale}`).", ""]
        return lines, [(grid, claim.claim, "not run") for claim in grid.claims]
    verdicts, digits = [], _digits(grid)
    for claim in grid.claims:
        verdict, outcomes = evaluate(claim, table)
        verdicts.append((grid, claim.claim, verdict))
        lines += [f"**Claim: {claim.claim}** ({claim.direction} is better) — **{verdict}**.", "",
                  "| better | worse | ours, better | ours, worse | our advantage ± s.e. | paper's advantage "
                  "| verdict |",
                  "|---|---|---|---|---|---|---|"]
        skipped = sum(outcome.verdict == "not run" for outcome in outcomes)
        for outcome in (o for o in outcomes if o.verdict != "not run" or skipped == len(outcomes)):
            lines.append(f"| {_label(outcome.comparison.better)} | {_label(outcome.comparison.worse)} | "
                         f"{_ours(outcome.better, digits)} | {_ours(outcome.worse, digits)} | "
                         f"{_signed(outcome.advantage, outcome.standard_error, digits)} | "
                         f"{_signed(outcome.paper_advantage, digits=digits)} | {outcome.verdict} |")
        if skipped and skipped < len(outcomes):
            lines.append(f"| ({skipped} more comparisons of the paper's cells, not run at this scale) "
                         f"| | | | | | |")
        lines.append("")
        if verdict not in ("holds", "not run") and claim.caveat:
            caveat = claim.caveat.rstrip()
            lines += [f"Why it may not hold here: {caveat}{'' if caveat.endswith(('.', '!', '?')) else '.'}", ""]
    columns = grid.column_labels()
    ran = [row for row in grid.row_labels() if any(table[row, c]["n"] for c in columns)]
    header = [" + ".join(grid.rows) or "row"] + [f"{c} ours / paper" if c else "ours / paper" for c in columns]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in ran:
        entries = [table[row, c] for c in columns]
        lines.append("| " + " | ".join([row or "–", *(
            f"{_ours(e, digits) if e['n'] else '–'} / {e['paper']:.{digits}f}" if e["paper"] is not None else
            (_ours(e, digits) if e["n"] else "–") for e in entries)]) + " |")
    lines.append("")
    return lines + after, verdicts


def report_markdown(grids, scale, out, command):
    """The whole report for ``grids`` (loaded `Grid` objects) at ``scale``."""
    by_paper = {}
    for grid in grids:
        by_paper.setdefault(grid.paper, []).append(grid)
    body, summary = [], []
    for paper in sorted(by_paper):
        body += [f"## {paper}: {PAPERS.get(paper, 'paper ' + paper)}", ""]
        for grid in by_paper[paper]:
            lines, verdicts = grid_section(grid, scale, out)
            body += lines
            summary += verdicts
    head = [
        "# Reproduction report",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()} from the finished cells under "
        f"`{out}`; do not edit by hand, run the command again. {SCALE_NOTES[scale]}",
        "",
        "A comparison **holds** when our mean over seeds beats the other cell's by more than the standard "
        "error of the difference (the seeds' sample deviations), **holds within noise** when it beats it by "
        "less, and **does not hold** otherwise. Advantages are in the claim's direction: positive favours "
        "the claim.",
        "",
        "| paper | table | claim | verdict |",
        "|---|---|---|---|",
        *(f"| {grid.paper} | {grid.table} | {claim} | {verdict} |" for grid, claim, verdict in summary),
        "",
    ]
    return "\n".join(head + body)


def write_report(path, grids, scale, out, command):
    """Write the report to ``path`` (atomically); returns its text."""
    text = report_markdown(grids, scale, out, command)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as handle:
        handle.write(text)
    return text
