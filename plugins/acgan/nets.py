"""AC-GAN networks: a conditional generator and a discriminator with a class head."""

from __future__ import annotations

from torch import nn

from ganzoo.data import DataShape
from ganzoo.networks import Networks

from ..layers.conditional import class_count
from ..layers.dcgan import DCGANDiscriminator, build_backbone


class AuxClassifierDiscriminator(DCGANDiscriminator):
    """DCGAN's discriminator (no label input) with a second head that classifies the image
    (Odena et al.): an unconditional logit plus class logits."""

    def __init__(self, channels: int, image_size: int, ndf: int, num_classes: int,
                 norm: str = "batch", aux_weight: float = 1.0) -> None:
        super().__init__(channels, image_size, ndf, norm)
        self.aux_classes = num_classes
        self.aux_weight = aux_weight
        self.classifier = nn.Conv2d(self.feature_channels, num_classes, self.feature_size)

    def forward(self, x, labels=None):
        h = self.features(x)
        return self.head(h), self.classifier(h).flatten(1)


def build(arch, data: DataShape) -> Networks:
    """Build acgan for labelled ``data`` with the options in ``arch`` (an ACGANConfig)."""
    k = class_count(data, "acgan")
    d = AuxClassifierDiscriminator(data.channels, data.image_size, arch.ndf, k, arch.d_norm,
                                   arch.aux_weight)
    return build_backbone(arch, data, num_classes=k, discriminator=d)
