"""VGAN's training step (Vondrick, Pirsiavash & Torralba 2016, arXiv:1609.02612).

:class:`VGAN`: the core's alternating schedule (``n_critic`` D updates,
then one G update, from :mod:`ganzoo.algorithms`' building blocks) plus the paper's mask
sparsity in G's loss::

    g_loss = adv_G(D(G(z))) + lambda_mask * mean(|m(z)|)

(``nn.L1Penalty(0.1, true)`` in the official code: 0.1 times the mean over the batch's mask
values.)
"""

from __future__ import annotations

import torch

from ganzoo.algorithms import (Algorithm, clip_weights, discriminator_terms, generator_adversarial,
                               grad_norm_stats)
from ganzoo.step import StepContext
from ganzoo.errors import ConfigError

from . import VGANOptions
from .nets import TwoStreamGenerator

class VGAN(Algorithm):
    """The VGAN step: ``n_critic`` discriminator updates on real clips against ``G(z)``, then one
    generator update on the last fake batch with ``lambda_mask`` times its mask's mean (the
    paper's L1 sparsity: the foreground should cover only what moves).

    Everything else is the core's alternating schedule (penalties, weight clipping, relativistic
    losses). Returns ``d_loss``, ``g_loss``, ``g_adv``, ``mask_l1`` (the mask's mean), the
    loss's scores, ``penalty`` when set and the gradient norms.
    """

    options: VGANOptions

    def setup(self, t: StepContext) -> None:
        if not isinstance(t.modules.get("generator"), TwoStreamGenerator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'vgan' trains VGAN's two-stream generator (it needs its mask); "
                              f"model {model!r} has another (use --set algorithm=alternating)")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        D, cfg = t.modules["discriminator"], t.cfg
        stats: dict[str, torch.Tensor] = {}
        for i in range(cfg.n_critic):
            real = t.batch()["video"]
            z = t.latent()
            with t.autocast():
                if i == cfg.n_critic - 1:  # the fake batch the generator update reuses
                    fake, mask = t.net("generator")(z, return_mask=True)
                else:
                    with torch.no_grad():
                        fake = t.net("generator")(z)
                real_logits, real_classes = t.discriminate(real)
                fake_logits, fake_classes = t.discriminate(fake.detach())
            d_loss, penalty = discriminator_terms(t, real, fake.detach(), None, real_logits, fake_logits,
                                                  real_classes, fake_classes)
            d_norm = t.update(d_loss, "d_optim")
            if cfg.weight_clip:
                clip_weights(D, cfg.weight_clip)
        with t.frozen("discriminator"):
            with t.autocast():
                g_logits, g_classes = t.discriminate(fake)
            g_adv = generator_adversarial(t, g_logits, None, g_classes, real=real)
            mask_l1 = mask.float().abs().mean()
            g_loss = g_adv + self.options.lambda_mask * mask_l1
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "g_adv": g_adv.detach(),
                      "mask_l1": mask_l1.detach(), **t.loss.scores(real_logits, fake_logits)})
        if penalty is not None:
            stats["penalty"] = penalty.detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats
