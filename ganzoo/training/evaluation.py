"""Evaluation during training (``--eval-every``): the metrics of fresh samples, the best checkpoint.

Every evaluation scores ``eval_samples`` samples of the sampling generator (its moving average
where the run keeps one) from a fixed seed, writes a line ``{"step", "eval", "provenance"}`` to
``metrics.jsonl``, and keeps the checkpoint of the best value of the first metric as
``checkpoints/best``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..networks import generate

if TYPE_CHECKING:
    from ..metrics.evaluate import Evaluator
    from .context import TrainingContext
    from .log import RunLog
    from .state import Checkpoints

EVAL_BATCH = 500
"""Samples generated per forward pass of an evaluation."""


class Evaluation:
    """Evaluate the run's generator now and then.

    Args:
        evaluator: the :class:`~ganzoo.metrics.evaluate.Evaluator` (real data, metrics, extractor).
        t: the run's context.
        log: where the results go.
        checkpoints: where the best checkpoint is kept.
    """

    def __init__(self, evaluator: "Evaluator", t: "TrainingContext", log: "RunLog",
                 checkpoints: "Checkpoints") -> None:
        self.evaluator, self.t, self.log, self.checkpoints = evaluator, t, log, checkpoints

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """``eval_samples`` samples from a fixed seed (classes cycling for conditional generators)."""
        t = self.t
        G, n = t.sampling_modules[t.generator_name], t.cfg.eval_samples
        was_training = G.training
        G.eval()
        try:
            z = G.sample_latent(n, generator=torch.Generator().manual_seed(t.cfg.seed + 2), device="cpu")
            labels = torch.arange(n) % G.num_classes if G.num_classes else None
            return generate(G, z, labels, batch_size=EVAL_BATCH)
        finally:
            G.train(was_training)

    def run(self) -> dict[str, Any]:
        """Evaluate, log the result with its provenance, keep the best checkpoint; returns the values."""
        t, evaluator = self.t, self.evaluator
        values = evaluator(self.samples())
        key, lower = evaluator.primary()
        value = values.get(key)
        best = self.checkpoints.best
        if isinstance(value, (int, float)) and (best is None or (value < best[1] if lower else value > best[1])):
            self.checkpoints.save_best(key, value)
        provenance = {**evaluator.provenance(t.cfg.eval_samples), "step": t.step,
                      "weights": "ema" if t.ema is not None else "raw", "model": t.cfg.model}
        self.log.metrics({"step": t.step, "eval": values, "provenance": provenance}, prefix="eval")
        self.log.reporter.log({"step": t.step, **{k: v for k, v in values.items() if isinstance(v, (int, float))}})
        return values
