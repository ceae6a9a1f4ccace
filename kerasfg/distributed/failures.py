"""What stops a multi-worker run: workers that disagree, and workers that died or cannot be reached."""

import tensorflow as tf

from kerasfg.errors import UserError

LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.AbortedError,
                      tf.errors.DeadlineExceededError)
"""What a collective raises when another worker died or cannot be reached."""


class WorkersDisagree(UserError):
    """The workers of a multi-worker run do not hold the same config or the same weights."""


class WorkerLost(UserError):
    """Another worker died or became unreachable; relaunching every worker with ``--resume`` continues."""


def describe(error):
    """The kind of a TensorFlow error and the line of its message that says what happened."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines() if line.strip()]
    telling = [i for i, line in enumerate(lines) if any(
        word in line.lower() for word in ("aborted by", "unhealthy", "connection", "socket", "deadline"))]
    if telling:
        i = telling[0]
        text = " ".join([lines[i], *(lines[i + 1:i + 2] if i + 1 < len(lines) and
                                     lines[i + 1].startswith("/job:") else [])])
    else:
        text = next((line for line in lines if not line.startswith("Graph execution error")), "")
    return f"{type(error).__name__}: {text[:400]}"
