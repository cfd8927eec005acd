"""SRGAN's networks (Ledig et al. 2017, arXiv:1609.04802), scaled to 28 px.

**Generator** (:class:`SRResNet`, a :class:`ganzoo.networks.Translator` from the ``image``
field, low resolution, to the ``target`` field, high resolution): a 9x9 conv and PReLU;
``n_blocks`` residual blocks (3x3 conv, BN, PReLU, 3x3 conv, BN, plus the block's input);
a 3x3 conv and BN added to the output of the first conv (the global skip); sub-pixel
upsampling, one ``conv 3x3 -> PixelShuffle(p) -> PReLU`` per prime factor ``p`` of the scale
(4 = 2 x 2, the paper's two x2 stages; an odd scale such as 7 is one PixelShuffle(7)); a 9x9
conv to the output channels and tanh (the images are in [-1, 1]).

**Discriminator** (:class:`VGGDiscriminator`): the paper's VGG-style D: 3x3 conv blocks in
pairs (stride 1, then stride 2) of ndf, 2 ndf, 4 ndf, 8 ndf channels (64-128-256-512 in the
paper), BN (not on the first conv) and LeakyReLU 0.2; then dense ``hidden`` (1024),
LeakyReLU 0.2, dense 1: one logit per image. The paper's four stages take 96 px to 6x6; at
28 px three stages (28-14-7-4) keep a 4x4 map (``arch.d_stages``).

**Scale**: :func:`resolve_scale` decides the input size from the data and ``arch.scale``;
when the data's own input is not at that size, the training step re-derives it
(:func:`ganzoo_plugins.srgan.algorithm.low_resolution`: bicubic, antialiased downsampling) and
the generator reads the derived field ``lr`` (:data:`DERIVED_FIELD`), which the data does not
have.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Networks, Translator

from ..layers.norm import norm_layer
from ..layers.residual import ResidualBlock

DEFAULT_SCALE = 4
"""The paper's factor, used when input and target are one size and arch.scale is null."""

PAPER_STAGES = 4
"""The paper's discriminator: 4 (stride 1, stride 2) pairs, 64-128-256-512 channels."""

DERIVED_FIELD = "lr"
"""The generator's ``input_field`` when its input is re-derived in the step: a field the data
does not have, so the core's check that a translator reads its field at the data's shape
does not apply, and ``ganzoo sample`` asks for ``--input`` (brought to ``in_shape``)."""

MIN_D_MAP = 4
"""The smallest map the discriminator's stages leave (at 28 px: 28-14-7-4)."""


def prime_factors(n: int) -> list[int]:
    """``n``'s prime factors, smallest first: the sub-pixel upsampling stages.

    Example:
        >>> prime_factors(4), prime_factors(6), prime_factors(7)
        ([2, 2], [2, 3], [7])
    """
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


def resolve_scale(image: tuple[int, ...], target: tuple[int, ...] | None,
                  scale: int | None) -> tuple[int, str | None, tuple[int, int, int], tuple[int, int, int]]:
    """``(scale, lr_from, lr_shape, hr_shape)`` for data with ``image`` and ``target`` shapes.

    The data's ratio is target size over image size (an integer, the same in height and
    width). ``scale`` null takes that ratio, or :data:`DEFAULT_SCALE` when the two are one
    size. ``lr_from`` says where the generator's input comes from: ``None`` = the ``image``
    field as it is (scale = the data's ratio); ``"target"`` = the target shrunk by ``scale``
    (the data's input is smaller than its target, at another ratio); ``"image"`` = the image
    shrunk by ``scale`` (the data's input is at the target's size, e.g. ``paired-folder``).
    Without a target (shape checks on plain images) the image is the input and the target
    is ``scale`` times it.

    Raises:
        ConfigError: a target that is not an integer multiple of the input, a scale that does
            not divide the target size (one line each).

    Example:
        >>> resolve_scale((1, 7, 7), (1, 28, 28), None)
        (4, None, (1, 7, 7), (1, 28, 28))
        >>> resolve_scale((1, 7, 7), (1, 28, 28), 2)
        (2, 'target', (1, 14, 14), (1, 28, 28))
    """
    c_in, h, w = image
    if target is None:
        scale = scale or DEFAULT_SCALE
        return scale, None, (c_in, h, w), (c_in, h * scale, w * scale)
    c_out, big_h, big_w = target
    if big_h % h or big_w % w or big_h // h != big_w // w:
        raise ConfigError(f"srgan: the target ({big_h}x{big_w}) is not an integer multiple of the input "
                          f"({h}x{w}); super-resolution pairs need target = scale x input")
    ratio = big_h // h
    scale = scale or (ratio if ratio > 1 else DEFAULT_SCALE)
    if big_h % scale or big_w % scale:
        divisors = [d for d in range(2, big_h + 1) if big_h % d == 0 and big_w % d == 0]
        raise ConfigError(f"srgan: arch.scale={scale} does not divide the {big_h}x{big_w} target; use one of "
                          f"{', '.join(map(str, divisors)) or 'none'}")
    lr_shape = (c_out if ratio > 1 else c_in, big_h // scale, big_w // scale)
    if scale == ratio:
        return scale, None, (c_in, h, w), (c_out, big_h, big_w)
    return scale, ("image" if ratio == 1 else "target"), lr_shape, (c_out, big_h, big_w)


class SRResNet(Translator):
    """The SRGAN generator: ``forward(x)`` maps ``[N, C_in, h, w]`` in [-1, 1] to
    ``[N, C_out, scale h, scale w]`` in [-1, 1].

    Args:
        in_shape, out_shape: ``(channels, height, width)`` of the low- and high-resolution images.
        ngf: channels of the trunk (the paper's 64).
        n_blocks: residual blocks (the paper's 16).
        lr_from: where the step takes the input from (see :func:`resolve_scale`); when set,
            ``input_field`` is :data:`DERIVED_FIELD` (the data has no field at the input's size).

    Attributes:
        scale: the upscaling factor; ``factors`` its sub-pixel stages.
    """

    def __init__(self, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int], ngf: int = 64,
                 n_blocks: int = 16, lr_from: str | None = None) -> None:
        super().__init__(in_shape, out_shape, input_field=DERIVED_FIELD if lr_from else "image",
                         output_field="target")
        c_in, h, w = in_shape
        c_out, big_h, big_w = out_shape
        if big_h % h or big_w % w or big_h // h != big_w // w:
            raise ConfigError(f"srgan: output {big_h}x{big_w} is not an integer multiple of input {h}x{w}")
        self.scale = big_h // h
        self.factors = prime_factors(self.scale)
        self.lr_from = lr_from
        self.head = nn.Sequential(nn.Conv2d(c_in, ngf, 9, 1, 4), nn.PReLU(ngf))
        # the paper's B residual blocks: conv 3x3 - BN - PReLU - conv 3x3 - BN, plus the input
        self.blocks = nn.Sequential(*(ResidualBlock(ngf, nn.BatchNorm2d, nn.PReLU) for _ in range(n_blocks)))
        self.trunk_end = nn.Sequential(nn.Conv2d(ngf, ngf, 3, 1, 1), nn.BatchNorm2d(ngf))
        self.upsample = nn.Sequential(*(nn.Sequential(nn.Conv2d(ngf, ngf * p * p, 3, 1, 1), nn.PixelShuffle(p),
                                                      nn.PReLU(ngf)) for p in self.factors))
        self.tail = nn.Conv2d(ngf, c_out, 9, 1, 4)

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None) -> torch.Tensor:
        first = self.head(x)
        h = first + self.trunk_end(self.blocks(first))
        return torch.tanh(self.tail(self.upsample(h)))


