"""Version directories under a TF Serving model base path: ``<base_path>/<integer version>/``.

TensorFlow Serving loads only all-digit subdirectories of a base path. Nothing here imports TensorFlow, so the
command line can find versions before it loads anything heavy.
"""

import pathlib


def list_versions(base_path) -> list[int]:
    """The integer versions under ``base_path``, in increasing order (``[]`` when it does not exist)."""
    base = pathlib.Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(base_path) -> int:
    """The version after the newest under ``base_path``; 1 for a new base path."""
    versions = list_versions(base_path)
    return versions[-1] + 1 if versions else 1
