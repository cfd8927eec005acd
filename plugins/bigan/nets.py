"""BiGAN / ALI networks (Donahue, Krähenbühl & Darrell 2017; Dumoulin et al. 2017).

Three modules: a generator G(z) (with BiGAN's prior in :meth:`sample_latent`), an encoder E(x)
and a discriminator D(x, z) that scores joint pairs. D learns to tell ``(x, E(x))`` ("real")
from ``(G(z), z)`` ("fake"); E and G, updated together by ``g_optim``, minimise the same game
with the labels inverted (the :mod:`.algorithm`).

``arch.kind="mlp"`` follows the official MNIST code (``jeffdonahue/bigan``, ``net.py``:
``mnist_mlp`` / ``deconvnet_mnist_mlp``): every layer 1024 wide, no biases, batch norm without
learned scale or shift, weights N(0, 0.02), leaky ReLU 0.2 in E and D, ReLU in G, and z fed to
the second layer of G and D through a linear projection added to that layer's input. G ends in
tanh (the official code's sigmoid, rescaled to ganzoo's [-1, 1] images). ``arch.kind="conv"``
builds DCGAN's generator, an encoder that mirrors DCGAN's discriminator, and a D that convolves
x like DCGAN's discriminator and concatenates the flattened features with an embedding of z
into a joint MLP, with ALI's dropout (``arch.d_dropout``) after each of D's hidden layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Encoder, Generator, Networks

from ..layers.dcgan import DCGANGenerator, d_norm_layer, size_plan
from ..layers.init import init_weights

LOG_VAR_BIAS = -5.0
"""Added to the stochastic encoder's predicted log-variance, so training starts with small
noise (std about 0.08): the official code's ``--log_var_bias`` default."""

LEAK = 0.2


def sample_prior(prior: str, n: int, dim: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` latents ``[n, dim]`` from ``"uniform"`` U[-1, 1]^dim or ``"gaussian"`` N(0, I).

    A ``generator`` on another device draws there and the result is moved (so a CPU stream,
    like the trainer's checkpointed latent stream, gives the same latents on every device).
    """
    draw_on = generator.device if generator is not None else torch.device(device)
    if prior == "uniform":
        z = torch.rand(n, dim, generator=generator, device=draw_on) * 2 - 1
    else:
        z = torch.randn(n, dim, generator=generator, device=draw_on)
    return z.to(device)


def squash(u: torch.Tensor, prior: str) -> torch.Tensor:
    """Bring an encoder's raw output into the prior's support: ``tanh(u / 2)`` (= 2 sigmoid(u) - 1,
    the official code's sigmoid scaled to [-1, 1]) for the uniform prior, ``u`` itself for N(0, I)."""
    return torch.tanh(u / 2) if prior == "uniform" else u


def init_normal(module: nn.Module) -> None:
    """The official MNIST code's initialisation: every linear weight N(0, 0.02), biases zero."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def feature_norm(kind: str, features: int) -> nn.Module:
    """Normalisation of a flat hidden layer without learned scale or shift (the official code's
    ``--nogain --nobias``): ``batch``, ``layer`` (per sample: safe with gradient penalties) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm1d(features, affine=False)
    if kind == "layer":
        return nn.LayerNorm(features, elementwise_affine=False)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown normalisation {kind!r}: use batch, layer or none")


# ---------------------------------------------------------------------------------------
# generators

class PriorLatent:
    """Mixin for a :class:`~ganzoo.networks.Generator` whose prior is ``self.prior``."""

    prior: str = "uniform"

    def sample_latent(self, n: int, *, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` latents from the model's prior (``arch.prior``): shape ``[n, latent_dim]``."""
        device = device if device is not None else next(self.parameters()).device
        return sample_prior(self.prior, n, self.latent_dim, generator=generator, device=device)


class MLPGenerator(PriorLatent, Generator):
    """The official ``deconvnet_mnist_mlp``: z -> FC-BN-ReLU -> FC (+ a projection of z) -BN-ReLU
    -> FC -> tanh, reshaped to ``out_shape``."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: int, prior: str) -> None:
        super().__init__(latent_dim, out_shape)
        self.prior = prior
        self.fc1 = nn.Linear(latent_dim, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden, affine=False)
        self.fc2 = nn.Linear(hidden, hidden, bias=False)
        self.z_to_fc2 = nn.Linear(latent_dim, hidden, bias=False)
        self.bn2 = nn.BatchNorm1d(hidden, affine=False)
        self.out = nn.Linear(hidden, math.prod(out_shape), bias=False)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.bn1(self.fc1(z)))
        h = F.relu(self.bn2(self.fc2(h) + self.z_to_fc2(z)))
        return torch.tanh(self.out(h)).view(-1, *self.out_shape)


class ConvGenerator(PriorLatent, DCGANGenerator):
    """DCGAN's generator drawing its latents from the BiGAN prior."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, ngf: int, prior: str) -> None:
        super().__init__(latent_dim, channels, image_size, ngf)
        self.prior = prior


# ---------------------------------------------------------------------------------------
# encoders

class BiGANEncoder(Encoder):
    """A feature ``body`` and a linear ``head`` to the latent space, squashed into the prior's support.

    With ``stochastic`` (ALI), the head predicts a mean and a log-variance; in training mode the
    encoder returns ``squash(mean + std * noise)`` with the noise drawn from torch's global
    generator (which checkpoints save and restore, so a resumed run draws the same noise), in eval
    mode ``squash(mean)``.

    Args:
        in_shape: the image shape it reads.
        latent_dim: size of the codes it returns.
        body: maps ``[N, *in_shape]`` to ``[N, features]``.
        features: the body's output width.
        prior: ``"uniform"`` or ``"gaussian"`` (see :func:`squash`).
        stochastic: ALI's Gaussian encoder instead of BiGAN's deterministic one.
    """

    def __init__(self, in_shape: tuple[int, ...], latent_dim: int, body: nn.Module, features: int,
                 prior: str, stochastic: bool = False) -> None:
        super().__init__(in_shape, latent_dim)
        self.prior = prior
        self.stochastic = stochastic
        self.body = body
        self.head = nn.Linear(features, latent_dim * (2 if stochastic else 1), bias=False)

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mean, log_variance)`` before squashing; ``log_variance`` is ``None`` when deterministic."""
        out = self.head(self.body(x))
        if not self.stochastic:
            return out, None
        mean, log_var = out.chunk(2, dim=1)
        return mean, log_var + LOG_VAR_BIAS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.moments(x)
        if log_var is None or not self.training:
            return squash(mean, self.prior)
        noise = torch.randn_like(mean)  # torch's global generator: restored on resume
        return squash(mean + torch.exp(0.5 * log_var) * noise, self.prior)


def mlp_encoder_body(in_shape: tuple[int, ...], hidden: int) -> nn.Sequential:
    """The official ``mnist_mlp`` feature net: flatten -> FC-LReLU -> FC-BN-LReLU."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(in_shape), hidden, bias=False), nn.LeakyReLU(LEAK, inplace=True),
        nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden, affine=False),
        nn.LeakyReLU(LEAK, inplace=True),
    )


