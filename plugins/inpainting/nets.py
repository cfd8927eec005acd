"""Context-encoder networks (Pathak et al. 2016, arXiv:1604.07379), after the paper and its
official Torch code (pathak22/context-encoder), scaled to the image size.

**Generator** (:class:`ContextEncoderGenerator`, a :class:`~ganzoo.networks.Translator` from
``image`` to ``image``): ``forward(x, mask=None)``. The masked pixels of ``x`` are set to
``arch.fill`` (0, mid grey, by default) and the mask is appended as one more input channel.
Encoder: 4x4 stride-2 convs (LeakyReLU 0.2; batch norm on all but the first) down to a
``base x base`` map (the DCGAN size plan: 28 -> 14 -> 7, 64 -> 32 -> 16 -> 8 -> 4, the paper's
128 -> ... -> 4), widths ngf, 2 ngf, 4 ngf, ...; the bottleneck is either a conv over the
whole map to a 1x1 code of ``latent_dim`` units (BN, LeakyReLU; the paper's adversarial model,
4000 units at 128 px) or the paper's channel-wise fully-connected layer (each channel's map
fully connected to itself, then a 1x1 conv across channels). Decoder: 4x4 transposed convs with
batch norm and ReLU back up, tanh. The output keeps the known pixels of ``x`` and takes the
masked ones from the decoder: ``x * (1 - m) + G * m`` (the paper's blend). Without a mask it
fills the centre square of side ``arch.mask_size`` (default half the side): that is what
``ganzoo sample RUN --input DIR`` does to a user's images.

**Discriminator**: the DCGAN discriminator of :mod:`ganzoo_plugins.layers.dcgan` on the whole
filled image (real images vs filled ones); ``arch.d_norm`` (batch; layer under a gradient
penalty). The paper's centre-region model shows D only the predicted patch; judging the whole
image works for any mask, including the random blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Networks, Translator

from ..layers.dcgan import DCGANDiscriminator, size_plan
from ..layers.init import init_weights

def default_mask_size(side: int, mask_size: int | None) -> int:
    """The centre mask's side: ``mask_size``, or half ``side``; refused unless it leaves context."""
    size = side // 2 if mask_size is None else mask_size
    if size >= side:
        raise ConfigError(f"context-encoder: arch.mask_size={size} is not smaller than the {side}px image; "
                          f"the mask must leave some context to fill it from (at most {side - 1})")
    return size


