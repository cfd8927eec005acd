"""StarGAN networks (Choi et al. 2018, arXiv:1711.09020), after the paper's appendix (network
architecture) and its official code (yunjey/stargan), scaled to the image size.

**Generator** ``G(x, c)`` (:class:`StarGenerator`, a multi-domain :class:`Translator`): the
target domain ``c`` becomes ``num_domains`` one-hot maps concatenated to the image's channels;
then a 7x7 conv (ngf), two 4x4 stride-2 downsamplings (2 ngf, 4 ngf), ``n_blocks`` residual
blocks (3x3 conv - IN - ReLU - 3x3 conv - IN, plus the input), two 4x4 stride-2 transposed
convs (2 ngf, ngf), a 7x7 conv to the image's channels and tanh. Every hidden conv is followed
by instance norm (with affine parameters, as the official code) and ReLU. The official code's
instance norm also tracks running statistics and uses them in eval mode; here it does not
(``track_running_stats=False``): a translation in eval mode is the one training optimised.
28 px: 28 -> 14 -> 7 at the bottleneck; the image side must be a multiple of 4.

**Discriminator** (:class:`StarDiscriminator`): ``d_layers`` 4x4 stride-2 convs (ndf, 2 ndf,
4 ndf, ...), each followed by LeakyReLU(0.01), no normalisation (the paper's); two heads on the
last map: ``D_src``, a 3x3 stride-1 conv to one logit per patch (``[N, 1, h, w]``), and
``D_cls``, a conv whose kernel covers the whole map, to ``num_domains`` domain logits
(``[N, num_domains]``). ``forward`` returns ``(src_logits, domain_logits)``: the trainer's
``discriminate`` and the gradient penalties take the first (the penalties on each sample's mean
patch logit, as for the PatchGANs). It does not set ``aux_classes``: its classes are domains,
not the digit labels the core's AC-GAN terms would use; the ``stargan`` algorithm adds the
domain terms itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Networks, Translator

from ..layers.residual import ResidualBlock

DEFAULT_DOMAINS = 5
"""Domains of a generator built for data without a ``domain`` field (shape checks): mnist-domains' 5."""


def default_blocks(size: int) -> int:
    """Residual blocks by image side: 6 (the paper's) from 64 px, 3 below."""
    return 6 if size >= 64 else 3


def default_d_layers(size: int) -> int:
    """The most 4x4 stride-2 layers that leave a map of at least 2x2: 6 at 128 px (the paper's),
    3 at 28 px (28 -> 14 -> 7 -> 3)."""
    layers = 1
    while conv_map(size, layers + 1) >= 2:
        layers += 1
    return layers


def conv_map(size: int, layers: int) -> int:
    """Side of the map after ``layers`` 4x4 stride-2 padding-1 convs."""
    for _ in range(layers):
        size = (size + 2 - 4) // 2 + 1
    return size


