"""The exception base that the ``kerasfg`` command reports as a user error.

The command line (:mod:`kerasfg.cli`) prints a user error as one line, ``kerasfg <command>: error: <message>``,
and exits with status 2. User errors are ``ValueError`` (including ``kerasfg.config.ConfigError``,
``kerasfg.data.DatasetLayoutError`` and ``kerasfg.export.ExportError``), ``OSError`` (``FileNotFoundError``,
``FileExistsError``, ``PermissionError``...) and :class:`UserError`, for the problems that are neither a bad
value nor a file problem. Raise the most specific of these with a message that names the input, the expected
form and what was received.
"""


class UserError(Exception):
    """An error the user fixes from its message that is neither a bad value nor a file problem.

    Examples: a TF Serving server that refuses a request or cannot be reached
    (``kerasfg.export.ServingError``), a command whose inputs were all unusable (every image unreadable).
    """


USER_ERRORS = (ValueError, OSError, UserError)
"""The exception types that the ``kerasfg`` command reports in one line with exit status 2."""
