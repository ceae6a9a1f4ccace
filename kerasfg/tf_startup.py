"""Keep TensorFlow's start-up lines off the command line.

TensorFlow 2.21 writes its start-up lines (``oneDNN custom operations are on``, ``Could not find cuda
drivers``, ``cpu_feature_guard``, ``failed call to cuInit``...) through C++ logging. ``TF_CPP_MIN_LOG_LEVEL``
hides those written after the logging library is initialized, but not those written while the shared
libraries load: absl writes every record to stderr before ``absl::InitializeLog()`` runs, whatever its
threshold (abseil-cpp PR #1718, tensorflow issue #100442). :func:`hide_startup_lines` therefore does both:
it raises the C++ threshold, and while the ``tensorflow`` package is first imported it points file
descriptor 2 at a temporary file, then writes back every captured line that is not a C++ log record
(Python warnings, errors), so nothing else is lost.
"""

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# "I0000 00:00:1796527554.202526   13545 port.cc:153] ...": before absl is initialized, the time of day is the
# epoch time. Fatal records (F) are kept.
ABSL_RECORD = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.\-]+:\d+\] ")
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


hidden_lines = []
"""The lines :func:`filtered_stderr` dropped in this process, in order (for debugging and tests)."""


def is_startup_line(line):
    """Whether ``line`` is a C++ log record (or absl's preamble) written while TensorFlow loads."""
    return line.startswith(ABSL_PREAMBLE) or ABSL_RECORD.match(line) is not None


@contextlib.contextmanager
def filtered_stderr(drop=is_startup_line):
    """Capture what is written to file descriptor 2 (C++ and Python alike) inside the block, then write back
    the lines for which ``drop`` is false."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                capture.seek(0)
                kept = []
                for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True):
                    (hidden_lines if drop(line) else kept).append(line)
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader's ``exec_module`` inside :func:`filtered_stderr`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name):  # resource readers and the like
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the regular path finder and wraps its loader in :class:`_QuietLoader`."""

    def __init__(self):
        self.found = False

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or self.found:
            return None
        self.found = True  # once: later imports of tensorflow are served from sys.modules
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def hide_startup_lines():
    """Hide TensorFlow's C++ start-up lines in this process; call before TensorFlow is imported.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (records written after start-up, such as ``failed call to cuInit`` on a
    machine without a GPU; TensorFlow raises its errors as Python exceptions as well) and filters the
    records written while the libraries load. Does nothing when TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
