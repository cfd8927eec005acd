"""Writing files so that a crash never leaves half of one: into a temporary name, then renamed.

A write that fails (a full disk, a read-only folder, a folder where the file should be) is a
:class:`~ganzoo.errors.WriteError` that names the file asked for, never the temporary one, and
leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .errors import writing


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``
    (the folder is created first); the temporary file is removed if ``write`` fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file (flushed to disk) and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(path):
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def suffixed(stem: Path, suffix: str) -> Path:
    """``stem`` with ``suffix`` appended: a sample file's name from its stem (``with_suffix``
    would replace the ``.run`` of a stem ``my.run``)."""
    stem = Path(stem)
    return stem.parent / f"{stem.name}{suffix}"
