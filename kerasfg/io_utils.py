"""Atomic writes: readers never see a half-written file or directory.

Anything another program may read while kerasfg writes it (checkpoints, exported versions, result
tables) is written to a temporary sibling and renamed into place; a rename within one file system is
atomic. Temporary siblings start with ``.tmp-``, so readers that list a directory skip them.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yield a temporary directory that replaces ``path`` once the block finishes without error.

    Args:
        path: the directory to create.
        overwrite: replace an existing ``path``; otherwise an existing ``path`` raises
            `FileExistsError` before anything is written, and so does one that another writer puts
            in place meanwhile.

    Yields:
        A `pathlib.Path` of the temporary directory to fill.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; it is never overwritten.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = pathlib.Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}-", dir=path.parent))
    try:
        yield temp
        if path.exists() and overwrite:
            old = temp.with_name(f"{TEMP_PREFIX}old-{path.name}-{os.getpid()}")
            os.replace(path, old)
            os.replace(temp, path)
            shutil.rmtree(old)
        else:
            try:
                os.rename(temp, path)  # fails rather than merging if another writer got there first
            except OSError as error:
                if path.exists():
                    raise FileExistsError(f"{path} appeared while it was being written; it is never "
                                          "overwritten.") from error
                raise
    finally:
        if temp.exists():
            shutil.rmtree(temp)


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """Yield a temporary file path whose file replaces ``path`` once the block finishes.

    Args:
        path: the file to write.
        mode: ``"w"`` or ``"wb"`` to get an open file object, or ``None`` to get the temporary path
            itself (for writers that take a file name, such as ``model.save``). The temporary path
            keeps the suffix of ``path``.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.stem}-", suffix=path.suffix,
                                dir=path.parent)
    os.close(fd)
    temp = pathlib.Path(name)
    try:
        if mode is None:
            yield temp
        else:
            with open(temp, mode) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_json(path, data):
    """Atomically write ``data`` as indented JSON to ``path``."""
    with atomic_file(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def write_text(path, text):
    """Atomically write the string ``text`` (UTF-8) to ``path``."""
    with atomic_file(path, mode="wb") as handle:
        handle.write(text.encode("utf-8"))
