"""SRGAN on mnist-sr (7x7 -> 28x28, 4x): PSNR and SSIM of super-resolved MNIST test digits
against bicubic upsampling and against SRResNet, the paper's own comparison.

Two runs with srgan's defaults (SRResNet G with 8 residual blocks of 64 channels, the
VGG-style D scaled to 28 px, ``bce``, batch 16, content = pixel MSE, adversarial weight
1e-3) on the mnist-sr training split, the same step budget each:

- ``srgan``: the defaults (the paper's SRGAN-MSE: MSE + 1e-3 GAN; the classifier-feature
  loss is off by default so a run needs no classifier);
- ``srresnet``: the same generator on the MSE alone (``algo.adv_weight=0``: D is not run).

Then on the first 2,000 test pairs (200 with ``--quick``): PSNR (dB, peak 1 on [0, 1],
per image, averaged) and SSIM (7x7 Gaussian window, ``ganzoo.metrics.pixels``) of each
run's G(LR), and of bicubic upsampling of the LR input (``F.interpolate(..., "bicubic")``,
clamped). If ganzoo's MNIST classifier is already cached, its accuracy on each is an extra
(it is not trained here: that would cost a minute of the budget). The grid shows 16 test
digits in blocks of five rows: LR input (nearest-upsized) | bicubic | SRResNet | SRGAN | HR.

Budget: 800 steps per run at batch 16 (12,800 digits, a fifth of an epoch). Measured alone on
the 2-core Xeon (avx512-bf16-intel): 200 SRGAN steps took 45 s and 200 SRResNet steps 18 s, so
800 of each take about 4 minutes, plus about 10 s of scoring. State the channel: MNIST is one
gray channel, so PSNR here is on that channel (the paper's Y), with no border crop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FAMILY = "srgan"
BUDGET = "800 steps per run (SRGAN and SRResNet), batch 16; 2,000 test digits scored"
QUICK_STEPS = 4
STEPS = 800
TEST_N = 2000
GRID_N = 16


def bicubic(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """LR images in [-1, 1] upsampled to ``size`` (bicubic, align_corners=False), clamped."""
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


def scores(output: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
    from ganzoo.metrics.pixels import psnr, ssim

    return {"PSNR dB": round(float(psnr(output, hr).mean()), 3), "SSIM": round(float(ssim(output, hr).mean()), 4)}


def cached_classifier():
    """ganzoo's MNIST classifier when it is already cached, else ``None`` (not trained here)."""
    from ganzoo.metrics.extractors import classifier_paths, load_classifier

    weights, info = classifier_paths("mnist-classifier")
    if not (weights.is_file() and info.is_file()):
        return None
    return load_classifier("mnist-classifier", "cpu")


def measure(ctx) -> dict:
    from ganzoo.plugins.build import load_dataset
    from ganzoo.kinds.image import to_model_range
    from ganzoo.kinds.image import save_grid, stack_rows

    steps = ctx.steps(STEPS)
    srgan = ctx.train("srgan", steps=steps, name="srgan")
    srresnet = ctx.train("srgan", steps=steps, sets=["algo.adv_weight=0"], name="srresnet")

    test = load_dataset(ctx.registry, "mnist-sr", ctx.data_dir, "test")
    n = 200 if ctx.quick else TEST_N
    lr, hr = to_model_range(test.fields["image"][:n]), to_model_range(test.fields["target"][:n])
    labels = test.labels[:n]
    outputs = {"SRGAN": srgan.load().translate(lr), "SRResNet": srresnet.load().translate(lr),
               "bicubic": bicubic(lr, tuple(hr.shape[-2:]))}
    measured = {name: scores(out, hr) for name, out in outputs.items()}
    metric = {f"SRGAN {k}": v for k, v in measured["SRGAN"].items()}
    baseline = {**{f"SRResNet {k}": v for k, v in measured["SRResNet"].items()},
                **{f"bicubic {k}": v for k, v in measured["bicubic"].items()}}

    notes = (f"4x (7->28); {n} test digits; SRGAN = defaults (MSE + 1e-3 bce), SRResNet = same G, "
             f"algo.adv_weight=0; grid rows: LR (nearest) | bicubic | SRResNet | SRGAN | HR")
    classifier = cached_classifier()
    if classifier is not None:
        def accuracy(images: torch.Tensor) -> float:
            return round(float((classifier.logits(images).argmax(1) == labels).float().mean()), 4)
        metric["SRGAN classifier accuracy"] = accuracy(outputs["SRGAN"])
        baseline["SRResNet classifier accuracy"] = accuracy(outputs["SRResNet"])
        baseline["bicubic classifier accuracy"] = accuracy(outputs["bicubic"])
        baseline["HR classifier accuracy"] = accuracy(hr)
    else:
        notes += "; MNIST classifier not cached: no classifier accuracy"

    k = min(GRID_N, n)
    images, per_row = stack_rows(lr[:k], outputs["bicubic"][:k], outputs["SRResNet"][:k], outputs["SRGAN"][:k],
                                 hr[:k], per_row=8)
    grid = ctx.out / "srgan-grid.png"
    ctx.out.mkdir(parents=True, exist_ok=True)
    save_grid(images, grid, nrow=per_row)
    return ctx.row(srgan, metric=metric, baseline=baseline, grid=grid, notes=notes)
