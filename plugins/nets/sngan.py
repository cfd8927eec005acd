"""SNGAN networks: DCGAN's generator and a spectrally normalised discriminator."""

from __future__ import annotations

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from .dcgan import DCGANDiscriminator, apply_spectral_norm, build_backbone


def build(arch, data: DataShape) -> Networks:
    """Build sngan: no normalisation layers in D, spectral norm on each of its weights."""
    d = DCGANDiscriminator(data.channels, data.image_size, arch.ndf, norm="none")
    nets = build_backbone(arch, data, discriminator=d)  # initialise, then normalise
    apply_spectral_norm(nets.discriminator)
    return nets
