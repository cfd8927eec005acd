"""The residual block of the ResNet-style generators (CycleGAN, StarGAN, SRGAN)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """``x + body(x)``, ``body`` = conv3x3 - norm - activation - conv3x3 - norm (He et al. 2016,
    as the image-translation and super-resolution papers use it).

    Args:
        channels: the block's width (input = output).
        norm: makes the normalisation layer for a width, e.g. ``lambda c: nn.BatchNorm2d(c)``.
        activation: makes the activation for a width, e.g. ``lambda c: nn.PReLU(c)``.
        reflect: pad by reflection (a ``ReflectionPad2d(1)`` before each conv, CycleGAN's) instead
            of the convs' zero padding.
        bias: whether the convs have biases (not needed before a batch norm).

    Attributes:
        body: the ``nn.Sequential`` of the layers above (its indices name the checkpoint's keys).

    Example::

        block = ResidualBlock(64, lambda c: nn.BatchNorm2d(c), lambda c: nn.PReLU(c))   # SRGAN's
        block(torch.zeros(2, 64, 7, 7)).shape                                          # (2, 64, 7, 7)
    """

    def __init__(self, channels: int, norm: Callable[[int], nn.Module], activation: Callable[[int], nn.Module],
                 *, reflect: bool = False, bias: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for second in (False, True):
            if reflect:
                layers.append(nn.ReflectionPad2d(1))
            layers += [nn.Conv2d(channels, channels, 3, 1, 0 if reflect else 1, bias=bias), norm(channels)]
            if not second:
                layers.append(activation(channels))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
