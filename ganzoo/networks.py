"""The network contracts every model implements, and the named set a model builds.

A model's ``build(arch, data)`` returns :class:`Networks`: named modules (``generator``,
``discriminator``, ``encoder``, ``g_ab``, ...), which optimizer each trainable module is
updated by (an optimizer *group*, named by its run-config key, e.g. ``g_optim``), and which
modules a user needs at inference (``export``). The training loop, checkpoints and sampling
rely only on what is declared here, never on a model's internals.

What a trained model can do follows from the classes of its exported modules:
a :class:`Generator` samples (``G(z, labels)``), a :class:`Translator` maps images to images,
an :class:`Encoder` maps samples to latents.
"""

from __future__ import annotations

import math
import re
from typing import Iterator, Mapping, Sequence

import torch
from torch import nn

from .errors import ComponentUnavailableError

GROUP_PATTERN = re.compile(r"^[a-z][a-z0-9]*_optim$")
"""Optimizer group names: run-config keys ending in ``_optim`` (``g_optim``, ``e_optim``, ...)."""

MODULE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
"""Module names: they become file names (``<name>.safetensors``)."""

RESERVED_MODULES = frozenset({"train_state"})


class Generator(nn.Module):
    """Maps latent vectors (and, for conditional models, labels) to samples.

    Images are in [-1, 1]; points (2-D toy data) are unbounded.

    Attributes:
        latent_dim: size of the latent vector ``z``.
        out_shape: ``(channels, height, width)`` of one image, or ``(dim,)`` for points.
        num_classes: label count for conditional models (``forward`` then needs
            ``labels``), else ``None``.
    """

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...],
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes

    def sample_latent(self, n: int, *, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` latent vectors from N(0, I): shape ``[n, latent_dim]``."""
        device = device if device is not None else next(self.parameters()).device
        if generator is not None and generator.device != torch.device(device):
            return torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """Maps samples (and labels, if conditional) to one raw score (a logit) per sample.

    Attributes:
        in_shape: the sample shape it accepts (as ``Generator.out_shape``).
        num_classes: label count when ``forward`` uses labels (e.g. projection), else ``None``.
        aux_classes: for an auxiliary classifier (AC-GAN): ``forward`` then returns
            ``(logits [N], class_logits [N, aux_classes])`` and the training loop adds
            ``aux_weight`` times the cross-entropy on real and generated labels.
    """

    aux_classes: int | None = None
    aux_weight: float = 1.0

    def __init__(self, in_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """Return logits of shape ``[N]`` (with ``aux_classes``: and class logits ``[N, K]``)."""
        raise NotImplementedError


class Translator(nn.Module):
    """Maps an image to an image (pix2pix, CycleGAN, super-resolution, inpainting, ...).

    ``forward(x)`` (or ``forward(x, domain)`` with ``num_domains``) takes a batch of the
    ``input_field`` in [-1, 1] and returns a batch shaped like ``out_shape`` in [-1, 1].

    Attributes:
        in_shape: ``(channels, height, width)`` of one input.
        out_shape: ``(channels, height, width)`` of one output.
        input_field: the data field it reads (e.g. ``"image"``).
        output_field: the field it produces: the paired ``"target"``, or ``"image_b"`` for
            the other domain of unpaired data; previews show it beside the output when the
            data pairs it with the input.
        num_domains: for multi-domain translators (StarGAN): ``forward(x, domain)``.
    """

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], *, input_field: str = "image",
                 output_field: str = "target", num_domains: int | None = None) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(out_shape)
        self.input_field = input_field
        self.output_field = output_field
        self.num_domains = num_domains

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Encoder(nn.Module):
    """Maps samples to latent vectors (BiGAN / ALI, VQ-GAN's encoder, ...).

    ``forward(x)`` returns ``[N, latent_dim]``; a stochastic encoder (ALI) samples in training
    mode and returns its mean in eval mode.

    Attributes:
        in_shape: the sample shape it reads.
        latent_dim: size of the latent vectors it returns.
    """

    def __init__(self, in_shape: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


LEGACY_GROUPS = {"g_optim": ("generator",), "d_optim": ("discriminator",)}
"""The optimizer groups of a generator/discriminator pair."""


class Networks:
    """What a model's ``build`` returns: named modules, their optimizer groups and exports.

    Args:
        generator, discriminator: the classic pair (``Networks(G, D)``); they are named
            ``generator`` and ``discriminator`` and updated by ``g_optim`` and ``d_optim``.
        modules: name -> module, for any other set (names become checkpoint file names).
        optimizers: optimizer group (a run-config key such as ``g_optim``) -> the names of
            the modules it updates. Modules in no group are not trained (but are saved).
        export: the modules a user needs at inference, e.g. ``("g_ab", "g_ba")``; by
            default every :class:`Generator`, :class:`Translator` and :class:`Encoder`.

    Example (CycleGAN)::

        Networks(modules={"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b},
                 optimizers={"g_optim": ("g_ab", "g_ba"), "d_optim": ("d_a", "d_b")})
    """

    def __init__(self, generator: nn.Module | None = None, discriminator: nn.Module | None = None, *,
                 modules: Mapping[str, nn.Module] | None = None,
                 optimizers: Mapping[str, Sequence[str]] | None = None,
                 export: Sequence[str] | None = None) -> None:
        named: dict[str, nn.Module] = {}
        if generator is not None:
            named["generator"] = generator
        if discriminator is not None:
            named["discriminator"] = discriminator
        for name, module in (modules or {}).items():
            if name in named:
                raise ValueError(f"module {name!r} is given twice")
            named[name] = module
        self.modules: dict[str, nn.Module] = named
        if optimizers is None:
            optimizers = {g: n for g, n in LEGACY_GROUPS.items() if n[0] in named}
        self.optimizers: dict[str, tuple[str, ...]] = {g: tuple(n) for g, n in optimizers.items()}
        if export is None:
            export = [n for n, m in named.items() if isinstance(m, (Generator, Translator, Encoder))]
        self.export: tuple[str, ...] = tuple(export)

    # the classic pair, by name
    @property
    def generator(self) -> nn.Module | None:
        return self.modules.get("generator")

    @generator.setter
    def generator(self, module: nn.Module) -> None:
        self.modules["generator"] = module

    @property
    def discriminator(self) -> nn.Module | None:
        return self.modules.get("discriminator")

    @discriminator.setter
    def discriminator(self, module: nn.Module) -> None:
        self.modules["discriminator"] = module

    def __getitem__(self, name: str) -> nn.Module:
        return self.modules[name]

    def __contains__(self, name: str) -> bool:
        return name in self.modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.modules)

    def items(self):
        return self.modules.items()

    def with_modules(self, replacements: Mapping[str, nn.Module]) -> "Networks":
        """The same set with some modules swapped (same groups and exports), e.g. the
        averaged generator of ``--set ema=...`` for sampling."""
        unknown = set(replacements) - set(self.modules)
        if unknown:
            raise ValueError(f"no module(s) {', '.join(sorted(unknown))} to replace")
        return Networks(modules={**self.modules, **replacements}, optimizers=self.optimizers, export=self.export)

    def group_of(self, name: str) -> str | None:
        """The optimizer group that updates module ``name``, or ``None`` (not trained)."""
        return next((g for g, names in self.optimizers.items() if name in names), None)

    @property
    def is_pair(self) -> bool:
        """Exactly the classic pair: a :class:`Generator` named ``generator``, a module named
        ``discriminator`` and their two optimizer groups."""
        return (set(self.modules) == {"generator", "discriminator"} and self.optimizers == LEGACY_GROUPS
                and not isinstance(self.modules["generator"], (Translator, Encoder)))

    def to(self, device: torch.device | str) -> "Networks":
        for module in self.modules.values():
            module.to(device)
        return self

    def validate(self, model: str) -> None:
        """Raise :class:`ComponentUnavailableError` naming what breaks the contract."""
        if not self.modules:
            raise ComponentUnavailableError(f"model {model!r}: build() returned no modules")
        for name, module in self.modules.items():
            if not isinstance(name, str) or not MODULE_PATTERN.match(name) or name in RESERVED_MODULES:
                raise ComponentUnavailableError(f"model {model!r}: module name {name!r} must be lowercase "
                                                "letters, digits and underscores (and not train_state)")
            if not isinstance(module, nn.Module):
                raise ComponentUnavailableError(f"model {model!r}: {name} is a {type(module).__name__}, "
                                                "not a torch.nn.Module")
        seen: dict[str, str] = {}
        for group, names in self.optimizers.items():
            if not GROUP_PATTERN.match(group):
                raise ComponentUnavailableError(f"model {model!r}: optimizer group {group!r} must be a config "
                                                "key ending in _optim (e.g. g_optim)")
            for name in names:
                if name not in self.modules:
                    raise ComponentUnavailableError(f"model {model!r}: optimizer group {group} names "
                                                    f"module {name!r}, which build() did not return")
                if name in seen:
                    raise ComponentUnavailableError(f"model {model!r}: module {name} is in two optimizer "
                                                    f"groups ({seen[name]} and {group})")
                seen[name] = group
        for name in self.export:
            if name not in self.modules:
                raise ComponentUnavailableError(f"model {model!r}: export names module {name!r}, "
                                                "which build() did not return")
        if not self.optimizers:
            raise ComponentUnavailableError(f"model {model!r}: no optimizer groups (pass optimizers=..., "
                                            "e.g. {'g_optim': ('generator',), 'd_optim': ('discriminator',)})")


def exported(nets: Networks, kind: type) -> list[str]:
    """Names of the exported modules that are instances of ``kind`` (e.g. :class:`Translator`)."""
    return [name for name in nets.export if isinstance(nets.modules[name], kind)]


@torch.no_grad()
def generate(generator: Generator, z: torch.Tensor, labels: torch.Tensor | None = None,
             batch_size: int = 256) -> torch.Tensor:
    """Run ``generator`` on ``z`` (and ``labels``) in chunks on its device; a CPU tensor,
    float32 (integer outputs, such as token ids, keep their dtype)."""
    device = next(generator.parameters()).device
    chunks = []
    for start in range(0, len(z), batch_size):
        lb = labels[start:start + batch_size].to(device) if labels is not None else None
        out = generator(z[start:start + batch_size].to(device), lb)
        chunks.append((out.float() if out.is_floating_point() else out).cpu())
    return torch.cat(chunks)


@torch.no_grad()
def apply_in_chunks(module: nn.Module, x: torch.Tensor, *extra: torch.Tensor | None,
                    batch_size: int = 256) -> torch.Tensor:
    """``module(x[i:j], *extra[i:j])`` over chunks on the module's device; a float CPU tensor."""
    device = next(module.parameters()).device
    chunks = []
    for start in range(0, len(x), batch_size):
        args = [e[start:start + batch_size].to(device) if e is not None else None for e in extra]
        chunks.append(module(x[start:start + batch_size].to(device), *args).float().cpu())
    return torch.cat(chunks)


def split_outputs(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, class_logits or None)`` from a discriminator's output."""
    if isinstance(output, tuple):
        return output[0], output[1]
    return output, None


def uses_labels(nets: Networks) -> bool:
    """Whether training needs labelled data: a conditional generator or discriminator, or
    an auxiliary classifier, anywhere in the set."""
    for module in nets.modules.values():
        if getattr(module, "num_classes", None) or getattr(module, "aux_classes", None):
            return True
    return False


def check_networks(nets: Networks, shape, model: str) -> None:
    """Fail clearly if a model's networks break the contract for ``shape`` (a
    :class:`~ganzoo.data.DataShape`, or the sample shape of the classic pair).

    The classic pair: the generator and discriminator are run on two samples. Other sets:
    each :class:`Translator` on two inputs and each :class:`Encoder` on two samples. All in
    eval mode (no gradients, batch-norm statistics untouched).
    """
    nets.validate(model)
    sample_shape = tuple(shape.sample_shape) if hasattr(shape, "sample_shape") else tuple(shape)
    if nets.is_pair:
        _check_pair(nets, sample_shape, model, shape if hasattr(shape, "fields") else None)
        return
    fields = getattr(shape, "fields", {})
    for name, module in nets.modules.items():
        if isinstance(module, Translator):
            for role, field, own in (("reads", module.input_field, module.in_shape),
                                     ("makes", module.output_field, module.out_shape)):
                if field in fields and tuple(fields[field].shape) != tuple(own):
                    raise ComponentUnavailableError(
                        f"model {model!r}: {name} {role} {field} of shape {tuple(own)}, the data's is "
                        f"{tuple(fields[field].shape)}")
            _check_translator(name, module, model)
        elif isinstance(module, Encoder):
            _check_encoder(name, module, model)
        elif isinstance(module, Generator):
            if name == "generator" and tuple(module.out_shape) != sample_shape:
                raise ComponentUnavailableError(f"model {model!r}: generator makes samples of shape "
                                                f"{tuple(module.out_shape)}, expected {sample_shape}")
            _check_generator(name, module, model)


def _evaluating(module: nn.Module):
    class _Eval:
        def __enter__(self):
            self.was = module.training
            module.eval()

        def __exit__(self, *exc):
            module.train(self.was)
    return _Eval()


def _device(module: nn.Module) -> torch.device:
    return next(iter(module.parameters()), torch.empty(0)).device


def _check_generator(name: str, g: Generator, model: str) -> torch.Tensor:
    with _evaluating(g), torch.no_grad():
        labels = torch.zeros(2, dtype=torch.long, device=_device(g))
        images = g(g.sample_latent(2), labels if g.num_classes else None)
    if tuple(images.shape[1:]) != tuple(g.out_shape):
        raise ComponentUnavailableError(f"model {model!r}: {name} makes samples of shape "
                                        f"{tuple(images.shape[1:])}, its out_shape says {tuple(g.out_shape)}")
    return images


def _check_translator(name: str, t: Translator, model: str) -> None:
    with _evaluating(t), torch.no_grad():
        x = torch.zeros(2, *t.in_shape, device=_device(t))
        domain = torch.zeros(2, dtype=torch.long, device=x.device) if t.num_domains else None
        y = t(x, domain) if t.num_domains else t(x)
    if tuple(y.shape) != (2, *t.out_shape):
        raise ComponentUnavailableError(f"model {model!r}: {name} maps {tuple(t.in_shape)} to "
                                        f"{tuple(y.shape[1:])}, its out_shape says {tuple(t.out_shape)}")


def _check_encoder(name: str, e: Encoder, model: str) -> None:
    with _evaluating(e), torch.no_grad():
        z = e(torch.zeros(2, *e.in_shape, device=_device(e)))
    if tuple(z.shape) != (2, e.latent_dim):
        raise ComponentUnavailableError(f"model {model!r}: {name} returned {tuple(z.shape)}, expected "
                                        f"[N, latent_dim={e.latent_dim}]")


def discriminator_input(samples: torch.Tensor, shape=None) -> torch.Tensor:
    """What a discriminator reads of a generator's samples for data of ``shape`` (a
    :class:`~ganzoo.data.DataShape`): the samples themselves, or what their kind makes of them
    (token ids become one-hot vectors over the vocabulary)."""
    if shape is None:
        return samples
    from .kinds import kind_of

    return kind_of(shape.kind).discriminator_input(samples, shape.field_of())


def _check_pair(nets: Networks, shape: tuple[int, ...], model: str, data=None) -> None:
    g, d = nets.generator, nets.discriminator
    if not isinstance(g, Generator) or not isinstance(d, Discriminator):
        raise ComponentUnavailableError(
            f"model {model!r}: build() must return ganzoo Generator and Discriminator modules")
    was_training = g.training, d.training
    g.eval(), d.eval()
    try:
        with torch.no_grad():
            labels = torch.zeros(2, dtype=torch.long, device=next(g.parameters()).device)
            images = g(g.sample_latent(2), labels if g.num_classes else None)
            if tuple(images.shape[1:]) != tuple(shape):
                raise ComponentUnavailableError(
                    f"model {model!r}: generator makes images of shape {tuple(images.shape[1:])}, "
                    f"expected {tuple(shape)}")
            logits, class_logits = split_outputs(d(discriminator_input(images, data),
                                                   labels if d.num_classes else None))
            if d.aux_classes and (class_logits is None or tuple(class_logits.shape) != (2, d.aux_classes)):
                raise ComponentUnavailableError(
                    f"model {model!r}: discriminator with aux_classes must return (logits, class_logits)")
            if tuple(logits.shape) != (2,):
                raise ComponentUnavailableError(
                    f"model {model!r}: discriminator returned shape {tuple(logits.shape)}, expected [N]")
    finally:
        g.train(was_training[0]), d.train(was_training[1])


# ---------------------------------------------------------------------------------------
# discriminator options that work with any model (PacGAN packing, minibatch std)

class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, section 3): appends one feature, the
    mean over features of the standard deviation of each feature across a group of samples,
    so the discriminator can see how varied a batch is (a collapsed generator's is not).

    Works on ``[N, F]`` features (one more column) and ``[N, C, H, W]`` maps (one more
    channel). Samples ``i, i + N/g, i + 2N/g, ...`` form a group of ``g = gcd(N, group_size)``.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        if group_size < 1:
            raise ValueError(f"group_size must be positive, got {group_size}")
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = math.gcd(n, self.group_size)
        y = x.float().reshape(g, n // g, *x.shape[1:])
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()            # [N/g, ...]
        std = std.flatten(1).mean(dim=1)                                # [N/g]
        std = std.repeat(g).to(x.dtype)                                 # sample i gets group i % (N/g)
        shape = (n, 1, *x.shape[2:])
        feature = std.reshape(n, *([1] * (x.dim() - 1))).expand(shape)
        out = torch.cat([x, feature], dim=1)
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class PackedDiscriminator(Discriminator):
    """PacGAN (Lin et al. 2018): a discriminator that judges ``pack`` samples at once.

    Consecutive samples ``[k*pack, (k+1)*pack)`` of a batch are concatenated along the
    channels (images) or features (points) and scored by ``inner``, a discriminator built
    for ``pack`` times the channels; a batch of ``N`` gives ``N / pack`` logits. Real and fake
    batches are packed alike, so any adversarial loss and penalty applies unchanged.
    """

    def __init__(self, inner: Discriminator, pack: int, in_shape: tuple[int, ...]) -> None:
        super().__init__(in_shape)
        if pack < 2:
            raise ValueError(f"pack must be at least 2, got {pack}")
        self.inner = inner
        self.pack = pack

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"a packed discriminator (pack={self.pack}) needs a batch divisible by "
                             f"{self.pack}, got {n}")
        packed = x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            packed = packed.contiguous(memory_format=torch.channels_last)
        return self.inner(packed)

    def extra_repr(self) -> str:
        return f"pack={self.pack}"
