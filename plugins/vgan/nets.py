"""VGAN networks (Vondrick, Pirsiavash & Torralba 2016, arXiv:1609.02612),
after the paper's section 3 and its official code (cvondrick/videogan, ``main.lua``), scaled to
the clip's size.

**Generator** (:class:`TwoStreamGenerator`): ``z`` (100-d) feeds two streams.

- the *foreground* stream, 3-D transposed convs: ``z`` -> a ``t0 x s0 x s0`` volume of
  ``ngf * 2^(k-1)`` channels (one transposed conv whose kernel is that volume), then ``k - 1``
  upsamplings halving the channels down to ``ngf``, each BN + ReLU; two heads upsample once
  more: a video ``f`` (C channels, tanh) and a mask ``m`` (1 channel, sigmoid);
- the *background* stream, 2-D transposed convs with the same widths: one static image ``b``
  (C channels, tanh);

and the clip is ``m * f + (1 - m) * b`` (``b`` repeated over time). At 64x64 x 32 frames this
is the paper's network (ngf 64: 512-256-128-64 channels, 2x4x4 -> 32x64x64). Spatially every
upsampling doubles (4x4x4 kernels, stride 2): the frame side must be ``s0 * 2^k`` with
``s0`` in 4..7 and ``k >= 1`` (8, 16, 28, 32, 64, ...). In time only the last ``kt`` of them
double (``kt`` = the most times the frame count halves, at most ``k``); the others keep the
length (kernel 3, stride 1). 32x32 x 16 frames: 2x4x4 -> 4x8x8 -> 8x16x16 -> 16x32x32, as the
paper's first four steps; 64x64 x 20 frames: 5x4x4 -> 5x8x8 -> 5x16x16 -> 10x32x32 -> 20x64x64.

**Discriminator** (:class:`VideoDiscriminator`): the mirror: ``k`` strided 3-D convs (4x4x4,
stride 2; in time the first ``kt`` halve, the others keep the length with kernel 3), ``ndf``
channels doubling, LeakyReLU 0.2, no normalisation on the first layer and ``arch.d_norm`` on
the others (batch norm, the paper's; layer norm when a gradient penalty is on, which the core
switches to), then one conv over the remaining ``t0 x s0 x s0`` volume to one logit.

Initialisation as the official code: conv weights N(0, 0.01), biases 0, batch-norm scales
N(1, 0.02).

The training step is in :mod:`.algorithm`.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Generator, Networks

from ..layers.init import normal_init
from ..layers.norm import norm_layer

def size_plan(side: int) -> tuple[int, int]:
    """``(s0, k)`` with ``side == s0 * 2**k``, ``4 <= s0 <= 7`` and ``k >= 1``.

    Example::

        >>> size_plan(32), size_plan(28), size_plan(64)
        ((4, 3), (7, 2), (4, 4))
    """
    base, k = side, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, k = base // 2, k + 1
    if not 4 <= base <= 7 or k < 1:
        raise ConfigError(f"vgan cannot make {side}x{side} frames: the side must be 4-7 times a power of two, "
                          "at least 8 (e.g. 16, 28, 32, 64); set --image-size")
    return base, k


def time_plan(frames: int, k: int) -> tuple[int, int]:
    """``(t0, kt)``: the clip starts as ``t0`` frames and doubles ``kt`` times, with ``kt`` the
    most times ``frames`` halves, at most ``k`` (the spatial upsamplings).

    Example::

        >>> time_plan(16, 3), time_plan(32, 4), time_plan(20, 4), time_plan(3, 2)
        ((2, 3), (2, 4), (5, 2), (3, 0))
    """
    if frames < 2:
        raise ConfigError(f"vgan generates clips of at least 2 frames; the data has {frames}")
    kt = 0
    while kt < k and frames % 2 ** (kt + 1) == 0:
        kt += 1
    return frames // 2 ** kt, kt


def time_step(doubles: bool) -> tuple[int, int, int]:
    """``(kernel, stride, padding)`` in time: 4, 2, 1 to double (or halve), 3, 1, 1 to keep."""
    return (4, 2, 1) if doubles else (3, 1, 1)


D_NORMS = ("batch", "layer", "none")
"""The discriminator's normalisations after its first layer (``arch.d_norm``); batch norm is the paper's."""

init_weights = normal_init(0.01, convs=(nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d),
                           norms=(nn.BatchNorm2d, nn.BatchNorm3d))
"""The official code's initialisation: conv weights N(0, 0.01), biases 0, BN scales N(1, 0.02)."""


def widths(base: int, k: int) -> list[int]:
    """Channels of the ``k`` hidden levels, widest first: ``base * 2^(k-1), ..., base``."""
    return [base * 2 ** (k - 1 - i) for i in range(k)]


