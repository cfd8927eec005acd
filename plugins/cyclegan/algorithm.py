"""CycleGAN's training algorithm (Zhu et al. 2017) and its image pool.

The algorithm (:class:`CycleGAN`) makes one generator update (adversarial terms of both
directions, cycle-consistency L1 both ways, identity L1) and then ``n_critic`` updates of both
discriminators on real images against fakes drawn from each discriminator's
:class:`ImagePool` (Shrivastava et al. 2017).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from ganzoo.algorithms import Algorithm, clip_weights, generator_adversarial, grad_norm_stats, penalties
from ganzoo.errors import ConfigError
from ganzoo.kinds.image import TRANSLATIONS_PER_ROW, stack_rows
from ganzoo.losses import discriminator_term
from ganzoo.step import StepContext

from .nets import MODULES

# ---------------------------------------------------------------------------------------
# the image pool

class ImagePool:
    """A history of generated images (Shrivastava et al. 2017; the official ``ImagePool``).

    Until ``size`` images are stored, each new image is stored and returned. After that,
    each image in turn: with probability 0.5 a uniformly chosen stored image is returned
    and the new one takes its place; otherwise the new image is returned. The coin flips
    and slots come from the generator passed to :meth:`query` (the trainer's checkpointed
    ``t.rng``): for a batch of ``n`` it draws ``n`` uniforms, then ``n`` slots, every time
    (also while filling), so the stream of draws does not depend on the pool's fill.

    Args:
        size: images kept; 0 turns the pool off (:meth:`query` returns its input).

    Example::

        pool = ImagePool(50)
        fakes_for_d = pool.query(fake_b.detach(), t.rng)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: torch.Tensor | None = None  # [size, C, H, W] float32 once the first batch came
        self.count = 0

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch the discriminator sees for ``images`` (detached, float32)."""
        images = images.detach().float()
        if self.size == 0:
            return images
        n = len(images)
        coins = torch.rand(n, generator=generator).tolist()
        slots = torch.randint(self.size, (n,), generator=generator).tolist()
        if self.images is None:
            self.images = torch.zeros(self.size, *images.shape[1:], device=images.device)
        elif self.images.device != images.device:
            self.images = self.images.to(images.device)
        out = images.clone()
        for i in range(n):
            if self.count < self.size:  # filling: store it and show it
                self.images[self.count] = images[i]
                self.count += 1
            elif coins[i] > 0.5:  # show a stored image and keep the new one in its place
                out[i] = self.images[slots[i]]
                self.images[slots[i]] = images[i]
        return out

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """The stored images (only the filled part) and the count, as CPU tensors."""
        state = {f"{prefix}count": torch.tensor(self.count, dtype=torch.int64)}
        if self.count:
            state[f"{prefix}images"] = self.images[:self.count].detach().cpu().contiguous()
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor], prefix: str) -> None:
        """Restore :meth:`state_dict`; the images move to the device at the next query."""
        self.count = int(state[f"{prefix}count"]) if f"{prefix}count" in state else 0
        if self.count > self.size:
            raise ValueError(f"the checkpoint's image pool holds {self.count} images, algo.pool_size is {self.size}")
        self.images = None
        if self.count:
            stored = state[f"{prefix}images"]
            self.images = torch.zeros(self.size, *stored.shape[1:], dtype=torch.float32)
            self.images[:self.count] = stored


# ---------------------------------------------------------------------------------------
# the algorithm

def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference in float32 (the paper's cycle and identity losses)."""
    return F.l1_loss(a.float(), b.float())


