"""What a run shows every ``sample_every`` steps: ``samples/step-NNNNNNN.*``.

The preview of a generator is its samples from fixed latents (and fixed labels), written by
the kind of the data (:meth:`ganzoo.kinds.FieldKind.write_samples`, the writer ``ganzoo sample``
uses too): a grid of images, a scatter plot of points over real ones, spectrograms and clips,
animated clips, sentences. Models that translate or encode images show rows of fixed real
examples over their outputs (inputs, outputs and, for paired data, targets; real images over
their reconstructions G(E(x))), with samples first when they also sample. An algorithm's own
``preview`` replaces all of this.

Each preview also measures how varied the generator's samples are; a fall below half the peak
is a common sign of mode collapse, and the run warns about it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..files import suffixed
from ..kinds.image import (
    TRANSLATIONS_PER_ROW,
    grid_image,
    grid_labels,
    save_grid,
    stack_rows,
)
from ..networks import Encoder, Translator, exported
from .log import RunLog

if TYPE_CHECKING:
    from .context import TrainingContext


def sample_diversity(samples: torch.Tensor) -> float:
    """Mean pairwise distance of samples per element (of the first 256)."""
    flat = samples.detach().float().flatten(1).cpu()
    return float(torch.pdist(flat[:256]).mean() / math.sqrt(flat.shape[1])) if len(flat) > 1 else 0.0


class Previews:
    """The fixed inputs of a run's previews, the diversity seen so far, and the writer.

    Args:
        t: the run's context (its sampling modules, data and config).
        log: where events, warnings and the logger's copies go.
    """

    def __init__(self, t: "TrainingContext", log: RunLog) -> None:
        self.t, self.log = t, log
        self.kind = t.kind
        self.field = t.shape.field_of(t.primary)
        self.generator = t.sampling_modules[t.generator_name] if t.generator_name else None
        self.fixed_latent = self.fixed_labels = self.grid_nrow = None
        self.diversity_peak: float | None = None
        self.diversity_seen = 0
        G, cfg = self.generator, t.cfg
        if G is not None:
            n = self.kind.preview_count(cfg.sample_grid)
            if self.kind.class_rows:
                self.fixed_labels, self.grid_nrow = grid_labels(G.num_classes, n)
                n = len(self.fixed_labels) if self.fixed_labels is not None else n
            elif G.num_classes:
                self.fixed_labels = torch.arange(n) % G.num_classes  # one of each class first
            if self.fixed_labels is not None:
                self.fixed_labels = self.fixed_labels.to(t.device)
            seed_gen = torch.Generator().manual_seed(cfg.seed + 1)
            self.fixed_latent = G.sample_latent(n, generator=seed_gen, device=t.device)
        self.reference = self.kind.preview_reference(t.batches.primary_data)

    def counters(self) -> dict:
        return {"diversity_peak": self.diversity_peak, "diversity_seen": self.diversity_seen}

    def load_counters(self, counters: dict) -> None:
        self.diversity_peak, self.diversity_seen = counters["diversity_peak"], int(counters["diversity_seen"])

    def save(self) -> Path | None:
        """Write this step's preview, ``samples/step-NNNNNNN.*`` (rank 0 only); returns its main file."""
        t = self.t
        if not t.is_main:
            return None
        return self.write(t.run_dir / "samples" / f"step-{t.step:07d}")[0]

    def write(self, stem: Path) -> list[Path]:
        """Write the preview of the networks as they are now to ``stem`` plus the suffixes the
        data's kind writes; returns the files, the main one first."""
        t = self.t
        own = t.algorithm.preview(t)
        if own is not None:
            return [self._write_grid(stem, *own)]
        samples = None
        if self.generator is not None:
            with t.evaluating():
                samples = self.generator(self.fixed_latent, self.fixed_labels)
            self._check_diversity(samples)
        blocks = self._translations(samples)
        if blocks is not None:
            return [self._write_grid(stem, blocks, TRANSLATIONS_PER_ROW)]
        shown = samples.detach().cpu()[:self.kind.preview_limit]
        options = dict(nrow=self.grid_nrow, reference=self.reference, one_by_one=self.kind.preview_one_by_one)
        written = self.kind.write_samples(shown, stem, self.field, **options)
        logger = self.log.logger
        for method, arguments in self.kind.logged(shown, self.field, wants=logger.wants, **options):
            getattr(logger, method)(t.step, *arguments)
        return written

    def _write_grid(self, stem: Path, images: torch.Tensor, nrow: int | None) -> Path:
        path = suffixed(stem, ".png")
        save_grid(images, path, nrow=nrow)
        if self.log.logger.wants("image"):
            self.log.logger.image(self.t.step, grid_image(images, nrow))
        return path

    def _translations(self, samples: torch.Tensor | None) -> torch.Tensor | None:
        """Rows of the fixed real examples over what each exported translator and encoder makes
        of them (samples first, in rows of 8), or ``None`` when the model has neither."""
        t, G = self.t, self.generator
        examples, blocks = t.preview_examples, []
        real = examples.get(t.primary)
        for name in exported(t.sampling_nets, Encoder):
            if G is not None and real is not None:
                with t.evaluating():
                    blocks.append(stack_rows(real, G(t.sampling_modules[name](real), None))[0])
        for name in exported(t.sampling_nets, Translator):
            translator = t.sampling_modules[name]
            inputs = examples.get(translator.input_field)
            if inputs is None:
                continue
            with t.evaluating():
                if translator.num_domains:  # multi-domain (StarGAN): one row per target domain
                    outputs = [translator(inputs, torch.full((len(inputs),), d, dtype=torch.long,
                                                             device=inputs.device))
                               for d in range(translator.num_domains)]
                else:
                    outputs = [translator(inputs)]
            target = examples.get(translator.output_field)
            # a reconstruction (output field = input field) would show its input twice
            paired = (target is not None and translator.output_field != translator.input_field
                      and t.batches.stream_of(translator.output_field) == t.batches.stream_of(translator.input_field))
            blocks.append(stack_rows(inputs, *outputs, *((target,) if paired else ()))[0])
        if not blocks:
            return None
        if samples is not None:  # samples first, in rows of 8 like the blocks below them
            blocks.insert(0, stack_rows(samples)[0])
        return torch.cat([b.float().cpu() for b in blocks])

    def _check_diversity(self, samples: torch.Tensor) -> None:
        """Record the samples' diversity; warn when it falls below half its peak."""
        t = self.t
        value = sample_diversity(samples)
        self.diversity_seen += 1
        if self.diversity_seen > 1:  # the first preview comes from an untrained generator
            if self.diversity_peak and value < 0.5 * self.diversity_peak:
                self.log.message(
                    f"warning: step {t.step}: sample diversity {value:.4f} fell below half its peak "
                    f"{self.diversity_peak:.4f}; possible mode collapse (see samples/)")
                self.log.event({"step": t.step, "event": "mode_collapse_warning",
                                "diversity": round(value, 6), "peak": round(self.diversity_peak, 6)})
            self.diversity_peak = max(self.diversity_peak or 0.0, value)
        self.log.event({"step": t.step, "event": "samples", "diversity": round(value, 6)})