class ChannelwiseFC(nn.Module):
    """The paper's channel-wise fully-connected layer: each of ``channels`` feature maps of
    ``size x size`` is fully connected to a map of the same size (no connections across
    channels; ``channels * size^4`` weights), then a 1x1 conv mixes the channels."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        area = size * size
        self.weight = nn.Parameter(torch.randn(channels, area, area) * 0.02)
        self.bias = nn.Parameter(torch.zeros(channels, area))
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, c, height, width = h.shape
        flat = h.reshape(n, c, height * width)
        out = torch.einsum("nci,cio->nco", flat, self.weight.to(flat.dtype)) + self.bias.to(flat.dtype)
        return self.mix(out.reshape(n, c, height, width))


class ContextEncoderGenerator(Translator):
    """The context encoder: ``forward(x, mask=None)`` fills ``x`` (``[N, C, H, W]`` in [-1, 1])
    where ``mask`` (``[N, 1, H, W]``, 1 = to fill; default: the centre square) is set.

    Args:
        shape: ``(channels, height, width)`` of the images (square).
        ngf: channels of the first encoder conv.
        latent_dim: units of the 1x1 code (``bottleneck="conv"``).
        bottleneck: ``"conv"`` or ``"channel-fc"``.
        mask_size: side of the default centre mask (``None``: half the side).
        fill: the value masked input pixels are set to.

    Attributes:
        base, levels: the encoder's last map side and its number of stride-2 convs.
        mask_size: the default centre mask's side.
        default_mask: the buffer ``[1, 1, H, W]`` used when no mask is given.
    """

    def __init__(self, shape: tuple[int, int, int], ngf: int = 64, latent_dim: int = 512,
                 bottleneck: str = "conv", mask_size: int | None = None, fill: float = 0.0) -> None:
        super().__init__(shape, shape, input_field="image", output_field="image")
        channels, height, width = shape
        if height != width:
            raise ConfigError(f"context-encoder needs square images, got {height}x{width}")
        self.base, self.levels = size_plan(height)
        self.mask_size = default_mask_size(height, mask_size)
        self.fill = float(fill)
        top = (height - self.mask_size) // 2
        mask = torch.zeros(1, 1, height, width)
        mask[..., top:top + self.mask_size, top:top + self.mask_size] = 1
        self.register_buffer("default_mask", mask, persistent=False)
        widths = [ngf * 2 ** i for i in range(self.levels)]
        encoder: list[nn.Module] = [nn.Conv2d(channels + 1, widths[0], 4, 2, 1, bias=False),
                                    nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            encoder += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                        nn.LeakyReLU(0.2, inplace=True)]
        decoder: list[nn.Module] = []
        if bottleneck == "conv":
            encoder += [nn.Conv2d(widths[-1], latent_dim, self.base, 1, 0, bias=False), nn.BatchNorm2d(latent_dim),
                        nn.LeakyReLU(0.2, inplace=True)]
            decoder += [nn.ConvTranspose2d(latent_dim, widths[-1], self.base, 1, 0, bias=False),
                        nn.BatchNorm2d(widths[-1]), nn.ReLU(True)]
        elif bottleneck == "channel-fc":
            encoder += [ChannelwiseFC(widths[-1], self.base), nn.BatchNorm2d(widths[-1]), nn.ReLU(True)]
        else:
            raise ConfigError(f"unknown bottleneck {bottleneck!r}: use conv or channel-fc")
        for c_in, c_out in zip(widths[::-1], widths[::-1][1:]):
            decoder += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        decoder += [nn.ConvTranspose2d(widths[0], channels, 4, 2, 1), nn.Tanh()]
        self.encoder, self.decoder = nn.Sequential(*encoder), nn.Sequential(*decoder)

    def mask_like(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` as a float ``[N, 1, H, W]`` of 0/1 for ``x``, or the default centre mask."""
        if mask is None:
            return self.default_mask.to(x.dtype).expand(x.shape[0], 1, *x.shape[-2:])
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-2:] != x.shape[-2:] or len(mask) != len(x):
            raise ValueError(f"the mask must be [N, 1, H, W] like the images {tuple(x.shape)}, got {tuple(mask.shape)}")
        return (mask > 0).to(x.dtype)

    def masked_input(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` with the masked pixels set to the fill value (what the encoder sees, and the
        preview's first row)."""
        m = self.mask_like(x, mask)
        return x * (1 - m) + self.fill * m

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        m = self.mask_like(x, mask)
        h = torch.cat([x * (1 - m) + self.fill * m, m], dim=1)
        predicted = self.decoder(self.encoder(h))
        return x * (1 - m) + predicted * m


def build(arch, data: DataShape) -> Networks:
    """The context-encoder generator and a DCGAN discriminator for ``data``'s ``image`` field,
    initialised N(0, 0.02) as in DCGAN; a ``mask`` field must be ``[1, H, W]`` like the image."""
    fields = data.fields
    if "image" not in fields or fields["image"].kind != "image" or len(fields["image"].shape) != 3:
        raise ConfigError("context-encoder fills images: the data needs an image field [C, H, W]")
    shape = tuple(fields["image"].shape)
    if "mask" in fields:
        mask = tuple(fields["mask"].shape)
        if fields["mask"].kind != "mask" or mask != (1, *shape[1:]):
            raise ConfigError(f"context-encoder needs a mask field of shape (1, {shape[1]}, {shape[2]}) like the "
                              f"images; the data's mask is {mask}")
    generator = ContextEncoderGenerator(shape, arch.ngf, arch.latent_dim, arch.bottleneck, arch.mask_size, arch.fill)
    discriminator = DCGANDiscriminator(shape[0], shape[1], arch.ndf, arch.d_norm)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    return Networks(generator, discriminator)
