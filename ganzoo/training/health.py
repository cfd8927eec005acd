"""Training health: NaN, Inf or exploding gradients, watched on the device without a host sync.

Every step folds its losses and gradient norms (stats named ``*_loss`` and ``*grad_norm``) into
one flag on the device; the loop asks for it only at steps where a host sync is cheap or
something is about to be written, and rolls back to the last checkpoint when it is set (see
:meth:`ganzoo.training.loop.Trainer.rollback`).
"""

from __future__ import annotations

import torch

from ..config import RunConfig
from ..errors import GanzooError
from .distributed import DistContext, any_true


class TrainingDiverged(GanzooError):
    """NaN/Inf or exploding gradients kept coming back after every allowed rollback."""


def watched(stats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The stats the health check watches: losses and gradient norms."""
    return {k: v for k, v in stats.items() if k.endswith("_loss") or k.endswith("grad_norm")}


class Health:
    """The flag of the steps since the last check, and the rollbacks so far.

    Args:
        cfg: the run config (``max_grad_norm``, ``max_rollbacks``).
        dist: where this process stands (the flag is OR-ed over all processes).
        device: the training device (where the flag lives).
    """

    def __init__(self, cfg: RunConfig, dist: DistContext, device: torch.device) -> None:
        self.cfg, self.dist, self.device = cfg, dist, device
        self.rollbacks = 0
        self._bad: torch.Tensor | None = None

    def watch(self, stats: dict[str, torch.Tensor]) -> None:
        """Fold this step's losses and gradient norms into the flag (no host sync)."""
        values = list(watched(stats).values())
        if not values:
            return
        stacked = torch.stack([v.float().reshape(()) for v in values])
        bad = ~torch.isfinite(stacked).all()
        norms = [v.float().reshape(()) for k, v in stats.items() if k.endswith("grad_norm")]
        if self.cfg.max_grad_norm is not None and norms:
            bad = bad | (torch.stack(norms).max() > self.cfg.max_grad_norm)
        self._bad = bad if self._bad is None else (self._bad | bad)

    def problem(self, stats: dict[str, torch.Tensor], collective: bool = True) -> str | None:
        """Why the steps since the last check went wrong on any process, or ``None``; clears the
        flag. Syncs with the device; with several processes every rank must call it at the same
        step unless ``collective`` is off."""
        flag, self._bad = self._bad, None
        if self.dist.enabled and collective:
            flag = any_true(flag if flag is not None else torch.zeros((), dtype=torch.bool, device=self.device),
                            self.dist)
        if flag is None or not bool(flag):
            return None
        shown = ", ".join(f"{k}={float(v):.4g}" for k, v in watched(stats).items())
        return f"non-finite or exploding values ({shown})"

    def counters(self) -> dict[str, int]:
        return {"rollbacks": self.rollbacks}

    def load_counters(self, counters: dict) -> None:
        self.rollbacks = int(counters["rollbacks"])
        self._bad = None  # the steps it covers are undone by the rollback or the resume

    def allow_rollback(self, bad_step: int, reason: str, target) -> None:
        """Count one more rollback, or raise :class:`TrainingDiverged` when none is left."""
        self.rollbacks += 1
        if self.rollbacks > self.cfg.max_rollbacks or target is None:
            tries = f"after {self.cfg.max_rollbacks} rollback(s)" if self.cfg.max_rollbacks else "(rollbacks off)"
            raise TrainingDiverged(
                f"training diverged at step {bad_step} {tries}: {reason}; the last good checkpoint is "
                f"{target}; try a lower --lr, another loss, or --set max_rollbacks=N")
