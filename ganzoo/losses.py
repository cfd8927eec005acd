"""Adversarial losses: pure functions of discriminator logits.

A loss never calls ``backward()`` or steps an optimizer; the training loop does.
Everything is computed from logits (``softplus``), never ``log(sigmoid(x))``, so
large logits neither overflow nor give infinite losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Loss:
    """The loss contract.

    ``d_loss(real, fake)`` is minimised by the discriminator, ``g_loss(fake)`` by the
    generator; both take raw discriminator outputs (logits) of shape ``[N]``.
    """

    name = "loss"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Summaries of the discriminator's outputs for the metrics log (mean raw scores)."""
        return {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}


class BCELoss(Loss):
    """Binary cross-entropy on logits with the non-saturating generator loss.

    ``d_loss = mean(softplus(-D(x))) + mean(softplus(D(G(z))))``, i.e.
    ``-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))``, and
    ``g_loss = mean(softplus(-D(G(z))))``, i.e. ``-log sigmoid(D(G(z)))``
    (Goodfellow et al. 2014, section 3).
    """

    name = "bce"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()

    def scores(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """D(x) and D(G(z)) as probabilities, as in the DCGAN paper's plots."""
        return {"D(x)": torch.sigmoid(real_logits.detach()).mean(),
                "D(G(z))": torch.sigmoid(fake_logits.detach()).mean()}
