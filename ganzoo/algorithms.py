"""Training algorithms: what one training step does, and the pieces they are built from.

An algorithm owns its step: which batches it draws, which networks it runs, which losses it
adds to the run's adversarial loss, and which optimizer groups it updates. It works through
one object ``t``, a :class:`~ganzoo.step.StepContext` (the batches, latents, modules,
optimizers and a few methods; see :mod:`ganzoo.step`), and keeps its options in
``self.options``.

Example (a plugin's algorithm with an option and an L1 term)::

    class Pix2PixOptions(BaseModel):
        lambda_l1: float = 100.0

    class Pix2Pix(Algorithm):
        def step(self, t):
            batch = t.batch()
            ...
            return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    AlgorithmSpec(name="pix2pix", summary="...", step=Pix2Pix, config_class=Pix2PixOptions,
                  modules=("generator", "discriminator"), fields=("target",))

The building blocks below (:func:`discriminator_terms`, :func:`generator_adversarial`,
:func:`penalties`, :func:`clip_weights`) are the ones ``alternating`` uses, so an algorithm
plugin reuses penalties, auxiliary classes and clipping instead of copying them;
:func:`discriminator_update` is a whole discriminator update for the image-to-image families.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch
import torch.nn.functional as F

from .errors import ConfigError
from .losses import discriminator_term, generator_term, gradient_penalty, r1_penalty
from .networks import Discriminator, Generator
from .step import StepContext

if TYPE_CHECKING:
    from .config import RunConfig


class Algorithm:
    """Base class of training algorithms (``AlgorithmSpec(step=MyAlgorithm)``).

    Args:
        options: the validated ``algo.*`` options (an instance of the spec's
            ``config_class``), or ``None``.
        cfg: the resolved run config.
    """

    def __init__(self, options: Any, cfg: "RunConfig") -> None:
        self.options = options
        self.cfg = cfg

    def setup(self, t: StepContext) -> None:
        """Called once when the run is assembled, before any checkpoint is loaded: check the
        modules (refuse others with a :class:`~ganzoo.errors.ConfigError`), load what the step
        needs besides them."""

    def batches_per_step(self) -> int:
        """How many batches one step consumes (for ``--epochs``, images/s and ``ganzoo bench``)."""
        return 1

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        """One training step; returns detached scalar tensors for the metrics log (names
        ending in ``_loss`` or ``grad_norm`` are watched for NaN and explosions)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint (an image pool, a growth stage...); restored exactly on resume."""
        return {}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict` (called before the networks' weights are loaded)."""

    def preview(self, t: StepContext) -> tuple[torch.Tensor, int | None] | None:
        """Images (in [-1, 1]) for the sample grid and images per row, or ``None`` for the
        default preview of the model's task (samples, translations, reconstructions)."""
        return None


# ---------------------------------------------------------------------------------------
# building blocks

def aux_weight(discriminator) -> float:
    """The auxiliary-classifier weight of a discriminator (0 without an auxiliary classifier)."""
    return discriminator.aux_weight if getattr(discriminator, "aux_classes", None) else 0.0


