"""The context encoder's training step (Pathak et al. 2016) (:class:`ContextEncoder`): one
discriminator update on real ``x`` vs the filled ``G(x, m)`` with the run's adversarial loss
(``bce`` by default) and penalties; then one generator update on ``lambda_rec * L2 +
lambda_adv * adversarial`` where ``L2`` is the mean squared error over the masked pixels
(``sum(m (G - x)^2) / sum(m) / C``: the paper's normalised masked L2). The paper's extra weight
on a band overlapping the context is not used: the blend keeps the context exactly, so only the
masked region is ever predicted.
"""

from __future__ import annotations

import contextlib

import torch

from ganzoo.algorithms import Algorithm, discriminator_update, generator_loss, grad_norm_stats
from ganzoo.errors import ConfigError
from ganzoo.kinds.image import TRANSLATIONS_PER_ROW, stack_rows
from ganzoo.step import StepContext

from ..layers.dcgan import DCGANDiscriminator
from . import ContextEncoderOptions
from .nets import ContextEncoderGenerator

def masked_l2(filled: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The paper's normalised masked L2: the mean of ``(filled - real)^2`` over the masked pixels
    (and channels) of the batch, in float32."""
    diff = (filled.float() - real.float()).square() * mask
    return diff.sum() / (mask.sum() * real.shape[1]).clamp_min(1)


class ContextEncoder(Algorithm):
    """The context-encoder step: one discriminator update, then one generator update.

    A loss that recommends ``n_critic > 1`` (wgan, wgan-gp) gets that many discriminator
    updates, each on a fresh batch, before the generator's (the paper's is 1).

    Discriminator: ``d_loss(D(x), D(G(x, m)))`` with the run's loss, plus the run's ``gp`` /
    ``r1`` penalties and ``weight_clip``. Generator: ``lambda_rec * masked_l2(G(x, m), x) +
    lambda_adv * g_loss(D(G(x, m)))``; losses that need the real logits (relativistic) get
    ``D(x)`` from the updated, frozen D. With ``lambda_adv=0`` (the paper's L2-only baseline)
    the discriminator is neither run nor updated.

    No randomness of its own: the masks come from the data, so a resumed run is bitwise equal
    to an uninterrupted one with nothing extra to checkpoint.

    Returns (stats): ``d_loss``, ``g_loss``, ``l2`` (the masked L2 before ``lambda_rec``),
    ``g_adv`` (before ``lambda_adv``), the loss's D scores, ``penalty`` when set, grad norms.
    """

    options: ContextEncoderOptions

    def setup(self, t: StepContext) -> None:
        if not isinstance(t.modules.get("generator"), ContextEncoderGenerator) or not isinstance(
                t.modules.get("discriminator"), DCGANDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'context-encoder' trains a context-encoder generator with a DCGAN "
                              f"discriminator; model {model!r} has other networks")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic if self.options.lambda_adv else 1

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        options = self.options
        stats: dict[str, torch.Tensor] = {}
        for i in range(self.batches_per_step()):
            batch = t.batch()
            x, mask = batch["image"], batch["mask"]
            last = i == self.batches_per_step() - 1
            with t.autocast(), (contextlib.nullcontext() if last else torch.no_grad()):
                filled = t.net("generator")(x, mask)
            if options.lambda_adv:
                real_logits, fake_logits = discriminator_update(t, x, filled, stats=stats)
        l2 = masked_l2(filled, x, mask)
        g_adv = torch.zeros((), device=l2.device)
        with t.frozen("discriminator"):
            if options.lambda_adv:
                with t.autocast():
                    g_logits, _ = t.discriminate(filled)
                g_adv = generator_loss(t, g_logits, x)
            g_loss = options.lambda_rec * l2 + options.lambda_adv * g_adv
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "l2": l2.detach()})
        if options.lambda_adv:
            stats.update({"g_adv": g_adv.detach(), **t.loss.scores(real_logits, fake_logits)})
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats

    @torch.no_grad()
    def preview(self, t: StepContext) -> tuple[torch.Tensor, int]:
        """Blocks of three rows for fixed examples: the masked input (masked pixels at the fill
        value), the filled image, the original; the generator in eval mode."""
        examples = t.preview_examples
        x, mask = examples["image"], examples["mask"]
        G = t.sampling_modules["generator"]  # the averaged one with --set ema
        with t.evaluating("generator"):
            filled = G(x, mask)
        return stack_rows(G.masked_input(x, mask), filled, x, per_row=TRANSLATIONS_PER_ROW)
