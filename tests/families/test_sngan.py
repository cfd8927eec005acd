"""The sngan family: a spectrally normalised discriminator and the paper's hinge loss and Adam."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganzoo.config import resolve_config
from ganzoo.data import DataShape

from ..conftest import BATCH_NORMS, build_tiny, has


def test_sngan_discriminator_is_spectrally_normalised(manager):
    cfg = resolve_config(manager.registry, "sngan")
    assert cfg.loss == "core:hinge" and "d_norm" not in cfg.arch
    assert cfg.d_optim.name == "adam" and cfg.d_optim.lr == 2e-4 and cfg.d_optim.betas == (0.0, 0.9)
    d = build_tiny(manager, "sngan", DataShape(3, 32, None)).discriminator.train()
    assert not has(d, *BATCH_NORMS, nn.GroupNorm)
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():
        for _ in range(5):  # each forward in train mode runs a power iteration
            d(torch.randn(4, 3, 32, 32))
        sigmas = [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in layers]
    assert sigmas == pytest.approx([1.0] * len(layers), abs=0.02)
