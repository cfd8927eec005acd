"""The ``ganzoo`` command line: a thin layer over the Python API.

``create_app(manager)`` builds the typer app around a plugin manager, so tests can
drive the CLI with in-process plugins. Commands that plugins add through the
``ganzoo_commands`` hook are mounted lazily: only ``ganzoo --help`` (to list them) and
a command name that is not built in load the plugins for that; ``--version`` never does.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from typing import Any, Callable

import typer
from typer.core import TyperGroup

from ..errors import (EXIT_CODE_TABLE, EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, ConfigError, GanzooError,
                      one_line)
from ..plugins.manager import PluginManager, get_plugin_manager
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


def _say_error(message: str) -> None:
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
    _say_error(f"{where}{message}")
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
            _say_error(str(exc))
            code = exc.exit_code
        except _ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                code = EXIT_USAGE  # the help text is already printed
            else:
                where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
                _say_error(f"{exc.format_message()}{where}")
                code = exc.exit_code
        except typer.Abort:
            _say_error("aborted")
            code = EXIT_INTERRUPTED
        code = code if isinstance(code, int) else 0
        if code == EXIT_INTERRUPTED and not _exit_explained:
            _say_error("interrupted")  # typer turns a Ctrl-C outside the command into a silent exit 130
        if standalone_mode:
            sys.exit(code)
        return code


class PluginCommandGroup(OneLineErrorGroup):
    """The root group: the built-in commands, then those of plugins (loaded on demand).

    ``plugin_commands`` is set on a subclass made per app by :func:`create_app`: a
    function returning ``{name: click command}``.
    """

    plugin_commands: Callable[[], dict[str, Any]] | None = None

    def _plugin_commands(self) -> dict[str, Any]:
        loader = type(self).plugin_commands
        return loader() if loader is not None else {}

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name not in self.commands:
            command = self._plugin_commands().get(cmd_name)
        return command

    def list_commands(self, ctx):
        names = list(super().list_commands(ctx))
        return names + sorted(n for n in self._plugin_commands() if n not in names)


def plugin_click_command(name: str, obj: Any):
    """A plugin's typer app (or plain function) as a click command called ``name``."""
    if not isinstance(obj, typer.Typer):
        function, obj = obj, typer.Typer(add_completion=False)
        obj.command(name)(function)
    command = typer.main.get_command(obj)
    command.name = name
    return command


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
    from . import catalog, evaluation, export, plugin, report, training

    ctx = Context(manager)
    builtin_names: set[str] = set()
    mounted: dict[str, Any] | None = None

    def load_plugin_commands() -> dict[str, Any]:
        nonlocal mounted
        if mounted is None:
            mounted = {}
            manager = ctx.manager
            for name, (plugin_name, obj) in manager.commands(reserved=builtin_names).items():
                try:
                    mounted[name] = plugin_click_command(name, obj)
                except Exception as exc:  # noqa: BLE001 - a broken command costs only itself
                    manager.report_problem(plugin_name, exc, f"command {name!r} cannot be mounted")
        return mounted

    group = type("GanzooGroup", (PluginCommandGroup,), {"plugin_commands": staticmethod(load_plugin_commands)})
    app = typer.Typer(
        name="ganzoo",
        help="ganzoo: a plugin-based zoo of generative adversarial networks.\n\n"
             "Example: ganzoo train dcgan --loss bce --dataset mnist --steps 2000",
        epilog=EPILOG,
        no_args_is_help=True,
        cls=group,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback(invoke_without_command=True)
    def _root(context: typer.Context,
              version: bool = typer.Option(False, "--version", help="Show the version and exit.")) -> None:
        if version:
            from ..version import __version__

            typer.echo(f"ganzoo {__version__}")
            raise typer.Exit()
        if context.invoked_subcommand is None:
            typer.echo(context.get_help())
            raise typer.Exit(EXIT_USAGE)

    catalog.register(app, ctx)
    training.register(app, ctx)
    evaluation.register(app, ctx)
    evaluation.register_bench(app, ctx)
    plugin.register(app, ctx)
    report.register(app, ctx)
    export.register(app, ctx)
    builtin_names.update(BUILTIN_COMMANDS)
    builtin_names.update(c.name for c in app.registered_commands if c.name)
    builtin_names.update(g.name for g in app.registered_groups if g.name)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (and ``python -m ganzoo``).

    A Ctrl-C at any moment ends with ``error: interrupted`` and exit 130: while the app runs,
    through KeyboardInterrupt; once it has finished (its exit code decided, the interpreter
    shutting down), through a SIGINT handler that says so and exits at once.
    """
    if signal.getsignal(signal.SIGINT) is _interrupted_after_the_command:  # from an earlier main() here
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app = create_app()
        app(args=argv if argv is not None else sys.argv[1:], prog_name="ganzoo")
    except KeyboardInterrupt:  # between the app's own handling and its exit
        _say_error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    finally:
        # only where Ctrl-C raises KeyboardInterrupt: a process started with SIGINT ignored keeps ignoring it
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, _interrupted_after_the_command)


def _interrupted_after_the_command(signum, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    """SIGINT once the command has finished: what it printed is flushed, then ``error: interrupted``
    and exit 130 at once (nothing of the interpreter's shutdown runs: its files are all written)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to show there
            pass
    try:
        sys.stderr.write("error: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_INTERRUPTED)
