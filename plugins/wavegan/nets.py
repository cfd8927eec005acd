"""WaveGAN networks (Donahue, McAuley & Puckette 2019, arXiv:1802.04208, table 1 and section 3):
a 1-D transposed-conv generator and a 1-D conv critic with phase shuffle, for raw audio.

**Generator** (:class:`WaveGenerator`): ``z ~ U(-1, 1)^latent_dim`` (the paper's prior) ->
dense to ``16 ngf x L0`` -> reshape -> ReLU -> five transposed convs (kernel 25, stride 4,
``16 ngf -> 8 ngf -> 4 ngf -> 2 ngf -> ngf -> C``), ReLU between them, tanh at the end. Each
layer multiplies the length by 4, so ``L0 = T / 4^5`` (16 for the paper's 16,384 samples, 8
for 8,192); clips whose length is not a multiple of 1,024 are refused. No batch norm (the
paper's default). Conditional (``arch.conditional``): a learned label embedding
(``embed_dim``) is concatenated to ``z``.

**Discriminator** (:class:`WaveDiscriminator`): five convs (kernel 25, stride 4, padding 11,
``C -> ndf -> 2 ndf -> 4 ndf -> 8 ndf -> 16 ndf``), LeakyReLU(0.2) after each, phase shuffle
(``n`` = 2) after each but the last, then a dense layer from ``16 ndf x L0`` to one score; no
normalisation (WGAN-GP's gradient penalty is per sample). Conditional: a projection term
``<embed(y), h>`` on the flattened features ``h`` (Miyato & Koyama 2018).

**Phase shuffle** (:func:`phase_shuffle`): each example's activations are shifted in time by
``k`` samples, ``k`` uniform in ``[-n, n]``, the gap filled by reflection (the paper's
choice), so the critic cannot key on the periodic artifacts of transposed convs. The
official code draws one ``k`` per layer for the whole batch; here each example draws its own
(independent samples, as the per-sample gradient penalty assumes). The shifts come from
torch's global generator on the activations' device, which every checkpoint saves and a
resume restores, so a resumed run draws the same shifts. Only in training mode; eval mode
(and the conformance kit's shape checks) sees the identity.

**Polyphase layers** (:class:`StridedConv1d`, :class:`StridedConvTranspose1d`): the paper's
strided convolutions, with ``nn.Conv1d`` / ``nn.ConvTranspose1d`` parameters, computed as
stride-1 convolutions over the signal's four phases; the same outputs, several times faster
on a CPU for the thin layers at the waveform end (measured: the critic's first layer's
forward and backward 1.1 s -> 0.2 s for a batch of 64 at d = 16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Generator, Networks

KERNEL, STRIDE, PADDING = 25, 4, 11
"""The paper's layers: kernel 25, stride 4; padding 11 makes each conv divide the length by 4
exactly, and each transposed conv (with output padding 1) multiply it by 4."""

TAPS = -(-(KERNEL + STRIDE - 1) // STRIDE)
"""7: the taps of each phase of a 25-tap, stride-4 kernel (25 taps padded to 28 = 7 x 4)."""

LAYERS = 5
UPSAMPLING = STRIDE ** LAYERS
"""1,024: the length a clip must be a multiple of (five stride-4 layers)."""

CHANNEL_MULTIPLIERS = (16, 8, 4, 2, 1)
"""The generator's widths in units of ``ngf`` (the critic's, reversed, in units of ``ndf``)."""


def first_length(samples: int) -> int:
    """The generator's first length ``samples / 4^5``.

    Raises:
        ConfigError: ``samples`` is not a positive multiple of 1,024 (one line).

    Example::

        first_length(16384)   # 16, the paper's
    """
    if samples < UPSAMPLING or samples % UPSAMPLING:
        raise ConfigError(f"wavegan makes clips whose length is a multiple of {UPSAMPLING} (five stride-4 layers); "
                          f"the data's clips have {samples} samples (pad or crop them, e.g. to 16384)")
    return samples // UPSAMPLING


def phase_shuffle(x: torch.Tensor, shifts: torch.Tensor, n: int) -> torch.Tensor:
    """Shift each example of ``x`` ``[N, C, T]`` by ``shifts[i]`` samples (``|shift| <= n``),
    filling the gap by reflection: ``out[i, :, t] = x[i, :, t - shifts[i]]``, where an index
    before 0 is reflected to ``-index`` and one past ``T - 1`` to ``2 (T - 1) - index`` (the
    paper's reflection padding, which does not repeat the edge sample).

    Example::

        phase_shuffle(torch.tensor([[[1., 2, 3, 4]]]), torch.tensor([1]), 2)    # [[[2, 1, 2, 3]]]
        phase_shuffle(torch.tensor([[[1., 2, 3, 4]]]), torch.tensor([-2]), 2)   # [[[3, 4, 3, 2]]]
    """
    if n == 0:
        return x
    length = x.shape[-1]
    padded = F.pad(x, (n, n), mode="reflect")
    index = torch.arange(length, device=x.device) + n - shifts.to(x.device).view(-1, 1)
    return padded.gather(2, index.unsqueeze(1).expand(-1, x.shape[1], -1))


class PhaseShuffle(nn.Module):
    """:func:`phase_shuffle` with shifts drawn uniformly from ``[-n, n]`` per example (torch's
    global generator), in training mode only."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.n == 0:
            return x
        shifts = torch.randint(-self.n, self.n + 1, (x.shape[0],), device=x.device)
        return phase_shuffle(x, shifts, self.n)

    def extra_repr(self) -> str:
        return f"n={self.n}"


class StridedConv1d(nn.Conv1d):
    """``nn.Conv1d(cin, cout, 25, stride=4, padding=11)`` computed in polyphase form: the input
    ``[N, C, T]`` is folded into ``[N, 4C, T/4]`` (its four phases as channels) and convolved
    at stride 1 with a 7-tap kernel rearranged from the 25-tap one (zero-padded to 28 taps).
    The output equals the strided convolution's (up to float rounding); the parameters are
    ``nn.Conv1d``'s (same names, shapes and initialisation). Why: PyTorch's CPU convolution
    is several times slower for the strided, few-channel layers at the waveform end (the
    critic's first layer reads 1 channel of 16,384 samples), in the backward pass above all.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, KERNEL, STRIDE, PADDING)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, length = x.shape
        if length % STRIDE:
            raise ConfigError(f"a stride-{STRIDE} layer needs a length that is a multiple of {STRIDE}, got {length}")
        # phases as channels: folded[:, r * C + c, m] = x[:, c, 4 m + r]
        folded = x.view(n, c, length // STRIDE, STRIDE).permute(0, 3, 1, 2).reshape(n, STRIDE * c, -1)
        return F.conv1d(folded, polyphase_kernel(self.weight), self.bias, padding=TAPS // 2)


class StridedConvTranspose1d(nn.ConvTranspose1d):
    """``nn.ConvTranspose1d(cin, cout, 25, stride=4, padding=11, output_padding=1)`` (length
    x 4) in polyphase form: a stride-1 7-tap convolution makes the four output phases as
    channels ``[N, 4 cout, T]``, interleaved into ``[N, cout, 4T]``. Same parameters as
    ``nn.ConvTranspose1d``, same output; faster on CPU for the same reason as
    :class:`StridedConv1d`."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, KERNEL, STRIDE, PADDING, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, length = x.shape
        cout = self.out_channels
        # weight [cin, cout, 25] -> [4 * cout, cin, 7]: phase r of output o, taps reversed
        kernel = polyphase_kernel(self.weight.transpose(0, 1)).view(cout, STRIDE, -1, TAPS)
        kernel = kernel.flip(-1).transpose(0, 1).reshape(STRIDE * cout, -1, TAPS)
        bias = self.bias.repeat(STRIDE) if self.bias is not None else None
        phases = F.conv1d(x, kernel, bias, padding=TAPS // 2)  # [N, r * cout + o, m]
        return phases.view(n, STRIDE, cout, length).permute(0, 2, 3, 1).reshape(n, cout, STRIDE * length)


def polyphase_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A strided conv's kernel ``[cout, cin, 25]`` as the stride-1 kernel ``[cout, 4 cin, 7]``
    that reads the phase-folded input (channel ``r * cin + c`` = phase ``r`` of channel ``c``).

    Output ``j`` of the strided conv reads input ``4 j + k - 11``, ``k = 0..24``; writing that
    input as ``4 (j + t - 3) + r`` gives ``k = 4 t + r - 1`` for tap ``t = 0..6`` of phase
    ``r = 0..3``: the 25 taps, zero-padded by one in front and two behind, laid out ``[t, r]``.
    """
    cout, cin, _ = weight.shape
    padded = F.pad(weight, (1, TAPS * STRIDE - KERNEL - 1))  # [cout, cin, 28]
    return padded.view(cout, cin, TAPS, STRIDE).permute(0, 3, 1, 2).reshape(cout, STRIDE * cin, TAPS)


class WaveGenerator(Generator):
    """WaveGAN's generator: ``forward(z, labels=None)`` maps ``[N, latent_dim]`` (and, when
    conditional, labels ``[N]``) to clips ``[N, C, T]`` in [-1, 1].

    Args:
        latent_dim: size of ``z`` (the paper's 100).
        out_shape: ``(channels, samples)``; ``samples`` a multiple of 1,024.
        ngf: the model size ``d`` of the paper (64); widths ``16 ngf ... ngf``.
        num_classes: label count for the conditional variant, else ``None``.
        embed_dim: size of the label embedding concatenated to ``z``.
    """

    def __init__(self, latent_dim: int, out_shape: tuple[int, int], ngf: int, num_classes: int | None = None,
                 embed_dim: int = 16) -> None:
        super().__init__(latent_dim, out_shape, num_classes)
        channels, samples = out_shape
        self.first_length = first_length(samples)
        widths = [m * ngf for m in CHANNEL_MULTIPLIERS] + [channels]
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.fc = nn.Linear(latent_dim + (embed_dim if num_classes else 0), widths[0] * self.first_length)
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
            layers.append(StridedConvTranspose1d(cin, cout))
            layers.append(nn.ReLU() if i < LAYERS - 1 else nn.Tanh())
        self.net = nn.Sequential(*layers)

    def sample_latent(self, n: int, *, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` latents from the paper's prior, uniform in ``[-1, 1]``: ``[n, latent_dim]``."""
        device = device if device is not None else next(self.parameters()).device
        if generator is not None and generator.device != torch.device(device):
            return (torch.rand(n, self.latent_dim, generator=generator) * 2 - 1).to(device)
        return torch.rand(n, self.latent_dim, generator=generator, device=device) * 2 - 1

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ConfigError("this conditional wavegan generator needs labels (a digit per clip)")
            z = torch.cat([z, self.embed(labels)], dim=1)
        h = self.fc(z).view(z.shape[0], -1, self.first_length)
        return self.net(F.relu(h))


class WaveDiscriminator(Discriminator):
    """WaveGAN's critic: ``forward(x, labels=None)`` maps clips ``[N, C, T]`` to scores ``[N]``.

    Args:
        in_shape: ``(channels, samples)``; ``samples`` a multiple of 1,024.
        ndf: the model size ``d``; widths ``ndf ... 16 ndf``.
        phase_shuffle: the shift radius ``n`` (the paper's 2; 0 turns it off).
        num_classes: label count for the projection term, else ``None``.
    """

    def __init__(self, in_shape: tuple[int, int], ndf: int, phase_shuffle: int = 2,
                 num_classes: int | None = None) -> None:
        super().__init__(in_shape, num_classes)
        channels, samples = in_shape
        length = first_length(samples)
        widths = [channels] + [m * ndf for m in reversed(CHANNEL_MULTIPLIERS)]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
            layers += [StridedConv1d(cin, cout), nn.LeakyReLU(0.2)]
            if i < LAYERS - 1:
                layers.append(PhaseShuffle(phase_shuffle))
        self.net = nn.Sequential(*layers)
        features = widths[-1] * length
        self.fc = nn.Linear(features, 1)
        self.projection = nn.Embedding(num_classes, features) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.net(x).flatten(1)
        out = self.fc(h).squeeze(1)
        if self.projection is not None:
            if labels is None:
                raise ConfigError("this conditional wavegan critic needs labels (a digit per clip)")
            out = out + (self.projection(labels) * h).sum(dim=1)
        return out


def build(arch, data: DataShape) -> Networks:
    """WaveGAN's pair for the data's primary audio field (``[C, T]``, ``T`` a multiple of 1,024).

    Raises:
        ConfigError: the data is not audio, its length is not a multiple of 1,024, or
            ``arch.conditional`` is set for data without labels (one line each).
    """
    field = data.field_of()
    if field is None or field.kind != "audio":
        raise ConfigError(f"wavegan generates audio; the data's primary field is {data.kind}")
    channels, samples = field.shape
    num_classes = None
    if arch.conditional:
        if not data.num_classes:
            raise ConfigError("arch.conditional=true needs labelled audio (FSDD's digits, or an audio folder "
                              "with one subfolder per class); this data has no labels")
        num_classes = data.num_classes
    generator = WaveGenerator(arch.latent_dim, (channels, samples), arch.ngf, num_classes, arch.embed_dim)
    critic = WaveDiscriminator((channels, samples), arch.ndf, arch.phase_shuffle, num_classes)
    return Networks(generator, critic)
