"""``ganzoo eval``: metrics of a trained generator, with provenance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer, ctx) -> None:
    from .exits import handle_errors

    @app.command("eval")
    @handle_errors
    def eval_command(
        run: Path = typer.Argument(..., help="a run directory, checkpoint folder or generator.safetensors"),
        metrics: str = typer.Option("fid", "--metrics", "-m", help="comma-separated: fid,kid,pr,dc,modes,is (and those plugins add, "
                                                   "e.g. bleu, self-bleu, oracle-nll; `ganzoo list metrics`)"),
        n: int = typer.Option(10000, "-n", "--num", help="generated samples (and at most this many real ones)"),
        split: str = typer.Option("test", "--split", help="real split to compare against"),
        extractor: Optional[str] = typer.Option(None, "--extractor", help="feature extractor (default: the "
                                                "dataset's, e.g. mnist-classifier)"),
        seed: int = typer.Option(0, "--seed", help="latent seed"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="dataset folder (default: the run's)"),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
        raw: bool = typer.Option(False, "--raw-weights", help="score the raw generator of a run trained with "
                                 "--set ema=... (default: its moving average)"),
        save: bool = typer.Option(True, "--save/--no-save", help="add the result, with its provenance, to the "
                                  "run's evals.jsonl (shown by `ganzoo report`)"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    ) -> None:
        """Evaluate a trained generator: FID/KID/precision-recall/density-coverage/modes/inception score.

        The result is added to the run's evals.jsonl (unless --no-save), where `ganzoo report` finds it.

        Feature-based scores are named KEY[EXTRACTOR], e.g. fid[mnist-classifier]: a
        classifier-feature FID is not the Inception FID of the papers.

        Examples:

          ganzoo eval runs/dcgan-mnist-20261128-120000 --metrics fid,kid,pr,dc,modes -n 10000 --json

          ganzoo eval runs/gan-toy-ring-20261128-120000 --metrics modes -n 2500
        """
        from ..config import DEVICE_PATTERN, MAX_SEED
        from ..errors import ConfigError
        from ..metrics.evaluate import check_sample_counts, evaluate

        names = [m.strip() for m in metrics.split(",") if m.strip()]
        if not names:
            raise ConfigError("--metrics needs at least one metric (see `ganzoo list metrics`)")
        # everything that needs no checkpoint is checked before one is loaded
        if n < 2:
            raise ConfigError(f"-n must be at least 2, got {n}")
        if not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"--seed must be in 0..2**63-1, got {seed}")
        if not DEVICE_PATTERN.match(device):
            raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
        check_sample_counts([ctx.registry.get("metric", name) for name in names], n)
        if extractor is not None:
            ctx.registry.get("extractor", extractor)
        result = evaluate(run, names, n=n, split=split, extractor=extractor, seed=seed,
                          data_dir=data_dir, device=device, registry=ctx.registry, ema=not raw)
        # the scores are shown first: a run that cannot be written to must not cost them
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            for key, value in result["metrics"].items():
                shown = f"{value:.6g}" if isinstance(value, float) else json.dumps(value)
                typer.echo(f"{key:32s} {shown}")
            p = result["provenance"]
            typer.echo(f"({p['n_fake']} generated vs {p['n_real']} real {p['dataset']}/{p['split']}, "
                       f"extractor {p['extractor']} sha256 {str(p['extractor_sha256'])[:12]}, seed {p['seed']}, "
                       f"step {p['step']}, {p['weights']} weights)", err=True)
        if save:
            from ..errors import WriteError
            from ..metrics.evaluate import save_evaluation

            try:
                save_evaluation(result)
            except WriteError as exc:
                raise WriteError(exc.filename, exc, "the scores above were not saved; pass --no-save to skip "
                                                    "saving them") from None


def register_bench(app: typer.Typer, ctx) -> None:

    from .exits import handle_errors

    @app.command("bench")
    @handle_errors
    def bench_command(
        models: List[str] = typer.Argument(None, help="models to time (default: dcgan; --all: every one)"),
        loss: Optional[str] = typer.Option(None, "--loss", "-l", help="loss (default: each model's)"),
        dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="dataset shape to use (default: mnist)"),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="batch size (default: the model's)"),
        image_size: Optional[int] = typer.Option(None, "--image-size", help="image size"),
        precision: str = typer.Option("fp32", "--precision", help="fp32, bf16, fp16 or auto (bf16 where native and faster)"),
        compile_: bool = typer.Option(False, "--compile", help="torch.compile G and D"),
        all_models: bool = typer.Option(False, "--all", help="every registered model, each on its default "
                                        "dataset shape; a model that fails gets an error row"),
        steps: int = typer.Option(20, "--steps", help="timed steps (after the warm-up)"),
        warmup: int = typer.Option(3, "--warmup", help="untimed warm-up steps"),
        sets: List[str] = typer.Option([], "--set", help="any config key, e.g. --set arch.ngf=32"),
        nproc: Optional[int] = typer.Option(None, "--nproc", help="also time N processes (DDP through "
                                            "torchrun) and report the scaling efficiency against 1"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    ) -> None:
        """Time training steps on synthetic data: images/s, ms/step, memory, FLOPs, peak fraction.

        Examples:

          ganzoo bench dcgan --image-size 64 --batch-size 64 --device cpu

          ganzoo bench dcgan sngan --precision bf16 --json

          ganzoo bench --all --precision auto --device cpu

          ganzoo bench dcgan --nproc 2 --device cpu
        """
        from rich.table import Table

        from ..errors import ConfigError
        from ..training.bench import bench
        from .exits import plain_console

        if steps < 1 or warmup < 0:
            raise ConfigError("--steps must be at least 1 and --warmup at least 0")
        if nproc is not None and "WORLD_SIZE" not in os.environ:
            import sys

            from ..training.bench import scaling
            from ..training.distributed import strip_option

            if nproc < 2:
                raise ConfigError("--nproc must be at least 2 (it compares N processes with 1)")
            argv = sys.argv[1:]
            if "bench" not in argv:
                raise ConfigError("--nproc needs the ganzoo command line")
            argv = [a for a in strip_option(argv[argv.index("bench") + 1:], "--nproc") if a != "--json"]
            report = scaling(argv, nproc)
            if as_json:
                typer.echo(json.dumps(report, indent=2))
                return
            table = Table(box=None)
            for column in ("model", "processes", "threads each", "img/s on 1", f"img/s on {nproc}",
                           "speedup", "efficiency"):
                table.add_column(column)
            for r in report["results"]:
                table.add_row(r["model"].split(":")[-1], str(nproc), str(r["threads_per_process"]),
                              f"{r['images_per_sec_1']:.1f}", f"{r[f'images_per_sec_{nproc}']:.1f}",
                              f"{r['speedup']:.2f}x", f"{100 * r['efficiency']:.0f}%")
            plain_console().print(table)
            return
        from ..errors import GanzooError

        if all_models and models:
            raise ConfigError("give model names or --all, not both")
        names = ([entry.name for entry in ctx.registry.list("model")] if all_models else models or ["dcgan"])
        rows, failed = [], []
        progress = plain_console(stderr=True)
        for i, name in enumerate(names):
            if len(names) > 1 and not as_json:
                progress.print(f"[{i + 1}/{len(names)}] {name}", highlight=False)
            try:
                rows.append(bench(ctx.registry, name, loss=loss, dataset=dataset, device=device,
                                  batch_size=batch_size, image_size=image_size, precision=precision,
                                  compile=compile_, steps=steps, warmup=warmup, sets=sets))
            except GanzooError as exc:
                if len(names) == 1:
                    raise
                rows.append({"model": name, "error": str(exc)})
                failed.append(name)
        if os.environ.get("RANK", "0") != "0":  # under torchrun: rank 0 reports for the job
            return
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            _bench_table(rows)
        if failed:
            from .exits import fail

            fail(f"{len(failed)} of {len(names)} models could not be benchmarked: {', '.join(failed)}", 1)


def _bench_table(rows: list[dict]) -> None:
    from rich.table import Table

    from .exits import plain_console

    table = Table(box=None)
    for column in ("model", "loss", "shape", "batch", "precision", "img/s", "ms/step (p10-p90)",
                   "memory MB", "GFLOP/step", "% of matmul peak"):
        table.add_column(column)
    for r in rows:
        if "error" in r:
            continue
        ms = r["ms_per_step"]
        table.add_row(r["model"].split(":")[-1], r["loss"].split(":")[-1],
                      "x".join(map(str, r["sample_shape"])), str(r["batch_size"]), r["precision"],
                      f"{r['images_per_sec']:.1f}", f"{ms['median']:.0f} ({ms['p10']:.0f}-{ms['p90']:.0f})",
                      f"{r['peak_memory_mb']:.0f}", f"{r['flops_per_step'] / 1e9:.2f}",
                      f"{100 * r['peak_fraction']:.0f}%")
    console = plain_console()
    console.print(table)
    for r in rows:
        if "error" in r:
            console.print(f"{r['model']}: not benchmarked: {r['error']}", highlight=False, soft_wrap=True)
