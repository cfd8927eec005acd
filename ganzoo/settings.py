"""Environment variables that change ganzoo's behaviour (documented in the README)."""

from __future__ import annotations

import os

FALSE_WORDS = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """True when the variable is set to anything but empty, 0, false, no or off."""
    return os.environ.get(name, "").strip().lower() not in FALSE_WORDS


CACHE_DIR_ENV = "GANZOO_CACHE_DIR"

NO_CURVES_ENV = "GANZOO_NO_CURVES"
"""Set: the trainer does not draw ``curves.png`` (sweeps of many short runs; ``ganzoo report`` still draws them)."""


def cache_dir() -> "Path":
    """ganzoo's cache: ``$GANZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganzoo`` (``~/.cache/ganzoo``).

    Trained extractors and cached reference statistics live here, never beside the data
    (which may be read-only).
    """
    from pathlib import Path

    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganzoo"


def writable_cache_dir() -> "Path":
    """:func:`cache_dir`, created if missing, after checking that a file can be written in it.

    Called before work whose results are cached (training a feature extractor takes
    minutes), so an unusable cache is said at once rather than after the work.

    Raises:
        ConfigError: the folder cannot be created or written (e.g. ``GANZOO_CACHE_DIR``
            names a file).
    """
    import tempfile

    from .errors import ConfigError

    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot use the cache folder {folder}: {exc.strerror or exc}; set {CACHE_DIR_ENV} "
                          f"to a folder ganzoo can write") from None
    return folder
