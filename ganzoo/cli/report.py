"""``ganzoo report``: a run as one self-contained HTML page, and its model card."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, ctx) -> None:
    from .exits import handle_errors

    @app.command("report")
    @handle_errors
    def report_command(
        run: Path = typer.Argument(..., help="a run directory (what `ganzoo train` wrote under runs/)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="the HTML file to write "
                                           "(default: RUN/report.html)"),
    ) -> None:
        """Write a run's report: one HTML file with everything inlined (config, components and versions,
        curves, samples over time, the latest evaluation with its provenance, events, speed), plus
        RUN/MODEL_CARD.md (Hugging Face model-card front matter) and a fresh RUN/curves.png.

        Open the HTML in any browser; it needs no network and no ganzoo.

        Examples:

          ganzoo report runs/dcgan-mnist-20261205-120000

          ganzoo report runs/wavegan-fsdd-20261205-120000 --out wavegan.html

          ganzoo eval runs/dcgan-mnist-20261205-120000 && ganzoo report runs/dcgan-mnist-20261205-120000
        """
        from ..outputs.report import write_report

        paths = write_report(run, out, registry=ctx.registry)
        typer.echo(f"report: {paths.html}")
        typer.echo(f"model card: {paths.card}")
