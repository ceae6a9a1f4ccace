"""Accounting of what a data run read, used and skipped, with the path and reason of every skip.

Every reader and ``prepare-faces`` feed one :class:`DataReport`. Nothing is dropped silently: an item that
cannot be used is recorded with :meth:`DataReport.skip` and the counts always reconcile,
``read == used + skipped``.
"""

import collections
import dataclasses
import json
import logging
import pathlib

from kerasfg.io_utils import write_text

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Skip:
    """One item that was not used: where it came from and why."""

    path: str
    reason: str
    stage: str = "read"  # "read" (reader/annotations), "decode" (image validation), "align" (detection)


class DataReport:
    """Counts of items read, used and skipped, with each skipped path and its reason.

    Args:
        name: what the report is about (a dataset name, ``prepare-faces``).
        root: the dataset root, quoted in the summary.
    """

    def __init__(self, name, root=None):
        self.name = name
        self.root = None if root is None else str(root)
        self.read = 0
        self.skips = []
        self.notes = []

    @property
    def skipped(self):
        return len(self.skips)

    @property
    def used(self):
        return self.read - self.skipped

    def count_read(self, n=1):
        """Count ``n`` more items seen in the source (used or not)."""
        self.read += int(n)

    def skip(self, path, reason, stage="read"):
        """Record that the item at ``path`` (already counted as read) is not used, and why."""
        self.skips.append(Skip(str(path), str(reason), stage))

    def note(self, message):
        """Record a remark about the whole run (a protocol choice, a fallback)."""
        self.notes.append(str(message))

    def reasons(self):
        """Number of skips per reason, most frequent first."""
        return collections.Counter(s.reason.split(":")[0] for s in self.skips).most_common()

    def check(self):
        """Raise if the counts do not reconcile (a bug in a reader, never a data problem)."""
        if self.used < 0:
            raise AssertionError(f"{self.name}: {self.skipped} skipped but only {self.read} read")
        return self

    def summary(self, max_paths=20):
        """A human-readable multi-line account: counts, reasons and the first ``max_paths`` skipped paths."""
        lines = [f"{self.name}: read {self.read}, used {self.used}, skipped {self.skipped}"
                 + (f" (root {self.root})" if self.root else "")]
        for reason, n in self.reasons():
            lines.append(f"  {n:6d} x {reason}")
        for s in self.skips[:max_paths]:
            lines.append(f"  skipped [{s.stage}] {s.path}: {s.reason}")
        if self.skipped > max_paths:
            lines.append(f"  ... and {self.skipped - max_paths} more (see the written report)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self):
        return {
            "name": self.name,
            "root": self.root,
            "read": self.read,
            "used": self.used,
            "skipped": self.skipped,
            "reasons": dict(self.reasons()),
            "skips": [dataclasses.asdict(s) for s in self.skips],
            "notes": list(self.notes),
        }

    def log(self, logger=log):
        """Log the summary: a warning when something was skipped, info otherwise."""
        (logger.warning if self.skipped else logger.info)("%s", self.summary())

    def write(self, run_dir, stem=None):
        """Write ``<stem>.json`` (everything) and ``<stem>_skipped.tsv`` (path, stage, reason) into ``run_dir``.

        Both files are written to a temporary name and renamed into place. Returns the JSON path.
        """
        run_dir = pathlib.Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        stem = stem or f"data_report_{_slug(self.name)}"
        json_path = run_dir / f"{stem}.json"
        write_text(json_path, json.dumps(self.to_dict(), indent=1))
        rows = ["path\tstage\treason"] + [f"{s.path}\t{s.stage}\t{s.reason}" for s in self.skips]
        write_text(run_dir / f"{stem}_skipped.tsv", "\n".join(rows) + "\n")
        return json_path

    def __repr__(self):
        return f"DataReport({self.name!r}, read={self.read}, used={self.used}, skipped={self.skipped})"


def _slug(text):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))
