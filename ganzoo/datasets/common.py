"""What every file-backed loader shares: the offline switch, split and folder checks, and
the clean-up after a failed download."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataUnavailableError

DATA_DIR_ENV = "GANZOO_DATA_DIR"
"""The data folder when ``--data-dir`` is not given."""

OFFLINE_ENV = "GANZOO_OFFLINE"
"""Set to 1 and no loader downloads anything (missing files are then a one-line error)."""


def default_data_dir() -> Path:
    """``$GANZOO_DATA_DIR``, else ``data/`` in ganzoo's cache (``~/.cache/ganzoo/data``)."""
    from ..settings import cache_dir

    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return cache_dir() / "data"


def _check_split(split: str, name: str) -> None:
    """Refuse a split other than ``train`` and ``test``."""
    if split not in ("train", "test"):
        raise DataUnavailableError(f"unknown split {split!r} for {name}; use train or test")


def _check_data_dir(data_dir: Path) -> None:
    """Refuse a ``--data-dir`` that exists but is not a folder, or cannot even be looked at."""
    try:
        is_file = data_dir.exists() and not data_dir.is_dir()
    except OSError as exc:  # a name too long, a loop of links, no permission on a parent...
        raise DataUnavailableError(f"cannot use data folder {data_dir}: {exc.strerror or exc}") from None
    if is_file:
        raise DataUnavailableError(f"data folder {data_dir} is not a folder; point --data-dir / "
                                   f"$GANZOO_DATA_DIR at a folder")


def _existing(data_dir: Path, raw: Path) -> set[Path]:
    """The paths a download into ``raw`` must not remove afterwards: what is there now."""
    paths = {p for p in (raw, *raw.parents) if p.exists()}
    return paths | (set(raw.iterdir()) if raw.is_dir() else set())


def _remove_new(data_dir: Path, raw: Path, before: set[Path]) -> None:
    """Undo what a failed download left behind: new files, then new empty folders."""
    if raw.is_dir():
        for path in raw.iterdir():
            if path not in before and path.is_file():
                path.unlink(missing_ok=True)
    for folder in (raw, *raw.parents):
        if folder in before:
            break
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
