"""RelGAN's networks (Nie, Narodytska & Patel 2019, ICLR), with the LSTM
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

The training step is in :mod:`.algorithm`.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import Discriminator, Generator, Networks

from .data import inverse_cdf

CRITIC = "critic"
"""The discriminator's module name."""

KERNELS = (2, 3, 4, 5)
"""Convolution widths (tokens) of the discriminator (RelGAN's filter sizes)."""

def _trunc_normal(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """The official code's initialiser: a normal of ``std`` truncated at two deviations."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


@functools.cache
def cpu_runs_bf16_lstm(train: bool, backward: bool) -> bool:
    """Whether this CPU runs an LSTM under bf16 autocast (PyTorch hands it to oneDNN in bf16).
    oneDNN has no bf16 LSTM without native bf16 instructions: on an AVX2-only CPU the call fails
    ("could not create a primitive descriptor for the LSTM forward propagation primitive").
    Tried once per process and mode (``train``: the LSTM's training flag; ``backward``: also the
    gradient) on a one-unit LSTM of zeros, which draws no random numbers."""
    weights = [torch.zeros(4, 1, requires_grad=backward), torch.zeros(4, 1, requires_grad=backward),
               torch.zeros(4, requires_grad=backward), torch.zeros(4, requires_grad=backward)]
    state = (torch.zeros(1, 1, 1), torch.zeros(1, 1, 1))
    try:
        with torch.set_grad_enabled(backward), torch.autocast("cpu", dtype=torch.bfloat16):
            out, _, _ = torch.lstm(torch.zeros(1, 1, 1), state, weights, True, 1, 0.0, train, False, True)
        if backward:
            out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def normal_cdf(z: torch.Tensor) -> torch.Tensor:
    """``Phi(z)``, the standard normal CDF, as uniforms in [0, 1) for :func:`inverse_cdf`."""
    return (0.5 * torch.erfc(-z.float() / math.sqrt(2.0))).clamp_(0.0, 1.0 - 1e-7)


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

    def _recur(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """``self.lstm(x, state)``; on a CPU that cannot run it in bf16 (:func:`cpu_runs_bf16_lstm`)
        in float32 outside autocast, so a ``--precision bf16`` run works there too (the other
        layers still run in bf16). Where bf16 LSTMs run, and on GPUs, the call is unchanged."""
        if x.device.type != "cpu" or cpu_runs_bf16_lstm(self.lstm.training, torch.is_grad_enabled()):
            return self.lstm(x, state)
        with torch.autocast("cpu", enabled=False):
            return self.lstm(x.float(), None if state is None else tuple(s.float() for s in state))

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
            h, state = self._recur(x, state)
            token = inverse_cdf(self.out(h[:, 0]), u[:, t])
            tokens.append(token)
            x = self.embedding(token).unsqueeze(1)
        return torch.stack(tokens, dim=1)

    def teacher_forcing(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, L, V]`` of token ``t`` given the start token and ``tokens[:, :t]``."""
        inputs = torch.cat([self._start(len(tokens)), self.embedding(tokens[:, :-1])], dim=1)
        h, _ = self._recur(inputs)
        return self.out(h)

    def gumbel(self, noise: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-softmax samples from Gumbel noise ``[N, L, V]``: ``(ids [N, L], relaxed one-hot
        [N, L, V] float32)``, the relaxed one ``softmax(beta * (o_t + g_t))``; the hard token
        ``argmax(o_t + g_t)`` is the next input (RelGAN's generator)."""
        x, state, ids, soft = self._start(len(noise)), None, [], []
        for t in range(self.length):
            h, state = self._recur(x, state)
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
