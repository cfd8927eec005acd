"""``ganzoo train`` and ``ganzoo sample``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer, ctx) -> None:
    from .exits import handle_errors, plain_console

    @app.command("train")
    @handle_errors
    def train_command(
        model: Optional[str] = typer.Argument(None, help="model name (see `ganzoo list models`); "
                                              "optional with --resume"),
        loss: Optional[str] = typer.Option(None, "--loss", "-l", help="loss name (default: the model's)"),
        dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="dataset name (default: mnist)"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="JSON or TOML config file"),
        sets: List[str] = typer.Option([], "--set", help="override any config key: --set arch.ngf=32 "
                                                         "(repeatable; applied last)"),
        steps: Optional[int] = typer.Option(None, "--steps", help="generator updates to train for"),
        epochs: Optional[float] = typer.Option(None, "--epochs", help="passes over the data (instead of --steps)"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="images per batch"),
        lr: Optional[float] = typer.Option(None, "--lr", help="learning rate of every optimizer (g_optim, "
                                           "d_optim, and any other group the model has)"),
        image_size: Optional[int] = typer.Option(None, "--image-size", help="resize images to this size"),
        device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps"),
        seed: Optional[int] = typer.Option(None, "--seed", help="random seed (weights, latents, data order)"),
        precision: Optional[str] = typer.Option(None, "--precision", help="fp32 (default), bf16, fp16, or auto "
                                                "(bf16 where the CPU or GPU computes it natively and faster; says which)"),
        compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile G and D"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="dataset folder "
                                                "(default: $GANZOO_DATA_DIR, else ~/.cache/ganzoo/data)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for run directories (default: runs)"),
        run_name: Optional[str] = typer.Option(None, "--run-name", help="run directory name"),
        eval_every: Optional[int] = typer.Option(None, "--eval-every", help="evaluate every N steps "
                                                 "(metrics.jsonl, checkpoints/best)"),
        eval_metrics: Optional[str] = typer.Option(None, "--eval-metrics", help="comma-separated metrics "
                                                   "(default: fid for images, modes for points); the "
                                                   "first ranks the best checkpoint"),
        logger: Optional[str] = typer.Option(None, "--logger", help="where metrics and sample grids also go: "
                                             "none (default), tensorboard (RUN/tensorboard; needs "
                                             "ganzoo[tensorboard]), csv (RUN/metrics.csv), mlflow (./mlruns or "
                                             "$MLFLOW_TRACKING_URI; needs ganzoo[mlflow]) or a plugin's "
                                             "(`ganzoo list loggers`)"),
        resume: Optional[str] = typer.Option(None, "--resume", help="continue a run exactly where it "
                                             "stopped: latest (the newest run in --out, or --run-name's), "
                                             "a run directory or a checkpoint folder"),
        force: bool = typer.Option(False, "--force", help="with --resume: resume even if model, loss, data "
                                   "or training settings differ from the checkpoint's"),
        nproc: Optional[int] = typer.Option(None, "--nproc", help="train on N local processes with DDP, "
                                            "started by torch's launcher (torchrun); --batch-size is the "
                                            "global batch"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
    ) -> None:
        """Train a model; writes config.json, metrics.jsonl, sample grids and checkpoints.

        Examples:

          ganzoo train dcgan --loss bce --dataset mnist --data-dir ../shared/data --steps 2000

          ganzoo train dcgan --image-size 64 --batch-size 64 --set arch.ngf=32 --run-name small

          ganzoo train dcgan --dataset mnist --eval-every 1000 --eval-metrics fid,modes

          ganzoo train --resume latest --steps 4000

          ganzoo train dcgan --nproc 2 --batch-size 128    (same as: torchrun --nproc-per-node 2 -m ganzoo train ...)
        """
        from ..config import resolve_config
        from ..errors import ConfigError
        from ..training.progress import make_reporter
        from ..training.run import resume as resume_run
        from ..training.run import train

        flags = {"steps": steps, "epochs": epochs, "batch_size": batch_size, "image_size": image_size,
                 "device": device, "seed": seed, "run_name": run_name,
                 "data_dir": str(data_dir) if data_dir else None, "out": str(out) if out else None,
                 "eval_every": eval_every, "logger": logger, "precision": precision, "compile": compile_,
                 "eval_metrics": [m.strip() for m in eval_metrics.split(",") if m.strip()]
                 if eval_metrics else None}
        if lr is not None:
            flags["lr"] = lr
        if nproc is not None:
            import os
            import sys

            from ..training.distributed import launch, strip_option

            if nproc < 1:
                raise ConfigError("--nproc must be at least 1")
            if "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start the workers
                if "train" not in sys.argv[1:]:
                    raise ConfigError("--nproc needs the ganzoo command line; use torchrun -m ganzoo train ...")
                code = launch(nproc, strip_option(sys.argv[1:], "--nproc"))
                if code:  # the failing rank printed its one-line error; exit as it did
                    raise typer.Exit(code)
                return
        reporter = make_reporter(enabled=not quiet, console=plain_console(stderr=True))
        if resume is not None:
            run = resume_run(ctx.registry, resume, model=model, force=force, reporter=reporter, loss=loss,
                             dataset=dataset, config_file=config, flags=flags, sets=sets)
        else:
            if model is None:
                raise ConfigError("name a model to train (see `ganzoo list models`), or pass --resume")
            if force:
                raise ConfigError("--force only applies with --resume")
            cfg = resolve_config(ctx.registry, model, loss=loss, dataset=dataset, config_file=config,
                                 flags=flags, sets=sets)
            run = train(cfg, ctx.registry, reporter)
        from ..training.distributed import from_environment

        if from_environment().is_main:  # under torchrun, one line for the whole job
            typer.echo(f"trained {run.step} steps; run directory: {run.path}", err=True)
            typer.echo(str(run.path))

    @app.command("sample")
    @handle_errors
    def sample_command(
        context: typer.Context,
        run: Path = typer.Argument(..., help="a run directory, checkpoint folder or a .safetensors file in it"),
        n: int = typer.Option(64, "-n", "--num", help="number of images"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="file to write (default grid.png for images, "
                                           "samples.png for points; audio: samples.png + samples-NNN.wav; "
                                           "video: samples.gif + samples.png; text: printed)"),
        seed: int = typer.Option(0, "--seed", help="latent seed (same seed, same images)"),
        label: Optional[int] = typer.Option(None, "--label", help="class label (conditional models)"),
        nrow: Optional[int] = typer.Option(None, "--nrow", help="images per row (default: square grid)"),
        interpolate: Optional[int] = typer.Option(None, "--interpolate", help="latent walks of this many "
                                                  "steps per row (n // steps rows)"),
        fmt: str = typer.Option("png", "--format", help="png (a grid) or npz (raw samples for outside tools)"),
        input_: Optional[Path] = typer.Option(None, "--input", "-i", help="image-to-image and encoder models: "
                                              "a folder of images or an .npz ('images', uint8) to translate "
                                              "or reconstruct (default: the run's test split)"),
        net: Optional[str] = typer.Option(None, "--net", help="which exported generator, translator or encoder, "
                                          "for models with several (default: the first; e.g. g_ba for "
                                          "CycleGAN's B -> A)"),
        domain: Optional[int] = typer.Option(None, "--domain", help="multi-domain models (StarGAN): translate "
                                             "to domain K only (default: one row per domain)"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="where the run's dataset is, for "
                                                "translating its test split (default: the run's)"),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N"),
        raw: bool = typer.Option(False, "--raw-weights", help="use the raw networks of a run trained with "
                                 "--set ema=... (default: their moving average)"),
        preview: bool = typer.Option(False, "--preview", help="write the picture the run's training previews "
                                     "show (an algorithm's own, e.g. CycleGAN's A -> B -> A rows), of this "
                                     "checkpoint; needs the run's dataset"),
    ) -> None:
        """Write what a trained model makes: samples from a generator, translations from an
        image-to-image model, reconstructions G(E(x)) from an encoder model; or, with
        --preview, what the run's training previews show.

        Conditional models give one row per class, or only class K with --label K; models of
        2-D points give a scatter plot. Image-to-image models translate the first -n images
        of their dataset's test split, or your own with --input, into rows of input | output
        (| target); encoder models (BiGAN) reconstruct --input images. Audio models write one
        WAV per sample and a PNG of their spectrograms; video models an animated GIF of the
        clips and a PNG with one row of frames per clip; text models print sentences (or
        write them with --out FILE.txt).

        Examples:

          ganzoo sample runs/wavegan-fsdd-20261205-120000 -n 8 --out digits.png      # digits.png + digits-000.wav ...

          ganzoo sample runs/vgan-moving-mnist-32-20261205-120000 -n 16 --out clips.gif   # clips.gif + clips.png

          ganzoo sample runs/relgan-oracle-20261205-120000 -n 20 --out sentences.txt

          ganzoo sample runs/dcgan-mnist-20261128-120000 -n 64 --out grid.png

          ganzoo sample runs/cgan-mnist-20261128-120000 -n 16 --label 3 --out threes.png

          ganzoo sample runs/dcgan-mnist-20261128-120000 --interpolate 8 --out walk.png

          ganzoo sample runs/dcgan-mnist-20261128-120000 -n 10000 --format npz --out samples.npz

          ganzoo sample runs/pix2pix-mnist-edges-20261201-120000 -n 32 --out translated.png

          ganzoo sample runs/cyclegan-mnist-inverted-20261201-120000 --input my_digits/ --net g_ab --out mine.png

          ganzoo sample runs/stargan-mnist-domains-20261202-120000 --input my_digits/ --domain 1 --out inverted.png

          ganzoo sample runs/cyclegan-mnist-inverted-20261201-120000 --preview --out cycles.png
        """
        from ..config import MAX_SEED
        from ..errors import ConfigError
        from ..kinds import all_kinds, kind_of
        from ..outputs.sampling import dataset_examples, load, read_images, save_images

        if n < 1 or (nrow is not None and nrow < 1):
            raise ConfigError("-n and --nrow must be at least 1")
        if not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"--seed must be in 0..2**63-1, got {seed}")
        if fmt not in ("png", "npz"):
            raise ConfigError(f"--format must be png or npz, got {fmt!r}")
        given_out = out
        if out is None:
            out = Path("samples.npz") if fmt == "npz" else Path("grid.png")
        if fmt == "npz" and out.suffix.lower() != ".npz":
            raise ConfigError(f"--out must name a .npz file, got {out}")
        suffixes = sorted({suffix for kind in all_kinds() if kind.generated for suffix in kind.sample_suffixes})
        if fmt == "png" and out.suffix.lower() not in suffixes:
            raise ConfigError(f"--out must name a {', '.join(suffixes)} file (what the model makes decides which), "
                              f"got {out}")
        try:
            folder_ok, out_is_folder = out.parent.is_dir(), out.is_dir()
        except OSError as exc:  # a name too long, a loop of links...
            raise ConfigError(f"cannot use folder {out.parent}: {exc.strerror or exc}") from None
        if not folder_ok:
            raise ConfigError(f"folder {out.parent} does not exist")
        if out_is_folder:
            raise ConfigError(f"--out {out} is a folder; name the file to write")
        if interpolate is not None and fmt != "png":
            raise ConfigError("--interpolate writes a PNG grid; drop --format npz")
        if input_ is not None and not input_.exists():
            raise ConfigError(f"--input {input_} does not exist")
        if preview:
            sampling_options = {"n": "-n", "seed": "--seed", "label": "--label", "nrow": "--nrow",
                                "interpolate": "--interpolate", "fmt": "--format", "input_": "--input",
                                "net": "--net", "domain": "--domain"}
            given = [flag for name, flag in sampling_options.items()
                     if getattr(context.get_parameter_source(name), "name", None) == "COMMANDLINE"]
            if given:
                raise ConfigError(f"--preview writes the run's own preview (its fixed latents and examples); "
                                  f"drop {', '.join(given)}")
            from ..training.replay import write_preview

            written, step, note = write_preview(run, given_out or Path("preview.png"), ctx.registry,
                                                data_dir=data_dir, device=device, ema=not raw)
            if note:
                typer.echo(f"note: {note}", err=True)
            typer.echo(f"wrote the training preview of step {step}: {', '.join(str(p) for p in written)}")
            return
        handle = load(run, device=device, registry=ctx.registry, ema=not raw)
        if net is not None:
            handle = handle.with_net(net)  # its generator, translator or encoder comes first
        if domain is not None and not any(t.num_domains for t in handle.translators.values()):
            raise ConfigError("--domain applies to multi-domain translators (StarGAN); this model has none")
        if handle.can_translate or (input_ is not None):
            if interpolate is not None or label is not None:
                raise ConfigError("--interpolate and --label apply to generators; this model "
                                  + ("translates images" if handle.can_translate else "gets --input images"))
            size = None
            if handle.can_translate:
                size = handle._translator(net)[1].in_shape[-1]
            elif handle.can_encode:
                size = handle.encoder.in_shape[-1]
            targets = None
            if input_ is not None:
                inputs = read_images(input_, size=size)[:n]
            else:
                inputs, targets = dataset_examples(handle, n, ctx.registry, data_dir=data_dir, net=net)
            what, out = save_images(handle, out, inputs, targets, net=net, domain=domain), [out]
        elif fmt == "npz":
            handle.save_npz(out, n=n, seed=seed, labels=label)
            what, out = f"{n} raw samples", [out]
        else:
            kind = kind_of(handle.kind)
            target = given_out or (Path(kind.sample_file) if kind.sample_file else None)
            if interpolate is not None:
                if label is not None:
                    raise ConfigError("--interpolate keeps one class per row; drop --label")
                samples = handle.interpolate(steps=interpolate, rows=max(1, n // max(interpolate, 1)), seed=seed)
                what, nrow = f"{len(samples) // interpolate} latent walks of {interpolate} steps", interpolate
            else:
                samples, what = None, f"{n} {kind.noun}"
            if target is None:  # samples that are read: printed
                lines = (kind.as_text(samples, handle.field) if samples is not None
                         else handle.as_text(n, seed=seed, labels=label))
                for line in lines:
                    typer.echo(line)
                typer.echo(f"sampled {what} (step {handle.step})", err=True)
                return
            if samples is None:
                out = handle.save_samples(target, n=n, seed=seed, labels=label, nrow=nrow)
            elif target.suffix.lower() not in kind.sample_suffixes:
                raise ConfigError(f"{handle.kind} samples are written to a {' or '.join(kind.sample_suffixes)} "
                                  f"file, not {target.name!r}")
            else:
                out = kind.write_samples(samples, target.with_suffix(""), handle.field, nrow=nrow)
        shown = ", ".join(str(p) for p in out[:3]) + (f" and {len(out) - 3} more" if len(out) > 3 else "")
        typer.echo(f"wrote {what} (step {handle.step}) to {shown}", err=True)
