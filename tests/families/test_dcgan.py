"""The dcgan family: the DCGAN backbone as it is, and its discriminator normalisation option."""

from __future__ import annotations

import pytest
from torch import nn

from ganzoo.config import resolve_config
from ganzoo.data import DataShape

from ..conftest import BATCH_NORMS, batch_independent, build_tiny, has


@pytest.mark.parametrize("d_norm", ["layer", "none"])
def test_dcgan_d_norm_removes_batch_norm_from_the_discriminator(manager, d_norm):
    nets = build_tiny(manager, "dcgan", DataShape(3, 32, None), d_norm=d_norm)
    d = nets.discriminator
    assert not has(d, *BATCH_NORMS) and has(nets.generator, nn.BatchNorm2d)
    assert has(d, nn.GroupNorm) == (d_norm == "layer")
    assert all(m.num_groups == 1 for m in d.modules() if isinstance(m, nn.GroupNorm))  # C, H, W
    assert batch_independent(d, (3, 32, 32))


def test_dcgan_keeps_batch_norm_and_its_size_by_default(manager):
    cfg = resolve_config(manager.registry, "dcgan")
    assert cfg.arch["d_norm"] == "batch"
    d = build_tiny(manager, "dcgan", DataShape(3, 64, None), **cfg.arch).discriminator
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    assert has(d, nn.BatchNorm2d) and not batch_independent(d, (3, 64, 64))