def conv_body(channels: int, image_size: int, ndf: int, norm: str, dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    """DCGAN's discriminator without its last conv, flattened: strided 4x4 convs, LReLU 0.2 and
    ``norm`` after all but the first, down to a ``base x base`` map; ``dropout`` after each LReLU.

    Returns:
        ``(body, features)``: the module and its output width ``widths[-1] * base * base``.
    """
    base, k = size_plan(image_size)
    widths = [ndf * 2 ** i for i in range(k)]
    bias = norm != "batch"
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=bias), nn.LeakyReLU(LEAK, inplace=True),
                               *_dropout(dropout)]
    for c_in, c_out in zip(widths, widths[1:]):
        layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias), d_norm_layer(norm, c_out),
                   nn.LeakyReLU(LEAK, inplace=True), *_dropout(dropout)]
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), widths[-1] * base * base


def conv_encoder_body(channels: int, image_size: int, ndf: int, hidden: int) -> nn.Sequential:
    """The conv encoder's features: DCGAN's discriminator stack (batch norm), then FC-BN-LReLU to
    ``hidden`` units, as the official code's ``convnet_28`` ends. The normalised bottleneck keeps the
    head's input centred: straight from the ~6,000 positive conv features, a small drift of the head's
    weights shifts every code alike and saturates the uniform prior's squash (seen on MNIST: all codes
    in one corner, reconstructions all one digit)."""
    body, features = conv_body(channels, image_size, ndf, "batch")
    return nn.Sequential(*body, nn.Linear(features, hidden, bias=False), nn.BatchNorm1d(hidden, affine=False),
                         nn.LeakyReLU(LEAK, inplace=True))


def _dropout(p: float) -> list[nn.Module]:
    return [nn.Dropout(p)] if p else []


# ---------------------------------------------------------------------------------------
# joint discriminators: forward(x, z) -> one logit per pair

