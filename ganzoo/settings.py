"""Environment variables that change ganzoo's behaviour (documented in the README)."""

from __future__ import annotations

import os

FALSE_WORDS = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """True when the variable is set to anything but empty, 0, false, no or off."""
    return os.environ.get(name, "").strip().lower() not in FALSE_WORDS
