"""Errors that the CLI turns into one-line messages and documented exit codes.

:data:`EXIT_CODE_TABLE` is the one list of exit codes: ``ganzoo --help`` shows it and the
README's "Exit codes" table repeats it (a test checks that they agree).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, NamedTuple

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 4
EXIT_CHECKPOINT = 5
EXIT_INTERRUPTED = 130


class ExitCode(NamedTuple):
    """One documented exit code: the number, a few words for ``--help`` and its meaning."""

    code: int
    short: str
    meaning: str


EXIT_CODE_TABLE: tuple[ExitCode, ...] = (
    ExitCode(EXIT_OK, "ok", "success"),
    ExitCode(EXIT_RUNTIME, "runtime failure",
             "runtime failure: training diverged after every allowed rollback, a file that cannot be written "
             "(a full disk, a read-only folder), a plugin that fails its checks, an unexpected error"),
    ExitCode(EXIT_USAGE, "usage or invalid config",
             "usage error or invalid configuration, unknown name, missing data"),
    ExitCode(EXIT_UNAVAILABLE, "component or plugin unavailable",
             "a component is registered but its code cannot be loaded or breaks the network contract; "
             "a checkpoint's model whose plugin is not installed"),
    ExitCode(EXIT_CHECKPOINT, "bad checkpoint",
             "a missing, corrupt or incompatible checkpoint, or a path that is no run"),
    ExitCode(EXIT_INTERRUPTED, "interrupted",
             "interrupted: Ctrl-C, or SIGTERM during training (training finishes its step and saves a "
             "checkpoint first)"),
)
"""Every exit code of the ``ganzoo`` command, in order."""

EXIT_CODES = frozenset(entry.code for entry in EXIT_CODE_TABLE)
"""Every exit code the CLI documents."""

_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(text: str) -> str:
    """``text`` with every line break escaped (``\\n``, ``\\u2028``, ...), so it prints as one line.

    A user's value (a path, a name) inside a message must not split the message:
    ``str.splitlines`` finds no break in the result.
    """
    return str(text).translate(_LINE_BREAKS)


class GanzooError(Exception):
    """Base class: an error with a one-line message meant for the user."""

    exit_code = EXIT_RUNTIME

    def __str__(self) -> str:
        return one_line(super().__str__())


class ConfigError(GanzooError):
    """An invalid configuration value, unknown key or bad command-line input."""

    exit_code = EXIT_USAGE


class UnknownComponentError(ConfigError):
    """A name that no installed plugin registers (the message carries suggestions)."""


class DataUnavailableError(ConfigError):
    """A dataset's files are missing and could not be downloaded."""


class ComponentUnavailableError(GanzooError):
    """A component exists by name but cannot be used (its code failed to import)."""

    exit_code = EXIT_UNAVAILABLE


class CheckpointError(GanzooError):
    """A checkpoint that is missing, corrupt, or does not match what was asked for."""

    exit_code = EXIT_CHECKPOINT


class TrainingInterrupted(GanzooError):
    """Training stopped on Ctrl-C or SIGTERM; a checkpoint was saved first."""

    exit_code = EXIT_INTERRUPTED


class WriteError(GanzooError, OSError):
    """A file that could not be written (a full disk, a read-only folder, a folder in its place).

    The message names the file the user asked for, never the temporary file it was being
    written through. It is also an :class:`OSError` (with the cause's ``errno``), so Python
    callers that catch ``OSError`` around a write keep working.
    """

    exit_code = EXIT_RUNTIME

    def __init__(self, path: str | Path, cause: OSError, hint: str = "") -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.hint = hint

    def __str__(self) -> str:
        return one_line(f"cannot write {self.filename}: {self.strerror}" + (f"; {self.hint}" if self.hint else ""))


@contextlib.contextmanager
def writing(path: str | Path, hint: str = "") -> Iterator[None]:
    """Inside, an :class:`OSError` becomes a :class:`WriteError` naming ``path`` (with ``hint``).

    Wrap only the writing of ``path``: a failure to read something is not a failure to write.
    """
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(path, exc, hint) from exc
