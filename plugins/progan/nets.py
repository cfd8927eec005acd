"""Progressive GAN's growing networks (Karras et al. 2018).

Networks (the paper's table 2, scaled by ``ngf``/``ndf``; ``w(r)`` the width at resolution r,
``ngf`` up to ``full_width_until`` and halved at each doubling beyond):

* generator: ``z -> pixel norm -> dense to w(4) x 4 x 4 (the paper's 4x4 "conv" on a 1x1 input) ->
  LReLU -> PN -> conv3x3 -> LReLU -> PN``, then per resolution ``nearest-upsample x2 -> conv3x3 ->
  LReLU -> PN -> conv3x3 -> LReLU -> PN``; a 1x1 ``toRGB`` per resolution (linear output).
* discriminator, mirrored: a 1x1 ``fromRGB`` (+ LReLU) per resolution; per resolution
  ``conv3x3 -> LReLU -> conv3x3 -> LReLU -> avg-pool x2``; at 4x4 ``minibatch std (group 4) ->
  conv3x3 -> LReLU -> dense w(4) -> LReLU -> dense 1``.
* every conv and dense layer has the equalised learning rate: weights drawn N(0, 1) and scaled
  at run time by He's constant ``gain / sqrt(fan_in)`` (gain sqrt(2); 1 for toRGB and the last
  dense layer; sqrt(2)/4 for the generator's first dense layer, as the official code); biases 0.

Growth state: both networks hold two buffers, ``stage`` (0 = 4x4, 1 = 8x8, ...) and ``alpha``
(the fade-in weight of the newest stage, 1 when stable), so a checkpoint's ``generator.safetensors``
knows which resolution it was trained to. The algorithm (:mod:`.algorithm`) sets them from the
step at the start of every step (its schedule is a pure function of the step: a resume, even
mid-fade, is exact).

``generator(z)`` always returns full-size images (the current resolution nearest-upsampled to the
image size, clamped to [-1, 1]), so previews, ``ganzoo sample`` and FID work at every stage;
``generator(z, native=True)`` returns the current resolution with the paper's linear, unclamped
output (what the algorithm trains on and the discriminator sees). The discriminator takes images of any size and
average-pools them to the current resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Generator, MinibatchStd, Networks

SQRT2 = math.sqrt(2.0)

def resolutions(image_size: int) -> list[int]:
    """``[4, 8, ..., image_size]``; refuses a size that is not a power of two of at least 8."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ConfigError(f"progan grows 4x4 -> 8x8 -> ... by doubling, so the image size must be a power of "
                          f"two of at least 8 (e.g. 32 for MNIST), got {image_size}; set --image-size")
    return [4 * 2 ** i for i in range(int(math.log2(image_size)) - 1)]


