"""The generator and discriminator contracts every model implements.

A model's ``build(arch, data)`` returns :class:`Networks`. The training loop,
sampling and checkpoints rely only on what is declared here, never on a model's
internals.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ComponentUnavailableError


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


@dataclass
class Networks:
    """What a model's ``build`` returns."""

    generator: Generator
    discriminator: Discriminator


@torch.no_grad()
def generate(generator: Generator, z: torch.Tensor, labels: torch.Tensor | None = None,
             batch_size: int = 256) -> torch.Tensor:
    """Run ``generator`` on ``z`` (and ``labels``) in chunks on its device; a float CPU tensor."""
    device = next(generator.parameters()).device
    chunks = []
    for start in range(0, len(z), batch_size):
        lb = labels[start:start + batch_size].to(device) if labels is not None else None
        chunks.append(generator(z[start:start + batch_size].to(device), lb).float().cpu())
    return torch.cat(chunks)


def split_outputs(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, class_logits or None)`` from a discriminator's output."""
    if isinstance(output, tuple):
        return output[0], output[1]
    return output, None


def uses_labels(nets: Networks) -> bool:
    """Whether training needs labelled data: a conditional G or D, or an auxiliary classifier."""
    d = nets.discriminator
    return bool(nets.generator.num_classes or d.num_classes or d.aux_classes)


def check_networks(nets: Networks, shape: tuple[int, ...], model: str) -> None:
    """Fail clearly if a model's networks break the contract for ``shape``.

    Runs the generator and discriminator on two samples in eval mode (no gradients,
    batch-norm statistics untouched).
    """
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
            logits, class_logits = split_outputs(d(images, labels if d.num_classes else None))
            if d.aux_classes and (class_logits is None or tuple(class_logits.shape) != (2, d.aux_classes)):
                raise ComponentUnavailableError(
                    f"model {model!r}: discriminator with aux_classes must return (logits, class_logits)")
            if tuple(logits.shape) != (2,):
                raise ComponentUnavailableError(
                    f"model {model!r}: discriminator returned shape {tuple(logits.shape)}, expected [N]")
    finally:
        g.train(was_training[0]), d.train(was_training[1])
