"""What every ``benchmarks/family_<name>.py`` shares: training a run in-process with a step
budget, timing it, and the row it contributes to ``benchmarks/families.py``'s table.

A family module defines::

    FAMILY = "stargan"                 # the model it measures
    BUDGET = "400 steps, batch 16"     # said in the table: what the budget is
    QUICK_STEPS = 4                    # a smoke run's steps (--quick)

    def measure(ctx: FamilyContext) -> dict:
        run = ctx.train("stargan", steps=ctx.steps(400), sets=[...])
        ...
        return ctx.row(run, metric={"domain accuracy": 0.93, ...}, baseline={"...": ...},
                       grid=path_of_a_png, notes="...")

``ctx.steps(n)`` is ``n``, or the module's ``QUICK_STEPS`` with ``--quick``; everything
else (threads, seed, where runs go) is the driver's.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainedRun:
    """A finished run and what it cost: ``wall_s`` (the whole ``train`` call: data loading,
    checkpoints, previews included) and ``images_per_s`` (the median of the training loop's
    own ``images_per_sec`` lines: real images the discriminator saw per second)."""

    run: Any
    wall_s: float
    images_per_s: float | None
    steps: int

    @property
    def path(self) -> Path:
        return self.run.path

    def load(self):
        import ganzoo

        return ganzoo.load(self.run.path)


@dataclass
class FamilyContext:
    """What a family's ``measure`` gets from the driver."""

    data_dir: str
    out: Path
    quick: bool = False
    seed: int = 0
    quiet: bool = True
    quick_steps: int = 4
    runs: list[TrainedRun] = field(default_factory=list)

    def steps(self, full: int) -> int:
        return self.quick_steps if self.quick else full

    @property
    def registry(self):
        from ganzoo.plugins.manager import get_plugin_manager

        return get_plugin_manager().registry

    def train(self, model: str, steps: int, dataset: str | None = None, sets: list[str] | None = None,
              name: str | None = None, **flags: Any) -> TrainedRun:
        """Train ``model`` with its defaults (plus ``sets``, ``--set`` style, and ``flags``,
        run-config fields) for ``steps`` steps on CPU; one checkpoint and one preview at the end."""
        from ganzoo.config import resolve_config
        from ganzoo.training.run import train
        from ganzoo.training.progress import make_reporter

        name = name or f"{model}-{len(self.runs)}"
        base = {"data_dir": self.data_dir, "steps": steps, "device": "cpu", "out": str(self.out), "run_name": name,
                "seed": self.seed, "log_every": max(1, steps // 20), "sample_every": steps,
                "checkpoint_every": steps, "keep_checkpoints": 1}
        base.update(flags)
        cfg = resolve_config(self.registry, model, dataset=dataset, sets=list(sets or []), flags=base)
        started = time.perf_counter()
        run = train(cfg, self.registry, make_reporter(enabled=not self.quiet))
        wall = time.perf_counter() - started
        rates = [r["images_per_sec"] for r in run.metrics() if isinstance(r.get("images_per_sec"), (int, float))]
        trained = TrainedRun(run, wall, statistics.median(rates) if rates else None, steps)
        self.runs.append(trained)
        return trained

    def row(self, run: TrainedRun, metric: dict[str, Any], baseline: dict[str, Any] | None = None,
            grid: Path | None = None, notes: str = "", **extra: Any) -> dict[str, Any]:
        """The family's row: ``metric`` (name -> value of the trained model), ``baseline``
        (name -> value of what it is compared with, each name saying what it is), the main
        run's wall time and images/s, a grid to show, and notes."""
        cfg = run.run.config
        return {"model": cfg.model.split(":")[-1], "dataset": cfg.dataset.split(":")[-1], "steps": run.steps,
                "batch_size": cfg.batch_size, "loss": cfg.loss.split(":")[-1], "metric": metric,
                "baseline": baseline or {}, "wall_s": round(run.wall_s, 1),
                "images_per_s": round(run.images_per_s, 1) if run.images_per_s else None,
                "all_runs_wall_s": round(sum(r.wall_s for r in self.runs), 1),
                "grid": str(grid) if grid else None, "notes": notes, **extra}