class CycleGAN(Algorithm):
    """One generator update, then ``n_critic`` updates of both discriminators.

    Generator update (``g_optim``, both translators, discriminators frozen)::

        g_loss = adv(D_b(G_ab(a))) + adv(D_a(G_ba(b)))
               + lambda_cycle * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
               + lambda_cycle * lambda_identity * (|G_ba(a) - a|_1 + |G_ab(b) - b|_1)

    with ``adv`` the run loss's generator term (``lsgan`` by default; a relativistic loss gets
    the real logits of the frozen discriminator). Discriminator update (``d_optim``)::

        d_loss = 0.5 * d(D_a(a), D_a(pool_a(G_ba(b)))) + 0.5 * d(D_b(b), D_b(pool_b(G_ab(a))))
                 + the run config's penalties (gp, r1) on each discriminator

    The 0.5 is the paper's ("we divide the objective by 2 while optimizing D"). The first
    discriminator update uses this step's fakes; further ones (``n_critic > 1``) draw new
    batches and translate them without gradients. ``weight_clip`` clips both discriminators
    after every update.
    """

    def __init__(self, options, cfg) -> None:
        super().__init__(options, cfg)
        if (cfg.gp or cfg.r1) and cfg.arch.get("norm") == "batch":
            penalty = "gradient penalty (gp)" if cfg.gp else "R1 penalty"
            raise ConfigError(f"batch norm in the discriminators breaks the {penalty}, which is computed "
                              "per sample; use --set arch.norm=instance (the paper's) or none")
        self.pool_a = ImagePool(options.pool_size)  # fakes of domain A, for d_a
        self.pool_b = ImagePool(options.pool_size)  # fakes of domain B, for d_b

    def setup(self, t: StepContext) -> None:
        missing = [name for name in MODULES if name not in t.modules]
        if missing:
            raise ConfigError(f"algorithm 'cyclegan' needs the modules {', '.join(MODULES)}; the model lacks "
                              f"{', '.join(missing)}")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    # the generators' update -------------------------------------------------------------
    def _generator_update(self, t, real_a: torch.Tensor, real_b: torch.Tensor):
        opts = self.options
        lambda_id = opts.lambda_cycle * opts.lambda_identity
        stats: dict[str, torch.Tensor] = {}
        with t.frozen("d_a", "d_b"):
            with t.autocast():
                fake_b = t.net("g_ab")(real_a)
                fake_a = t.net("g_ba")(real_b)
                rec_a = t.net("g_ba")(fake_b)
                rec_b = t.net("g_ab")(fake_a)
                logits_fake_b, _ = t.discriminate(fake_b, name="d_b")
                logits_fake_a, _ = t.discriminate(fake_a, name="d_a")
                if lambda_id:
                    same_b = t.net("g_ab")(real_b)
                    same_a = t.net("g_ba")(real_a)
            adv_ab = generator_adversarial(t, logits_fake_b, real=real_b, name="d_b")
            adv_ba = generator_adversarial(t, logits_fake_a, real=real_a, name="d_a")
            cycle_a, cycle_b = l1(rec_a, real_a), l1(rec_b, real_b)
            g_loss = adv_ab + adv_ba + opts.lambda_cycle * (cycle_a + cycle_b)
            if lambda_id:
                identity_a, identity_b = l1(same_a, real_a), l1(same_b, real_b)
                g_loss = g_loss + lambda_id * (identity_a + identity_b)
                stats.update(identity_a=identity_a.detach(), identity_b=identity_b.detach(),
                             identity=(identity_a + identity_b).detach())
            g_norm = t.update(g_loss, "g_optim")
        stats.update(g_loss=g_loss.detach(), adv_ab=adv_ab.detach(), adv_ba=adv_ba.detach(),
                     cycle_a=cycle_a.detach(), cycle_b=cycle_b.detach(), cycle=(cycle_a + cycle_b).detach())
        grad_norm_stats(stats, "g_optim", g_norm)
        return fake_a.detach(), fake_b.detach(), stats

    # the discriminators' update ---------------------------------------------------------
    def _discriminator_term(self, t, name: str, real: torch.Tensor, fake: torch.Tensor):
        with t.autocast():
            real_logits, _ = t.discriminate(real, name=name)
            fake_logits, _ = t.discriminate(fake, name=name)
        loss = 0.5 * discriminator_term(t.loss, real_logits, fake_logits)
        penalty = penalties(t, real, fake, name=name)
        if penalty is not None:
            loss = loss + penalty
        return loss, penalty, real_logits, fake_logits

    def _discriminator_update(self, t, real_a, real_b, fake_a, fake_b):
        pooled_a = self.pool_a.query(fake_a, t.rng)
        pooled_b = self.pool_b.query(fake_b, t.rng)
        d_a_loss, pen_a, real_a_logits, fake_a_logits = self._discriminator_term(t, "d_a", real_a, pooled_a)
        d_b_loss, pen_b, real_b_logits, fake_b_logits = self._discriminator_term(t, "d_b", real_b, pooled_b)
        d_loss = d_a_loss + d_b_loss
        d_norm = t.update(d_loss, "d_optim")
        if self.cfg.weight_clip:
            for name in ("d_a", "d_b"):
                clip_weights(t.modules[name], self.cfg.weight_clip)
        stats = {"d_loss": d_loss.detach(), "d_a_loss": d_a_loss.detach(), "d_b_loss": d_b_loss.detach()}
        for domain, real_logits, fake_logits in (("a", real_a_logits, fake_a_logits),
                                                 ("b", real_b_logits, fake_b_logits)):
            for key, value in t.loss.scores(real_logits, fake_logits).items():
                stats[key.replace("D(", f"D_{domain}(", 1)] = value
        if pen_a is not None:
            stats["penalty"] = (pen_a + pen_b).detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        return stats

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        """One generator update and ``n_critic`` discriminator updates; detached scalars."""
        batch = t.batch()
        real_a, real_b = batch["image"], batch["image_b"]
        fake_a, fake_b, stats = self._generator_update(t, real_a, real_b)
        for i in range(self.cfg.n_critic):
            if i:  # a fresh batch, translated by the just-updated generators
                batch = t.batch()
                real_a, real_b = batch["image"], batch["image_b"]
                with torch.no_grad(), t.autocast():
                    fake_b, fake_a = t.net("g_ab")(real_a), t.net("g_ba")(real_b)
            d_stats = self._discriminator_update(t, real_a, real_b, fake_a, fake_b)
        stats.update(d_stats)
        return stats

    # checkpointed state -----------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.pool_a.state_dict("pool_a."), **self.pool_b.state_dict("pool_b.")}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.pool_a.load_state_dict(state, "pool_a.")
        self.pool_b.load_state_dict(state, "pool_b.")

    # the sample grid ----------------------------------------------------------------------
    @torch.no_grad()
    def preview(self, t: StepContext) -> tuple[torch.Tensor, int]:
        """Blocks of three rows for fixed examples: A, G_ab(A), G_ba(G_ab(A)); then B, G_ba(B),
        G_ab(G_ba(B)); translators in eval mode."""
        examples = t.preview_examples
        a, b = examples["image"], examples["image_b"]
        g_ab, g_ba = t.sampling_modules["g_ab"], t.sampling_modules["g_ba"]  # averaged ones with --set ema
        with t.evaluating("g_ab", "g_ba"):
            fake_b, fake_a = g_ab(a), g_ba(b)
            rows_a, _ = stack_rows(a, fake_b, g_ba(fake_b))
            rows_b, _ = stack_rows(b, fake_a, g_ab(fake_a))
        return torch.cat([rows_a, rows_b]), TRANSLATIONS_PER_ROW
