"""An exponential moving average of a run's exported networks (``--set ema=0.999``).

The averaged copies are what a run shows and hands out: the sample grids, ``--eval-every``,
``ganzoo eval`` and ``ganzoo sample`` / :func:`ganzoo.load` use them (``ema=False`` there
gives the raw weights). They are saved in every checkpoint as ``<module>.ema.safetensors``
and restored exactly on resume.

After optimizer step ``s`` (1, 2, ...) every parameter is updated as
``ema = beta * ema + (1 - beta) * param`` with ``beta = min(decay, (1 + s) / (10 + s))``:
the warm-up (as in TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``) keeps the
average of a short run from remembering the random initialisation. Buffers (batch-norm
statistics, spectral-norm vectors) are copied, not averaged.
"""

from __future__ import annotations

import copy
from typing import Mapping

import torch
from torch import nn

def ema_beta(decay: float, step: int) -> float:
    """The averaging weight after optimizer step ``step`` (1-based), with warm-up."""
    return min(decay, (1.0 + step) / (10.0 + step))


class EMA:
    """Averaged copies of ``modules`` (always in eval mode, never trained).

    Args:
        modules: the live modules, by name (a run's exported ones).
        decay: the long-run averaging weight, in [0, 1).
    """

    def __init__(self, modules: Mapping[str, nn.Module], decay: float) -> None:
        self.decay = float(decay)
        self.sources = dict(modules)
        self.copies: dict[str, nn.Module] = {}
        for name, module in self.sources.items():
            average = copy.deepcopy(module).eval()
            average.requires_grad_(False)
            self.copies[name] = average

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold the live weights in after optimizer step ``step``."""
        weight = 1.0 - ema_beta(self.decay, step)
        for name, source in self.sources.items():
            average = self.copies[name]
            params = [p for p in average.parameters() if p.is_floating_point()]
            live = [p.detach() for p in source.parameters() if p.is_floating_point()]
            if params:
                torch._foreach_lerp_(params, live, weight)
            for mine, theirs in zip(average.buffers(), source.buffers()):
                mine.copy_(theirs)

    def state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{name: state_dict}`` of the averaged copies."""
        return {name: module.state_dict() for name, module in self.copies.items()}
