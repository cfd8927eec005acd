"""CycleGAN's networks (Zhu et al. 2017): ResNet generators and PatchGAN discriminators, after
the paper's appendix and its official code (junyanz/pytorch-CycleGAN-and-pix2pix), scaled to
the data:

* generator ``c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-C`` with reflection
  padding, instance norm (no affine parameters, no running statistics, as the official code)
  and tanh. ``n_blocks`` defaults by image size: 9 from 256 px, 6 from 128 px (the paper's),
  3 below (28 px MNIST: the bottleneck is 7x7).
* PatchGAN discriminator ``C(ndf) [no norm] - C(2ndf) - ... - C(ndf 2^d_layers) [stride 1] -
  conv to 1 [stride 1]``, 4x4 convolutions, LeakyReLU 0.2. ``d_layers=3`` is the paper's 70x70
  PatchGAN (C64-C128-C256-C512); the default ``d_layers=2`` (C64-C128-C256) has a 34x34
  receptive field and, at 28 px, a 5x5 map of patch logits.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Networks, Translator

from ..layers.init import init_weights  # the official code's "normal" init: N(0, 0.02), the same as DCGAN's
from ..layers.norm import norm_layer
from ..layers.patchgan import patch_map_sizes, patch_receptive_field, patchgan_stack
from ..layers.residual import ResidualBlock

MODULES = ("g_ab", "g_ba", "d_a", "d_b")
"""The modules CycleGAN builds: the two translators, then the discriminators of domain A and B."""

NORMS = ("instance", "batch", "none")
"""The normalisations of ``arch.norm``; instance norm is the paper's."""


def cyclegan_norm(kind: str, channels: int) -> nn.Module:
    """``"instance"``: InstanceNorm2d without affine parameters or running statistics (the
    paper's, as the official code); ``"batch"``: BatchNorm2d; ``"none"``: nothing."""
    return norm_layer(kind, channels, kinds=NORMS)


def default_blocks(image_size: int) -> int:
    """Residual blocks by image size: 9 from 256 px, 6 from 128 px (the paper's), else 3."""
    return 9 if image_size >= 256 else 6 if image_size >= 128 else 3


