"""Progressive GAN on MNIST at 32 px: classifier-feature FID at the end of each resolution's
stage (4, 8, 16, 32 px) against a DCGAN trained for the same number of steps.

Runs (both with their model defaults):

- ``progan``: 2,800 steps = 7 phases of 400 (``algo.stage_steps`` null splits ``--steps``):
  4x4 | fade 8 | 8 | fade 16 | 16 | fade 32 | 32; batch 16 (the paper's), WGAN-GP (gp 10) +
  drift 0.001, one critic update per step (``n_critic=1``, the paper's and the model's default), widths
  64-64-32-16 at 4-8-16-32 px, latent 128, the paper's Adam (lr 1e-3, betas (0, 0.99), the model's default with
  its own loss). ``--eval-every 100`` scores the generator after every phase
  (the rows "end of 4x4 ... 32x32" are the ends of the stable phases, steps 400, 1200, 2000, 2800).
- ``dcgan``: the same 2,800 steps of ``ganzoo train dcgan`` at progan's batch of 16 (so both see
  the same 44,800 images; otherwise its defaults: bce, Adam 2e-4 (0.5, 0.999)) at its native 28 px. dcgan can make 32 px images too, but its 32 px networks cost 2.5x the FLOPs
  (52 vs 21 GFLOP per step), over this budget; the FID extractor sees 28 px either way.

FID: ganzoo's evaluator (``--eval-every``: ``ganzoo.metrics.evaluate.Evaluator``, the same as
``ganzoo eval``), 2,000 generated samples against the first 2,000 MNIST test digits, on the
MNIST classifier's features (``fid[mnist-classifier]``; samples are resized to the classifier's
28 px; progan's real digits are resized to 32 px and back, as its samples). Not the Inception
FID of papers: lower is better, numbers comparable only within this table.

Grid: one row per resolution: the first 8 of ``samples/res-<R>.png``, the same latents at the
end of each stage (4, 8, 16, 32 px, each nearest-upsampled to 32 px).

What to expect: this budget is far below the paper's (800k images per phase, 50k steps at batch
16; here 400 steps per phase). With the equalised learning rate Adam moves each N(0, 1) weight by
about lr = 1e-3 per step, so a stage needs hundreds of steps to fit: a 4x4-only run (checked by
hand on a loaded machine) still made noise at step 100 and MNIST-like 4x4 blobs (dark border,
grey centre) by step ~600; the 32 px samples of a 250-step growth run were blobs, not digits.
The per-resolution curve, not only the last number, is what this row shows.

Budget, measured alone on the 2-core Xeon (avx512-bf16-intel): 700 steps (100 per phase) took
67 s with its 7 evaluations, so 2,800 steps are about 4.5 minutes; dcgan at batch 16 about a
minute.
"""

from __future__ import annotations

from pathlib import Path

FAMILY = "progan"
STEPS = 2800
PHASES = 7  # 4 resolutions: 4x4, then fade + stable for 8, 16, 32
BUDGET = (f"{STEPS} steps each: progan 7 phases of {STEPS // PHASES} (4 -> 32 px), batch 16; dcgan the same steps at batch 16; "
          "FID on 2,000 samples")
QUICK_STEPS = 7
EVAL_N = 2000
FID_KEY = "fid[mnist-classifier]"


def eval_records(run) -> dict[int, dict]:
    return {r["step"]: r["eval"] for r in run.run.metrics() if "eval" in r}


def resolution_rows(run_dir: Path, out: Path, per_row: int = 8) -> Path | None:
    """The first row of each ``samples/res-<R>.png`` stacked, lowest resolution first."""
    from PIL import Image

    files = sorted((run_dir / "samples").glob("res-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    if not files:
        return None
    rows = []
    for file in files:
        image = Image.open(file).convert("RGB")
        cell = (image.width - 2) // min(per_row, 8)  # 8 per row in a 64-image grid
        rows.append(image.crop((0, 0, image.width, cell + 2)))
    grid = Image.new("RGB", (rows[0].width, sum(r.height for r in rows) + 2))
    top = 0
    for row in rows:
        grid.paste(row, (0, top))
        top += row.height
    path = out / "progan-grid.png"
    out.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def measure(ctx) -> dict:
    from ganzoo.metrics.extractors import load_mnist_classifier

    load_mnist_classifier("cpu", ctx.data_dir)  # trained once and cached before the runs time anything
    steps = ctx.steps(STEPS)
    phase = max(1, steps // PHASES)
    n = 200 if ctx.quick else EVAL_N
    progan = ctx.train("progan", steps=steps, name="progan", eval_every=phase, eval_samples=n,
                       sample_grid=64)
    dcgan = ctx.train("dcgan", steps=steps, name="dcgan", eval_every=steps, eval_samples=n, batch_size=16)

    evals = eval_records(progan)
    metric = {}
    for stage, resolution in enumerate((4, 8, 16, 32)):
        end = phase * (2 * stage + 1)  # the end of this resolution's stable phase
        if end in evals:
            metric[f"FID end of {resolution}x{resolution} (step {end})"] = round(evals[end][FID_KEY], 2)
    faded = {s: e for s, e in evals.items() if (s // phase) % 2 == 0 and s // phase < PHASES}
    if faded:  # the ends of the fade phases, for the curve
        metric["FID at fade ends (steps " + ", ".join(map(str, sorted(faded))) + ")"] = ", ".join(
            f"{faded[s][FID_KEY]:.1f}" for s in sorted(faded))
    dcgan_evals = eval_records(dcgan)
    baseline = {f"DCGAN FID (step {steps}, batch 16, 28 px)": round(dcgan_evals[steps][FID_KEY], 2)} if steps in dcgan_evals \
        else {}
    grid = resolution_rows(progan.path, ctx.out / "grid")
    notes = (f"FID: ganzoo's evaluator (--eval-every), {n} samples vs the first {n} MNIST test digits, "
             f"MNIST-classifier features (lower is better; not Inception FID). progan: defaults (the paper's "
             f"Adam, lr 1e-3, betas (0, 0.99)); {PHASES} phases of {phase} steps, batch 16, n_critic 1. dcgan: defaults but progan's batch "
             f"of 16 (the same images seen), 28 px. Grid: one row per resolution (end of its stage), the same "
             f"8 latents, upsampled to 32 px. {phase} steps per phase is far below the paper's ~50k (800k images): "
             f"read the per-resolution curve, not the last number.")
    return ctx.row(progan, metric=metric, baseline=baseline, grid=grid, notes=notes,
                   dcgan_wall_s=round(dcgan.wall_s, 1))
