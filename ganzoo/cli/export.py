"""``ganzoo export``: a trained network as a standalone ONNX or TorchScript file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, ctx) -> None:
    from .exits import handle_errors

    @app.command("export")
    @handle_errors
    def export_command(
        run: Path = typer.Argument(..., help="a run directory, checkpoint folder or a .safetensors file in it"),
        fmt: str = typer.Option("onnx", "--format", "-f", help="onnx (.onnx, runs with onnxruntime) or "
                                "torchscript (.pt, runs with torch.jit.load)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="file to write (default: "
                                           "RUN/export/NET.onnx or .pt)"),
        net: Optional[str] = typer.Option(None, "--net", help="which network (default: the one `ganzoo sample` "
                                          "uses): e.g. g_ba for CycleGAN's B -> A, encoder for BiGAN's "
                                          "encoder, generator.codes / generator.decode for VQ-GAN's halves"),
        raw: bool = typer.Option(False, "--raw-weights", "--raw", help="export the raw networks of a run "
                                 "trained with --set ema=... (default: their moving average)"),
        opset: int = typer.Option(17, "--opset", help="ONNX opset (14..20)"),
        check: bool = typer.Option(True, "--check/--no-check", help="run the file on a fresh batch (ONNX: with "
                                   "onnxruntime, if installed) and refuse it unless it matches PyTorch"),
    ) -> None:
        """Export a trained model's generator (or translator, encoder, decoder) as one file
        that runs without ganzoo: ONNX for onnxruntime, or TorchScript for torch.

        The file's inputs and outputs are named (z, labels, image, domain, mask, codes ...),
        its batch size is free, and a JSON description travels inside it (ONNX metadata
        "ganzoo"; TorchScript extra file ganzoo.json): shapes, dtypes, ranges, latent prior,
        classes, sample rate or vocabulary, source checkpoint and step. Its outputs equal
        `ganzoo sample`'s for the same latents (moving-average weights unless --raw-weights).

        Examples:

          ganzoo export runs/dcgan-mnist-20261128-120000 --out dcgan.onnx

          ganzoo export runs/cgan-mnist-20261128-120000 --format torchscript --out cgan.pt

          ganzoo export runs/cyclegan-mnist-inverted-20261201-120000 --net g_ba --out b_to_a.onnx

          ganzoo export runs/bigan-mnist-20261203-120000 --net encoder --out encoder.onnx

          ganzoo export runs/vqgan-mnist-20261204-120000 --net generator.decode --out decoder.onnx
        """
        from ..errors import ConfigError
        from ..outputs.export import FORMATS, check_out, export, exportable, usage
        from ..outputs.sampling import load

        if fmt not in FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}: use {' or '.join(FORMATS)}")
        if out is not None:
            check_out(fmt, out)  # before the checkpoint is loaded
        handle = load(run, device="cpu", registry=ctx.registry, ema=not raw)
        if out is None:
            entries = exportable(handle)
            name = net if net is not None else next(iter(entries), "model")
            folder = Path(handle.checkpoint)
            folder = folder.parent.parent if folder.parent.name == "checkpoints" else folder
            out = folder / "export" / f"{name.replace('.', '-')}{FORMATS[fmt]}"
        made = not out.parent.exists()
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = export(run, fmt, out, net=net, opset=opset, check=check, registry=ctx.registry, handle=handle)
        except BaseException:
            if made and not any(out.parent.iterdir()):
                out.parent.rmdir()  # a failed export leaves nothing, not even its folder
            raise
        meta = result.metadata
        if result.checked_with:
            detail = (f"max abs difference {result.max_abs_diff:.2g}" if result.max_abs_diff is not None
                      else f"{result.mismatched:.1%} of ids differ")
            checked = f"checked with {result.checked_with}: {detail}"
        elif check:
            checked = "not checked: onnxruntime is not installed (pip install onnxruntime)"
        else:
            checked = "not checked (--no-check)"
        typer.echo(f"wrote {meta['model']} {meta['net']} ({meta['task']}, step {meta['step']}, {meta['weights']} "
                   f"weights) to {result.path}; {checked}", err=True)
        for line in usage(result):
            typer.echo(f"  {line}", err=True)
        typer.echo(str(result.path))