class ResnetTranslator(Translator):
    """The CycleGAN generator: ``c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-C``.

    Args:
        in_shape, out_shape: ``(channels, size, size)`` of its input and output domains
            (same spatial size; the size must be a multiple of 4: two stride-2 stages).
        ngf: channels of the first layer.
        n_blocks: residual blocks at the bottleneck (``size / 4``).
        norm: ``instance`` (the paper's), ``batch`` or ``none``.
        input_field, output_field: the data fields it reads and makes (``image``/``image_b``).

    Example::

        g_ab = ResnetTranslator((1, 28, 28), (1, 28, 28), ngf=32, n_blocks=3, norm="instance",
                                input_field="image", output_field="image_b")
        g_ab(torch.zeros(2, 1, 28, 28)).shape   # (2, 1, 28, 28), in [-1, 1]
    """

    def __init__(self, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int], *, ngf: int,
                 n_blocks: int, norm: str, input_field: str, output_field: str) -> None:
        super().__init__(in_shape, out_shape, input_field=input_field, output_field=output_field)
        c_in, c_out = in_shape[0], out_shape[0]
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(c_in, ngf, 7, bias=bias),
                                   cyclegan_norm(norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):  # d2ngf, d4ngf
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       cyclegan_norm(norm, ngf * mult * 2), nn.ReLU(True)]
        # the paper's R-k: reflect-pad, conv3x3, norm, ReLU, reflect-pad, conv3x3, norm, plus the input
        layers += [ResidualBlock(ngf * 4, lambda c: cyclegan_norm(norm, c), lambda c: nn.ReLU(True),
                                 reflect=True, bias=bias) for _ in range(n_blocks)]
        for mult in (4, 2):  # u2ngf, ungf
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias),
                       cyclegan_norm(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c_out, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.n_blocks = n_blocks

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(Discriminator):
    """The PatchGAN discriminator: one logit per overlapping patch, ``[N, 1, h, w]``.

    Args:
        in_shape: ``(channels, size, size)`` of its domain.
        ndf: channels of the first layer (doubled per layer, at most 8x).
        d_layers: stride-2 layers: 3 is the paper's 70x70 PatchGAN (C64-C128-C256-C512).
        norm: ``instance`` (the paper's), ``batch`` or ``none``; never on the first layer.

    Attributes:
        receptive_field: the side in pixels of the patch each logit sees.
        patch_shape: ``(h, w)`` of the logit map for ``in_shape``.
    """

    def __init__(self, in_shape: tuple[int, int, int], *, ndf: int, d_layers: int, norm: str) -> None:
        super().__init__(in_shape)
        channels, size = in_shape[0], in_shape[-1]
        sizes = patch_map_sizes(size, d_layers)
        self.receptive_field = patch_receptive_field(d_layers)
        self.patch_shape = (sizes[-1], sizes[-1])
        # instance norm needs more than one value per channel; the logit map at least one patch
        if sizes[-1] < 1 or (norm == "instance" and min(sizes[:-1]) < 2):
            raise ConfigError(f"a PatchGAN with d_layers={d_layers} cannot judge {size}x{size} images "
                              f"(its maps would be {'-'.join(map(str, sizes))}); use a smaller "
                              f"--set arch.d_layers or a larger --image-size")
        self.net = nn.Sequential(*patchgan_stack(channels, ndf, d_layers, lambda c: cyclegan_norm(norm, c),
                                                 bias=norm != "batch"))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


def _domain_shapes(data: DataShape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The image shapes of domain A (``image``) and B (``image_b``; A's when the data has no
    second domain, e.g. a conformance kit building on plain image shapes)."""
    a = data.fields["image"].shape if "image" in data.fields else (data.channels, data.image_size, data.image_size)
    b = data.fields["image_b"].shape if "image_b" in data.fields else a
    return tuple(a), tuple(b)


def build(arch, data: DataShape) -> Networks:
    """The four CycleGAN networks for ``data``, initialised N(0, 0.02).

    Returns:
        ``Networks`` with ``g_ab``, ``g_ba`` (exported), ``d_a``, ``d_b``; ``g_optim`` updates
        both generators, ``d_optim`` both discriminators.
    """
    shape_a, shape_b = _domain_shapes(data)
    if len(shape_a) != 3 or len(shape_b) != 3:
        raise ConfigError("cyclegan translates images; the data has no image fields")
    if shape_a[1:] != shape_b[1:]:
        raise ConfigError(f"cyclegan maps images of one size to the same size; domain A is "
                          f"{shape_a[1]}x{shape_a[2]}, B {shape_b[1]}x{shape_b[2]} (set --image-size)")
    size = shape_a[-1]
    if shape_a[1] != size or size % 4:
        raise ConfigError(f"cyclegan needs square images whose size is a multiple of 4 (two stride-2 "
                          f"stages), got {shape_a[1]}x{size}; set --image-size (e.g. 28, 32, 64, 128, 256)")
    n_blocks = arch.n_blocks if arch.n_blocks is not None else default_blocks(size)
    g_ab = ResnetTranslator(shape_a, shape_b, ngf=arch.ngf, n_blocks=n_blocks, norm=arch.norm,
                            input_field="image", output_field="image_b")
    g_ba = ResnetTranslator(shape_b, shape_a, ngf=arch.ngf, n_blocks=n_blocks, norm=arch.norm,
                            input_field="image_b", output_field="image")
    d_a = PatchDiscriminator(shape_a, ndf=arch.ndf, d_layers=arch.d_layers, norm=arch.norm)
    d_b = PatchDiscriminator(shape_b, ndf=arch.ndf, d_layers=arch.d_layers, norm=arch.norm)
    for module in (g_ab, g_ba, d_a, d_b):
        module.apply(init_weights)
    return Networks(modules={"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b},
                    optimizers={"g_optim": ("g_ab", "g_ba"), "d_optim": ("d_a", "d_b")},
                    export=("g_ab", "g_ba"))
