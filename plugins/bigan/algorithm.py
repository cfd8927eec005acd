"""BiGAN's training algorithm: D on ``(x, E(x))`` against ``(G(z), z)``, then E and G together
on the game with the labels inverted (:func:`encoder_generator_loss`), with the run's penalties
taken on the joint input (:func:`joint_penalty`).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ganzoo.algorithms import Algorithm, clip_weights, grad_norm_stats, r1_weight
from ganzoo.errors import ConfigError
from ganzoo.losses import Loss, discriminator_term, generator_term
from ganzoo.networks import Discriminator, Encoder, Generator
from ganzoo.step import StepContext

_PROBE_REAL = torch.tensor([-2.0, -0.3, 0.5, 1.7])
_PROBE_FAKE = torch.tensor([0.9, -1.1, 2.2, -0.4])


def is_label_symmetric(loss: Loss) -> bool:
    """Whether the discriminator treats a real logit ``r`` as it treats a fake logit ``-r``:
    ``d_loss(r, f) == d_loss(-f, -r)`` (bce, minimax, wgan, hinge; not lsgan's 0/1 targets).
    For such a loss, "labelled fake" means "negated", so the generator's own loss on the negated
    logits is its loss for making a pair look fake."""
    if loss.needs:
        return False
    with torch.no_grad():
        a = discriminator_term(loss, _PROBE_REAL, _PROBE_FAKE)
        b = discriminator_term(loss, -_PROBE_FAKE, -_PROBE_REAL)
    return bool(torch.isclose(a, b, rtol=1e-6, atol=1e-7))


def encoder_generator_loss(loss: Loss, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                           symmetric: bool | None = None) -> torch.Tensor:
    """E and G's loss: BiGAN's game with the labels inverted (Donahue et al. 2017, section 3.4):
    the fake pair ``(G(z), z)`` should look real and the real pair ``(x, E(x))`` fake.

    Worked out from the run's loss so that every loss works:

    * relativistic losses (they need ``real_logits``): ``g_loss(fake, real_logits=real)``, which
      already scores the fake pair against the real one with the roles swapped;
    * label-symmetric losses (:func:`is_label_symmetric`): ``g_loss(fake) + g_loss(-real)``. With
      bce this is ``softplus(-D(G(z), z)) + softplus(D(x, E(x)))``, the paper's non-saturating
      inverted labels; minimax gives ``-d_loss(real, fake)`` (the saturating game), hinge
      ``mean(D(x, E(x))) - mean(D(G(z), z))`` as BigBiGAN's E/G loss, wgan the same;
    * others (lsgan): the discriminator's own loss with the roles swapped,
      ``d_loss(real=fake, fake=real)``, e.g. ``0.5 (D(G(z), z) - 1)^2 + 0.5 D(x, E(x))^2``.

    Args:
        loss: the run's adversarial loss.
        real_logits, fake_logits: D's float32 logits on ``(x, E(x))`` and ``(G(z), z)``.
        symmetric: :func:`is_label_symmetric` of ``loss``, if already known.
    """
    if "real_logits" in loss.needs:
        return generator_term(loss, fake_logits, real_logits)
    if symmetric is None:
        symmetric = is_label_symmetric(loss)
    if symmetric:
        return generator_term(loss, fake_logits) + generator_term(loss, -real_logits)
    return discriminator_term(loss, fake_logits, real_logits)


def _input_gradient_norms(discriminator: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-pair L2 norms of D's gradient with respect to the joint input ``(x, z)`` (a graph is kept)."""
    x = x.detach().float().requires_grad_(True)
    z = z.detach().float().requires_grad_(True)
    logits = discriminator(x, z)
    grad_x, grad_z = torch.autograd.grad(logits.sum(), (x, z), create_graph=True)
    return torch.cat([grad_x.flatten(1), grad_z.flatten(1)], dim=1).norm(2, dim=1)


def joint_penalty(t, real: tuple[torch.Tensor, torch.Tensor], fake: tuple[torch.Tensor, torch.Tensor],
                  name: str = "discriminator") -> torch.Tensor | None:
    """The run's ``gp`` and ``r1`` on the joint discriminator, in float32 outside autocast; ``None``
    when both are 0. The gradients are taken with respect to the whole input ``(x, z)``:

    * ``gp`` (WGAN-GP): ``gp * mean((||grad D(x_hat, z_hat)|| - 1)^2)`` at ``(x_hat, z_hat) = eps
      (x, E(x)) + (1 - eps) (G(z), z)`` with one ``eps ~ U[0, 1]`` per pair (drawn from torch's
      global generator, as the core's penalty does);
    * ``r1``: ``r1 / 2 * mean(||grad D(x, E(x))||^2)`` on the real pairs.
    """
    cfg, discriminator = t.cfg, t.modules[name]
    penalty = None
    if cfg.gp:
        (x_real, z_real), (x_fake, z_fake) = real, fake
        eps = torch.rand(x_real.shape[0], device=x_real.device)
        x_hat = eps.view(-1, *([1] * (x_real.dim() - 1))) * x_real.float() + (1 - eps.view(
            -1, *([1] * (x_real.dim() - 1)))) * x_fake.detach().float()
        z_hat = eps[:, None] * z_real.detach().float() + (1 - eps[:, None]) * z_fake.float()
        penalty = cfg.gp * (_input_gradient_norms(discriminator, x_hat, z_hat) - 1).square().mean()
    gamma = r1_weight(t)  # lazy R1 (r1_every) as in the core's penalties
    if gamma:
        r1 = 0.5 * gamma * _input_gradient_norms(discriminator, *real).square().mean()
        penalty = r1 if penalty is None else penalty + r1
    return penalty


class BiGAN(Algorithm):
    """BiGAN's step: ``n_critic`` updates of D on ``(x, E(x))`` ("real") against ``(G(z), z)``
    ("fake"), then one update of E and G together (``g_optim``) on
    :func:`encoder_generator_loss`. The pairs of the last D update are computed once, with
    gradients, and reused for the E/G update (as ``alternating`` reuses its fake batch).

    Honours the run's ``gp`` and ``r1`` on the joint input (:func:`joint_penalty`) and
    ``weight_clip`` (D's weights, after each D update). Logs ``d_loss``, ``g_loss`` (E and G's
    loss), D's scores ``D(x,E(x))`` and ``D(G(z),z)``, the gradient norms and, for monitoring
    only, ``rec_l1`` = mean |x - G(E(x))| on the last real batch with E and G in eval mode.
    """

    def setup(self, t: StepContext) -> None:
        modules = t.modules
        model = self.cfg.model.split(":")[-1]
        if not isinstance(modules.get("generator"), Generator) or not isinstance(modules.get("encoder"), Encoder):
            raise ConfigError(f"algorithm 'bigan' needs a ganzoo Generator named generator and an Encoder named "
                              f"encoder; model {model!r} does not build them")
        if isinstance(modules.get("discriminator"), Discriminator):
            raise ConfigError(f"algorithm 'bigan' scores (image, latent) pairs; model {model!r}'s discriminator "
                              "is a ganzoo Discriminator of images and labels")
        if modules["generator"].num_classes:
            raise ConfigError(f"algorithm 'bigan' trains unconditional generators; model {model!r}'s is conditional")
        self.symmetric = is_label_symmetric(t.loss)

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        cfg, primary = t.cfg, t.primary
        for i in range(cfg.n_critic):
            x = t.batch()[primary]
            z = t.latent()
            last = i == cfg.n_critic - 1
            with t.autocast(), (contextlib.nullcontext() if last else torch.no_grad()):
                x_fake = t.net("generator")(z)
                z_real = t.net("encoder")(x)
            with t.autocast():
                real_logits, _ = t.discriminate(x, z_real.detach())
                fake_logits, _ = t.discriminate(x_fake.detach(), z)
            d_loss = discriminator_term(t.loss, real_logits, fake_logits)
            penalty = joint_penalty(t, (x, z_real), (x_fake, z))
            if penalty is not None:
                d_loss = d_loss + penalty
            d_norm = t.update(d_loss, "d_optim")
            if cfg.weight_clip:
                clip_weights(t.modules["discriminator"], cfg.weight_clip)

        with t.frozen("discriminator"):
            with t.autocast():
                eg_real, _ = t.discriminate(x, z_real)
                eg_fake, _ = t.discriminate(x_fake, z)
            eg_loss = encoder_generator_loss(t.loss, eg_real, eg_fake, self.symmetric)
            g_norm = t.update(eg_loss, "g_optim")

        with torch.no_grad(), t.evaluating("encoder", "generator"), t.autocast():
            reconstruction = t.modules["generator"](t.modules["encoder"](x))
        scores = t.loss.scores(real_logits, fake_logits)
        stats = {"d_loss": d_loss.detach(), "g_loss": eg_loss.detach(),
                 "D(x,E(x))": scores.get("D(x)", real_logits.detach().mean()),
                 "D(G(z),z)": scores.get("D(G(z))", fake_logits.detach().mean()),
                 "rec_l1": (x.float() - reconstruction.float()).abs().mean()}
        if penalty is not None:
            stats["penalty"] = penalty.detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats
