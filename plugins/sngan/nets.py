"""SNGAN networks: DCGAN's generator and a spectrally normalised discriminator."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from ..layers.dcgan import DCGANDiscriminator, build_backbone


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every conv, linear and embedding weight in ``module``
    (Miyato et al. 2018). Call after initialising the weights."""
    for child in list(module.modules()):
        if isinstance(child, (nn.Conv2d, nn.Linear, nn.Embedding)):
            spectral_norm(child)
    return module


def build(arch, data: DataShape) -> Networks:
    """Build sngan: no normalisation layers in D, spectral norm on each of its weights."""
    d = DCGANDiscriminator(data.channels, data.image_size, arch.ndf, norm="none")
    nets = build_backbone(arch, data, discriminator=d)  # initialise, then normalise
    apply_spectral_norm(nets.discriminator)
    return nets
