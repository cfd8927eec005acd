"""StarGAN's training step (Choi et al. 2018): ``n_critic`` discriminator updates (the loss's:
5 for wgan-gp, the paper's; 1 for the others), each on a fresh batch ``(x, c)`` with target
domains ``c'`` drawn uniformly from ``t.rng`` (checkpointed)::

    d_loss = adv_D(D_src(x), D_src(G(x, c'))) + lambda_cls * CE(D_cls(x), c) + gp / r1 penalties

then one generator update on the last batch::

    g_loss = adv_G(D_src(G(x, c'))) + lambda_cls * CE(D_cls(G(x, c')), c')
             + lambda_rec * mean|G(G(x, c'), c) - x|
"""

from __future__ import annotations

import contextlib
from typing import Mapping

import torch
import torch.nn.functional as F

from ganzoo.algorithms import Algorithm, clip_weights, generator_loss, grad_norm_stats, penalties
from ganzoo.errors import ConfigError
from ganzoo.losses import discriminator_term
from ganzoo.networks import Translator
from ganzoo.step import StepContext

from . import StarGANOptions
from .nets import StarDiscriminator

class StarGAN(Algorithm):
    """The StarGAN step: ``n_critic`` discriminator updates, then one generator update (see the
    module's docstring for the losses).

    Target domains are drawn uniformly from all domains with ``t.rng`` (the trainer
    checkpoints it, so a resumed run draws the same ones); the official code permutes the
    batch's own domains instead, which is the same distribution when domains are balanced, as
    in mnist-domains. A loss that needs the real logits for the generator (relativistic) gets
    them from the updated, frozen discriminator.

    Returns (stats): ``d_loss``, ``d_adv``, ``d_cls``, ``d_cls_acc`` (D_cls accuracy on the
    real batch), ``penalty`` when set, ``g_loss``, ``g_adv``, ``g_cls``, ``rec``, the loss's D
    scores and the gradient norms.
    """

    options: StarGANOptions

    def setup(self, t: StepContext) -> None:
        generator, discriminator = t.modules.get("generator"), t.modules.get("discriminator")
        if not isinstance(generator, Translator) or not generator.num_domains or not isinstance(
                discriminator, StarDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'stargan' trains a multi-domain Translator 'generator' with a StarGAN "
                              f"discriminator; model {model!r} has other networks")
        if discriminator.num_domains != generator.num_domains:
            raise ConfigError(f"stargan: the generator has {generator.num_domains} domains, the discriminator "
                              f"{discriminator.num_domains}")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    def _targets(self, t, domains: torch.Tensor) -> torch.Tensor:
        n = t.modules["generator"].num_domains
        return torch.randint(n, (len(domains),), generator=t.rng).to(domains.device)

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        options = self.options
        stats: dict[str, torch.Tensor] = {}
        for i in range(self.batches_per_step()):
            batch = t.batch()
            x, c_org = batch["image"], batch["domain"].long()
            c_trg = self._targets(t, c_org)
            last = i == self.batches_per_step() - 1
            with t.autocast(), (contextlib.nullcontext() if last else torch.no_grad()):
                fake = t.net("generator")(x, c_trg)
            real_logits, fake_logits = self._discriminator_update(t, x, c_org, fake, stats)
        with t.frozen("discriminator"):
            with t.autocast():
                g_logits, g_domains = t.discriminate(fake)
                rec = t.net("generator")(fake, c_org)
            g_adv = generator_loss(t, g_logits, x)
            g_cls = F.cross_entropy(g_domains, c_trg)
            rec_l1 = (rec.float() - x).abs().mean()
            g_loss = g_adv + options.lambda_cls * g_cls + options.lambda_rec * rec_l1
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "g_adv": g_adv.detach(), "g_cls": g_cls.detach(),
                      "rec": rec_l1.detach(), **t.loss.scores(real_logits, fake_logits)})
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats

    def _discriminator_update(self, t, x: torch.Tensor, c_org: torch.Tensor, fake: torch.Tensor,
                              stats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One update of D: adversarial on x vs G(x, c'), domain CE on x, penalties."""
        with t.autocast():
            real_logits, real_domains = t.discriminate(x)
            fake_logits, _ = t.discriminate(fake.detach())
        d_adv = discriminator_term(t.loss, real_logits, fake_logits)
        d_cls = F.cross_entropy(real_domains, c_org)
        d_loss = d_adv + self.options.lambda_cls * d_cls
        penalty = penalties(t, x, fake.detach())
        if penalty is not None:
            d_loss = d_loss + penalty
            stats["penalty"] = penalty.detach()
        d_norm = t.update(d_loss, "d_optim")
        if t.cfg.weight_clip:
            clip_weights(t.modules["discriminator"], t.cfg.weight_clip)
        stats.update({"d_loss": d_loss.detach(), "d_adv": d_adv.detach(), "d_cls": d_cls.detach(),
                      "d_cls_acc": (real_domains.argmax(1) == c_org).float().mean().detach()})
        grad_norm_stats(stats, "d_optim", d_norm)
        return real_logits, fake_logits

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}  # the target domains come from t.rng, which the trainer checkpoints

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        pass
