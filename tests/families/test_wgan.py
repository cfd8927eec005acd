"""The wgan family: a critic without batch norm."""

from __future__ import annotations

import pytest

from ganzoo.config import resolve_config
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError

from ..conftest import BATCH_NORMS, batch_independent, build_tiny, has


def test_wgan_critic_has_no_batch_norm(manager):
    cfg = resolve_config(manager.registry, "wgan")
    assert cfg.loss == "core:wgan" and cfg.arch["d_norm"] == "layer"
    for d_norm in ("layer", "none"):
        d = build_tiny(manager, "wgan", DataShape(1, 28, None), d_norm=d_norm).discriminator
        assert not has(d, *BATCH_NORMS) and batch_independent(d, (1, 28, 28))
    with pytest.raises(ConfigError, match="arch.d_norm"):
        resolve_config(manager.registry, "wgan", sets=["arch.d_norm=batch"])
