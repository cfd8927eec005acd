"""The acgan family: the discriminator classifies what it judges and takes no labels."""

from __future__ import annotations

import torch

from ganzoo.data import DataShape

from ..conftest import build_tiny


def test_acgan_discriminator_classifies_and_ignores_labels(manager):
    d = build_tiny(manager, "acgan", DataShape(1, 28, 10), aux_weight=0.5).discriminator.eval()
    assert d.aux_classes == 10 and d.aux_weight == 0.5 and d.num_classes is None
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        logits, class_logits = d(x)
        assert torch.equal(logits, d(x, torch.arange(4) % 10)[0])
    assert logits.shape == (4,) and class_logits.shape == (4, 10)