def width(base: int, resolution: int, full_width_until: int) -> int:
    """Channels at ``resolution``: ``base`` up to ``full_width_until``, halved at each doubling beyond."""
    if resolution <= full_width_until:
        return base
    return max(1, base * full_width_until // resolution)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit mean square (the paper's section 4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class EqualizedConv2d(nn.Module):
    """A conv with the equalised learning rate: N(0, 1) weights scaled by ``gain / sqrt(fan_in)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        c_out, c_in, k, _ = self.weight.shape
        return f"{c_in}, {c_out}, kernel_size={k}, scale={self.scale:.4g}"


class EqualizedLinear(nn.Module):
    """A dense layer with the equalised learning rate."""

    def __init__(self, c_in: int, c_out: int, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        c_out, c_in = self.weight.shape
        return f"{c_in}, {c_out}, scale={self.scale:.4g}"


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class GConvPair(nn.Module):
    """Two 3x3 convs, each followed by LReLU 0.2 and pixel norm."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_out, 3)
        self.conv2 = EqualizedConv2d(c_out, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(lrelu(self.conv1(x)))
        return pixel_norm(lrelu(self.conv2(x)))


class DBlock(nn.Module):
    """``conv3x3 -> LReLU -> conv3x3 -> LReLU -> avg-pool x2`` (halves the resolution)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_in, 3)
        self.conv2 = EqualizedConv2d(c_in, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(lrelu(self.conv2(lrelu(self.conv1(x)))), 2)


def upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of a square batch to ``size``."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="nearest")


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pooling of a square batch to ``size`` (exact box filter for power-of-two factors)."""
    return x if x.shape[-1] == size else F.adaptive_avg_pool2d(x, size)


class Growing:
    """The growth buffers shared by both networks: ``stage`` and ``alpha``."""

    def _init_growth(self, n_stages: int) -> None:
        self.n_stages = n_stages
        self.register_buffer("stage", torch.zeros((), dtype=torch.int64))
        self.register_buffer("alpha", torch.ones((), dtype=torch.float32))

    def set_growth(self, stage: int, alpha: float) -> None:
        """Train/show stage ``stage`` (0 = 4x4) with fade-in weight ``alpha``."""
        if not 0 <= stage < self.n_stages:
            raise ValueError(f"stage {stage} outside 0..{self.n_stages - 1}")
        self.stage.fill_(stage)
        self.alpha.fill_(alpha)

    def growth(self) -> tuple[int, float]:
        """``(stage, alpha)`` as Python numbers."""
        return int(self.stage.item()), float(self.alpha.float().item())

    @property
    def resolution(self) -> int:
        return 4 * 2 ** int(self.stage.item())


class ProGANGenerator(Growing, Generator):
    """The growing generator (see the module docstring)."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, ngf: int, full_width_until: int) -> None:
        super().__init__(latent_dim, (channels, image_size, image_size))
        self.resolutions = resolutions(image_size)
        self._init_growth(len(self.resolutions))
        widths = [width(ngf, r, full_width_until) for r in self.resolutions]
        self.base_channels = widths[0]
        self.dense = EqualizedLinear(latent_dim, widths[0] * 16, gain=SQRT2 / 4)
        self.base_conv = EqualizedConv2d(widths[0], widths[0], 3)
        self.blocks = nn.ModuleList(GConvPair(c_in, c_out) for c_in, c_out in zip(widths, widths[1:]))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, channels, 1, gain=1.0) for c in widths)

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        """Images at the current resolution (linear output, fade-in applied)."""
        stage, alpha = self.growth()
        x = self.dense(pixel_norm(z)).reshape(z.shape[0], self.base_channels, 4, 4)
        x = pixel_norm(lrelu(x))
        x = pixel_norm(lrelu(self.base_conv(x)))
        previous = x
        for i in range(1, stage + 1):
            previous = x
            x = self.blocks[i - 1](upsample(x, x.shape[-1] * 2))
        out = self.to_rgb[stage](x)
        if stage and alpha < 1.0:
            low = upsample(self.to_rgb[stage - 1](previous), out.shape[-1])
            out = torch.lerp(low, out, torch.as_tensor(alpha, dtype=out.dtype, device=out.device))
        return out

    def forward(self, z, labels=None, native: bool = False):
        out = self.synthesize(z)
        if native:
            return out
        return upsample(out, self.out_shape[-1]).clamp(-1.0, 1.0)


class ProGANDiscriminator(Growing, Discriminator):
    """The growing discriminator (see the module docstring)."""

    def __init__(self, channels: int, image_size: int, ndf: int, full_width_until: int, mbstd: int) -> None:
        super().__init__((channels, image_size, image_size))
        self.resolutions = resolutions(image_size)
        self._init_growth(len(self.resolutions))
        widths = [width(ndf, r, full_width_until) for r in self.resolutions]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, c, 1) for c in widths)
        # blocks[i - 1] takes resolution resolutions[i] to resolutions[i - 1]
        self.blocks = nn.ModuleList(DBlock(c_big, c_small) for c_small, c_big in zip(widths, widths[1:]))
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        c = widths[0]
        self.final_conv = EqualizedConv2d(c + (1 if mbstd else 0), c, 3)
        self.final_dense = EqualizedLinear(c * 16, c)
        self.out = EqualizedLinear(c, 1, gain=1.0)

    def forward(self, x, labels=None):
        stage, alpha = self.growth()
        resolution = self.resolutions[stage]
        x = downsample(x, resolution)
        h = lrelu(self.from_rgb[stage](x))
        if stage:
            h = self.blocks[stage - 1](h)
            if alpha < 1.0:
                low = lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(low, h, torch.as_tensor(alpha, dtype=h.dtype, device=h.device))
            for i in range(stage - 1, 0, -1):
                h = self.blocks[i - 1](h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = lrelu(self.final_conv(h))
        h = lrelu(self.final_dense(h.flatten(1)))
        return self.out(h).flatten()


def build(arch, data: DataShape) -> Networks:
    """The growing pair for ``data`` (square images of a power-of-two size of at least 8)."""
    generator = ProGANGenerator(arch.latent_dim, data.channels, data.image_size, arch.ngf, arch.full_width_until)
    discriminator = ProGANDiscriminator(data.channels, data.image_size, arch.ndf, arch.full_width_until,
                                        arch.mbstd)
    return Networks(generator, discriminator)
