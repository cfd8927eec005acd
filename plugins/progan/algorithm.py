"""Progressive GAN's training algorithm (Karras et al. 2018): the fade-in / stable schedule of
the resolutions (:func:`schedule`), the real images faded like the generator's output
(:func:`fade_real`) and the step (:class:`ProGAN`).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from ganzoo.algorithms import Algorithm, clip_weights, generator_adversarial, grad_norm_stats, penalties
from ganzoo.errors import ConfigError
from ganzoo.kinds.image import save_grid
from ganzoo.losses import discriminator_term
from ganzoo.step import StepContext

from .nets import ProGANDiscriminator, ProGANGenerator, downsample, upsample

def fade_real(images: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Real images as the discriminator sees them at ``resolution``: average-pooled to it and,
    while a stage fades in (``alpha < 1``), blended with their half-resolution version
    (upsampled) by ``alpha``, as the generator's output is (the paper's appendix A.1)."""
    x = downsample(images.float() if not images.is_floating_point() else images, resolution)
    if alpha < 1.0:
        low = upsample(F.avg_pool2d(x, 2), resolution)
        x = torch.lerp(low, x, alpha)
    return x


def schedule(step: int, phase_steps: int, n_stages: int) -> tuple[int, float]:
    """``(stage, alpha)`` for training step ``step`` (0-based).

    Phase 0 trains 4x4 (stage 0); phase ``2i - 1`` fades stage ``i`` in, alpha going
    ``0, 1/P, ..., (P-1)/P`` over its ``P = phase_steps`` steps; phase ``2i`` trains stage ``i``
    stable (alpha 1). After the last stage's stable phase, training stays there.
    """
    phase = step // phase_steps
    stage = (phase + 1) // 2
    if stage >= n_stages:
        return n_stages - 1, 1.0
    if phase % 2:  # fading in
        return stage, (step - phase * phase_steps) / phase_steps
    return stage, 1.0


def default_phase_steps(steps: int, n_stages: int) -> int:
    """``--steps`` split evenly over the ``2k - 1`` phases of ``k`` resolutions (at least 1)."""
    return max(1, steps // (2 * n_stages - 1))


class ProGAN(Algorithm):
    """Progressive growing: each step sets both networks' stage and alpha from the step
    (:func:`schedule`), makes ``n_critic`` discriminator updates and one generator update at
    the current resolution.

    Discriminator (``d_optim``)::

        d_loss = d(D(x_r), D(G(z))) + the run config's penalties (WGAN-GP's gp) + eps_drift * E[D(x_r)^2]

    with ``x_r`` the real batch at the current resolution (faded like G's output, see
    :func:`fade_real`). Generator (``g_optim``): the run loss's generator term on ``D(G(z))``.

    At the end of each resolution's stage (and of the run) it writes ``samples/res-<R>.png``:
    a grid of the same latents (``sample_grid`` of them, seed ``seed + 7``) from the sampling
    generator, nearest-upsampled to the image size.
    """

    def __init__(self, options, cfg) -> None:
        super().__init__(options, cfg)
        self.phase_steps = options.stage_steps  # resolved in setup() when null
        self.n_stages = 0

    def setup(self, t: StepContext) -> None:
        G, D = t.modules.get("generator"), t.modules.get("discriminator")
        if not isinstance(G, ProGANGenerator) or not isinstance(D, ProGANDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'progan' grows a progan generator and discriminator; model {model!r} "
                              "has other networks (use `ganzoo train progan`)")
        self.n_stages = G.n_stages
        if self.phase_steps is None:
            self.phase_steps = default_phase_steps(self.cfg.steps, self.n_stages)

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    def growth_at(self, step: int) -> tuple[int, float]:
        return schedule(step, self.phase_steps, self.n_stages)

    def _set_growth(self, t, stage: int, alpha: float) -> None:
        for module in {id(m): m for m in (t.modules["generator"], t.modules["discriminator"],
                                           t.sampling_modules["generator"])}.values():
            module.set_growth(stage, alpha)

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        stage, alpha = self.growth_at(t.step)
        self._set_growth(t, stage, alpha)
        resolution = 4 * 2 ** stage
        primary, eps = t.primary, self.options.eps_drift
        for i in range(self.cfg.n_critic):
            real = fade_real(t.batch()[primary], resolution, alpha)
            z = t.latent()
            with t.autocast():
                if i == self.cfg.n_critic - 1:
                    fake = t.net("generator")(z, None, native=True)
                else:
                    with torch.no_grad():
                        fake = t.net("generator")(z, None, native=True)
                real_logits, _ = t.discriminate(real)
                fake_logits, _ = t.discriminate(fake.detach())
            d_loss = discriminator_term(t.loss, real_logits, fake_logits)
            penalty = penalties(t, real, fake.detach())
            if penalty is not None:
                d_loss = d_loss + penalty
            drift = real_logits.square().mean()
            if eps:
                d_loss = d_loss + eps * drift
            d_norm = t.update(d_loss, "d_optim")
            if self.cfg.weight_clip:
                clip_weights(t.modules["discriminator"], self.cfg.weight_clip)
        with t.frozen("discriminator"):
            with t.autocast():
                g_logits, _ = t.discriminate(fake)
            g_loss = generator_adversarial(t, g_logits, real=real)
            g_norm = t.update(g_loss, "g_optim")
        stats = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "drift": drift.detach(),
                 "resolution": torch.tensor(float(resolution)), "alpha": torch.tensor(alpha),
                 **t.loss.scores(real_logits, fake_logits)}
        if penalty is not None:
            stats["penalty"] = penalty.detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        grad_norm_stats(stats, "g_optim", g_norm)
        total = getattr(t, "total_steps", None) or self.cfg.steps
        if self.growth_at(t.step + 1)[0] != stage or t.step + 1 == total:
            self.save_resolution_grid(t, resolution)
        return stats

    @torch.no_grad()
    def save_resolution_grid(self, t, resolution: int) -> None:
        """``samples/res-<resolution>.png``: the stage's samples, upsampled to the image size."""
        if not t.is_main:
            return
        G = t.sampling_modules["generator"]
        gen = torch.Generator().manual_seed(self.cfg.seed + 7)
        z = G.sample_latent(self.cfg.sample_grid, generator=gen, device="cpu").to(t.device)
        with t.evaluating("generator"):
            was = G.training
            G.eval()
            try:
                images = G(z)
            finally:
                G.train(was)
        save_grid(images, t.run_dir / "samples" / f"res-{resolution}.png")

    # checkpointed state -----------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"phase_steps": torch.tensor(self.phase_steps, dtype=torch.int64)}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        if "phase_steps" in state:
            self.phase_steps = int(state["phase_steps"].item())
