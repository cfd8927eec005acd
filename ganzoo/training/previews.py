"""What a run's sample grid shows, by the model's task.

:class:`Previews` holds the fixed inputs of every grid of a run (latents and labels for a
generator, the first real examples for translators and encoders) and renders the default
preview: generator samples (a scatter plot for point data); rows of real examples over their
reconstructions G(E(x)) for exported encoders; rows of inputs, outputs and, for paired data,
targets for exported translators. An algorithm's own ``preview`` replaces it.
"""

from __future__ import annotations

from typing import Callable, ContextManager

import torch

from ..config import RunConfig
from ..data import InMemoryBatches
from ..networks import Encoder, Generator, Networks, Translator, exported
from ..kinds.grids import TRANSLATIONS_PER_ROW, grid_labels, stack_rows

PREVIEW_EXAMPLES = 32
"""Examples in a translation or reconstruction preview (blocks of 8)."""

REFERENCE_POINTS = 2000
"""Real points drawn under generated ones in a scatter-plot preview."""

SCATTER_POINTS = 1000
"""Generated points in a scatter-plot preview (at least)."""


def preview_generator(nets: Networks) -> Generator | None:
    """The generator that samples in previews and evaluations: ``generator``, or the first
    exported :class:`Generator`."""
    generator = nets.modules.get("generator")
    if isinstance(generator, Generator):
        return generator
    names = exported(nets, Generator)
    return nets.modules[names[0]] if names else None


class Previews:
    """The fixed inputs of a run's sample grids, and the default grid.

    Args:
        nets: the run's modules.
        batches: its data (the fixed examples are its first items, unshuffled).
        cfg: the run config (``seed``, ``sample_grid``).
        device: the training device.

    Attributes:
        generator: the sampling generator, or ``None``.
        fixed_latent, fixed_labels, grid_nrow: a generator's fixed grid (labels: one row per class).
        reference_points: real points under scatter plots (point data), else ``None``.
        examples: ``{field: tensor}``, the first items of every field (translators, encoders).
    """

    def __init__(self, nets: Networks, batches: InMemoryBatches, cfg: RunConfig, device: torch.device) -> None:
        self.nets, self.batches = nets, batches
        self.generator = preview_generator(nets)
        self.fixed_latent = self.fixed_labels = self.grid_nrow = None
        G = self.generator
        if G is not None:
            self.fixed_labels, self.grid_nrow = grid_labels(G.num_classes, cfg.sample_grid)
            n = len(self.fixed_labels) if self.fixed_labels is not None else cfg.sample_grid
            if batches.points:
                n = max(n, SCATTER_POINTS)  # a scatter plot wants many points
                self.fixed_labels = torch.arange(n) % G.num_classes if G.num_classes else None
            if self.fixed_labels is not None:
                self.fixed_labels = self.fixed_labels.to(device)
            seed_gen = torch.Generator().manual_seed(cfg.seed + 1)
            self.fixed_latent = G.sample_latent(n, generator=seed_gen, device=device)
        self.reference_points = batches.images[:REFERENCE_POINTS].float().cpu() if batches.points else None
        needs_examples = exported(nets, Translator) or exported(nets, Encoder)
        self.examples = batches.head(min(cfg.sample_grid, PREVIEW_EXAMPLES)) if needs_examples else {}

    def render(self, evaluating: Callable[[], ContextManager], on_samples: Callable[[torch.Tensor], None]
               ) -> tuple[torch.Tensor, int | None, bool]:
        """``(images, per_row, is_points)`` of the default preview.

        Args:
            evaluating: a context manager factory that puts the modules in eval mode.
            on_samples: called with the generator's samples (the trainer's diversity check).
        """
        G, samples = self.generator, None
        if G is not None:
            with evaluating():
                samples = G(self.fixed_latent, self.fixed_labels)
            on_samples(samples)
            if self.reference_points is not None:
                return samples, None, True
        examples, blocks = self.examples, []
        real = examples.get(self.batches.primary)
        for name in exported(self.nets, Encoder):
            if G is not None and real is not None:
                with evaluating():
                    blocks.append(stack_rows(real, G(self.nets.modules[name](real), None))[0])
        for name in exported(self.nets, Translator):
            translator = self.nets.modules[name]
            inputs = examples.get(translator.input_field)
            if inputs is None:
                continue
            with evaluating():
                if translator.num_domains:  # multi-domain (StarGAN): one row per target domain
                    outputs = [translator(inputs, torch.full((len(inputs),), d, dtype=torch.long,
                                                             device=inputs.device))
                               for d in range(translator.num_domains)]
                else:
                    outputs = [translator(inputs)]
            target = examples.get(translator.output_field)
            # a reconstruction (output field = input field) would show its input twice
            paired = (target is not None and translator.output_field != translator.input_field
                      and self.batches.stream_of(translator.output_field)
                      == self.batches.stream_of(translator.input_field))
            blocks.append(stack_rows(inputs, *outputs, *((target,) if paired else ()))[0])
        if not blocks:
            return samples, self.grid_nrow, False
        if samples is not None:  # samples first, in rows of 8 like the blocks below them
            blocks.insert(0, stack_rows(samples)[0])
        return torch.cat([b.float().cpu() for b in blocks]), TRANSLATIONS_PER_ROW, False
