"""RelGAN's networks and training step (Nie, Narodytska & Patel 2019, ICLR), with the LSTM
generator of the official code (``models/lstm_vanilla.py``, which its oracle experiments run
beside the relational memory) and a scaled-down multi-representation CNN discriminator.

**Generator** (:class:`TextGenerator`): token embedding (``embed_dim``, plus one row for the start
token), one LSTM layer (``hidden``), a linear layer to the vocabulary's logits ``o_t``. Three ways
to run it, one per use:

- ``forward(z)`` samples: token ``t`` is the inverse CDF of ``softmax(o_t)`` at ``u_t = Phi(z_t)``
  (``latent_dim`` = the sequence length, ``z ~ N(0, I)``), so the sentences are a deterministic
  function of ``z``: ``ganzoo sample --seed`` repeats itself. Returns int64 ids ``[N, L]``;
- ``teacher_forcing(tokens)``: the logits ``[N, L, V]`` of each next token given the real prefix
  (MLE pre-training);
- ``gumbel(g, beta)``: adversarial training. ``y_t = o_t + g_t`` with Gumbel noise ``g``; the hard
  token ``argmax y_t`` (a sample of ``softmax(o_t)``, the Gumbel-max trick) is fed back, and the
  discriminator reads the relaxed one-hot ``softmax(beta * y_t)``, through which its gradient
  reaches the generator: one generator pass per batch, where SeqGAN's policy gradient needs
  Monte-Carlo rollouts (16 at each of 20 positions: 320 passes).

**Discriminator** (:class:`MultiRepDiscriminator`, module ``critic``): reads one-hot (or relaxed
one-hot) float ``[N, L, V]``, or int64 ids ``[N, L]`` as a shortcut for exact one-hot input. A
``[V, d_embed_dim]`` embedding is cut into ``num_rep`` representations of ``d_embed_dim /
num_rep`` dims; each is read by the same convolutions (``ndf`` filters of widths 2, 3, 4, 5 over
time, ReLU, max over time), then a highway layer, dropout, a linear layer of ``d_fc`` units and
one logit: ``[N, num_rep]`` logits, one per representation, which the run's loss averages
(RelGAN's "multiple embedded representations": each representation is its own real/fake
judgement). The official discriminator has 64 representations of 1 dim and 300 filters per width;
ours defaults to 16 of 4 dims and 64 filters (a CPU budget). It is a module named ``critic`` (not
the classic pair's ``discriminator``: its logits are per representation, and its generator is
trained through :meth:`TextGenerator.gumbel`, not ``G(z)``), so only the ``relgan`` algorithm
trains it.

**Training step** (:class:`RelGANAlgorithm`): for ``t.step < pretrain_steps``, one MLE update of
the generator (cross-entropy of every next token, learning rate ``pretrain_lr``); then, per step,
``n_critic`` discriminator updates (5, the official code's ``dsteps``), each on a fresh real batch
against ``gumbel(g, beta)`` samples, with the run's adversarial loss (RSGAN, our ``rgan``, by
default) and penalties (``gp`` interpolates the real one-hot and the relaxed fake), then one
generator update through the relaxed samples. ``beta`` follows the temperature schedule
(:func:`temperature`); every update's gradients are clipped to global norm ``grad_clip`` (5, the
official code's). Gumbel noise comes from the trainer's checkpointed ``t.rng``.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.algorithms import Algorithm, clip_weights, generator_adversarial, grad_norm_stats, penalties
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.losses import discriminator_term
from ganzoo.networks import Discriminator, Generator, Networks
from ganzoo_plugins.data.text import inverse_cdf

CRITIC = "critic"
"""The discriminator's module name."""

KERNELS = (2, 3, 4, 5)
"""Convolution widths (tokens) of the discriminator (RelGAN's filter sizes)."""

GUMBEL_EPS = 1e-10
"""``g = -log(-log(u + eps) + eps)``: the official code's guard against log(0)."""


