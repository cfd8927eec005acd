"""``ganzoo eval``: metrics of a trained generator, with provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, ctx) -> None:
    from . import handle_errors

    @app.command("eval")
    @handle_errors
    def eval_command(
        run: Path = typer.Argument(..., help="a run directory, checkpoint folder or generator.safetensors"),
        metrics: str = typer.Option("fid", "--metrics", "-m", help="comma-separated: fid,kid,pr,dc,modes"),
        n: int = typer.Option(10000, "-n", "--num", help="generated samples (and at most this many real ones)"),
        split: str = typer.Option("test", "--split", help="real split to compare against"),
        extractor: Optional[str] = typer.Option(None, "--extractor", help="feature extractor (default: the "
                                                "dataset's, e.g. mnist-classifier)"),
        seed: int = typer.Option(0, "--seed", help="latent seed"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="dataset folder (default: the run's)"),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    ) -> None:
        """Evaluate a trained generator: FID/KID/precision-recall/density-coverage/modes.

        Feature-based scores are named KEY[EXTRACTOR], e.g. fid[mnist-classifier]: a
        classifier-feature FID is not the Inception FID of the papers.

        Examples:

          ganzoo eval runs/dcgan-mnist-20261128-120000 --metrics fid,kid,pr,dc,modes -n 10000 --json

          ganzoo eval runs/gan-toy-ring-20261128-120000 --metrics modes -n 2500
        """
        from ..errors import ConfigError
        from ..metrics.evaluate import evaluate

        names = [m.strip() for m in metrics.split(",") if m.strip()]
        if not names:
            raise ConfigError("--metrics needs at least one metric (see `ganzoo list metrics`)")
        result = evaluate(run, names, n=n, split=split, extractor=extractor, seed=seed,
                          data_dir=data_dir, device=device, registry=ctx.registry)
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        for key, value in result["metrics"].items():
            shown = f"{value:.6g}" if isinstance(value, float) else json.dumps(value)
            typer.echo(f"{key:32s} {shown}")
        p = result["provenance"]
        typer.echo(f"({p['n_fake']} generated vs {p['n_real']} real {p['dataset']}/{p['split']}, "
                   f"extractor {p['extractor']} sha256 {str(p['extractor_sha256'])[:12]}, seed {p['seed']}, "
                   f"step {p['step']})", err=True)