def discriminator_terms(t: StepContext, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None,
                        real_logits: torch.Tensor, fake_logits: torch.Tensor,
                        real_classes: torch.Tensor | None = None, fake_classes: torch.Tensor | None = None,
                        name: str = "discriminator") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The discriminator's loss for one update: the run's adversarial loss, the auxiliary
    classification terms (AC-GAN) and the run config's penalties (``gp``, ``r1``).

    Args:
        t: the step context.
        real, fake: the batches the logits came from (for the penalties; ``fake`` detached).
        labels: the real batch's labels (or ``None``).
        real_logits, fake_logits: float32 outputs of :meth:`StepContext.discriminate`.
        real_classes, fake_classes: class logits of an auxiliary classifier, if any.
        name: the discriminator's module name.

    Returns:
        ``(d_loss, penalty)``; ``penalty`` (already in ``d_loss``) is ``None`` when none is set.
    """
    discriminator = t.modules[name]
    d_labels = labels if getattr(discriminator, "num_classes", None) else None
    d_loss = discriminator_term(t.loss, real_logits, fake_logits, labels)
    weight = aux_weight(discriminator)
    if weight:
        d_loss = d_loss + weight * (F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, labels))
    penalty = penalties(t, real, fake, d_labels, name=name)
    if penalty is not None:
        d_loss = d_loss + penalty
    return d_loss, penalty


def penalties(t: StepContext, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None = None,
              name: str = "discriminator") -> torch.Tensor | None:
    """The run config's penalties on discriminator ``name``, in float32 outside autocast:
    ``gp`` times WGAN-GP's gradient penalty plus ``r1 / 2`` times R1; ``None`` when neither
    applies. With ``r1_every = k`` (lazy regularisation, Karras et al. 2020), R1 is computed
    only in steps 0, k, 2k, ... and weighted by k, so its average strength is unchanged."""
    cfg, discriminator = t.cfg, t.modules[name]
    penalty = None
    if cfg.gp:
        penalty = cfg.gp * gradient_penalty(discriminator, real, fake.float(), labels)
    weight = r1_weight(t)
    if weight:
        r1 = 0.5 * weight * r1_penalty(discriminator, real, labels)
        penalty = r1 if penalty is None else penalty + r1
    return penalty


def r1_weight(t: StepContext) -> float:
    """The R1 weight gamma to apply in this step: ``r1 * r1_every`` in every ``r1_every``-th
    step (lazy regularisation), 0 in the others and when R1 is off."""
    every = getattr(t.cfg, "r1_every", 1)
    return t.cfg.r1 * every if t.cfg.r1 and t.step % every == 0 else 0.0


def generator_adversarial(t: StepContext, fake_logits: torch.Tensor, labels: torch.Tensor | None = None,
                          fake_classes: torch.Tensor | None = None, real: torch.Tensor | None = None,
                          name: str = "discriminator") -> torch.Tensor:
    """The generator's adversarial loss on ``fake_logits`` (with its auxiliary term). A loss
    that needs the real logits (relativistic) gets them from ``real``, scored by the frozen
    discriminator."""
    discriminator = t.modules[name]
    real_logits = None
    if "real_logits" in t.loss.needs:
        if real is None:
            raise ValueError(f"loss {t.loss.name!r} needs the real batch for the generator's loss")
        d_labels = labels if getattr(discriminator, "num_classes", None) else None
        with torch.no_grad(), t.autocast():
            real_logits, _ = t.discriminate(real, d_labels, name=name)
    g_loss = generator_term(t.loss, fake_logits, real_logits, labels)
    weight = aux_weight(discriminator)
    if weight:
        g_loss = g_loss + weight * F.cross_entropy(fake_classes, labels)
    return g_loss


def generator_loss(t: StepContext, fake_logits: torch.Tensor, real: torch.Tensor,
                   condition: torch.Tensor | None = None, name: str = "discriminator") -> torch.Tensor:
    """The run's generator loss on ``fake_logits`` (a discriminator's logits of generated data,
    judged with ``condition``); a loss that needs the real logits (relativistic) gets them from
    ``real``, scored by the frozen discriminator. The generator term of the image-to-image
    families (pix2pix, SRGAN, the context encoder, StarGAN, VQ-GAN)."""
    real_logits = None
    if "real_logits" in t.loss.needs:
        with torch.no_grad(), t.autocast():
            real_logits, _ = t.discriminate(real, condition, name=name)
    return generator_term(t.loss, fake_logits, real_logits)


def discriminator_update(t: StepContext, real: torch.Tensor, fake: torch.Tensor,
                         condition: torch.Tensor | None = None, stats: dict[str, torch.Tensor] | None = None,
                         scale: float = 1.0, name: str = "discriminator",
                         group: str = "d_optim") -> tuple[torch.Tensor, torch.Tensor]:
    """One update of a discriminator on ``real`` against ``fake`` (detached here): ``scale``
    times the run's adversarial loss plus its ``gp`` / ``r1`` penalties, the optimizer step,
    ``weight_clip`` after it. The step of image-to-image families (pix2pix halves it,
    ``scale=0.5``; SRGAN, the context encoder, VQ-GAN).

    Args:
        condition: what D judges the images with (pix2pix's input ``x``), passed to
            :meth:`StepContext.discriminate` and to the penalties like class labels.
        stats: gets ``penalty`` (when set), ``d_loss`` and the group's gradient norm.

    Returns:
        ``(real_logits, fake_logits)`` the update saw.
    """
    fake = fake.detach()
    with t.autocast():
        real_logits, _ = t.discriminate(real, condition)
        fake_logits, _ = t.discriminate(fake, condition)
    d_loss = discriminator_term(t.loss, real_logits, fake_logits)
    if scale != 1.0:
        d_loss = scale * d_loss
    stats = {} if stats is None else stats
    penalty = penalties(t, real, fake, condition, name=name)
    if penalty is not None:
        d_loss = d_loss + penalty
        stats["penalty"] = penalty.detach()
    d_norm = t.update(d_loss, group)
    if t.cfg.weight_clip:
        clip_weights(t.modules[name], t.cfg.weight_clip)
    stats["d_loss"] = d_loss.detach()
    grad_norm_stats(stats, group, d_norm)
    return real_logits, fake_logits


@torch.no_grad()
def clip_weights(module: torch.nn.Module, limit: float) -> None:
    """Clamp every parameter of ``module`` to ``[-limit, limit]`` (WGAN's weight clipping)."""
    for p in module.parameters():
        p.clamp_(-limit, limit)


def grad_norm_stats(stats: dict[str, torch.Tensor], group: str, norm: torch.Tensor | None) -> None:
    """Put an update's gradient norm in ``stats`` as ``<prefix>_grad_norm`` (``g_optim`` -> ``g``)."""
    if norm is not None:
        stats[f"{group.removesuffix('_optim')}_grad_norm"] = norm.detach()


# ---------------------------------------------------------------------------------------
# the classic schedule

def alternating_step(t: StepContext) -> dict[str, torch.Tensor]:
    """The classic schedule: ``n_critic`` discriminator updates, then one generator update.

    Conditional generators get the real batch's labels, so real and fake batches share
    one label distribution (and the gradient penalty interpolates within a class). The
    fake batch of the last discriminator update is generated once, with gradients, and
    reused for the generator update. Returns detached scalar tensors (no host sync).
    """
    G, D, cfg = t.modules["generator"], t.modules["discriminator"], t.cfg
    primary = t.primary
    for i in range(cfg.n_critic):
        batch = t.batch()
        real, labels = batch[primary], batch.get("label")
        g_labels = labels if G.num_classes else None
        d_labels = labels if D.num_classes else None
        z = t.latent()
        with t.autocast():
            if i == cfg.n_critic - 1:
                fake = t.net("generator")(z, g_labels)
            else:
                with torch.no_grad():
                    fake = t.net("generator")(z, g_labels)
            real_logits, real_classes = t.discriminate(real, d_labels)
            fake_logits, fake_classes = t.discriminate(fake.detach(), d_labels)
        d_loss, penalty = discriminator_terms(t, real, fake, labels, real_logits, fake_logits,
                                              real_classes, fake_classes)
        d_norm = t.update(d_loss, "d_optim")
        if cfg.weight_clip:
            clip_weights(D, cfg.weight_clip)

    with t.frozen("discriminator"):
        with t.autocast():
            g_logits, g_classes = t.discriminate(fake, d_labels)
        g_loss = generator_adversarial(t, g_logits, labels, g_classes, real=real)
        g_norm = t.update(g_loss, "g_optim")
    stats = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **t.loss.scores(real_logits, fake_logits)}
    if penalty is not None:
        stats["penalty"] = penalty.detach()
    grad_norm_stats(stats, "d_optim", d_norm)
    grad_norm_stats(stats, "g_optim", g_norm)
    return stats


class Alternating(Algorithm):
    """``n_critic`` discriminator updates, then one generator update (:func:`alternating_step`)."""

    def setup(self, t: StepContext) -> None:
        model = self.cfg.model.split(":")[-1]
        if not isinstance(t.modules.get("generator"), Generator):
            raise ConfigError(f"algorithm 'alternating' samples G(z); model {model!r}'s generator is not a "
                              f"ganzoo Generator (use the model's own algorithm: `ganzoo info {model}`)")
        if not isinstance(t.modules.get("discriminator"), Discriminator):
            raise ConfigError(f"algorithm 'alternating' scores samples with a ganzoo Discriminator; model "
                              f"{model!r}'s is not one (use the model's own algorithm: `ganzoo info {model}`)")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        return alternating_step(t)
