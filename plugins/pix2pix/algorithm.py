"""pix2pix's training step (Isola et al. 2017): one discriminator update on ``(x, y)`` real vs
``(x, G(x))`` fake with the run's adversarial loss halved (the paper's "divide the objective
by 2 while optimizing D"), plus the run's ``gp`` / ``r1`` penalties; then one generator update
on ``lambda_gan * adversarial + lambda_l1 * L1(G(x), y)``.
"""

from __future__ import annotations

import contextlib

import torch

from ganzoo.algorithms import Algorithm, discriminator_update, generator_loss, grad_norm_stats
from ganzoo.errors import ConfigError
from ganzoo.networks import Translator
from ganzoo.step import StepContext

from . import Pix2PixOptions
from .nets import PatchDiscriminator

class Pix2Pix(Algorithm):
    """The pix2pix step: one discriminator update, then one generator update.

    A loss that recommends ``n_critic > 1`` (wgan, wgan-gp) gets that many discriminator
    updates, each on a fresh batch, before the generator's (the paper's is 1).

    Discriminator: ``0.5 * d_loss(D(y, x), D(G(x), x))`` with the run's loss (``bce`` by
    default: the paper's conditional GAN objective), plus the run's ``gp`` / ``r1``
    penalties (with respect to the judged image; the input ``x`` is held fixed, like a
    class label) at their configured weights, and ``weight_clip`` after the step.
    Generator: ``lambda_gan * g_loss(D(G(x), x)) + lambda_l1 * mean|G(x) - y|``; losses that
    need the real logits (relativistic) get ``D(y, x)`` from the updated, frozen D.

    The dropout noise comes from torch's global generator, which checkpoints restore, so
    a resumed run is bitwise equal to an uninterrupted one.

    With ``lambda_gan=0`` (the paper's L1-only baseline) the discriminator is neither
    updated nor run: the step is ``lambda_l1 * L1`` alone.

    Returns (stats): ``d_loss``, ``g_loss``, ``l1``, ``g_adv`` (the adversarial term before
    ``lambda_gan``), the loss's D scores, ``penalty`` when set, ``d_grad_norm``, ``g_grad_norm``
    (without the discriminator's entries when ``lambda_gan=0``).
    """

    options: Pix2PixOptions

    def setup(self, t: StepContext) -> None:
        generator = t.modules.get("generator")
        if not isinstance(generator, Translator) or not isinstance(t.modules.get("discriminator"),
                                                                   PatchDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'pix2pix' trains a Translator 'generator' with a pix2pix "
                              f"PatchDiscriminator; model {model!r} has other networks")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic if self.options.lambda_gan else 1

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        G, options = t.modules["generator"], self.options
        stats: dict[str, torch.Tensor] = {}
        # n_critic discriminator updates (1, the paper's, unless a loss such as wgan-gp asks
        # for more), each on a fresh batch; the generator learns from the last one
        for i in range(self.batches_per_step()):
            batch = t.batch()
            x, y = batch[G.input_field], batch[G.output_field]
            last = i == self.batches_per_step() - 1
            with t.autocast(), (contextlib.nullcontext() if last else torch.no_grad()):
                fake = t.net("generator")(x)
            if options.lambda_gan:
                real_logits, fake_logits = discriminator_update(t, y, fake, x, stats, scale=0.5)
        l1 = (fake.float() - y).abs().mean()
        g_adv = torch.zeros((), device=l1.device)
        with t.frozen("discriminator"):
            if options.lambda_gan:
                with t.autocast():
                    g_logits, _ = t.discriminate(fake, x)
                g_adv = generator_loss(t, g_logits, y, x)
            g_loss = options.lambda_gan * g_adv + options.lambda_l1 * l1
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "l1": l1.detach()})
        if options.lambda_gan:
            stats.update({"g_adv": g_adv.detach(), **t.loss.scores(real_logits, fake_logits)})
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats
