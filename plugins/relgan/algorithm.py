"""RelGAN's training step (Nie, Narodytska & Patel 2019, ICLR).

:class:`RelGANAlgorithm`: for ``t.step < pretrain_steps``, one MLE update of
the generator (cross-entropy of every next token, learning rate ``pretrain_lr``); then, per step,
``n_critic`` discriminator updates (5, the official code's ``dsteps``), each on a fresh real batch
against ``gumbel(g, beta)`` samples, with the run's adversarial loss (RSGAN, our ``rgan``, by
default) and penalties (``gp`` interpolates the real one-hot and the relaxed fake), then one
generator update through the relaxed samples. ``beta`` follows the temperature schedule
(:func:`temperature`); every update's gradients are clipped to global norm ``grad_clip`` (5, the
official code's). Gumbel noise comes from the trainer's checkpointed ``t.rng``.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F

from ganzoo.algorithms import Algorithm, clip_weights, generator_adversarial, grad_norm_stats, penalties
from ganzoo.errors import ConfigError
from ganzoo.losses import discriminator_term
from ganzoo.step import StepContext

from . import RelGANOptions
from .nets import CRITIC, MultiRepDiscriminator, TextGenerator

GUMBEL_EPS = 1e-10
"""``g = -log(-log(u + eps) + eps)``: the official code's guard against log(0)."""


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    """Gumbel(0, 1) samples ``-log(-log(u + eps) + eps)``, ``u`` uniform from ``generator``
    (drawn on the CPU, where the trainer's ``rng`` lives, then moved to ``device``)."""
    g = torch.rand(shape, generator=generator)
    g.add_(GUMBEL_EPS).log_().neg_().add_(GUMBEL_EPS).log_().neg_()  # in place: 6.4M values a batch
    return g.to(device, non_blocking=True)


SCHEDULES = ("exp", "linear", "log", "sqrt", "quad", "sigmoid", "constant")
"""The official code's temperature schedules (``no`` is ``constant``, ``lin`` is ``linear``)."""


def temperature(step: int, beta_max: float, steps: int, schedule: str = "exp") -> float:
    """The inverse temperature ``beta`` of adversarial step ``step`` (0-based) of ``steps``: it
    rises from 1 to ``beta_max`` (RelGAN section 2.3; the official code's ``get_fixed_temperature``)
    and stays there after ``steps``.

    ``exp``: ``beta_max ** (n / N)`` (the paper's); ``linear``: ``1 + (beta_max - 1) n / N``;
    ``log``: ``1 + (beta_max - 1) log(n + 1) / log(N + 1)``; ``sqrt`` and ``quad``: ``1 + (beta_max
    - 1) (n / N) ** (1/2 or 2)``; ``sigmoid``: ``1 + (beta_max - 1) / (1 + exp(20 (1/2 - n / N)))``;
    ``constant``: ``beta_max``.

    Example::

        temperature(500, 100.0, 1000)   # 10.0: halfway, the square root of 100
    """
    if schedule == "constant":
        return float(beta_max)
    n = min(step, steps)
    r = n / steps if steps > 0 else 1.0
    rise = beta_max - 1.0
    if schedule == "exp":
        return float(beta_max ** r)
    if schedule == "linear":
        return 1.0 + rise * r
    if schedule == "log":
        return 1.0 + rise * math.log(n + 1) / math.log(steps + 1) if steps > 0 else float(beta_max)
    if schedule == "sqrt":
        return 1.0 + rise * math.sqrt(r)
    if schedule == "quad":
        return 1.0 + rise * r * r
    if schedule == "sigmoid":
        return 1.0 + rise / (1.0 + math.exp(20.0 * (0.5 - r)))
    raise ValueError(f"unknown temperature schedule {schedule!r} (one of {', '.join(SCHEDULES)})")


