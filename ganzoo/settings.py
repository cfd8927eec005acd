"""Environment variables that change ganzoo's behaviour (documented in docs/training.md)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
"""The values a yes/no variable takes (any case, surrounding spaces ignored); unset is no."""

FLAG_VARIABLES = ("GANZOO_DEBUG", "GANZOO_OFFLINE", "GANZOO_NO_CURVES", "GANZOO_STRICT_PLUGINS")
"""Every yes/no variable ganzoo reads with :func:`env_flag`; the command line checks them all
before it runs a command (:func:`check_flags`)."""


def env_flag(name: str) -> bool:
    """Whether the yes/no variable ``name`` is on: :data:`TRUE_WORDS` are on, :data:`FALSE_WORDS`
    (and unset) are off.

    Raises:
        ConfigError: any other value (``GANZOO_DEBUG=banana`` is a mistake, not a yes).
    """
    value = os.environ.get(name, "")
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={value!r} is not a yes/no value: use {', '.join(TRUE_WORDS[:-1])} or "
                      f"{TRUE_WORDS[-1]}, or {', '.join(FALSE_WORDS[1:-1])} or {FALSE_WORDS[-1]} (or leave it unset)")


def check_flags() -> None:
    """Read every variable of :data:`FLAG_VARIABLES`, so a bad value is said before any work.

    Raises:
        ConfigError: the first variable with a value :func:`env_flag` refuses.
    """
    for name in FLAG_VARIABLES:
        env_flag(name)


CACHE_DIR_ENV = "GANZOO_CACHE_DIR"

NO_CURVES_ENV = "GANZOO_NO_CURVES"
"""Set: the trainer does not draw ``curves.png`` (sweeps of many short runs; ``ganzoo report`` still draws them)."""


def cache_dir() -> Path:
    """ganzoo's cache: ``$GANZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganzoo`` (``~/.cache/ganzoo``).

    Trained extractors and cached reference statistics live here, never beside the data
    (which may be read-only).
    """
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganzoo"


def writable_cache_dir() -> Path:
    """:func:`cache_dir`, created if missing, after checking that a file can be written in it.

    Called before work whose results are cached (training a feature extractor takes
    minutes), so an unusable cache is said at once rather than after the work.

    Raises:
        ConfigError: the folder cannot be created or written (e.g. ``GANZOO_CACHE_DIR``
            names a file).
    """
    import tempfile

    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot use the cache folder {folder}: {exc.strerror or exc}; set {CACHE_DIR_ENV} "
                          f"to a folder ganzoo can write") from None
    return folder
