"""BiGAN / ALI networks and their training algorithm.

Three modules: a generator G(z) (with BiGAN's prior in :meth:`sample_latent`), an encoder E(x)
and a discriminator D(x, z) that scores joint pairs. D learns to tell ``(x, E(x))`` ("real")
from ``(G(z), z)`` ("fake"); E and G, updated together by ``g_optim``, minimise the same game
with the labels inverted (see :func:`encoder_generator_loss`).

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

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.algorithms import Algorithm, clip_weights, grad_norm_stats, r1_weight
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.losses import Loss, discriminator_term, generator_term
from ganzoo.networks import Discriminator, Encoder, Generator, Networks

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


# ---------------------------------------------------------------------------------------
# the training algorithm

_PROBE_REAL = torch.tensor([-2.0, -0.3, 0.5, 1.7])
_PROBE_FAKE = torch.tensor([0.9, -1.1, 2.2, -0.4])


def is_label_symmetric(loss: Loss) -> bool:
    """Whether the discriminator treats a real logit ``r`` as it treats a fake logit ``-r``:
    ``d_loss(r, f) == d_loss(-f, -r)`` (bce, minimax, wgan, hinge; not lsgan's 0/1 targets).
    For such a loss, "labelled fake" means "negated", so the generator's own loss on the negated
    logits is its loss for making a pair look fake."""
    if loss.needs:
        return False
    with torch.no_grad():
        a = discriminator_term(loss, _PROBE_REAL, _PROBE_FAKE)
        b = discriminator_term(loss, -_PROBE_FAKE, -_PROBE_REAL)
    return bool(torch.isclose(a, b, rtol=1e-6, atol=1e-7))


def encoder_generator_loss(loss: Loss, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                           symmetric: bool | None = None) -> torch.Tensor:
    """E and G's loss: BiGAN's game with the labels inverted (Donahue et al. 2017, section 3.4):
    the fake pair ``(G(z), z)`` should look real and the real pair ``(x, E(x))`` fake.

    Worked out from the run's loss so that every loss works:

    * relativistic losses (they need ``real_logits``): ``g_loss(fake, real_logits=real)``, which
      already scores the fake pair against the real one with the roles swapped;
    * label-symmetric losses (:func:`is_label_symmetric`): ``g_loss(fake) + g_loss(-real)``. With
      bce this is ``softplus(-D(G(z), z)) + softplus(D(x, E(x)))``, the paper's non-saturating
      inverted labels; minimax gives ``-d_loss(real, fake)`` (the saturating game), hinge
      ``mean(D(x, E(x))) - mean(D(G(z), z))`` as BigBiGAN's E/G loss, wgan the same;
    * others (lsgan): the discriminator's own loss with the roles swapped,
      ``d_loss(real=fake, fake=real)``, e.g. ``0.5 (D(G(z), z) - 1)^2 + 0.5 D(x, E(x))^2``.

    Args:
        loss: the run's adversarial loss.
        real_logits, fake_logits: D's float32 logits on ``(x, E(x))`` and ``(G(z), z)``.
        symmetric: :func:`is_label_symmetric` of ``loss``, if already known.
    """
    if "real_logits" in loss.needs:
        return generator_term(loss, fake_logits, real_logits)
    if symmetric is None:
        symmetric = is_label_symmetric(loss)
    if symmetric:
        return generator_term(loss, fake_logits) + generator_term(loss, -real_logits)
    return discriminator_term(loss, fake_logits, real_logits)


def _input_gradient_norms(discriminator: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-pair L2 norms of D's gradient with respect to the joint input ``(x, z)`` (a graph is kept)."""
    x = x.detach().float().requires_grad_(True)
    z = z.detach().float().requires_grad_(True)
    logits = discriminator(x, z)
    grad_x, grad_z = torch.autograd.grad(logits.sum(), (x, z), create_graph=True)
    return torch.cat([grad_x.flatten(1), grad_z.flatten(1)], dim=1).norm(2, dim=1)


def joint_penalty(t, real: tuple[torch.Tensor, torch.Tensor], fake: tuple[torch.Tensor, torch.Tensor],
                  name: str = "discriminator") -> torch.Tensor | None:
    """The run's ``gp`` and ``r1`` on the joint discriminator, in float32 outside autocast; ``None``
    when both are 0. The gradients are taken with respect to the whole input ``(x, z)``:

    * ``gp`` (WGAN-GP): ``gp * mean((||grad D(x_hat, z_hat)|| - 1)^2)`` at ``(x_hat, z_hat) = eps
      (x, E(x)) + (1 - eps) (G(z), z)`` with one ``eps ~ U[0, 1]`` per pair (drawn from torch's
      global generator, as the core's penalty does);
    * ``r1``: ``r1 / 2 * mean(||grad D(x, E(x))||^2)`` on the real pairs.
    """
    cfg, discriminator = t.cfg, t.modules[name]
    penalty = None
    if cfg.gp:
        (x_real, z_real), (x_fake, z_fake) = real, fake
        eps = torch.rand(x_real.shape[0], device=x_real.device)
        x_hat = eps.view(-1, *([1] * (x_real.dim() - 1))) * x_real.float() + (1 - eps.view(
            -1, *([1] * (x_real.dim() - 1)))) * x_fake.detach().float()
        z_hat = eps[:, None] * z_real.detach().float() + (1 - eps[:, None]) * z_fake.float()
        penalty = cfg.gp * (_input_gradient_norms(discriminator, x_hat, z_hat) - 1).square().mean()
    gamma = r1_weight(t)  # lazy R1 (r1_every) as in the core's penalties
    if gamma:
        r1 = 0.5 * gamma * _input_gradient_norms(discriminator, *real).square().mean()
        penalty = r1 if penalty is None else penalty + r1
    return penalty


class BiGAN(Algorithm):
    """BiGAN's step: ``n_critic`` updates of D on ``(x, E(x))`` ("real") against ``(G(z), z)``
    ("fake"), then one update of E and G together (``g_optim``) on
    :func:`encoder_generator_loss`. The pairs of the last D update are computed once, with
    gradients, and reused for the E/G update (as ``alternating`` reuses its fake batch).

    Honours the run's ``gp`` and ``r1`` on the joint input (:func:`joint_penalty`) and
    ``weight_clip`` (D's weights, after each D update). Logs ``d_loss``, ``g_loss`` (E and G's
    loss), D's scores ``D(x,E(x))`` and ``D(G(z),z)``, the gradient norms and, for monitoring
    only, ``rec_l1`` = mean |x - G(E(x))| on the last real batch with E and G in eval mode.
    """

    def setup(self, trainer) -> None:
        modules = trainer.modules
        model = self.cfg.model.split(":")[-1]
        if not isinstance(modules.get("generator"), Generator) or not isinstance(modules.get("encoder"), Encoder):
            raise ConfigError(f"algorithm 'bigan' needs a ganzoo Generator named generator and an Encoder named "
                              f"encoder; model {model!r} does not build them")
        if isinstance(modules.get("discriminator"), Discriminator):
            raise ConfigError(f"algorithm 'bigan' scores (image, latent) pairs; model {model!r}'s discriminator "
                              "is a ganzoo Discriminator of images and labels")
        if modules["generator"].num_classes:
            raise ConfigError(f"algorithm 'bigan' trains unconditional generators; model {model!r}'s is conditional")
        self.symmetric = is_label_symmetric(trainer.loss)

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    def step(self, t) -> dict[str, torch.Tensor]:
        cfg, primary = t.cfg, t.batches.primary
        for i in range(cfg.n_critic):
            x = t.batch()[primary]
            z = t.latent()
            last = i == cfg.n_critic - 1
            with t.autocast(), (contextlib.nullcontext() if last else torch.no_grad()):
                x_fake = t.net("generator")(z)
                z_real = t.net("encoder")(x)
            with t.autocast():
                real_logits, _ = t.discriminate(x, z_real.detach())
                fake_logits, _ = t.discriminate(x_fake.detach(), z)
            d_loss = discriminator_term(t.loss, real_logits, fake_logits)
            penalty = joint_penalty(t, (x, z_real), (x_fake, z))
            if penalty is not None:
                d_loss = d_loss + penalty
            d_norm = t.update(d_loss, "d_optim")
            if cfg.weight_clip:
                clip_weights(t.modules["discriminator"], cfg.weight_clip)

        with t.frozen("discriminator"):
            with t.autocast():
                eg_real, _ = t.discriminate(x, z_real)
                eg_fake, _ = t.discriminate(x_fake, z)
            eg_loss = encoder_generator_loss(t.loss, eg_real, eg_fake, self.symmetric)
            g_norm = t.update(eg_loss, "g_optim")

        with torch.no_grad(), t.evaluating("encoder", "generator"), t.autocast():
            reconstruction = t.modules["generator"](t.modules["encoder"](x))
        scores = t.loss.scores(real_logits, fake_logits)
        stats = {"d_loss": d_loss.detach(), "g_loss": eg_loss.detach(),
                 "D(x,E(x))": scores.get("D(x)", real_logits.detach().mean()),
                 "D(G(z),z)": scores.get("D(G(z))", fake_logits.detach().mean()),
                 "rec_l1": (x.float() - reconstruction.float()).abs().mean()}
        if penalty is not None:
            stats["penalty"] = penalty.detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats
