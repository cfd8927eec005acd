"""AC-GAN networks: a conditional generator and a discriminator with a class head."""

from __future__ import annotations

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from .conditional import AuxClassifierDiscriminator, class_count
from .dcgan import build_backbone


def build(arch, data: DataShape) -> Networks:
    """Build acgan for labelled ``data`` with the options in ``arch`` (an ACGANConfig)."""
    k = class_count(data, "acgan")
    d = AuxClassifierDiscriminator(data.channels, data.image_size, arch.ndf, k, arch.d_norm,
                                   arch.aux_weight)
    return build_backbone(arch, data, num_classes=k, discriminator=d)
