"""VQ-GAN's first-stage training step (taming's ``VQLPIPSWithDiscriminator``): the perceptual
term through the offline MNIST classifier (:class:`ClassifierPerceptual`, the LPIPS analogue),
the paper's adaptive weight of the GAN term (:func:`adaptive_weight`) and the step
(:class:`VQGAN`, whose docstring gives the losses).
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.algorithms import Algorithm, discriminator_update, generator_loss, grad_norm_stats
from ganzoo.errors import ConfigError
from ganzoo.step import StepContext

from . import VQGANOptions
from .nets import NLayerDiscriminator, VQAutoencoder

class ClassifierPerceptual(nn.Module):
    """The LPIPS analogue through the offline MNIST classifier: for each ReLU output of its body
    (three conv blocks and the 128-d feature layer), unit-normalise over channels, take the squared
    difference, average over positions, and sum over layers (LPIPS without its learned weights).
    ``forward(x, y)`` -> ``[N]`` distances; the classifier is frozen (eval mode, no gradients
    to its weights; gradients flow to ``x``)."""

    def __init__(self, extractor) -> None:
        super().__init__()
        from ganzoo.metrics.extractors import to_classifier_input

        self.network, self.prepare = extractor.network, to_classifier_input

    def layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], self.prepare(x)
        for layer in self.network.body:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.network.eval()
        total = torch.zeros(x.shape[0], device=x.device)
        for a, b in zip(self.layers(x.float()), self.layers(y.float())):
            a = a / (a.square().sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.square().sum(1, keepdim=True).sqrt() + 1e-10)
            distance = (a - b).square().sum(1)  # [N, h, w] for conv layers, [N] for the feature layer
            total = total + (distance.flatten(1).mean(1) if distance.dim() > 1 else distance)
        return total


# --------------------------------------------------------------------------- the training step

def adaptive_weight(rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor,
                    disc_weight: float) -> torch.Tensor:
    """The paper's lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_GAN|| + 1e-4), clamped to
    [0, 1e4], detached, times ``disc_weight`` (taming's ``calculate_adaptive_weight``)."""
    rec_grad, = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)
    gan_grad, = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)
    weight = torch.linalg.vector_norm(rec_grad) / (torch.linalg.vector_norm(gan_grad) + 1e-4)
    return torch.clamp(weight, 0.0, 1e4).detach() * disc_weight


class VQGAN(Algorithm):
    """The VQ-GAN step (taming's ``VQLPIPSWithDiscriminator``), on one batch:

    1. generator (encoder, codebook, decoder) update on
       ``L_rec + codebook_weight * L_q + lambda * L_GAN`` where
       ``L_rec = l1_weight * mean|x - x_hat| + perceptual_weight * perceptual(x, x_hat)``,
       ``L_q = beta * ||z_e - sg(z_q)||^2 + ||sg(z_e) - z_q||^2`` (the second term only for the
       straight-through quantiser; the EMA moves the codes itself), ``L_GAN`` the run's generator
       loss on ``D(x_hat)`` (hinge: ``-mean D(x_hat)``) and ``lambda`` the adaptive weight
       (:func:`adaptive_weight`); the GAN term is on from step ``disc_start`` (0 before it);
    2. from step ``disc_start``: one discriminator update on ``x`` vs ``sg(x_hat)`` with half the
       run's loss (hinge by default: taming's ``0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat)))``
       over every patch logit), plus the run's ``gp`` / ``r1`` penalties and ``weight_clip``.

    One discriminator update per step whatever ``n_critic`` (the paper's schedule). Before
    ``disc_start`` the discriminator is not run at all and ``d_loss`` is logged as 0 (taming's
    ``disc_factor * d_loss`` with ``disc_factor`` 0).

    Returns (stats): ``g_loss``, ``rec_l1``, ``perceptual`` (when on), ``q_loss``, ``commitment``,
    ``codebook_usage`` (distinct codes in the batch), ``perplexity``, and once the GAN is on
    ``g_adv``, ``adaptive_weight``, ``d_loss``, the loss's D scores and the gradient norms.
    """

    options: VQGANOptions

    def __init__(self, options, cfg) -> None:
        super().__init__(options, cfg)
        self.perceptual = None

    def setup(self, t: StepContext) -> None:
        generator = t.modules.get("generator")
        if not isinstance(generator, VQAutoencoder) or not isinstance(t.modules.get("discriminator"),
                                                                      NLayerDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'vqgan' trains a VQ autoencoder 'generator' with a PatchGAN "
                              f"'discriminator'; model {model!r} has other networks")
        if self.options.perceptual_weight:
            from ganzoo.metrics.extractors import load_mnist_classifier

            self.perceptual = ClassifierPerceptual(load_mnist_classifier(t.device, self.cfg.data_dir))

    def gan_on(self, t) -> bool:
        return t.step >= self.options.disc_start and self.options.disc_weight > 0

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        options, G = self.options, t.modules["generator"]
        batch = t.batch()
        x = batch["image"]
        gan = self.gan_on(t)
        with t.autocast():
            x_hat, vq = t.net("generator")(x, return_vq=True)
        x_hat32 = x_hat.float()
        rec_l1 = (x_hat32 - x).abs().mean()
        rec = options.l1_weight * rec_l1
        stats: dict[str, torch.Tensor] = {"rec_l1": rec_l1.detach()}
        if self.perceptual is not None:
            perceptual = self.perceptual(x_hat32, x).mean()
            rec = rec + options.perceptual_weight * perceptual
            stats["perceptual"] = perceptual.detach()
        q_loss = options.beta * vq["commitment"] + vq["codebook"]
        g_loss = rec + options.codebook_weight * q_loss
        if gan:
            with t.frozen("discriminator"):
                with t.autocast():
                    g_logits, _ = t.discriminate(x_hat)
                g_adv = generator_loss(t, g_logits, x)
                if options.adaptive_weight:
                    weight = adaptive_weight(rec, g_adv, G.last_layer, options.disc_weight)
                else:
                    weight = torch.tensor(options.disc_weight, device=x.device)
                g_loss = g_loss + weight * g_adv
                g_norm = t.update(g_loss, "g_optim")
            stats.update({"g_adv": g_adv.detach(), "adaptive_weight": weight.detach()})
        else:
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "q_loss": q_loss.detach(), "commitment": vq["commitment"].detach(),
                      "codebook_usage": vq["usage"], "perplexity": vq["perplexity"].detach()})
        grad_norm_stats(stats, "g_optim", g_norm)
        if gan:
            real_logits, fake_logits = discriminator_update(t, x, x_hat, stats=stats, scale=0.5)  # taming's halved hinge
            stats.update(t.loss.scores(real_logits, fake_logits))
        else:  # taming logs disc_factor * d_loss with disc_factor 0 before disc_start
            stats["d_loss"] = torch.zeros((), device=x.device)
        return stats
