"""How a ganzoo command ends: one ``error:`` line and an exit code from the table in
:mod:`ganzoo.errors`, never a traceback (unless GANZOO_DEBUG=1 asks for one).

:func:`handle_errors` wraps each command (a plugin's commands too); :class:`OneLineErrorGroup`
does the same for what click and typer raise outside a command.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import typer
from typer.core import TyperGroup

from ..errors import (
    EXIT_CODE_TABLE,
    EXIT_INTERRUPTED,
    EXIT_RUNTIME,
    EXIT_USAGE,
    ConfigError,
    GanzooError,
    one_line,
)
from ..settings import check_flags, env_flag

DEBUG_ENV = "GANZOO_DEBUG"

EPILOG = ("Exit codes: " + ", ".join(f"{e.code} {e.short}" for e in EXIT_CODE_TABLE)
          + ". Set GANZOO_DEBUG=1 for tracebacks.")


BUILTIN_COMMANDS = frozenset({"list", "info", "plugins", "plugin", "train", "sample", "eval", "bench",
                              "help", "version"})
"""Command names no plugin may take (the built-in commands, and names reserved for ganzoo)."""


_exit_explained = False
"""Whether the command being run has said why it ends: its ``error:`` line, or an exit of its own
choosing (reset by each run of the app)."""


def _explained() -> None:
    global _exit_explained
    _exit_explained = True


def say_error(message: str) -> None:
    """Print ``error: message`` as one line on stderr, and remember that the exit is explained."""
    typer.echo(f"error: {one_line(message)}", err=True)
    _explained()


def _debugging() -> bool:
    """Whether GANZOO_DEBUG asks for tracebacks (a value it refuses counts as no: it is the error)."""
    try:
        return env_flag(DEBUG_ENV)
    except ConfigError:
        return False


def plain_console(**options: Any):
    """A rich console that prints text as it is: brackets are text, not markup (a plugin's
    summary ``E[T(x)] - E[exp(T(G(z)) - 1)]``, a metric key ``fid[mnist-classifier]``), and
    ``:name:`` is no emoji code. Styles come from ``rich.text.Text`` objects instead."""
    from rich.console import Console

    return Console(markup=False, emoji=False, **options)


def fail(message: str, code: int) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    rank = os.environ.get("RANK") if os.environ.get("WORLD_SIZE", "1") != "1" else None
    where = f"[rank {rank}] " if rank is not None else ""  # under torchrun, say which worker
    say_error(f"{where}{message}")
    raise typer.Exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ganzoo errors into one line and an exit code (tracebacks with GANZOO_DEBUG=1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            debug = env_flag(DEBUG_ENV)
        except ConfigError as exc:  # GANZOO_DEBUG=banana: say so, as any usage error
            fail(str(exc), exc.exit_code)
        try:
            return func(*args, **kwargs)
        except typer.Exit:  # a deliberate exit with its own code (e.g. from launched workers, who said why)
            _explained()
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if debug:
                raise
            fail(*_line_and_code(exc))

    return wrapper


def _line_and_code(exc: BaseException) -> tuple[str, int]:
    """What :func:`handle_errors` says of an exception, and the exit code."""
    if isinstance(exc, GanzooError):
        return str(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", EXIT_RUNTIME
    # the promise is: no traceback without GANZOO_DEBUG
    return f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", EXIT_RUNTIME


# typer raises click's exceptions (vendored in newer typer); find their base class publicly.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrorGroup(TyperGroup):
    """Usage errors (bad option values, unknown options) as one line on stderr, exit 2;
    ganzoo errors raised outside a command (e.g. strict plugin loading while listing
    plugin commands) as one line with their exit code; a Ctrl-C anywhere as
    ``error: interrupted``, exit 130."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        global _exit_explained
        _exit_explained = False
        try:
            check_flags()  # a yes/no variable set to anything else is refused before any work
            code = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        except GanzooError as exc:
            if _debugging():
                raise
            say_error(str(exc))
            code = exc.exit_code
        except _ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                code = EXIT_USAGE  # the help text is already printed
            else:
                where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
                say_error(f"{exc.format_message()}{where}")
                code = exc.exit_code
        except typer.Abort:
            say_error("aborted")
            code = EXIT_INTERRUPTED
        code = code if isinstance(code, int) else 0
        if code == EXIT_INTERRUPTED and not _exit_explained:
            say_error("interrupted")  # typer turns a Ctrl-C outside the command into a silent exit 130
        if standalone_mode:
            sys.exit(code)
        return code
