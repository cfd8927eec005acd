"""DCGAN networks that adapt to the image size and channel count.

The generator projects z to a ``base x base`` map (base 4..7) and doubles the size
``k`` times; the discriminator mirrors it. 64x64 gives the paper's 4-8-16-32-64
ladder with widths ngf*8..ngf; 28x28 (MNIST) gives 7-14-28; 32x32 gives 4-8-16-32.
"""

from __future__ import annotations

from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Generator, Networks


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


def init_weights(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(Generator):
    def __init__(self, latent_dim: int, channels: int, image_size: int, ngf: int) -> None:
        super().__init__(latent_dim, (channels, image_size, image_size))
        base, k = size_plan(image_size)
        widths = [ngf * 2 ** i for i in reversed(range(k))]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(Discriminator):
    def __init__(self, channels: int, image_size: int, ndf: int) -> None:
        super().__init__((channels, image_size, image_size))
        base, k = size_plan(image_size)
        widths = [ndf * 2 ** i for i in range(k)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        return self.net(x).flatten()


def build(arch, data: DataShape) -> Networks:
    """Build DCGAN for ``data`` with the options in ``arch`` (a DCGANConfig)."""
    generator = DCGANGenerator(arch.latent_dim, data.channels, data.image_size, arch.ngf)
    discriminator = DCGANDiscriminator(data.channels, data.image_size, arch.ndf)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    return Networks(generator, discriminator)
