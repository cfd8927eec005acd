"""Goodfellow et al.'s fully connected GAN, for images of any shape and for points."""

from __future__ import annotations

import math

from torch import nn

from ganzoo.data import DataShape
from ganzoo.networks import Discriminator, Generator, MinibatchStd, Networks


class MLPGenerator(Generator):
    """z -> ``depth`` hidden ReLU layers -> a sample: tanh images ``(C, H, W)`` or linear points."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: int, depth: int,
                 norm: str = "none") -> None:
        super().__init__(latent_dim, out_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(depth):
            layers.append(nn.Linear(width, hidden, bias=norm != "batch"))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU(True))
            width = hidden
        layers.append(nn.Linear(width, math.prod(out_shape)))
        if len(out_shape) == 3:  # images live in [-1, 1]; points are unbounded
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        return self.net(z).view(-1, *self.out_shape)


class MLPDiscriminator(Discriminator):
    """The flattened sample -> ``depth`` hidden LeakyReLU(0.2) layers (optional dropout) -> a logit."""

    def __init__(self, in_shape: tuple[int, ...], hidden: int, depth: int, dropout: float = 0.0,
                 mbstd: int = 0) -> None:
        super().__init__(in_shape)
        layers: list[nn.Module] = []
        width = math.prod(in_shape)
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        if mbstd:  # the batch's spread as one more feature of the last hidden layer
            layers.append(MinibatchStd(mbstd))
            width += 1
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).flatten()


def build(arch, data: DataShape) -> Networks:
    """Build the MLP GAN for ``data`` (images or points) with the options in ``arch``."""
    shape = data.sample_shape
    return Networks(
        MLPGenerator(arch.latent_dim, shape, arch.hidden, arch.depth, arch.g_norm),
        MLPDiscriminator(shape, arch.hidden, arch.depth, arch.dropout, arch.mbstd),
    )
