"""The PatchGAN discriminator's layers (Isola et al. 2017) and its size arithmetic, as pix2pix,
CycleGAN and VQ-GAN use it: one logit per overlapping patch of the input.

The stack: a 4x4 stride-2 conv to ``ndf`` channels (no normalisation), LeakyReLU 0.2;
``d_layers - 1`` more 4x4 stride-2 convs and one 4x4 stride-1 conv, widths doubling up to
``8 ndf``, each with normalisation and LeakyReLU 0.2; a 4x4 stride-1 conv to one logit per patch.
Every conv pads by 1. ``d_layers=3`` is the paper's 70x70 PatchGAN (C64-C128-C256-C512).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

MAX_WIDTH_FACTOR = 8
"""Widths grow ndf, 2 ndf, 4 ndf, 8 ndf and stay at 8 ndf (C512 in the paper)."""


def patchgan_stack(in_channels: int, ndf: int, d_layers: int, norm: Callable[[int], nn.Module],
                   bias: bool) -> list[nn.Module]:
    """The PatchGAN's layers (see the module's docstring), for an ``nn.Sequential``.

    Args:
        in_channels: channels of what it judges (an image, or an image and its condition).
        ndf: channels of the first conv.
        d_layers: stride-2 convs.
        norm: makes the normalisation layer for a width (never on the first conv).
        bias: whether the normalised convs have biases (not needed before a batch norm); the
            first and the last conv always have one.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for n in range(1, d_layers + 1):
        c_next = ndf * min(2 ** n, MAX_WIDTH_FACTOR)
        stride = 2 if n < d_layers else 1  # the last of these keeps the size (C512 in the paper)
        layers += [nn.Conv2d(c, c_next, 4, stride, 1, bias=bias), norm(c_next), nn.LeakyReLU(0.2, True)]
        c = c_next
    layers.append(nn.Conv2d(c, 1, 4, 1, 1))
    return layers


def patch_receptive_field(d_layers: int) -> int:
    """Side of the input patch one PatchGAN logit sees: 16, 34, 70, 142... for 1, 2, 3, 4 layers.

    Two stride-1 4x4 convs (7 px), then each stride-2 4x4 conv: ``r -> 2 (r - 1) + 4``.
    """
    field = 7
    for _ in range(d_layers):
        field = 2 * (field - 1) + 4
    return field


def patch_map_sizes(size: int, d_layers: int) -> list[int]:
    """The map's side after each of the PatchGAN's convs for an input side ``size``; the last is
    the logit map's.

    Example:
        >>> patch_map_sizes(28, 2)
        [14, 7, 6, 5]
    """
    sizes = []
    for stride in [2] * d_layers + [1, 1]:
        size = (size + 2 - 4) // stride + 1
        sizes.append(size)
    return sizes


def patch_map_size(size: int, d_layers: int) -> int:
    """Logits per side of the patch map for an input side ``size``."""
    return patch_map_sizes(size, d_layers)[-1]


def patch_layers(height: int, width: int, d_layers: int | None = None) -> int:
    """The PatchGAN's stride-2 layers: ``d_layers``, or the most (at least 1) whose patch
    is at most half the image's shorter side (3, the paper's 70x70, at 256 px)."""
    if d_layers is not None:
        return d_layers
    side, layers = min(height, width), 1
    while patch_receptive_field(layers + 1) <= side / 2:
        layers += 1
    return layers
