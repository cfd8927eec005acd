"""The ``ganzoo`` command line: a thin layer over the Python API.

``create_app(manager)`` builds the typer app around a plugin manager, so tests can
drive the CLI with in-process plugins.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import typer
from typer.core import TyperGroup

from ..errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, GanzooError
from ..plugins import PluginManager, get_plugin_manager
from ..settings import env_flag

DEBUG_ENV = "GANZOO_DEBUG"

EPILOG = (
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid config, 4 component or "
    "plugin unavailable, 5 bad checkpoint, 130 interrupted. Set GANZOO_DEBUG=1 for tracebacks."
)


def fail(message: str, code: int) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ganzoo errors into one line and an exit code (tracebacks with GANZOO_DEBUG=1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if env_flag(DEBUG_ENV):
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except GanzooError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}", EXIT_RUNTIME)
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback without GANZOO_DEBUG
            fail(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)",
                 EXIT_RUNTIME)

    return wrapper


# typer raises click's exceptions (vendored in newer typer); find their base class publicly.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrorGroup(TyperGroup):
    """Usage errors (bad option values, unknown options) as one line on stderr, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        except _ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                code = EXIT_USAGE  # the help text is already printed
            else:
                where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
                typer.echo(f"error: {exc.format_message()}{where}", err=True)
                code = exc.exit_code
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            code = EXIT_INTERRUPTED
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


class Context:
    """What every command needs: the plugin manager, created on first use."""

    def __init__(self, manager: PluginManager | Callable[[], PluginManager] | None) -> None:
        self._manager = manager

    @property
    def manager(self) -> PluginManager:
        if self._manager is None:
            self._manager = get_plugin_manager()
        elif not isinstance(self._manager, PluginManager):
            self._manager = self._manager()
        return self._manager

    @property
    def registry(self):
        return self.manager.registry


def create_app(manager: PluginManager | Callable[[], PluginManager] | None = None) -> typer.Typer:
    """Build the CLI around ``manager`` (default: the installed plugins)."""
    from . import catalog, evaluation, training

    app = typer.Typer(
        name="ganzoo",
        help="ganzoo: a plugin-based zoo of generative adversarial networks.\n\n"
             "Example: ganzoo train dcgan --loss bce --dataset mnist --steps 2000",
        epilog=EPILOG,
        no_args_is_help=True,
        cls=OneLineErrorGroup,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    ctx = Context(manager)

    @app.callback(invoke_without_command=True)
    def _root(context: typer.Context,
              version: bool = typer.Option(False, "--version", help="Show the version and exit.")) -> None:
        if version:
            from .. import __version__

            typer.echo(f"ganzoo {__version__}")
            raise typer.Exit()
        if context.invoked_subcommand is None:
            typer.echo(context.get_help())
            raise typer.Exit(EXIT_USAGE)

    catalog.register(app, ctx)
    training.register(app, ctx)
    evaluation.register(app, ctx)
    evaluation.register_bench(app, ctx)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app = create_app()
    app(args=argv if argv is not None else sys.argv[1:], prog_name="ganzoo")
