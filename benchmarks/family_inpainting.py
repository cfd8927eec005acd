"""Context-encoder inpainting (Pathak et al. 2016) on ``mnist-center``, for ``benchmarks/families.py``.

Two runs with the model's defaults (ngf 64, ndf 64, bottleneck 512, bce, lambda_rec 0.999,
lambda_adv 0.001, Adam 2e-4 / (0.5, 0.999), batch 64), one after the other:

- ``context-encoder``: the paper's joint loss, 0.999 * masked L2 + 0.001 * GAN;
- ``l2-only``: the same generator trained on the masked L2 alone (``algo.lambda_adv=0``: no
  discriminator), the paper's own comparison (its Figure 5, "L2 loss" vs "L2 + adversarial").

Scored on the first :data:`TEST_IMAGES` test images of ``mnist-center`` (the centre 14x14 of each
28x28 digit masked), on the masked region only, on images scaled to [0, 1]
(:func:`ganzoo.metrics.pixels.l1` / ``psnr`` with ``mask=``; PSNR per image with a peak of 1,
averaged over images), against the **mean-fill** baseline: the masked region filled with the
per-pixel mean of the 60,000 MNIST training images (the best constant fill for L2 per pixel).

Grid (``inpainting-test-grid.png``; blocks of 8 test digits, rows): masked input (the hole at the
fill value, mid grey) | mean fill | L2 only | context encoder | original.
"""

from __future__ import annotations

import torch

FAMILY = "context-encoder"
STEPS = 1000
BUDGET = (f"{STEPS} steps x batch 64 on mnist-center (1.07 epochs), twice: context encoder (L2 + GAN) and "
          f"L2 only (no D)")
"""Measured alone on the 2-core Xeon (avx512-bf16-intel): 156 s for the context encoder's 1,000
steps and 100 s for the L2-only run's (14.3 and 7.6 GFLOP per step at batch 64), 4.3 minutes with
the scoring."""
QUICK_STEPS = 4
TEST_IMAGES = 2000
GRID_EXAMPLES = 16


def fill(generator, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The generator's filled images (floats in [-1, 1]) of uint8 ``images`` with their ``masks``."""
    from ganzoo.kinds.image import to_model_range
    from ganzoo.kinds.mask import KIND as MASK
    from ganzoo.networks import apply_in_chunks

    x = to_model_range(images)
    return apply_in_chunks(generator.eval(), x, MASK.prepare(masks))


def scores(output: torch.Tensor, original: torch.Tensor, mask: torch.Tensor, name: str) -> dict[str, float]:
    from ganzoo.metrics.pixels import l1, psnr

    return {f"{name}masked L1 [0,1]": round(float(l1(output, original, mask).mean()), 4),
            f"{name}masked PSNR dB": round(float(psnr(output, original, mask).mean()), 2)}


def measure(ctx) -> dict:
    from ganzoo.plugins.build import load_dataset
    from ganzoo.kinds.image import to_model_range
    from ganzoo.kinds.mask import KIND as MASK
    from ganzoo.kinds.image import TRANSLATIONS_PER_ROW, save_grid, stack_rows

    steps = ctx.steps(STEPS)
    main = ctx.train("context-encoder", steps=steps, name="context-encoder")
    l2_only = ctx.train("context-encoder", steps=steps, sets=["algo.lambda_adv=0"], name="l2-only")

    test = load_dataset(ctx.registry, "mnist-center", ctx.data_dir, "test")
    n = min(TEST_IMAGES, len(test))
    images, masks = test.fields["image"][:n], test.fields["mask"][:n]
    original, mask = to_model_range(images), MASK.prepare(masks)
    train_images = load_dataset(ctx.registry, "mnist", ctx.data_dir, "train").fields["image"]
    mean_image = to_model_range(train_images).mean(0, keepdim=True)  # per-pixel mean, in [-1, 1]
    mean_fill = original * (1 - mask) + mean_image * mask

    outputs = {}
    for label, run in (("context-encoder", main), ("l2-only", l2_only)):
        generator = run.load().translators["generator"]
        outputs[label] = fill(generator, images, masks)
        assert torch.equal(outputs[label] * (1 - mask), original * (1 - mask))  # the context is kept

    metric = scores(outputs["context-encoder"], original, mask, "")
    baseline = {**scores(mean_fill, original, mask, "mean-fill "), **scores(outputs["l2-only"], original, mask, "L2-only ")}

    k = min(GRID_EXAMPLES, n)
    masked_input = original[:k] * (1 - mask[:k])  # the hole at 0, mid grey: what the generator sees
    grid, per_row = stack_rows(masked_input, mean_fill[:k], outputs["l2-only"][:k], outputs["context-encoder"][:k],
                               original[:k], per_row=TRANSLATIONS_PER_ROW)
    path = ctx.out / "inpainting-test-grid.png"
    ctx.out.mkdir(parents=True, exist_ok=True)
    save_grid(grid, path, nrow=per_row)
    notes = (f"masked region only (the centre 14x14), first {n} MNIST test digits, [0,1] scale; mean fill = the "
             f"per-pixel mean of the 60k training digits; L2-only = the same generator and budget with "
             f"algo.lambda_adv=0 (the paper's comparison). Grid rows: masked input | mean fill | L2 only | "
             f"context encoder | original. The adversarial term (weight 0.001) is there for sharpness, "
             f"which pixel scores do not reward: the paper shows the L2-vs-joint difference in pictures.")
    return ctx.row(main, metric=metric, baseline=baseline, grid=path, notes=notes,
                   l2_only_wall_s=round(l2_only.wall_s, 1))