def check_domains(domain: torch.Tensor, num_domains: int) -> None:
    """Refuse a domain index outside ``0..num_domains-1`` in one line (ConfigError)."""
    if domain.numel() == 0:
        return
    low, high = int(domain.min()), int(domain.max())
    if low < 0 or high >= num_domains:
        bad = low if low < 0 else high
        raise ConfigError(f"unknown domain {bad}: this StarGAN generator translates to domains 0..{num_domains - 1}")


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Instance norm with affine parameters (the official code's), without running statistics."""
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class StarGenerator(Translator):
    """StarGAN's ``G(x, c)``: ``forward(x, domain)`` maps ``[N, C, H, W]`` in [-1, 1] and target
    domains ``[N]`` (int64; an int is taken for the whole batch) to ``[N, C, H, W]`` in [-1, 1].

    Args:
        in_shape: ``(channels, height, width)``; height and width multiples of 4.
        num_domains: how many domains ``domain`` indexes.
        ngf: channels of the first layer.
        n_blocks: residual blocks at the bottleneck.

    Raises:
        ConfigError: at build, a size that is not a multiple of 4; at ``forward``, a domain
            outside ``0..num_domains-1``.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_domains: int, ngf: int = 32, n_blocks: int = 3) -> None:
        super().__init__(in_shape, in_shape, input_field="image", output_field="image", num_domains=num_domains)
        channels, height, width = in_shape
        if height % 4 or width % 4:
            raise ConfigError(f"stargan: the generator downsamples twice, so it needs an image size that is a "
                              f"multiple of 4; got {height}x{width} (use --image-size)")
        self.n_blocks = n_blocks
        layers: list[nn.Module] = [nn.Conv2d(channels + num_domains, ngf, 7, 1, 3, bias=False), instance_norm(ngf),
                                   nn.ReLU(inplace=True)]
        c = ngf
        for _ in range(2):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), instance_norm(2 * c), nn.ReLU(inplace=True)]
            c *= 2
        # the paper's residual block: x + IN(conv3x3(ReLU(IN(conv3x3(x)))))
        layers += [ResidualBlock(c, instance_norm, lambda _: nn.ReLU(inplace=True), bias=False)
                   for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), instance_norm(c // 2),
                       nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.Conv2d(c, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, domain: torch.Tensor | int | None = None) -> torch.Tensor:
        if domain is None:
            raise ConfigError(f"this StarGAN generator needs a target domain (0..{self.num_domains - 1})")
        if isinstance(domain, int):
            domain = torch.full((x.shape[0],), domain, dtype=torch.long, device=x.device)
        check_domains(domain, self.num_domains)
        maps = F.one_hot(domain.to(x.device).long(), self.num_domains).to(x.dtype)
        maps = maps.view(x.shape[0], self.num_domains, 1, 1).expand(-1, -1, *x.shape[-2:])
        return self.net(torch.cat([x, maps], dim=1))


class StarDiscriminator(Discriminator):
    """StarGAN's discriminator: ``forward(x)`` returns ``(src_logits [N, 1, h, w],
    domain_logits [N, num_domains])``.

    Args:
        in_shape: ``(channels, height, width)`` of the images it judges.
        num_domains: domain logits of ``D_cls``.
        ndf: channels of the first layer (doubling at each).
        d_layers: 4x4 stride-2 layers (``None``: :func:`default_d_layers`).

    Attributes:
        map_shape: ``(h, w)`` of the last feature map (and of the patch logits).
    """

    def __init__(self, in_shape: tuple[int, int, int], num_domains: int, ndf: int = 32,
                 d_layers: int | None = None) -> None:
        super().__init__(in_shape)
        channels, height, width = in_shape
        self.num_domains = num_domains
        self.d_layers = d_layers or default_d_layers(min(height, width))
        self.map_shape = (conv_map(height, self.d_layers), conv_map(width, self.d_layers))
        if min(self.map_shape) < 1:
            raise ConfigError(f"stargan: a discriminator with d_layers={self.d_layers} cannot judge "
                              f"{height}x{width} images; set arch.d_layers lower")
        layers: list[nn.Module] = []
        c_in, c = channels, ndf
        for _ in range(self.d_layers):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.01)]
            c_in, c = c, 2 * c
        self.body = nn.Sequential(*layers)
        self.src = nn.Conv2d(c_in, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(c_in, num_domains, self.map_shape, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.src(h), self.cls(h).flatten(1)


def build(arch, data: DataShape) -> Networks:
    """The generator and the discriminator for ``data``'s ``image`` field; the number of domains
    is the ``domain`` field's class count (:data:`DEFAULT_DOMAINS` without one). PyTorch's
    default initialisation, as the official code."""
    fields = data.fields
    if "image" not in fields or fields["image"].kind != "image" or len(fields["image"].shape) != 3:
        raise ConfigError("stargan translates images: the data needs an image field [C, H, W]")
    shape = tuple(fields["image"].shape)
    num_domains = DEFAULT_DOMAINS
    if "domain" in fields:
        num_domains = fields["domain"].classes
        if not num_domains or num_domains < 2:
            raise ConfigError(f"stargan needs at least 2 domains; the data's domain field has {num_domains}")
    n_blocks = arch.n_blocks or default_blocks(min(shape[1:]))
    generator = StarGenerator(shape, num_domains, arch.ngf, n_blocks)
    discriminator = StarDiscriminator(shape, num_domains, arch.ndf, arch.d_layers)
    return Networks(generator, discriminator)
