"""pix2pix's networks (Isola et al. 2017, arXiv:1611.07004), after the paper and its official
code (junyanz/pytorch-CycleGAN-and-pix2pix), scaled to the image size.

**Generator**: a U-Net. The encoder is C64-C128-C256-C512-C512-... (4x4 convs, stride 2,
LeakyReLU 0.2, no norm on the first layer nor on the bottleneck), down to a 1x1
bottleneck; the decoder mirrors it with 4x4 transposed convs and ReLU, each layer's output
concatenated with the encoder's feature map of the same size (the skip connections), dropout
0.5 in the first three decoder layers (the paper's noise z), tanh at the end. An image whose
side is not a power of two is reflection-padded to the next one and the output cropped back:
28x28 runs at 32x32, 32-16-8-4-2-1 (5 levels).

**Discriminator**: a PatchGAN on the channel concatenation of the input and the (real or
generated) output: C64 (stride 2, no norm) - C128 - ... with ``d_layers`` stride-2 layers,
one stride-1 layer and a stride-1 conv to one logit per patch; ``[N, 1, h, w]`` logits. The
official ``n_layers_D=3`` (70x70 patches) is chosen at 256 px; at 28 px ``d_layers=1``
gives 16x16 patches on a 12x12 map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Networks, Translator

from ..layers.init import init_weights
from ..layers.norm import norm_layer
from ..layers.patchgan import MAX_WIDTH_FACTOR, patch_layers, patch_map_size, patch_receptive_field, patchgan_stack

def width(base: int, level: int) -> int:
    """Channels at encoder level ``level`` (0-based): ``base * min(2**level, 8)``."""
    return base * min(2 ** level, MAX_WIDTH_FACTOR)


def unet_depth(height: int, width_: int, n_down: int | None = None) -> tuple[int, int, int]:
    """``(n_down, padded_height, padded_width)`` of the U-Net for an image of that size.

    By default the U-Net goes down to a 1x1 bottleneck (the paper's 256 px: 8 levels): the
    number of levels is ``ceil(log2(min(H, W)))``. The image is padded to a multiple of
    ``2**n_down`` (28 -> 32 for 5 levels).

    Example:
        >>> unet_depth(28, 28)
        (5, 32, 32)
    """
    if n_down is None:
        n_down = max(1, math.ceil(math.log2(min(height, width_))))
    if n_down > 12:
        raise ConfigError(f"pix2pix: arch.n_down={n_down} is too deep (at most 12)")
    step = 2 ** n_down
    return n_down, math.ceil(height / step) * step, math.ceil(width_ / step) * step


class UNetGenerator(Translator):
    """The pix2pix U-Net: ``forward(x)`` maps ``[N, C_in, H, W]`` in [-1, 1] to
    ``[N, C_out, H, W]`` in [-1, 1].

    Args:
        in_shape, out_shape: ``(channels, height, width)`` of input and output (same size).
        ngf: channels of the first encoder layer.
        n_down: stride-2 levels (``None``: down to a 1x1 bottleneck, see :func:`unet_depth`).
        norm: ``"batch"`` or ``"instance"``.
        dropout: dropout probability in the first ``dropout_layers`` decoder layers.
        dropout_layers: how many decoder layers (from the bottleneck up) get dropout.

    Attributes:
        encoder, decoder: ``nn.ModuleList`` of the levels; ``decoder[i]`` takes the
            concatenation of the level below's output and ``encoder[i]``'s (its skip).
        n_down, padded: the depth and the padded ``(height, width)`` it runs at.
    """

    def __init__(self, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int], ngf: int = 64,
                 n_down: int | None = None, norm: str = "batch", dropout: float = 0.5,
                 dropout_layers: int = 3) -> None:
        super().__init__(in_shape, out_shape, input_field="image", output_field="target")
        c_in, height, width_ = in_shape
        c_out = out_shape[0]
        self.n_down, *padded = unet_depth(height, width_, n_down)
        self.padded = tuple(padded)
        bias = norm != "batch"  # batch norm has its own shift (as the official code)
        widths = [width(ngf, level) for level in range(self.n_down)]
        self.encoder = nn.ModuleList()
        for level, c in enumerate(widths):
            if level == 0:  # the first layer: no activation before it, no norm
                layers = [nn.Conv2d(c_in, c, 4, 2, 1, bias=bias)]
            else:
                innermost = level == self.n_down - 1
                # not in place: the tensor it reads is also the skip of the level above
                layers = [nn.LeakyReLU(0.2), nn.Conv2d(widths[level - 1], c, 4, 2, 1, bias=bias)]
                if not innermost:  # the bottleneck is not normalised (1x1: nothing to normalise over)
                    layers.append(norm_layer(norm, c))
            self.encoder.append(nn.Sequential(*layers))
        # decoder[level] makes the input of the level above: from the bottleneck up
        self.decoder = nn.ModuleList()
        for level in range(self.n_down):
            innermost, outermost = level == self.n_down - 1, level == 0
            c_from = widths[level] * (1 if innermost else 2)  # below's output + this level's skip
            c_to = c_out if outermost else widths[level - 1]
            if outermost:
                layers = [nn.ReLU(True), nn.ConvTranspose2d(c_from, c_to, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(True), nn.ConvTranspose2d(c_from, c_to, 4, 2, 1, bias=bias), norm_layer(norm, c_to)]
                if dropout > 0 and self.n_down - 1 - level < min(dropout_layers, self.n_down - 1):
                    layers.append(nn.Dropout(dropout))
            self.decoder.append(nn.Sequential(*layers))

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Reflection-pad ``x`` to the size the U-Net runs at (centred)."""
        height, width_ = x.shape[-2:]
        dh, dw = self.padded[0] - height, self.padded[1] - width_
        if dh == 0 and dw == 0:
            return x
        mode = "reflect" if dh < height and dw < width_ else "replicate"
        return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode=mode)

    def crop(self, y: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`pad` on an output."""
        height, width_ = self.out_shape[1:]
        top, left = (self.padded[0] - height) // 2, (self.padded[1] - width_) // 2
        return y[..., top:top + height, left:left + width_]

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None) -> torch.Tensor:
        skips = []
        h = self.pad(x)
        for layer in self.encoder:
            h = layer(h)
            skips.append(h)
        h = self.decoder[-1](skips[-1])
        for level in range(self.n_down - 2, -1, -1):
            h = self.decoder[level](torch.cat([skips[level], h], dim=1))
        return self.crop(h)


class PatchDiscriminator(nn.Module):
    """The PatchGAN ``D(y | x)``: one logit per overlapping patch of the pair ``(x, y)``.

    ``forward(y, x)`` takes the image being judged (a target or ``G(x)``) and its input
    ``x``, concatenates them on channels (``[x, y]``, the paper's order) and returns logits
    ``[N, 1, h, w]``. The condition comes second so that the trainer's
    ``discriminate(y, x)`` and the gradient penalties (which take the derivative with
    respect to the first argument) work unchanged: they see ``x`` like class labels.

    Args:
        in_shape: ``(channels, height, width)`` of the images it judges.
        condition_channels: channels of the input ``x``.
        ndf: channels of the first layer.
        d_layers: stride-2 layers (``None``: see :func:`patch_layers`).
        norm: ``"batch"``, ``"instance"``, ``"layer"`` or ``"none"``.

    Attributes:
        receptive_field: the side of the patch each logit sees.
        map_shape: ``(h, w)`` of the logit map.
    """

    num_classes = None  # no class labels (the trainer checks these)
    aux_classes = None

    def __init__(self, in_shape: tuple[int, int, int], condition_channels: int, ndf: int = 64,
                 d_layers: int | None = None, norm: str = "batch") -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.condition_channels = condition_channels
        channels, height, width_ = in_shape
        self.d_layers = patch_layers(height, width_, d_layers)
        self.receptive_field = patch_receptive_field(self.d_layers)
        self.map_shape = (patch_map_size(height, self.d_layers), patch_map_size(width_, self.d_layers))
        if min(self.map_shape) < 1:
            smallest = next(s for s in range(1, 2 ** 16) if patch_map_size(s, self.d_layers) >= 1)
            raise ConfigError(f"pix2pix: a PatchGAN with {self.d_layers} stride-2 layers needs images of at "
                              f"least {smallest}px; set arch.d_layers lower")
        self.net = nn.Sequential(*patchgan_stack(condition_channels + channels, ndf, self.d_layers,
                                                 lambda c: norm_layer(norm, c), bias=norm != "batch"))

    def forward(self, y: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("the pix2pix discriminator judges pairs: call it as D(y, x) with the input x")
        return self.net(torch.cat([x.to(y.dtype), y], dim=1))


def build(arch, data: DataShape) -> Networks:
    """The U-Net generator and the PatchGAN for ``data``'s ``image`` (input) and ``target``
    (output) fields, initialised N(0, 0.02) as in the paper.

    Without a ``target`` field in ``data`` (shape checks on plain image data) the target is
    taken to have the input's shape; training on such data is refused earlier, since the
    model declares ``fields=("target",)``.
    """
    fields = data.fields
    if "image" not in fields or fields["image"].kind != "image":
        raise ConfigError("pix2pix translates images: the data needs an image field")
    in_shape = tuple(fields["image"].shape)
    out_shape = tuple(fields["target"].shape) if "target" in fields else in_shape
    if len(in_shape) != 3 or len(out_shape) != 3:
        raise ConfigError(f"pix2pix needs image fields [C, H, W]; got image {in_shape}, target {out_shape}")
    if in_shape[1:] != out_shape[1:]:
        raise ConfigError(f"pix2pix needs the input and the target at the same size; image is "
                          f"{in_shape[1]}x{in_shape[2]}, target is {out_shape[1]}x{out_shape[2]}")
    generator = UNetGenerator(in_shape, out_shape, arch.ngf, arch.n_down, arch.norm, arch.dropout,
                              arch.dropout_layers)
    discriminator = PatchDiscriminator(out_shape, in_shape[0], arch.ndf, arch.d_layers, arch.d_norm or arch.norm)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    return Networks(generator, discriminator)
