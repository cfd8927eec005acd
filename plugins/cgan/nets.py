"""Conditional GAN networks: one-hot labels concatenated to z, a projection or concat D.

- :class:`ProjectionDiscriminator`: logit = head(h) + <embed(y), sum_hw h> (Miyato & Koyama).
- :class:`ConcatDiscriminator`: one-hot label maps appended to the input channels
  (Mirza & Osindero's conditioning, in conv form).
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from ..layers.conditional import class_count, one_hot
from ..layers.dcgan import DCGANDiscriminator, build_backbone


class ProjectionDiscriminator(DCGANDiscriminator):
    """DCGAN's discriminator with a projection term for the label."""

    def __init__(self, channels: int, image_size: int, ndf: int, num_classes: int,
                 norm: str = "batch") -> None:
        super().__init__(channels, image_size, ndf, norm)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, self.feature_channels)
        # N(0, 0.02) like the other weights, divided by the map's side because the term sums
        # over base*base positions: it starts at about the scale of the unconditional head.
        nn.init.normal_(self.embed.weight, 0.0, 0.02 / self.feature_size)

    def forward(self, x, labels=None):
        if labels is None:
            raise ValueError("the projection discriminator needs labels")
        h = self.features(x)
        return self.head(h) + (self.embed(labels) * h.sum(dim=(2, 3))).sum(dim=1)


class ConcatDiscriminator(DCGANDiscriminator):
    """DCGAN's discriminator reading the image plus one constant one-hot map per class."""

    def __init__(self, channels: int, image_size: int, ndf: int, num_classes: int,
                 norm: str = "batch") -> None:
        super().__init__(channels, image_size, ndf, norm, extra_channels=num_classes)
        self.num_classes = num_classes

    def forward(self, x, labels=None):
        maps = one_hot(labels, self.num_classes, x.dtype)[:, :, None, None]
        return super().forward(torch.cat([x, maps.expand(-1, -1, *x.shape[2:])], dim=1))


DISCRIMINATORS = {"projection": ProjectionDiscriminator, "concat": ConcatDiscriminator}


def build(arch, data: DataShape) -> Networks:
    """Build cgan for labelled ``data`` with the options in ``arch`` (a CGANConfig)."""
    k = class_count(data, "cgan")
    d = DISCRIMINATORS[arch.conditioning](data.channels, data.image_size, arch.ndf, k, arch.d_norm)
    return build_backbone(arch, data, num_classes=k, discriminator=d)
