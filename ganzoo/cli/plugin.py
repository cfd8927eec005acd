"""``ganzoo plugin new`` and ``ganzoo plugin check``: write and test third-party plugins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import EXIT_RUNTIME, GanzooError

STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim", "warn": "yellow"}


class ConformanceError(GanzooError):
    """``ganzoo plugin check`` found failures (exit code 1)."""

    exit_code = EXIT_RUNTIME


def register(app: typer.Typer, ctx) -> None:
    from .exits import handle_errors

    group = typer.Typer(
        name="plugin",
        help="Write and check plugins: plugin new NAME, plugin check NAME.\n\n"
             "`ganzoo plugin new NAME` writes a ready ganzoo-NAME package; `ganzoo plugin check NAME` "
             "runs the conformance kit on an installed plugin.",
        no_args_is_help=True,
        add_completion=False,
    )

    @group.command("new")
    @handle_errors
    def new_command(
        name: str = typer.Argument(..., help="plugin name: lowercase letters, digits and hyphens "
                                             "(the package is ganzoo-NAME, the module ganzoo_NAME)"),
        directory: Path = typer.Option(Path("."), "--dir", help="folder in which ganzoo-NAME/ is created"),
    ) -> None:
        """Write a ready plugin package ganzoo-NAME: pyproject.toml with the entry point, one
        example model (networks, options, defaults), a README and tests using the conformance kit.

        Refuses a bad name, the name of an installed plugin or of a model one registers, and an
        existing folder (exit 2). Prints the new folder on stdout.

        Examples: ganzoo plugin new mygan | ganzoo plugin new style-gan --dir ~/src
        """
        from ..scaffold import create_plugin, template_values

        path = create_plugin(name, directory)
        model = template_values(name)["model"]
        typer.echo(f"created {path}; next:\n"
                   f"  pip install -e {path}\n"
                   f"  ganzoo plugin check {name}\n"
                   f"  ganzoo train {model} --dataset mnist --steps 200", err=True)
        typer.echo(str(path))

    @group.command("check")
    @handle_errors
    def check_command(
        names: List[str] = typer.Argument(..., help="installed plugin names (see `ganzoo plugins`)"),
        compile_: bool = typer.Option(False, "--compile", help="also run a torch.compile smoke test of "
                                                                "every model (slow on CPU)"),
        load_data: bool = typer.Option(False, "--load-data", help="also load every dataset the plugin "
                                                                  "registers (offline; skipped when its "
                                                                  "files are missing)"),
        losses: List[str] = typer.Option([], "--loss", "-l", help="train models only with this loss "
                                                                 "(repeatable; default: every compatible loss)"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="with --load-data: the data folder "
                                                "(default: $GANZOO_DATA_DIR, else ~/.cache/ganzoo/data)"),
        as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON on stdout."),
    ) -> None:
        """Run the conformance kit on installed plugins: every component's spec; for models the
        network contracts across image sizes and channels (the generator/discriminator pair, or
        each translator, encoder and generator of a larger set), the conditional contract, a
        safetensors round trip, determinism, bf16 autocast, two training steps with every
        compatible loss, an exact resume and the reloaded model; cheap functional checks of
        losses, metrics, algorithms and loggers.

        Exit 0 when every check passes (warnings allowed), 1 when any fails.

        Examples: ganzoo plugin check mygan | ganzoo plugin check core dcgan --json |
        ganzoo plugin check core --load-data --data-dir ../shared/data
        """
        from ..errors import ConfigError
        from ..testing import check_plugin

        if data_dir is not None and not load_data:
            raise ConfigError("--data-dir only applies with --load-data")
        for loss in losses:  # a misspelt loss is the user's mistake, not a failure of the plugin
            ctx.registry.get("loss", loss)
        reports = [check_plugin(name, manager=ctx.manager, compile=compile_, load_data=load_data,
                                losses=losses or None, data_dir=data_dir) for name in names]
        if as_json:
            typer.echo(json.dumps([r.as_dict() for r in reports], indent=2))
        else:
            _print_reports(reports)
        failed = [(r.plugin, res) for r in reports for res in r.failures]
        if failed:
            shown = "; ".join(f"{res.component}: {res.check}" for _, res in failed[:5])
            more = f" (+{len(failed) - 5} more)" if len(failed) > 5 else ""
            plugins = ", ".join(sorted({p for p, _ in failed}))
            raise ConformanceError(f"{len(failed)} check(s) failed in plugin {plugins}: {shown}{more}")

    app.add_typer(group, name="plugin")


def _print_reports(reports) -> None:
    from rich.table import Table
    from rich.text import Text

    from .exits import plain_console

    console = plain_console()
    for report in reports:
        console.print(Text.assemble((f"plugin {report.plugin}", "bold"), f" ({report.seconds:.1f} s)"),
                      highlight=False)
        table = Table(box=None, show_edge=False, pad_edge=False)
        for column in ("status", "component", "check", "details"):
            table.add_column(column, no_wrap=column != "details")
        for result in report.results:
            table.add_row(Text(result.status.upper(), style=STATUS_STYLE.get(result.status, "")), result.component,
                          result.check, result.message)
        console.print(table, highlight=False)
        counts = report.counts()
        console.print(", ".join(f"{n} {status}" for status, n in counts.items() if n) + "\n", highlight=False)
