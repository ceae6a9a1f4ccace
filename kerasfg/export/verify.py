"""``verify-export``: the offline stand-in for loading an export in TensorFlow Serving.

The real ``tensorflow_model_server`` cannot be installed here, so :func:`verify_export` checks what it would
do, in a subprocess that cannot import ``keras`` or ``kerasfg`` (see :mod:`kerasfg.export._verify_worker`):

1. the layout ``<base_path>/<integer version>/`` with ``saved_model.pb`` and ``variables/``;
2. every op of the graph, function library included, is a registered stock TensorFlow op: no PyFunc or
   EagerPyFunc, no custom or unregistered op, no ``_XlaMustCompile``; every signature is a predict signature
   and ``serving_default`` exists;
3. the warmup records (``assets.extra/tf_serving_warmup_requests``) parse, and every one of them runs through
   ``tf.saved_model.load`` with outputs matching the Keras model's (recorded at export, or recomputed from
   ``model=``) within ``rtol``/``atol``;
4. the same requests run through the TF1 graph-mode session loader and the SignatureDef tensor names, as in
   the C++ server, and match;
5. corrupt image bytes give INVALID_ARGUMENT.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from kerasfg.export import _verify_worker
from kerasfg.export.warmup import WARMUP_FILE
from kerasfg.tf_startup import is_startup_line

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclasses.dataclass
class VerifyReport:
    """The outcome of :func:`verify_export`; ``ok`` when every check passed."""

    path: pathlib.Path
    checks: list
    ops: dict
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        lines.append(f"{'PASSED' if self.ok else 'FAILED'}: {self.path} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def verify_export(path, *, model=None, requests_file=None, rtol=None, atol=None,
                  require_version_dir=True) -> VerifyReport:
    """Check that the SavedModel at ``path`` (a version directory) serves as TF Serving would serve it.

    Args:
        path: ``<base_path>/<version>``.
        model: optionally the Keras model it was exported from; the expected outputs are then recomputed
            from it instead of read from the warmup records.
        requests_file: the PredictionLog records to run; default the export's warmup file.
        rtol, atol: tolerance of float outputs; default the one recorded at export (which depends on the
            model's precision), or that of ``model``.
        require_version_dir: require the directory name to be an integer version.
    """
    start = time.perf_counter()
    path = pathlib.Path(path)
    checks = []
    layout = [name for name in ("saved_model.pb", "variables") if not (path / name).exists()]
    detail = f"{path}: missing {layout}" if layout else "saved_model.pb and variables/ present"
    if require_version_dir and not path.name.isdigit():
        layout.append("version")
        detail = f"{path.name!r} is not an integer version directory; TF Serving only loads <base_path>/<int>/"
    checks.append(Check("layout", not layout, detail))
    if layout and "saved_model.pb" in layout:
        return VerifyReport(path, checks, {}, time.perf_counter() - start)
    requests_file = pathlib.Path(requests_file or path / "assets.extra" / WARMUP_FILE)

    rtol, atol = _tolerance(path, model, rtol, atol)
    with tempfile.TemporaryDirectory(prefix="kerasfg-verify-") as scratch:
        if model is not None and requests_file.exists():
            requests_file = _recompute_expected(model, path, requests_file, pathlib.Path(scratch) / WARMUP_FILE)
        out = pathlib.Path(scratch) / "report.json"
        result = run_isolated(path, requests_file, out, rtol, atol)
        if result.returncode != 0 or not out.exists():
            checks.append(Check("load without keras", False, f"the verification process failed (exit "
                                f"{result.returncode}): {_worker_failure(result.stderr)}"))
            return VerifyReport(path, checks, {}, time.perf_counter() - start)
        report = json.loads(out.read_text())
    checks += [Check(**c) for c in report["checks"]]
    return VerifyReport(path, checks, report["ops"], time.perf_counter() - start)


def _worker_failure(stderr):
    """What the failed worker said: the exception line of its traceback (the whole of its stderr, without
    TensorFlow's start-up records, is logged at DEBUG level: ``kerasfg verify-export --verbose``)."""
    lines = [line for line in (stderr or "").strip().splitlines() if line.strip() and not is_startup_line(line)]
    if lines:
        logger.debug("verification process stderr:\n%s", "\n".join(lines))
    if any(line.startswith("Traceback") for line in lines):
        return lines[-1]
    return "\n".join(lines[-15:]) or "no output"


def _tolerance(path, model, rtol, atol):
    if rtol is not None and atol is not None:
        return rtol, atol
    from kerasfg.export.metadata import read_metadata
    from kerasfg.export.reference import default_tolerance

    if model is not None:
        default = default_tolerance(model)
    else:
        try:
            recorded = read_metadata(path)["verification_tolerance"]
            default = recorded["rtol"], recorded["atol"]
        except (FileNotFoundError, KeyError, ValueError):  # not exported by kerasfg
            default = 1e-4, 1e-5
    return (default[0] if rtol is None else rtol), (default[1] if atol is None else atol)


def run_isolated(saved_model_dir, requests_file, out_json, rtol, atol):
    """Run the worker in ``python -I`` (no user site, no PYTHON* variables, no current directory on the
    path), where it blocks keras and kerasfg before importing TensorFlow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-I", os.path.abspath(_verify_worker.__file__), os.path.abspath(saved_model_dir),
               os.path.abspath(requests_file), os.path.abspath(out_json), repr(rtol), repr(atol)]
    return subprocess.run(command, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False)


def _recompute_expected(model, path, requests_file, out):
    """Rewrite the requests with the outputs of ``model`` computed by Keras, for a later check of an export."""
    from kerasfg.export import warmup
    from kerasfg.export.metadata import plan_from_metadata, read_metadata
    from kerasfg.export.reference import expected_outputs

    plan = plan_from_metadata(model, read_metadata(path))
    requests = [warmup.WarmupRequest(request.signature_name, request.inputs,
                                     expected_outputs(plan, request.signature_name, request.inputs))
                for request in warmup.read_warmup(requests_file)]
    return warmup.write_warmup(out, requests)
