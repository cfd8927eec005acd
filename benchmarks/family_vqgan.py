"""VQ-GAN (first stage) on MNIST: reconstruction PSNR, classifier-feature FID of the reconstructions,
codebook usage and perplexity on the test split, against the same autoencoder without the GAN (a
VQ-VAE), the paper's point being that the GAN term sharpens reconstructions (FID) at similar PSNR.

Two runs with vqgan's defaults (encoder/decoder of width 16 with one residual block per
resolution and mid attention, 28x28 -> 7x7 codes, 128 codes of dim 16, straight-through
quantiser with commitment 0.25, PatchGAN width 32, hinge, batch 16, the model's Adam 2e-4 with
betas (0.5, 0.9)) and the perceptual term on (``algo.perceptual_weight=1``, taming's LPIPS
weight; off by default only so that a run on data without a trained classifier still starts),
the same step budget each:

- ``vqgan``: the defaults: the GAN term (adaptive weight x 0.8) and the D updates from step 100
  (``disc_start``, the default), so 1,400 of the 1,500 steps are adversarial;
- ``vqvae``: the same with ``algo.disc_start`` beyond the budget: L1 + perceptual + quantiser only.

Then on the first 2,000 MNIST test digits (200 with ``--quick``): PSNR (dB, peak 1 on [0, 1],
per image, averaged; ``ganzoo.metrics.pixels.psnr``); FID between the MNIST classifier's 128-d
features of the reconstructions and of the same real digits (``ganzoo.metrics.scores.fid``);
codebook usage (distinct codes of K used over those digits' 7x7 grids) and perplexity of the
code histogram. The grid shows 16 test digits in rows of 8: inputs | VQ-GAN | VQ-VAE.

Budget, measured alone on the 2-core Xeon (avx512-bf16-intel): a 300-step run took 33 s, so
1,500 + 1,500 steps and the scoring take about 3 minutes. 1,500 steps are 24,000 digits (40% of
an epoch): the absolute PSNR and FID are of an early model; the comparison is at equal budget.

Seen in a 220-step run with g_optim.lr=1e-3 (shared CPU, grids looked at): faithful, sharp test
reconstructions by step 100 and L1 0.11-0.13 at step 220; the commitment loss keeps growing (0.13
at step 20, 1.45 at step 220: the encoder's outputs outrun codes that Adam moves by about lr per
step) and the PatchGAN at the hinge's 2e-4 stays near chance (d_loss ~1.0) over 120 GAN steps, so
the adaptive weight climbs to 10-20 while the GAN term stays small; ``arch.quantizer=ema`` kept the
commitment lower (0.36 vs 0.91 at step 120, L1 0.167 vs 0.153).
"""

from __future__ import annotations

import torch

FAMILY = "vqgan"
BUDGET = "1,500 steps per run (VQ-GAN with the GAN from step 100, VQ-VAE without), batch 16; 2,000 test digits scored"
QUICK_STEPS = 4
STEPS = 1500
TEST_N = 2000
GRID_N = 16
SETS = ["algo.perceptual_weight=1"]
"""What both runs set over the defaults (see the module docstring)."""


def codebook_stats(generator, images: torch.Tensor, batch_size: int = 500) -> dict[str, float]:
    """Codes used (of K) and the perplexity of the code histogram over ``images`` in [-1, 1]."""
    counts = torch.zeros(generator.quantizer.codebook_size)
    generator.eval()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            codes = generator.encode(images[start:start + batch_size])
            counts += torch.bincount(codes.flatten(), minlength=len(counts)).float()
    p = counts / counts.sum()
    nonzero = p[p > 0]
    return {"codes used": int((counts > 0).sum()), "perplexity": round(float(torch.exp(-(nonzero * nonzero.log()).sum())), 2)}


def measure(ctx) -> dict:
    from ganzoo.plugins.build import load_dataset
    from ganzoo.kinds.image import to_model_range
    from ganzoo.metrics.extractors import load_mnist_classifier
    from ganzoo.metrics.pixels import psnr
    from ganzoo.metrics.scores import fid
    from ganzoo.kinds.image import save_grid, stack_rows

    classifier = load_mnist_classifier("cpu", ctx.data_dir)  # first: the perceptual term needs it too
    steps = ctx.steps(STEPS)
    disc_start = QUICK_STEPS // 2 if ctx.quick else 100
    vqgan = ctx.train("vqgan", steps=steps, sets=[*SETS, f"algo.disc_start={disc_start}"], name="vqgan")
    vqvae = ctx.train("vqgan", steps=steps, sets=[*SETS, f"algo.disc_start={10 * steps}"], name="vqvae")

    test = load_dataset(ctx.registry, "mnist", ctx.data_dir, "test")
    n = 200 if ctx.quick else TEST_N
    real = to_model_range(test.fields["image"][:n])
    real_features = classifier.features(real)
    measured, outputs = {}, {}
    for name, run in (("VQ-GAN", vqgan), ("VQ-VAE", vqvae)):
        handle = run.load()
        outputs[name] = handle.translate(real)
        generator = handle.translators["generator"]
        measured[name] = {"PSNR dB": round(float(psnr(outputs[name], real).mean()), 3),
                          "classifier FID": round(fid(real_features, classifier.features(outputs[name]))["fid"], 3),
                          **codebook_stats(generator, real),
                          "K": generator.quantizer.codebook_size}
    k = measured["VQ-GAN"].pop("K")
    measured["VQ-VAE"].pop("K")
    metric = {f"VQ-GAN {key}" + (f" (of {k})" if key == "codes used" else ""): v
              for key, v in measured["VQ-GAN"].items()}
    baseline = {f"VQ-VAE {key}" + (f" (of {k})" if key == "codes used" else ""): v
                for key, v in measured["VQ-VAE"].items()}
    records = [r for r in vqgan.run.metrics() if "adaptive_weight" in r]
    if records:
        metric["final adaptive weight"] = round(records[-1]["adaptive_weight"], 4)

    notes = (f"{n} test digits; both runs: defaults + algo.perceptual_weight=1 (classifier features); "
             f"VQ-GAN: GAN (hinge, adaptive weight x 0.8) from step {disc_start}; VQ-VAE: algo.disc_start="
             f"{10 * steps} (never); FID: MNIST-classifier features of reconstructions vs the same real digits; "
             f"grid rows: input | VQ-GAN | VQ-VAE")
    g = min(GRID_N, n)
    images, per_row = stack_rows(real[:g], outputs["VQ-GAN"][:g], outputs["VQ-VAE"][:g], per_row=8)
    grid = ctx.out / "vqgan-grid.png"
    ctx.out.mkdir(parents=True, exist_ok=True)
    save_grid(images, grid, nrow=per_row)
    return ctx.row(vqgan, metric=metric, baseline=baseline, grid=grid, notes=notes)