def mle_loss(generator: TextGenerator, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every next token (``<pad>`` positions included, as RelGAN's)."""
    logits = generator.teacher_forcing(tokens)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tokens.reshape(-1))


def _clip_hook(max_norm: float):
    """An optimizer step pre-hook that clips the gradients it is about to apply to global norm
    ``max_norm`` (after the trainer's gradient averaging and fp16 unscaling)."""
    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if params:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
    return hook


class RelGANAlgorithm(Algorithm):
    """MLE pre-training, then Gumbel-softmax adversarial training (see the module's docstring).

    Returns (stats): in the MLE phase ``g_loss`` (= ``nll``, nats per token) and ``d_loss`` 0;
    then ``d_loss``, ``penalty`` when set, ``g_loss``, ``temperature`` (beta), the loss's D scores
    and the gradient norms (before clipping).
    """

    options: RelGANOptions

    def setup(self, t) -> None:
        generator, critic = t.modules.get("generator"), t.modules.get(CRITIC)
        if not isinstance(generator, TextGenerator) or not isinstance(critic, MultiRepDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'relgan' trains a text generator with a multi-representation "
                              f"'{CRITIC}'; model {model!r} has other networks")
        if self.options.grad_clip:
            for optimizer in t.optimizers.values():
                optimizer.register_step_pre_hook(_clip_hook(self.options.grad_clip))

    def batches_per_step(self) -> int:
        return self.cfg.n_critic  # the adversarial phase's; an MLE step takes one

    def adversarial_steps(self, t) -> int:
        """N of the temperature schedule: ``temperature_steps``, else the run's steps after the MLE phase."""
        if self.options.temperature_steps:
            return self.options.temperature_steps
        total = getattr(t, "total_steps", None) or self.cfg.steps
        return max(1, total - self.options.pretrain_steps)

    def beta(self, t) -> float:
        """This step's inverse temperature."""
        return temperature(t.step - self.options.pretrain_steps, self.options.temperature_max,
                           self.adversarial_steps(t), self.options.temperature_schedule)

    def _set_generator_lr(self, t, lr: float) -> None:
        factor = t.lr_factor()  # rollbacks and lr_decay still apply
        for group in t.optimizers["g_optim"].param_groups:
            group["lr"] = lr * factor

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        if t.step < self.options.pretrain_steps:
            return self.mle_step(t)
        if t.step == self.options.pretrain_steps and self.options.pretrain_steps > 0:
            # the official code pre-trains with an optimizer of its own: a fresh Adam for the GAN
            t.optimizers["g_optim"].state.clear()
        return self.adversarial_step(t)

    def mle_step(self, t) -> dict[str, torch.Tensor]:
        tokens = t.batch()["tokens"]
        self._set_generator_lr(t, self.options.pretrain_lr)
        with t.autocast():
            loss = mle_loss(t.modules["generator"], tokens)
        norm = t.update(loss, "g_optim")
        stats = {"g_loss": loss.detach(), "nll": loss.detach(), "d_loss": torch.zeros((), device=tokens.device)}
        grad_norm_stats(stats, "g_optim", norm)
        return stats

    def _fake(self, t, n: int, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        G = t.modules["generator"]
        return G.gumbel(gumbel_noise((n, G.length, G.vocabulary), t.rng, t.device), beta)

    def adversarial_step(self, t) -> dict[str, torch.Tensor]:
        cfg, beta = t.cfg, self.beta(t)
        self._set_generator_lr(t, cfg.g_optim.lr)
        stats: dict[str, torch.Tensor] = {}
        for _ in range(cfg.n_critic):
            real = t.batch()["tokens"]
            with torch.no_grad(), t.autocast():
                _, fake = self._fake(t, len(real), beta)
            real_logits, fake_logits = self._critic_update(t, real, fake, stats)
        with t.autocast():
            _, fake = self._fake(t, len(real), beta)
        with t.frozen(CRITIC):
            with t.autocast():
                g_logits, _ = t.discriminate(fake, name=CRITIC)
            g_loss = generator_adversarial(t, g_logits, real=real, name=CRITIC)
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "temperature": torch.tensor(beta),
                      **t.loss.scores(real_logits, fake_logits)})
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats

    def _critic_update(self, t, real: torch.Tensor, fake: torch.Tensor, stats) -> tuple[torch.Tensor, torch.Tensor]:
        """One discriminator update: the run's loss on real ids vs relaxed fakes, its penalties
        (on the real one-hot vectors), the optimizer step and ``weight_clip``."""
        with t.autocast():
            real_logits, _ = t.discriminate(real, name=CRITIC)
            fake_logits, _ = t.discriminate(fake, name=CRITIC)
        d_loss = discriminator_term(t.loss, real_logits, fake_logits)
        if t.cfg.gp or t.cfg.r1:  # interpolations and input gradients need float one-hot vectors
            onehot = F.one_hot(real, fake.shape[-1]).float()
            penalty = penalties(t, onehot, fake, name=CRITIC)
            if penalty is not None:
                d_loss = d_loss + penalty
                stats["penalty"] = penalty.detach()
        d_norm = t.update(d_loss, "d_optim")
        if t.cfg.weight_clip:
            clip_weights(t.modules[CRITIC], t.cfg.weight_clip)
        stats["d_loss"] = d_loss.detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        return real_logits, fake_logits

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}  # the Gumbel noise comes from t.rng and the phase from t.step: the trainer checkpoints both

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        pass
