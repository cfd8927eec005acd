"""VQ-GAN first-stage networks (Esser, Rombach & Ommer 2021, arXiv:2012.09841),
after the paper and its description of the official code (CompVis/taming-transformers), scaled to
28x28 digits on a CPU.

**Autoencoder** (:class:`VQAutoencoder`, one ``Translator`` image -> image):

* encoder: 3x3 conv to ``ngf``; per resolution ``n_blocks`` residual blocks (GroupNorm, swish,
  3x3 conv, twice, plus a 1x1 shortcut when the width changes) and a stride-2 3x3 conv (pad
  right/bottom, taming's ``Downsample``), ``n_down`` times; a middle of residual block,
  self-attention, residual block at the lowest resolution; GroupNorm, swish, 3x3 conv to
  ``embed_dim`` (taming's ``conv_out`` and ``quant_conv`` folded into one). Widths: ``ngf`` at
  full resolution, ``2 ngf`` below (taming's ``ch_mult`` (1, 2, 2, ...)).
* quantiser (:class:`VectorQuantizer`): each ``embed_dim`` vector of the grid is replaced by its
  nearest of ``codebook_size`` codes; the gradient passes straight through
  (``z_e + sg(z_q - z_e)``). ``straight-through`` learns the codebook with the codebook loss
  ``||sg(z_e) - z_q||^2``; ``ema`` moves each code to the exponential moving average (decay 0.99)
  of the encoder outputs assigned to it, with Laplace-smoothed counts (van den Oord et al. 2017,
  appendix), its state in module buffers (``embedding``, ``cluster_size``, ``embed_sum``: saved
  with the weights, so a resumed run is exact). Both have the commitment loss
  ``||z_e - sg(z_q)||^2`` (weighted by the algorithm's ``beta``). Unlike taming, the codes are by
  default initialised from the first training batch's encoder outputs (``codebook_init=data``):
  with taming's U(-1/K, 1/K) init a few-hundred-step CPU budget trains a gray average.
* decoder: the mirror image: 3x3 conv from ``embed_dim``, middle (res, attention, res), per
  resolution ``n_blocks + 1`` residual blocks and a nearest-neighbour 2x upsampling followed by a
  3x3 conv; GroupNorm, swish, 3x3 conv to the image channels (the *last layer* of the adaptive
  weight) and tanh (taming has no tanh; here it keeps outputs in the zoo's [-1, 1]).

**Discriminator** (:class:`NLayerDiscriminator`): the PatchGAN of pix2pix (taming's
``NLayerDiscriminator``) on the image alone, one logit per patch, batch norm by default; 1
stride-2 layer at 28 px (16x16 patches), 3 (70x70) at 256 px.

The training step is in :mod:`.algorithm`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Networks, Translator

from ..layers.init import normal_init
from ..layers.norm import norm_layer
from ..layers.patchgan import patch_layers, patch_map_size, patch_receptive_field, patchgan_stack

def group_norm(channels: int) -> nn.GroupNorm:
    """taming's ``Normalize``: GroupNorm with 32 groups, fewer when the width is not a multiple."""
    return nn.GroupNorm(math.gcd(32, channels), channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """GroupNorm - swish - conv3x3 - GroupNorm - swish - conv3x3, plus the input (through a 1x1
    conv when the width changes)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = group_norm(c_in), nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2, self.conv2 = group_norm(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the positions of a feature map (taming's ``AttnBlock``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)
        attn = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)  # [N, HW, HW]
        out = (v @ attn.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv with the padding on the right and bottom only (taming's)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour 2x, then a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def level_widths(ngf: int, n_down: int) -> list[int]:
    """Channels per resolution, full resolution first: ``ngf``, then ``2 ngf`` (taming's ch_mult (1, 2, 2, ...))."""
    return [ngf * (1 if level == 0 else 2) for level in range(n_down + 1)]


def middle(channels: int, attention: bool) -> nn.Sequential:
    return nn.Sequential(ResnetBlock(channels, channels), AttnBlock(channels) if attention else nn.Identity(),
                         ResnetBlock(channels, channels))


class VQEncoder(nn.Module):
    """``[N, C, H, W]`` -> ``[N, embed_dim, H / 2**n_down, W / 2**n_down]`` (before quantisation)."""

    def __init__(self, channels: int, ngf: int, n_blocks: int, n_down: int, embed_dim: int, attention: bool) -> None:
        super().__init__()
        widths = level_widths(ngf, n_down)
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1)]
        c = widths[0]
        for level, c_level in enumerate(widths):
            for _ in range(n_blocks):
                layers.append(ResnetBlock(c, c_level))
                c = c_level
            if level < n_down:
                layers.append(Downsample(c))
        layers += [middle(c, attention), group_norm(c), nn.SiLU(), nn.Conv2d(c, embed_dim, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class VQDecoder(nn.Module):
    """The encoder's mirror: ``[N, embed_dim, h, w]`` -> ``[N, C, h 2**n_down, w 2**n_down]`` in [-1, 1].

    Attributes:
        last_layer: the output conv, whose weight the adaptive GAN weight's gradients are taken at.
    """

    def __init__(self, channels: int, ngf: int, n_blocks: int, n_down: int, embed_dim: int, attention: bool) -> None:
        super().__init__()
        widths = level_widths(ngf, n_down)[::-1]  # lowest resolution first
        c = widths[0]
        layers: list[nn.Module] = [nn.Conv2d(embed_dim, c, 3, 1, 1), middle(c, attention)]
        for level, c_level in enumerate(widths):
            for _ in range(n_blocks + 1):
                layers.append(ResnetBlock(c, c_level))
                c = c_level
            if level < n_down:
                layers.append(Upsample(c))
        layers += [group_norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @property
    def last_layer(self) -> nn.Conv2d:
        return self.net[-2]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VectorQuantizer(nn.Module):
    """Nearest-code quantisation of ``[N, D, h, w]`` with a straight-through gradient.

    Args:
        codebook_size: ``K`` codes.
        embed_dim: ``D``, the size of each code.
        kind: ``"straight-through"`` (codebook is a parameter learned by the codebook loss) or
            ``"ema"`` (codebook is a buffer moved by exponential moving averages in training mode).
        decay, epsilon: the EMA's decay and the Laplace smoothing of its counts.
        data_init: ``"data"``: the codes are set to encoder outputs of the first training batch
            (see :meth:`_data_init`; taming's U(-1/K, 1/K) codes, moved by Adam at about ``lr``
            per step, take thousands of steps to reach the encoder's scale, and until then every
            vector maps to a few codes near 0); ``"uniform"``: taming's U(-1/K, 1/K) only.

    ``forward(z)`` returns ``(z_q, losses)``: ``z_q`` with the straight-through gradient and a dict of
    ``commitment`` (``mean (z_e - sg(z_q))^2``), ``codebook`` (``mean (sg(z_e) - z_q)^2``; 0 for ema),
    ``indices`` ``[N, h, w]``, ``usage`` (distinct codes in the batch) and ``perplexity``
    (``exp`` of the entropy of the batch's code histogram).
    """

    def __init__(self, codebook_size: int, embed_dim: int, kind: str = "straight-through", decay: float = 0.99,
                 epsilon: float = 1e-5, data_init: str = "data") -> None:
        super().__init__()
        if codebook_size < 2:
            raise ConfigError(f"vqgan: arch.codebook_size={codebook_size}: a codebook needs at least 2 codes")
        self.codebook_size, self.embed_dim, self.kind = codebook_size, embed_dim, kind
        self.decay, self.epsilon = decay, epsilon
        init = torch.empty(codebook_size, embed_dim).uniform_(-1.0 / codebook_size, 1.0 / codebook_size)
        if kind == "straight-through":
            self.embedding = nn.Parameter(init)  # taming's nn.Embedding, initialised U(-1/K, 1/K)
        elif kind == "ema":
            # each code starts with a count of 1, so an unused code decays towards 0 instead of
            # being divided by a vanishing count
            self.register_buffer("embedding", init)
            self.register_buffer("cluster_size", torch.ones(codebook_size))
            self.register_buffer("embed_sum", init.clone())
        else:
            raise ConfigError(f"vqgan: unknown quantizer {kind!r}: use straight-through or ema")
        if data_init not in ("data", "uniform"):
            raise ConfigError(f"vqgan: unknown codebook_init {data_init!r}: use data or uniform")
        # 1 once the codes are set from the data (or from the start with the uniform init): a buffer,
        # so a resumed run does not initialise again
        self.register_buffer("initialised", torch.tensor(0 if data_init == "data" else 1, dtype=torch.uint8))

    @torch.no_grad()
    def _data_init(self, z: torch.Tensor) -> None:
        """Set the codes to encoder outputs of the first training batch, evenly spaced over its
        ``N h w`` vectors (no random draw); with fewer vectors than codes they are reused, each
        repeat scaled by ``1 + 0.01 r`` so that no two codes coincide."""
        flat = z.detach().float().permute(0, 2, 3, 1).reshape(-1, self.embed_dim)
        m = flat.shape[0]
        if m >= self.codebook_size:
            index = torch.linspace(0, m - 1, self.codebook_size, device=flat.device).round().long()
            codes = flat[index]
        else:
            index = torch.arange(self.codebook_size, device=flat.device)
            codes = flat[index % m] * (1 + 0.01 * (index // m)).unsqueeze(1).float()
        self.embedding.copy_(codes.to(self.embedding.dtype))
        if self.kind == "ema":
            self.embed_sum.copy_(self.embedding * self.cluster_size.unsqueeze(1))
        self.initialised.fill_(1)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Indices ``[N, h, w]`` of the nearest codes of ``z`` ``[N, D, h, w]`` (float32 distances)."""
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, self.embed_dim)
        book = self.embedding.float()
        distances = flat.square().sum(1, keepdim=True) - 2 * flat @ book.t() + book.square().sum(1)
        return distances.argmin(1).reshape(z.shape[0], *z.shape[2:])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes ``[N, D, h, w]`` of indices ``[N, h, w]``."""
        return self.embedding[indices].permute(0, 3, 1, 2)

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        flat = z.detach().float().permute(0, 2, 3, 1).reshape(-1, self.embed_dim)
        onehot = F.one_hot(indices.reshape(-1), self.codebook_size).float()
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
        self.embedding.copy_(self.embed_sum / smoothed.unsqueeze(1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = z.float()
        if self.training and torch.is_grad_enabled() and not self.initialised:
            self._data_init(z)
        indices = self.codes(z)
        z_q = self.lookup(indices).float()
        commitment = (z - z_q.detach()).square().mean()
        if self.kind == "ema":
            codebook = torch.zeros((), device=z.device)
            if self.training and torch.is_grad_enabled():
                self._ema_update(z, indices)
        else:
            codebook = (z.detach() - z_q).square().mean()
        counts = torch.bincount(indices.reshape(-1), minlength=self.codebook_size).float()
        p = counts / counts.sum()
        perplexity = torch.exp(-(p * torch.log(p.clamp_min(1e-10))).sum())
        z_st = z + (z_q - z).detach()
        return z_st, {"commitment": commitment, "codebook": codebook, "indices": indices,
                      "usage": (counts > 0).sum().float(), "perplexity": perplexity}


class VQAutoencoder(Translator):
    """The VQ-GAN autoencoder as one translator ``image -> image`` (a reconstruction).

    ``forward(x)`` returns the reconstruction ``[N, C, H, W]`` in [-1, 1];
    ``forward(x, return_vq=True)`` returns ``(reconstruction, losses)`` with the quantiser's
    dict (see :class:`VectorQuantizer`). :meth:`encode` gives the code indices ``[N, h, w]``,
    :meth:`decode_indices` the images of indices (the second stage's interface).
    """

    def __init__(self, shape: tuple[int, int, int], ngf: int = 16, n_blocks: int = 1, n_down: int = 2,
                 codebook_size: int = 128, embed_dim: int = 16, quantizer: str = "straight-through",
                 attention: bool = True, ema_decay: float = 0.99, ema_epsilon: float = 1e-5,
                 codebook_init: str = "data") -> None:
        super().__init__(shape, shape, input_field="image", output_field="image")
        channels, height, width = shape
        factor = 2 ** n_down
        if height % factor or width % factor:
            raise ConfigError(f"vqgan: the image size {height}x{width} is not divisible by the encoder's "
                              f"downsampling factor {factor} (2**arch.n_down, n_down={n_down}); use a multiple "
                              f"of {factor} (e.g. --image-size {max(factor, round(height / factor) * factor)}) "
                              f"or set arch.n_down lower")
        self.n_down, self.latent_shape = n_down, (height // factor, width // factor)
        self.encoder = VQEncoder(channels, ngf, n_blocks, n_down, embed_dim, attention)
        self.quantizer = VectorQuantizer(codebook_size, embed_dim, quantizer, ema_decay, ema_epsilon, codebook_init)
        self.decoder = VQDecoder(channels, ngf, n_blocks, n_down, embed_dim, attention)

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight of the decoder's output conv (where the adaptive weight is measured)."""
        return self.decoder.last_layer.weight

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices ``[N, h, w]`` of images in [-1, 1]."""
        return self.quantizer.codes(self.encoder(x))

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] of code indices ``[N, h, w]``."""
        return self.decoder(self.quantizer.lookup(indices))

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None, return_vq: bool = False):
        z_q, losses = self.quantizer(self.encoder(x))
        out = self.decoder(z_q.to(self.last_layer.dtype))  # float32 codes; autocast casts them on
        return (out, losses) if return_vq else out


class NLayerDiscriminator(nn.Module):
    """The PatchGAN (pix2pix / taming's ``NLayerDiscriminator``): ``forward(x)`` -> logits ``[N, 1, h, w]``.

    conv4x4 s2 (``ndf``, no norm), LeakyReLU 0.2; ``d_layers - 1`` more stride-2 convs and one stride-1
    conv (widths doubling up to 8 ndf) with norm and LeakyReLU; a stride-1 conv to one logit per patch.
    """

    num_classes = None  # no labels (the trainer checks these)
    aux_classes = None

    def __init__(self, in_shape: tuple[int, int, int], ndf: int = 32, d_layers: int | None = None,
                 norm: str = "batch") -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        channels, height, width = in_shape
        self.d_layers = patch_layers(height, width, d_layers)
        self.receptive_field = patch_receptive_field(self.d_layers)
        self.map_shape = (patch_map_size(height, self.d_layers), patch_map_size(width, self.d_layers))
        if min(self.map_shape) < 1:
            raise ConfigError(f"vqgan: a PatchGAN with {self.d_layers} stride-2 layers does not fit "
                              f"{height}x{width} images; set arch.d_layers lower")
        self.net = nn.Sequential(*patchgan_stack(channels, ndf, self.d_layers, lambda c: norm_layer(norm, c),
                                                 bias=norm != "batch"))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


init_discriminator = normal_init(0.02, convs=(nn.Conv2d,), zero_conv_bias=False)
"""taming's ``weights_init``: convs N(0, 0.02) (their biases as PyTorch drew them), batch norm
weights N(1, 0.02) and biases 0."""


def build(arch, data: DataShape) -> Networks:
    """The autoencoder (``generator``) and the PatchGAN (``discriminator``) for ``data``'s images."""
    fields = data.fields
    if "image" not in fields or fields["image"].kind != "image" or len(fields["image"].shape) != 3:
        raise ConfigError("vqgan reconstructs images: the data needs an image field [C, H, W]")
    shape = tuple(fields["image"].shape)
    generator = VQAutoencoder(shape, arch.ngf, arch.n_blocks, arch.n_down, arch.codebook_size, arch.embed_dim,
                              arch.quantizer, arch.attention, arch.ema_decay, arch.ema_epsilon, arch.codebook_init)
    discriminator = NLayerDiscriminator(shape, arch.ndf, arch.d_layers, arch.d_norm)
    discriminator.apply(init_discriminator)
    return Networks(generator, discriminator)
