"""What a training step can use: :class:`StepContext`, the plugin API of an algorithm.

An algorithm's ``setup(t)``, ``step(t)`` and ``preview(t)`` get one object ``t`` with the
members below and nothing else: the run's networks, optimizers, data and random streams,
behind a few methods that take care of what a step must not get wrong (DDP and compiled
wrappers, frozen modules, autocast, gradient scaling and health). The training loop is
built around it; a plugin never sees the loop itself.

=========================================  ===================================================
``t.batch()``                              the next batch, ``{field: tensor}`` on the device
``t.latent(dim=None, net=None)``           this process's share of a batch of latents
``t.net(name)``                            module ``name`` as a step should call it
``t.discriminate(x, labels, name=...)``    float32 ``(logits, class_logits)`` of a discriminator
``with t.frozen(*names):``                 those modules collect no parameter gradients
``with t.evaluating(*names):``             those modules in eval mode (previews)
``with t.autocast():``                     the run's autocast precision for forward passes
``t.update(loss, group)``                  backward and optimizer step of one group
``t.lr_factor()``                          what the run's schedule multiplies learning rates by
``t.modules``, ``t.sampling_modules``      the modules themselves; those previews use (EMA)
``t.optimizers``                           optimizer by group (``"g_optim"``, ``"d_optim"``, ...)
``t.cfg``, ``t.loss``, ``t.step``          the run config, the adversarial loss, steps done
``t.device``, ``t.rng``                    the training device; a checkpointed generator
``t.primary``, ``t.preview_examples``      the generated field's name; fixed real examples
``t.is_main``, ``t.run_dir``               whether this process writes files; where they go
=========================================  ===================================================

Example (a step with an L1 term, as ``pix2pix`` does)::

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        batch = t.batch()
        x, y = batch["image"], batch["target"]
        with t.autocast():
            fake = t.net("generator")(x)
        ...
        with t.frozen("discriminator"):
            with t.autocast():
                logits, _ = t.discriminate(fake, x)
            g_loss = generator_adversarial(t, logits) + self.options.lambda_l1 * (fake - y).abs().mean()
            t.update(g_loss, "g_optim")
        return {"g_loss": g_loss.detach()}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Mapping, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from .config import RunConfig
    from .losses import Loss


class StepContext(Protocol):
    """The members an algorithm uses (see the module's table)."""

    cfg: "RunConfig"
    """The run's resolved config (``cfg.n_critic``, ``cfg.gp``, ``cfg.weight_clip``, ...)."""
    loss: "Loss"
    """The run's adversarial loss (see :mod:`ganzoo.losses`)."""
    step: int
    """Steps done before the one in progress (0 in the first step)."""
    device: torch.device
    """The training device; batches and latents arrive there."""
    rng: torch.Generator
    """A CPU generator saved in every checkpoint: draw masks, pools and noise from it and a
    resumed run draws the same numbers."""
    modules: Mapping[str, nn.Module]
    """The model's modules themselves, by name (weights, ``requires_grad``, state)."""
    sampling_modules: Mapping[str, nn.Module]
    """The modules as previews and evaluations use them: their moving averages where the run
    averages them (``--set ema=...``), else the modules themselves."""
    optimizers: Mapping[str, torch.optim.Optimizer]
    """The optimizer of each group (``"g_optim"``, ``"d_optim"``, ...)."""
    primary: str
    """The name of the field a generator produces (``"image"``, ``"points"``, ``"audio"``, ...)."""
    preview_examples: Mapping[str, torch.Tensor]
    """The first items of every field, prepared, fixed for the run (previews of translators)."""
    is_main: bool
    """Whether this process writes files (rank 0 of a multi-process run)."""
    run_dir: Path
    """The run directory (``samples/`` holds what an algorithm's own previews write)."""

    def batch(self) -> dict[str, torch.Tensor]:
        """The next batch, ``{field: tensor}`` on the device (this process's share)."""

    def latent(self, dim: int | None = None, *, net: str | None = None) -> torch.Tensor:
        """This process's share of a batch of latents from the run's checkpointed stream: the
        prior of generator ``net`` (default: the model's sampling generator), or N(0, I) of
        size ``dim``."""

    def net(self, name: str) -> Callable[..., torch.Tensor]:
        """Module ``name`` as a step calls it: through the DDP and compiled wrappers, or the
        module itself while it is :meth:`frozen`."""

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, name: str = "discriminator",
                     frozen: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, class_logits or None)`` of discriminator ``name`` on ``x``, as float32
        whatever the autocast precision (losses are computed in float32)."""

    def frozen(self, *names: str) -> ContextManager[None]:
        """Inside, the named modules collect no parameter gradients; inputs still get theirs
        (the generator's update through the discriminator)."""

    def evaluating(self, *names: str) -> ContextManager[None]:
        """Inside, the named modules (default: all) are in eval mode; after, as they were."""

    def autocast(self) -> ContextManager[None]:
        """The run's autocast precision (``--precision``); a no-op at fp32."""

    def update(self, loss: torch.Tensor, group: str) -> torch.Tensor | None:
        """Backward of ``loss`` and one step of optimizer ``group`` (gradients averaged over
        processes, scaled under fp16). Returns the gradient norm before the step when the
        run watches gradients (not under fp16, whose scaler skips inf steps itself)."""

    def lr_factor(self) -> float:
        """What every group's learning rate is multiplied by in this step: the rollbacks' scale
        times the ``lr_decay`` schedule."""
