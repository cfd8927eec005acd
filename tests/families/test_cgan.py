"""The cgan family: the discriminator reads the labels (projection or concat)."""

from __future__ import annotations

import pytest
import torch

from ganzoo.config import resolve_config
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError

from ..conftest import build_tiny


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_cgan_discriminator_uses_the_labels(manager, conditioning):
    d = build_tiny(manager, "cgan", DataShape(3, 32, 10), conditioning=conditioning).discriminator.eval()
    assert d.num_classes == 10
    x = torch.randn(1, 3, 32, 32).clamp(-1, 1).expand(10, -1, -1, -1)  # one image, every label
    with torch.no_grad():
        logits = d(x, torch.arange(10))
    assert logits.shape == (10,) and (logits[1:] - logits[0]).abs().min() > 1e-6


def test_cgan_conditioning_option_is_checked(manager):
    with pytest.raises(ConfigError, match="arch.conditioning"):
        resolve_config(manager.registry, "cgan", sets=["arch.conditioning=hadamard"])