def _trunc_normal(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """The official code's initialiser: a normal of ``std`` truncated at two deviations."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


def normal_cdf(z: torch.Tensor) -> torch.Tensor:
    """``Phi(z)``, the standard normal CDF, as uniforms in [0, 1) for :func:`inverse_cdf`."""
    return (0.5 * torch.erfc(-z.float() / math.sqrt(2.0))).clamp_(0.0, 1.0 - 1e-7)


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    """Gumbel(0, 1) samples ``-log(-log(u + eps) + eps)``, ``u`` uniform from ``generator``
    (drawn on the CPU, where the trainer's ``rng`` lives, then moved to ``device``)."""
    g = torch.rand(shape, generator=generator)
    g.add_(GUMBEL_EPS).log_().neg_().add_(GUMBEL_EPS).log_().neg_()  # in place: 6.4M values a batch
    return g.to(device, non_blocking=True)


SCHEDULES = ("exp", "linear", "log", "sqrt", "quad", "sigmoid", "constant")
"""The official code's temperature schedules (``no`` is ``constant``, ``lin`` is ``linear``)."""


def temperature(step: int, beta_max: float, steps: int, schedule: str = "exp") -> float:
    """The inverse temperature ``beta`` of adversarial step ``step`` (0-based) of ``steps``: it
    rises from 1 to ``beta_max`` (RelGAN section 2.3; the official code's ``get_fixed_temperature``)
    and stays there after ``steps``.

    ``exp``: ``beta_max ** (n / N)`` (the paper's); ``linear``: ``1 + (beta_max - 1) n / N``;
    ``log``: ``1 + (beta_max - 1) log(n + 1) / log(N + 1)``; ``sqrt`` and ``quad``: ``1 + (beta_max
    - 1) (n / N) ** (1/2 or 2)``; ``sigmoid``: ``1 + (beta_max - 1) / (1 + exp(20 (1/2 - n / N)))``;
    ``constant``: ``beta_max``.

    Example::

        temperature(500, 100.0, 1000)   # 10.0: halfway, the square root of 100
    """
    if schedule == "constant":
        return float(beta_max)
    n = min(step, steps)
    r = n / steps if steps > 0 else 1.0
    rise = beta_max - 1.0
    if schedule == "exp":
        return float(beta_max ** r)
    if schedule == "linear":
        return 1.0 + rise * r
    if schedule == "log":
        return 1.0 + rise * math.log(n + 1) / math.log(steps + 1) if steps > 0 else float(beta_max)
    if schedule == "sqrt":
        return 1.0 + rise * math.sqrt(r)
    if schedule == "quad":
        return 1.0 + rise * r * r
    if schedule == "sigmoid":
        return 1.0 + rise / (1.0 + math.exp(20.0 * (0.5 - r)))
    raise ValueError(f"unknown temperature schedule {schedule!r} (one of {', '.join(SCHEDULES)})")


class TextGenerator(Generator):
    """An LSTM language model over ``vocabulary`` ids that writes ``length`` tokens (see the
    module's docstring for its three ways to run).

    Example::

        G = TextGenerator(vocabulary=50, length=20)
        ids = G(G.sample_latent(4))                      # int64 [4, 20], the same for the same z
    """

    def __init__(self, vocabulary: int, length: int, embed_dim: int = 32, hidden: int = 32) -> None:
        super().__init__(latent_dim=length, out_shape=(length,))
        self.vocabulary, self.length = vocabulary, length
        self.embedding = nn.Embedding(vocabulary + 1, embed_dim)  # the last row is the start token's
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocabulary)
        with torch.no_grad():  # the official code's initialisers: N(0, 1/fan_in) truncated, zero biases
            _trunc_normal(self.embedding.weight, 1 / math.sqrt(vocabulary))
            _trunc_normal(self.lstm.weight_ih_l0, 1 / math.sqrt(embed_dim))
            _trunc_normal(self.lstm.weight_hh_l0, 1 / math.sqrt(hidden))
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_hh_l0.zero_()
            _trunc_normal(self.out.weight, 1 / math.sqrt(hidden))
            self.out.bias.zero_()

    def _start(self, n: int) -> torch.Tensor:
        """The start token's embedding for ``n`` sequences, ``[n, 1, embed_dim]``."""
        index = torch.full((n, 1), self.vocabulary, dtype=torch.long, device=self.out.weight.device)
        return self.embedding(index)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids ``[N, length]``: position ``t`` is the inverse CDF of the next-token softmax at
        ``Phi(z[:, t])``. ``labels`` is ignored (an unconditional model)."""
        if z.dim() != 2 or z.shape[1] < self.length:
            raise ConfigError(f"the text generator needs latents [N, {self.length}], got {tuple(z.shape)}")
        u = normal_cdf(z)
        x, state, tokens = self._start(z.shape[0]), None, []
        for t in range(self.length):
            h, state = self.lstm(x, state)
            token = inverse_cdf(self.out(h[:, 0]), u[:, t])
            tokens.append(token)
            x = self.embedding(token).unsqueeze(1)
        return torch.stack(tokens, dim=1)

    def teacher_forcing(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, L, V]`` of token ``t`` given the start token and ``tokens[:, :t]``."""
        inputs = torch.cat([self._start(len(tokens)), self.embedding(tokens[:, :-1])], dim=1)
        h, _ = self.lstm(inputs)
        return self.out(h)

    def gumbel(self, noise: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-softmax samples from Gumbel noise ``[N, L, V]``: ``(ids [N, L], relaxed one-hot
        [N, L, V] float32)``, the relaxed one ``softmax(beta * (o_t + g_t))``; the hard token
        ``argmax(o_t + g_t)`` is the next input (RelGAN's generator)."""
        x, state, ids, soft = self._start(len(noise)), None, [], []
        for t in range(self.length):
            h, state = self.lstm(x, state)
            y = self.out(h[:, 0]).float() + noise[:, t]
            token = y.argmax(dim=-1)
            ids.append(token)
            soft.append(torch.softmax(beta * y, dim=-1))
            x = self.embedding(token).unsqueeze(1)
        return torch.stack(ids, dim=1), torch.stack(soft, dim=1)


class Highway(nn.Module):
    """One highway layer (Srivastava et al. 2015) as the official code's: ``t * relu(W x) + (1 - t) * x``
    with the gate ``t = sigmoid(U x)`` (no biases)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.transform = nn.Linear(size, size, bias=False)
        self.gate = nn.Linear(size, size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(x))
        return gate * F.relu(self.transform(x)) + (1.0 - gate) * x


class MultiRepDiscriminator(Discriminator):
    """RelGAN's discriminator with ``num_rep`` embedded representations (see the module's
    docstring): ``forward(x)`` with one-hot float ``[N, L, V]`` (or ids ``[N, L]``) returns
    logits ``[N, num_rep]``.

    Raises:
        ConfigError: ``d_embed_dim`` not a multiple of ``num_rep``, or sequences shorter than
            the widest convolution.
    """

    def __init__(self, vocabulary: int, length: int, d_embed_dim: int = 64, num_rep: int = 16, ndf: int = 64,
                 d_fc: int = 100, d_dropout: float = 0.25) -> None:
        super().__init__((length,))
        if d_embed_dim % num_rep:
            raise ConfigError(f"relgan: arch.d_embed_dim ({d_embed_dim}) must be a multiple of arch.num_rep "
                              f"({num_rep}): each representation gets d_embed_dim / num_rep dimensions")
        if length < max(KERNELS):
            raise ConfigError(f"relgan: sequences of {length} tokens are shorter than the discriminator's widest "
                              f"convolution ({max(KERNELS)} tokens)")
        self.vocabulary, self.num_rep, self.rep_dim = vocabulary, num_rep, d_embed_dim // num_rep
        self.embedding = nn.Parameter(torch.empty(vocabulary, d_embed_dim))
        self.convs = nn.ModuleList(nn.Conv1d(self.rep_dim, ndf, k) for k in KERNELS)
        features = ndf * len(KERNELS)
        self.highway = Highway(features)
        self.dropout = nn.Dropout(d_dropout)
        self.fc = nn.Linear(features, d_fc)
        self.logit = nn.Linear(d_fc, 1)
        with torch.no_grad():  # the official initialisers
            _trunc_normal(self.embedding, 1 / math.sqrt(vocabulary))
            for conv, k in zip(self.convs, KERNELS):
                _trunc_normal(conv.weight, math.sqrt(2.0 / (k * self.rep_dim)))
                conv.bias.zero_()
            for linear in (self.highway.transform, self.highway.gate, self.fc, self.logit):
                _trunc_normal(linear.weight, 1 / math.sqrt(linear.in_features))
            self.fc.bias.zero_()
            self.logit.bias.zero_()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if x.is_floating_point():
            if x.shape[-1] != self.vocabulary:
                raise ConfigError(f"the text discriminator reads one-hot vectors over {self.vocabulary} ids, "
                                  f"got {tuple(x.shape)}")
            e = x @ self.embedding.to(x.dtype)                    # [N, L, E]
        else:
            e = F.embedding(x, self.embedding)                    # exactly one-hot @ embedding
        n, length, _ = e.shape
        reps = e.reshape(n, length, self.num_rep, self.rep_dim).permute(0, 2, 3, 1)
        reps = reps.reshape(n * self.num_rep, self.rep_dim, length)  # each representation on its own
        h = torch.cat([F.relu(conv(reps)).amax(dim=2) for conv in self.convs], dim=1)
        h = self.dropout(self.highway(h))
        return self.logit(self.fc(h)).reshape(n, self.num_rep)


def build(arch, data: DataShape) -> Networks:
    """The generator and the discriminator for ``data``'s ``tokens`` field (vocabulary size and
    length from the data)."""
    field = data.fields.get("tokens")
    if field is None or field.kind != "tokens" or len(field.shape) != 1 or not field.classes:
        raise ConfigError("relgan writes text: the data needs a tokens field [L] with a vocabulary")
    length, vocabulary = field.shape[0], field.classes
    generator = TextGenerator(vocabulary, length, arch.embed_dim, arch.hidden)
    critic = MultiRepDiscriminator(vocabulary, length, arch.d_embed_dim, arch.num_rep, arch.ndf, arch.d_fc,
                                   arch.d_dropout)
    return Networks(modules={"generator": generator, CRITIC: critic},
                    optimizers={"g_optim": ("generator",), "d_optim": (CRITIC,)})


def mle_loss(generator: TextGenerator, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every next token (``<pad>`` positions included, as RelGAN's)."""
    logits = generator.teacher_forcing(tokens)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tokens.reshape(-1))


