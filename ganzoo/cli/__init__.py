"""The ``ganzoo`` command line: a thin layer over the Python API.

``create_app(manager)`` builds the typer app around a plugin manager, so tests can
drive the CLI with in-process plugins. Commands that plugins add through the
``ganzoo_commands`` hook are mounted lazily: only ``ganzoo --help`` (to list them) and
a command name that is not built in load the plugins for that; ``--version`` never does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Callable

import typer

from ..errors import EXIT_INTERRUPTED, EXIT_USAGE
from ..plugins.manager import PluginManager, get_plugin_manager
from .exits import (
    BUILTIN_COMMANDS,
    DEBUG_ENV,
    EPILOG,
    OneLineErrorGroup,
    fail,
    handle_errors,
    plain_console,
    say_error,
)

__all__ = ["BUILTIN_COMMANDS", "DEBUG_ENV", "create_app", "fail", "handle_errors", "main", "plain_console"]


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
        say_error("interrupted")
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
