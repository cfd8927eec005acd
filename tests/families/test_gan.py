"""The gan family (Goodfellow et al. 2014): fully connected networks, for images or points."""

from __future__ import annotations

from torch import nn

from ganzoo.config import resolve_config
from ganzoo.data import DataShape
from ganzoo.plugins.build import check_model_fits

from ..conftest import BATCH_NORMS, build_tiny, has


def test_gan_generates_unbounded_points(manager):
    shape = DataShape(point_dim=2)
    check_model_fits(manager.registry.get("model", "gan").spec, shape, labelled=False)
    nets = build_tiny(manager, "gan", shape)
    points = nets.generator(nets.generator.sample_latent(8))
    assert points.shape == (8, 2) and not has(nets.generator, nn.Tanh)  # linear output
    assert nets.discriminator(points).shape == (8,)


def test_gan_defaults_follow_goodfellow_and_dcgan(manager):
    cfg = resolve_config(manager.registry, "gan")
    assert cfg.loss == "core:bce"
    assert cfg.g_optim.name == "adam" and cfg.g_optim.lr == 2e-4 and cfg.g_optim.betas == (0.5, 0.999)
    nets = build_tiny(manager, "gan", DataShape(1, 28, None), **cfg.arch)
    d = nets.discriminator
    assert not has(d, *BATCH_NORMS) and not has(d, nn.Sigmoid)
    assert any(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.modules())
    g_norm = build_tiny(manager, "gan", DataShape(point_dim=2), g_norm="batch").generator
    assert has(g_norm, nn.BatchNorm1d)