class TwoStreamGenerator(Generator):
    """VGAN's generator: ``forward(z)`` maps ``[N, latent_dim]`` to clips ``[N, C, T, H, W]``
    in [-1, 1], ``m * f + (1 - m) * b`` (see the module's docstring).

    Args:
        latent_dim: size of ``z``.
        out_shape: ``(C, T, H, W)`` with ``H == W``.
        ngf: channels of the last hidden level of both streams (doubling towards ``z``).

    Raises:
        ConfigError: a clip shape the streams cannot make (one line).
    """

    def __init__(self, latent_dim: int, out_shape: tuple[int, int, int, int], ngf: int = 32) -> None:
        super().__init__(latent_dim, out_shape)
        channels, frames, height, width = out_shape
        if height != width:
            raise ConfigError(f"vgan makes square frames; the data's are {height}x{width}")
        s0, k = size_plan(height)
        t0, kt = time_plan(frames, k)
        self.plan = {"s0": s0, "k": k, "t0": t0, "kt": kt}
        chans = widths(ngf, k)

        video: list[nn.Module] = [nn.ConvTranspose3d(latent_dim, chans[0], (t0, s0, s0), bias=False),
                                  nn.BatchNorm3d(chans[0]), nn.ReLU(True)]
        image: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, chans[0], s0, bias=False),
                                  nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for level in range(1, k):  # upsampling `level - 1`; the heads are upsampling k - 1
            kernel, stride, pad = time_step(level - 1 >= k - kt)
            video += [nn.ConvTranspose3d(chans[level - 1], chans[level], (kernel, 4, 4), (stride, 2, 2),
                                         (pad, 1, 1), bias=False), nn.BatchNorm3d(chans[level]), nn.ReLU(True)]
            image += [nn.ConvTranspose2d(chans[level - 1], chans[level], 4, 2, 1, bias=False),
                      nn.BatchNorm2d(chans[level]), nn.ReLU(True)]
        self.foreground = nn.Sequential(*video)
        kernel, stride, pad = time_step(kt > 0)
        head = dict(kernel_size=(kernel, 4, 4), stride=(stride, 2, 2), padding=(pad, 1, 1))
        self.video_head = nn.Sequential(nn.ConvTranspose3d(chans[-1], channels, **head), nn.Tanh())
        self.mask_head = nn.Sequential(nn.ConvTranspose3d(chans[-1], 1, **head), nn.Sigmoid())
        self.background = nn.Sequential(*image, nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1), nn.Tanh())
        self.apply(init_weights)

    def streams(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The three parts: foreground video ``f`` ``[N, C, T, H, W]`` in [-1, 1], mask ``m``
        ``[N, 1, T, H, W]`` in [0, 1] and background ``b`` ``[N, C, H, W]`` in [-1, 1]."""
        hidden = self.foreground(z.view(z.shape[0], -1, 1, 1, 1))
        return self.video_head(hidden), self.mask_head(hidden), self.background(z.view(z.shape[0], -1, 1, 1))

    @staticmethod
    def compose(foreground: torch.Tensor, mask: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """``m * f + (1 - m) * b``, the background repeated in every frame.

        Example::

            >>> f, b = torch.ones(1, 1, 2, 1, 1), -torch.ones(1, 1, 1, 1)
            >>> TwoStreamGenerator.compose(f, torch.tensor([1.0, 0.25]).view(1, 1, 2, 1, 1), b).flatten().tolist()
            [1.0, -0.5]
        """
        return mask * foreground + (1 - mask) * background.unsqueeze(2)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, return_mask: bool = False):
        """Clips ``[N, C, T, H, W]``; with ``return_mask`` also the mask ``[N, 1, T, H, W]``."""
        foreground, mask, background = self.streams(z)
        video = self.compose(foreground, mask, background)
        return (video, mask) if return_mask else video


class VideoDiscriminator(Discriminator):
    """VGAN's discriminator: ``forward(x)`` maps clips ``[N, C, T, H, W]`` to logits ``[N]``.

    Args:
        in_shape: ``(C, T, H, W)`` with ``H == W``.
        ndf: channels of the first layer (doubling at each).
        d_norm: ``"batch"`` (the paper's), ``"layer"`` or ``"none"``; never on the first layer.
    """

    def __init__(self, in_shape: tuple[int, int, int, int], ndf: int = 32, d_norm: str = "batch") -> None:
        super().__init__(in_shape)
        channels, frames, height, width = in_shape
        if height != width:
            raise ConfigError(f"vgan judges square frames; the data's are {height}x{width}")
        s0, k = size_plan(height)
        t0, kt = time_plan(frames, k)
        layers: list[nn.Module] = []
        c_in = channels
        for level, c_out in enumerate(reversed(widths(ndf, k))):
            kernel, stride, pad = time_step(level < kt)
            norm = "none" if level == 0 else d_norm
            layers += [nn.Conv3d(c_in, c_out, (kernel, 4, 4), (stride, 2, 2), (pad, 1, 1), bias=norm == "none"),
                       norm_layer(norm, c_out, kinds=D_NORMS, dims=3), nn.LeakyReLU(0.2, True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.logit = nn.Conv3d(c_in, 1, (t0, s0, s0))
        self.apply(init_weights)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.logit(self.body(x)).flatten()


def build(arch, data: DataShape) -> Networks:
    """The two-stream generator and the 3-D discriminator for ``data``'s ``video`` field."""
    field = data.fields.get("video")
    if field is None or field.kind != "video" or len(field.shape) != 4:
        raise ConfigError("vgan generates video: the data needs a video field [C, T, H, W]")
    shape = tuple(field.shape)
    generator = TwoStreamGenerator(arch.latent_dim, shape, arch.ngf)
    discriminator = VideoDiscriminator(shape, arch.ndf, arch.d_norm)
    return Networks(generator, discriminator)
