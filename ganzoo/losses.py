"""Adversarial losses: pure functions of discriminator logits, and the regularizers.

A loss never calls ``backward()`` or steps an optimizer; the training loop does.
Everything is computed from raw outputs (logits): the BCE family uses ``softplus``,
never ``log(sigmoid(x))``, so large logits neither overflow nor give infinite losses.

Loss-specific training settings (weight clipping, a gradient penalty, optimizers,
``n_critic``) are not hidden inside the loss: each loss's spec carries them as
recommended run-config values, so the resolved ``config.json`` records what was used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Loss:
    """The loss contract.

    ``d_loss(real, fake)`` is minimised by the discriminator (critic), ``g_loss(fake)``
    by the generator; both take raw discriminator outputs (``[N]``, or a map of patch
    logits ``[N, ...]`` for PatchGAN discriminators, averaged over every element).

    A loss that needs more declares it in ``needs`` and gets it as a keyword argument:
    ``"real_logits"``: ``g_loss(fake, real_logits=...)`` (relativistic losses; the
    algorithm scores the real batch with the frozen discriminator); ``"labels"``:
    ``d_loss(real, fake, labels=...)`` and ``g_loss(fake, labels=...)``.
    """

    name = "loss"
    needs: frozenset[str] = frozenset()

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Summaries of the discriminator's outputs for the metrics log (mean raw scores)."""
        return {"D(x)": real_logits.detach().mean(), "D(G(z))": fake_logits.detach().mean()}


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


class MinimaxLoss(BCELoss):
    """The original minimax game: the generator minimises ``log(1 - D(G(z)))``.

    ``g_loss = mean(log(1 - sigmoid(D(G(z))))) = -mean(softplus(D(G(z))))``. It saturates
    (vanishing gradients) when the discriminator rejects the fakes confidently, which is
    why the non-saturating ``bce`` is the usual choice.
    """

    name = "minimax"

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake_logits).mean()


class WassersteinLoss(Loss):
    """The Wasserstein critic loss (Arjovsky et al. 2017).

    ``d_loss = mean(D(G(z))) - mean(D(x))``, ``g_loss = -mean(D(G(z)))``. The Lipschitz
    constraint comes from the run config: ``weight_clip`` (``wgan``) or ``gp``
    (``wgan-gp``).
    """

    name = "wgan"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class HingeLoss(Loss):
    """The hinge loss (Lim & Ye 2017; Miyato et al. 2018).

    ``d_loss = mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``, ``g_loss = -mean(D(G(z)))``.
    """

    name = "hinge"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class LeastSquaresLoss(Loss):
    """Least-squares GAN (Mao et al. 2017) with targets a=0 (fake), b=1 (real), c=1.

    ``d_loss = 0.5 mean((D(x) - 1)^2) + 0.5 mean(D(G(z))^2)``,
    ``g_loss = 0.5 mean((D(G(z)) - 1)^2)``.
    """

    name = "lsgan"
    a, b, c = 0.0, 1.0, 1.0

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (real_logits - self.b).square().mean() + 0.5 * (fake_logits - self.a).square().mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_logits - self.c).square().mean()


class RelativisticLoss(Loss):
    """The relativistic standard GAN, RSGAN (Jolicoeur-Martineau 2018): the critic scores how
    much more real a real sample is than a paired fake one.

    With ``C`` the raw critic: ``d_loss = mean(softplus(-(C(x_r) - C(x_f))))``,
    ``g_loss = mean(softplus(-(C(x_f) - C(x_r))))``, pairing the i-th real and fake sample.
    """

    name = "rgan"
    needs = frozenset({"real_logits"})

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(real_logits - fake_logits)).mean()

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is None:
            raise ValueError("the relativistic loss needs real_logits for the generator's loss")
        return F.softplus(-(fake_logits - real_logits)).mean()


class RelativisticAverageLoss(Loss):
    """The relativistic average standard GAN, RaSGAN (Jolicoeur-Martineau 2018, eq. 8-9).

    ``D~(x_r) = sigmoid(C(x_r) - mean C(x_f))``, ``D~(x_f) = sigmoid(C(x_f) - mean C(x_r))``;
    ``d_loss = -mean log D~(x_r) - mean log(1 - D~(x_f))
    = mean(softplus(-(C_r - mean C_f))) + mean(softplus(C_f - mean C_r))`` and, with the roles
    swapped, ``g_loss = mean(softplus(-(C_f - mean C_r))) + mean(softplus(C_r - mean C_f))``.
    """

    name = "ragan"
    needs = frozenset({"real_logits"})

    @staticmethod
    def _terms(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(first - second.mean())).mean() + F.softplus(second - first.mean()).mean()

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return self._terms(real_logits, fake_logits)

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is None:
            raise ValueError("the relativistic average loss needs real_logits for the generator's loss")
        return self._terms(fake_logits, real_logits)


def discriminator_term(loss: Loss, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       labels: torch.Tensor | None = None) -> torch.Tensor:
    """``loss.d_loss`` called with what the loss declares it needs."""
    if "labels" in loss.needs:
        return loss.d_loss(real_logits, fake_logits, labels=labels)
    return loss.d_loss(real_logits, fake_logits)


def generator_term(loss: Loss, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None,
                   labels: torch.Tensor | None = None) -> torch.Tensor:
    """``loss.g_loss`` called with what the loss declares it needs."""
    kwargs = {}
    if "real_logits" in loss.needs:
        if real_logits is None:
            raise ValueError(f"loss {loss.name!r} needs the real logits for the generator's loss")
        kwargs["real_logits"] = real_logits
    if "labels" in loss.needs:
        kwargs["labels"] = labels
    return loss.g_loss(fake_logits, **kwargs)


# ---------------------------------------------------------------------------
# regularizers (used by the loop when ``gp`` or ``r1`` is set in the run config)

def _input_gradients(discriminator, inputs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    from .networks import split_outputs

    inputs = inputs.detach().requires_grad_(True)
    logits, _ = split_outputs(discriminator(inputs, labels))
    # a PatchGAN's map [N, 1, h, w] is one critic value per sample to the losses (they average
    # it), so the penalty is on the gradient of each sample's mean logit, not of the map's sum
    # (h * w times larger); for logits [N] this is the plain sum over the batch
    critic = logits.reshape(len(logits), -1).mean(dim=1)
    (grad,) = torch.autograd.grad(critic.sum(), inputs, create_graph=True)
    return grad


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's two-sided penalty ``mean((||grad D(x_hat)||_2 - 1)^2)`` (Gulrajani et al., Alg. 1).

    ``x_hat = eps * real + (1 - eps) * fake`` with ONE ``eps ~ U[0, 1]`` per sample (not
    per pixel), and the norm taken over all non-batch dimensions of each sample's gradient.
    Multiply by lambda (the run config's ``gp``) outside.
    """
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, device=real.device, dtype=real.dtype, generator=generator)
    interpolated = eps * real.detach() + (1.0 - eps) * fake.detach()
    grad = _input_gradients(discriminator, interpolated, labels)
    norms = grad.flatten(start_dim=1).norm(2, dim=1)
    return (norms - 1.0).square().mean()


def r1_penalty(discriminator, real: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``mean(||grad D(x)||^2)`` on real data; times gamma/2 outside."""
    grad = _input_gradients(discriminator, real, labels)
    return grad.flatten(start_dim=1).square().sum(dim=1).mean()
