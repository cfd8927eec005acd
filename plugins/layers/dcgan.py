"""The DCGAN backbone (Radford, Metz & Chintala 2015): networks that adapt to the image size
and channel count.

The generator projects z to a ``base x base`` map (base 4..7) and doubles the size
``k`` times; the discriminator mirrors it. 64x64 gives the paper's 4-8-16-32-64
ladder with widths ngf*8..ngf; 28x28 (MNIST) gives 7-14-28; 32x32 gives 4-8-16-32.

The dcgan family is this backbone as it is; cgan, acgan, wgan, sngan, bigan (conv) and the
context encoder build on it: the generator takes an optional class count (one-hot labels
concatenated to z), the discriminator a normalisation choice and extra input channels, and
exposes its feature map (:meth:`DCGANDiscriminator.features`) for class-aware heads. With the
defaults both are exactly the DCGAN of the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Generator, MinibatchStd, Networks

from .conditional import one_hot
from .init import init_weights
from .norm import norm_layer

D_NORMS = ("batch", "layer", "none")
"""The discriminator normalisations the backbone offers (``arch.d_norm``)."""


def size_plan(image_size: int) -> tuple[int, int]:
    """``(base, k)`` with ``image_size == base * 2**k``, ``4 <= base <= 7`` and ``k >= 2``."""
    base, k = image_size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, k = base // 2, k + 1
    if not 4 <= base <= 7 or k < 2:
        raise ConfigError(
            f"dcgan cannot make {image_size}x{image_size} images: the size must be 4-7 times a "
            "power of two, at least 16 (e.g. 28, 32, 64, 128); set --image-size")
    return base, k


def d_norm_layer(kind: str, channels: int) -> nn.Module:
    """The discriminator's normalisation ``kind`` (:data:`D_NORMS`; see
    :func:`ganzoo_plugins.layers.norm.norm_layer`)."""
    return norm_layer(kind, channels, kinds=D_NORMS, what="discriminator normalisation")


class DCGANGenerator(Generator):
    """The DCGAN generator; with ``num_classes``, a conditional one (Mirza & Osindero):
    the one-hot label is concatenated to z before the first layer."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, ngf: int,
                 num_classes: int | None = None) -> None:
        super().__init__(latent_dim, (channels, image_size, image_size), num_classes)
        base, k = size_plan(image_size)
        widths = [ngf * 2 ** i for i in reversed(range(k))]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + (num_classes or 0), widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        if self.num_classes:
            z = torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(Discriminator):
    """The DCGAN discriminator: strided convs, LeakyReLU 0.2, a ``base x base`` conv to one logit.

    Args:
        norm: normalisation after every conv but the first and last: ``"batch"`` (DCGAN),
            ``"layer"`` or ``"none"``. Without batch norm the convs get biases.
        extra_channels: input channels beyond the image's (e.g. label maps), for subclasses.
        mbstd: group size of a minibatch-standard-deviation channel before the last conv; 0 = none.
    """

    def __init__(self, channels: int, image_size: int, ndf: int, norm: str = "batch",
                 extra_channels: int = 0, mbstd: int = 0) -> None:
        super().__init__((channels, image_size, image_size))
        base, k = size_plan(image_size)
        widths = [ndf * 2 ** i for i in range(k)]
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(channels + extra_channels, widths[0], 4, 2, 1, bias=bias),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias),
                       d_norm_layer(norm, c_out), nn.LeakyReLU(0.2, inplace=True)]
        if mbstd:  # the batch's spread as one more channel before the last conv (ProGAN)
            layers.append(MinibatchStd(mbstd))
        layers += [nn.Conv2d(widths[-1] + (1 if mbstd else 0), 1, base, 1, 0, bias=bias)]
        self.net = nn.Sequential(*layers)
        self.feature_channels, self.feature_size = widths[-1] + (1 if mbstd else 0), base

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden feature map, ``[N, feature_channels, base, base]``."""
        for layer in self.net[:-1]:
            x = layer(x)
        return x

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """The unconditional logit ``[N]`` of a feature map."""
        return self.net[-1](features).flatten()

    def forward(self, x, labels=None):
        return self.net(x).flatten()


def build_backbone(arch, data: DataShape, *, num_classes: int | None = None,
                   discriminator: DCGANDiscriminator | None = None) -> Networks:
    """A DCGAN generator (conditional when ``num_classes``) with ``discriminator``
    (default: DCGAN's with ``arch.d_norm``), both initialised as in the paper."""
    generator = DCGANGenerator(arch.latent_dim, data.channels, data.image_size, arch.ngf, num_classes)
    if discriminator is None:
        discriminator = DCGANDiscriminator(data.channels, data.image_size, arch.ndf, arch.d_norm,
                                           mbstd=getattr(arch, "mbstd", 0))
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    return Networks(generator, discriminator)

