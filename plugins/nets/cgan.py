"""Conditional GAN networks: one-hot labels concatenated to z, a projection or concat D."""

from __future__ import annotations

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from .conditional import ConcatDiscriminator, ProjectionDiscriminator, class_count
from .dcgan import build_backbone

DISCRIMINATORS = {"projection": ProjectionDiscriminator, "concat": ConcatDiscriminator}


def build(arch, data: DataShape) -> Networks:
    """Build cgan for labelled ``data`` with the options in ``arch`` (a CGANConfig)."""
    k = class_count(data, "cgan")
    d = DISCRIMINATORS[arch.conditioning](data.channels, data.image_size, arch.ndf, k, arch.d_norm)
    return build_backbone(arch, data, num_classes=k, discriminator=d)