def d_stage_count(size: int, stages: int | None = None) -> int:
    """The discriminator's (stride 1, stride 2) stages: ``stages``, or the paper's 4, fewer
    while the map would shrink below :data:`MIN_D_MAP` (at least 1).

    Example:
        >>> d_stage_count(96), d_stage_count(28), d_stage_count(8)
        (4, 3, 1)
    """
    if stages is not None:
        return stages
    n = 0
    while n < PAPER_STAGES and math.ceil(size / 2 ** (n + 1)) >= MIN_D_MAP:
        n += 1
    return max(1, n)


D_NORMS = ("batch", "layer", "none")
"""The discriminator's normalisations (``arch.d_norm``); batch norm is the paper's."""


class VGGDiscriminator(Discriminator):
    """The paper's discriminator, ``forward(x) -> [N]`` logits of high-resolution images.

    Args:
        in_shape: ``(channels, height, width)`` of the images it judges.
        ndf: channels of the first stage (doubling per stage, at most 8 ndf).
        hidden: width of the dense layer (the paper's 1024).
        stages: (stride 1, stride 2) conv pairs (see :func:`d_stage_count`).
        norm: ``"batch"`` (the paper's), ``"layer"`` or ``"none"``; never on the first conv.
    """

    def __init__(self, in_shape: tuple[int, int, int], ndf: int = 64, hidden: int = 1024,
                 stages: int | None = None, norm: str = "batch") -> None:
        super().__init__(in_shape)
        channels, height, width = in_shape
        self.stages = d_stage_count(min(height, width), stages)
        layers: list[nn.Module] = []
        c, h, w = channels, height, width
        for stage in range(self.stages):
            c_next = ndf * min(2 ** stage, 8)
            for stride in (1, 2):
                first = not layers
                layers.append(nn.Conv2d(c, c_next, 3, stride, 1))
                if not first:  # no norm on the very first conv (the paper's)
                    layers.append(norm_layer(norm, c_next, kinds=D_NORMS))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                c = c_next
            h, w = (h + 1) // 2, (w + 1) // 2
        self.map_shape = (c, h, w)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def build(arch, data: DataShape) -> Networks:
    """The SRResNet generator and the VGG-style discriminator for ``data``'s ``image``
    (low resolution) and ``target`` (high resolution) fields, at ``arch.scale``.

    Without a ``target`` field in ``data`` (shape checks on plain image data) the image is
    the input and the output is ``scale`` times it; training on such data is refused
    earlier, since the model declares ``fields=("target",)``. Weights keep PyTorch's default
    initialisation (the paper does not give one).
    """
    fields = data.fields
    if "image" not in fields or fields["image"].kind != "image" or len(fields["image"].shape) != 3:
        raise ConfigError("srgan super-resolves images: the data needs an image field [C, H, W]")
    target = tuple(fields["target"].shape) if "target" in fields else None
    if target is not None and len(target) != 3:
        raise ConfigError(f"srgan needs a target image [C, H, W]; got {target}")
    _, lr_from, lr_shape, hr_shape = resolve_scale(tuple(fields["image"].shape), target, arch.scale)
    generator = SRResNet(lr_shape, hr_shape, arch.ngf, arch.n_blocks, lr_from)
    discriminator = VGGDiscriminator(hr_shape, arch.ndf, arch.hidden, arch.d_stages, arch.d_norm)
    return Networks(generator, discriminator)