def _clip_hook(max_norm: float):
    """An optimizer step pre-hook that clips the gradients it is about to apply to global norm
    ``max_norm`` (after the trainer's gradient averaging and fp16 unscaling)."""
    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if params:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
    return hook


class RelGANAlgorithm(Algorithm):
    """MLE pre-training, then Gumbel-softmax adversarial training (see the module's docstring).

    Returns (stats): in the MLE phase ``g_loss`` (= ``nll``, nats per token) and ``d_loss`` 0;
    then ``d_loss``, ``penalty`` when set, ``g_loss``, ``temperature`` (beta), the loss's D scores
    and the gradient norms (before clipping).
    """

    def __init__(self, options, cfg) -> None:
        if options is None:  # built without the registry (a test): the defaults
            from ganzoo_plugins.relgan import RelGANOptions

            options = RelGANOptions()
        super().__init__(options, cfg)

    def setup(self, t) -> None:
        generator, critic = t.modules.get("generator"), t.modules.get(CRITIC)
        if not isinstance(generator, TextGenerator) or not isinstance(critic, MultiRepDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'relgan' trains a text generator with a multi-representation "
                              f"'{CRITIC}'; model {model!r} has other networks")
        if self.options.grad_clip:
            for optimizer in t.optimizers.values():
                optimizer.register_step_pre_hook(_clip_hook(self.options.grad_clip))

    def batches_per_step(self) -> int:
        return self.cfg.n_critic  # the adversarial phase's; an MLE step takes one

    def adversarial_steps(self, t) -> int:
        """N of the temperature schedule: ``temperature_steps``, else the run's steps after the MLE phase."""
        if self.options.temperature_steps:
            return self.options.temperature_steps
        total = getattr(t, "total_steps", None) or self.cfg.steps
        return max(1, total - self.options.pretrain_steps)

    def beta(self, t) -> float:
        """This step's inverse temperature."""
        return temperature(t.step - self.options.pretrain_steps, self.options.temperature_max,
                           self.adversarial_steps(t), self.options.temperature_schedule)

    def _set_generator_lr(self, t, lr: float) -> None:
        factor = t.lr_factor() if hasattr(t, "lr_factor") else 1.0  # rollbacks and lr_decay still apply
        for group in t.optimizers["g_optim"].param_groups:
            group["lr"] = lr * factor

    def step(self, t) -> dict[str, torch.Tensor]:
        if t.step < self.options.pretrain_steps:
            return self.mle_step(t)
        if t.step == self.options.pretrain_steps and self.options.pretrain_steps > 0:
            # the official code pre-trains with an optimizer of its own: a fresh Adam for the GAN
            t.optimizers["g_optim"].state.clear()
        return self.adversarial_step(t)

    def mle_step(self, t) -> dict[str, torch.Tensor]:
        tokens = t.batch()["tokens"]
        self._set_generator_lr(t, self.options.pretrain_lr)
        with t.autocast():
            loss = mle_loss(t.modules["generator"], tokens)
        norm = t.update(loss, "g_optim")
        stats = {"g_loss": loss.detach(), "nll": loss.detach(), "d_loss": torch.zeros((), device=tokens.device)}
        grad_norm_stats(stats, "g_optim", norm)
        return stats

    def _fake(self, t, n: int, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        G = t.modules["generator"]
        return G.gumbel(gumbel_noise((n, G.length, G.vocabulary), t.rng, t.device), beta)

    def adversarial_step(self, t) -> dict[str, torch.Tensor]:
        cfg, beta = t.cfg, self.beta(t)
        self._set_generator_lr(t, cfg.g_optim.lr)
        stats: dict[str, torch.Tensor] = {}
        for _ in range(cfg.n_critic):
            real = t.batch()["tokens"]
            with torch.no_grad(), t.autocast():
                _, fake = self._fake(t, len(real), beta)
            real_logits, fake_logits = self._critic_update(t, real, fake, stats)
        with t.autocast():
            _, fake = self._fake(t, len(real), beta)
        with t.frozen(CRITIC):
            with t.autocast():
                g_logits, _ = t.discriminate(fake, name=CRITIC)
            g_loss = generator_adversarial(t, g_logits, real=real, name=CRITIC)
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "temperature": torch.tensor(beta),
                      **t.loss.scores(real_logits, fake_logits)})
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats

    def _critic_update(self, t, real: torch.Tensor, fake: torch.Tensor, stats) -> tuple[torch.Tensor, torch.Tensor]:
        """One discriminator update: the run's loss on real ids vs relaxed fakes, its penalties
        (on the real one-hot vectors), the optimizer step and ``weight_clip``."""
        with t.autocast():
            real_logits, _ = t.discriminate(real, name=CRITIC)
            fake_logits, _ = t.discriminate(fake, name=CRITIC)
        d_loss = discriminator_term(t.loss, real_logits, fake_logits)
        if t.cfg.gp or t.cfg.r1:  # interpolations and input gradients need float one-hot vectors
            onehot = F.one_hot(real, fake.shape[-1]).float()
            penalty = penalties(t, onehot, fake, name=CRITIC)
            if penalty is not None:
                d_loss = d_loss + penalty
                stats["penalty"] = penalty.detach()
        d_norm = t.update(d_loss, "d_optim")
        if t.cfg.weight_clip:
            clip_weights(t.modules[CRITIC], t.cfg.weight_clip)
        stats["d_loss"] = d_loss.detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        return real_logits, fake_logits

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}  # the Gumbel noise comes from t.rng and the phase from t.step: the trainer checkpoints both

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        pass