class JointDiscriminator(nn.Module):
    """Base of the discriminators on ``(x, z)`` pairs (not a ganzoo ``Discriminator``: its
    second input is a latent, not labels).

    Attributes:
        in_shape: the image shape it reads.
        latent_dim: the size of the codes it reads.
        num_classes, aux_classes: always ``None`` (unconditional, no auxiliary classifier); the
            core's helpers read them from any discriminator.
    """

    num_classes = None
    aux_classes = None

    def __init__(self, in_shape: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.latent_dim = latent_dim

    def score(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is None:
            raise ConfigError("the bigan discriminator scores (image, latent) pairs and was given no latent; "
                              "train it with algorithm 'bigan'")
        return self.score(x, z)


class MLPJointDiscriminator(JointDiscriminator):
    """The official joint ``mnist_mlp``: x -> FC-LReLU -> FC (+ a projection of z) -norm-LReLU -> FC."""

    def __init__(self, in_shape: tuple[int, ...], latent_dim: int, hidden: int, norm: str) -> None:
        super().__init__(in_shape, latent_dim)
        self.fc1 = nn.Linear(math.prod(in_shape), hidden, bias=False)
        self.fc2 = nn.Linear(hidden, hidden, bias=norm != "batch")  # a bias where no batch norm centres it
        self.z_to_fc2 = nn.Linear(latent_dim, hidden, bias=False)
        self.norm = feature_norm(norm, hidden)
        self.out = nn.Linear(hidden, 1, bias=False)

    def score(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc1(x.flatten(1)), LEAK)
        h = F.leaky_relu(self.norm(self.fc2(h) + self.z_to_fc2(z)), LEAK)
        return self.out(h).flatten()


class ConvJointDiscriminator(JointDiscriminator):
    """x through DCGAN's conv stack, z through FC-LReLU; the two concatenated into FC-LReLU-FC,
    with ``dropout`` after every LReLU (ALI's regulariser of its discriminator; the noise comes
    from torch's global generator, restored on resume)."""

    def __init__(self, channels: int, image_size: int, latent_dim: int, ndf: int, hidden: int,
                 norm: str, dropout: float = 0.0) -> None:
        super().__init__((channels, image_size, image_size), latent_dim)
        self.x_body, features = conv_body(channels, image_size, ndf, norm, dropout)
        self.z_body = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(LEAK, inplace=True),
                                    *_dropout(dropout))
        self.joint = nn.Sequential(nn.Linear(features + hidden, hidden), nn.LeakyReLU(LEAK, inplace=True),
                                   *_dropout(dropout), nn.Linear(hidden, 1))

    def score(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.x_body(x), self.z_body(z)], dim=1)).flatten()


# ---------------------------------------------------------------------------------------
# build

def build(arch, data: DataShape) -> Networks:
    """BiGAN's generator, encoder and joint discriminator for ``data`` with the options in ``arch``
    (a :class:`ganzoo_plugins.bigan.BiGANConfig`); E and G share the ``g_optim`` group."""
    shape = tuple(data.sample_shape)
    if arch.kind == "mlp":
        generator = MLPGenerator(arch.latent_dim, shape, arch.hidden, arch.prior)
        encoder = BiGANEncoder(shape, arch.latent_dim, mlp_encoder_body(shape, arch.hidden), arch.hidden,
                               arch.prior, arch.stochastic_encoder)
        discriminator = MLPJointDiscriminator(shape, arch.latent_dim, arch.hidden, arch.d_norm)
        for module in (generator, encoder, discriminator):
            module.apply(init_normal)
    else:
        channels, size = data.channels, data.image_size
        try:
            size_plan(size)
        except ConfigError:
            raise ConfigError(f"bigan's conv networks cannot read or make {size}x{size} images: the size must "
                              "be 4-7 times a power of two, at least 16 (e.g. 28, 32, 64); set --image-size or "
                              "use --set arch.kind=mlp") from None
        generator = ConvGenerator(arch.latent_dim, channels, size, arch.ngf, arch.prior)
        encoder = BiGANEncoder(shape, arch.latent_dim, conv_encoder_body(channels, size, arch.ndf, arch.hidden),
                               arch.hidden, arch.prior, arch.stochastic_encoder)
        discriminator = ConvJointDiscriminator(channels, size, arch.latent_dim, arch.ndf, arch.hidden, arch.d_norm,
                                               arch.d_dropout)
        for module in (generator, encoder, discriminator):
            module.apply(init_weights)
            module.apply(init_normal)
    return Networks(modules={"generator": generator, "encoder": encoder, "discriminator": discriminator},
                    optimizers={"g_optim": ("generator", "encoder"), "d_optim": ("discriminator",)},
                    export=("generator", "encoder"))
