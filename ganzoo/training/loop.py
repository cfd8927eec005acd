"""The training loop, the same for every family: a step of the algorithm, then the periodic jobs.

:class:`Trainer` is a run in progress: its :class:`~ganzoo.training.context.TrainingContext`
(what a step uses) and the jobs around the steps, each a small piece of its own module:

- health (:mod:`.health`): NaN/Inf or exploding gradients roll back to the last checkpoint;
- metric lines (:mod:`.log`): ``metrics.jsonl`` every ``log_every`` steps, the logger, progress;
- evaluation (:mod:`.evaluation`): every ``eval_every`` steps, keeping the best checkpoint;
- previews (:mod:`.previews`) every ``sample_every`` steps, with ``curves.png`` (:mod:`.curves`);
- checkpoints (:mod:`.state`) every ``checkpoint_every`` steps;
- stop signals (:mod:`.signals`): SIGTERM or Ctrl-C stop between steps with a checkpoint.

Every job also runs after the last step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TrainingInterrupted
from ..loggers import Logger
from .context import TrainingContext
from .curves import Curves
from .evaluation import Evaluation
from .health import Health
from .log import RunLog, Speed
from .previews import Previews
from .progress import Reporter
from .signals import StopSignals
from .state import Checkpoints

if TYPE_CHECKING:
    from ..metrics.evaluate import Evaluator


class _StopRequested(Exception):
    """A signal asked the loop to stop at the end of the current step."""


class Trainer:
    """A run in progress.

    Args:
        context: the assembled run (see :func:`ganzoo.training.assemble.assemble`).
        run_dir: where metrics, previews and checkpoints go.
        reporter: progress output.
        metadata: string metadata stored in every checkpoint file.
        logger: the run's logger (rank 0's), or ``None`` for none.
        evaluator: an :class:`~ganzoo.metrics.evaluate.Evaluator` for ``--eval-every``, or ``None``.
    """

    def __init__(self, context: TrainingContext, run_dir: Path, reporter: Reporter, *,
                 metadata: dict[str, str] | None = None, logger: Logger | None = None,
                 evaluator: "Evaluator | None" = None) -> None:
        self.context = context
        context.run_dir = self.run_dir = Path(run_dir)
        self.log = RunLog(run_dir, reporter, logger, context.is_main)
        self.health = Health(context.cfg, context.dist, context.device)
        self.previews = Previews(context, self.log)
        self.checkpoints = Checkpoints(context, run_dir, metadata or {}, jobs=(self.health, self.previews))
        self.curves = Curves(run_dir, self.log, context.is_main)
        self.evaluation = Evaluation(evaluator, context, self.log, self.checkpoints) if evaluator else None

    def fit(self, total_steps: int) -> None:
        """Train until step ``total_steps``.

        SIGTERM or Ctrl-C stop the run at the end of the step in progress, save a checkpoint of
        that step and raise :class:`TrainingInterrupted` (resuming from it is exact); a second
        signal aborts at once and saves nothing new. NaN/Inf or exploding gradients roll back
        to the last checkpoint (see :meth:`rollback`).
        """
        t, cfg, reporter = self.context, self.context.cfg, self.log.reporter
        t.total_steps = total_steps  # the lr_decay schedule runs over it
        reporter.start(total_steps, t.step, "/".join(n.split(":")[-1] for n in (cfg.model, cfg.loss, cfg.dataset)))
        sync_every_step = t.device.type == "cpu"  # a host sync costs nothing on the CPU
        try:
            with StopSignals(t.dist, t.device) as stop, self.log.open():
                if self.checkpoints.last is None:  # a fresh run: step 0 is the first rollback target
                    self.checkpoints.save()
                speed = Speed(cfg.batch_size * t.algorithm.batches_per_step())
                self.curves.restart()
                while t.step < total_steps:
                    if stop.requested():
                        raise _StopRequested
                    stats = t.train_step()
                    speed.step()
                    self.health.watch(stats)
                    due = self._due(t.step, total_steps)
                    if sync_every_step or any(due.values()):
                        problem = self.health.problem(stats)
                        if problem:
                            self.rollback(problem)
                            speed.restart()
                            reporter.update(t.step)
                            continue
                    reporter.update(t.step)
                    if due["log"]:
                        self._metrics_line(stats, speed)
                    if due["eval"]:
                        self.evaluation.run()
                    if due["preview"]:
                        self.previews.save()
                        if t.step == total_steps or self.curves.due():
                            self.curves.draw(t.step)
                    if due["checkpoint"]:
                        self.checkpoints.save()
        except _StopRequested:
            if self.checkpoints.step != t.step and self.health.problem({}, collective=False) is None:
                self.checkpoints.save(sync=False)
            reporter.close()
            saved = ("checkpoint saved in" if self.checkpoints.step == t.step
                     else "the steps since were unhealthy; last good checkpoint:")
            raise TrainingInterrupted(f"interrupted at step {t.step}; {saved} {self.checkpoints.last}") from None
        except KeyboardInterrupt:  # a second signal: the step in progress is abandoned
            reporter.close()
            raise TrainingInterrupted(f"aborted during step {t.step + 1}; nothing new saved; last checkpoint: "
                                      f"{self.checkpoints.last}") from None
        reporter.close()

    def _due(self, step: int, total_steps: int) -> dict[str, bool]:
        """Which periodic jobs run after ``step`` (all of them after the last step)."""
        cfg, last = self.context.cfg, step == total_steps
        return {"log": last or step % cfg.log_every == 0,
                "eval": self.evaluation is not None and (last or step % cfg.eval_every == 0),
                "preview": last or step % cfg.sample_every == 0,
                "checkpoint": last or step % cfg.checkpoint_every == 0}

    def _metrics_line(self, stats: dict[str, Any], speed: Speed) -> None:
        t = self.context
        images_per_sec, elapsed = speed.read()
        record = {"step": t.step, "epoch": t.batches.epoch, **{k: round(float(v), 6) for k, v in stats.items()},
                  "images_per_sec": round(images_per_sec, 1), "elapsed_sec": round(elapsed, 3)}
        if t.lr_scale != 1.0:
            record["lr_scale"] = t.lr_scale
        if t.cfg.lr_decay != "none":
            record["lr_factor"] = round(t.lr_factor(), 6)
        if t.dist.enabled:  # losses are rank 0's share of the batch
            record["world_size"] = t.dist.world_size
        self.log.metrics(record)
        self.log.reporter.log(record)

    def rollback(self, reason: str) -> None:
        """Go back to the last good checkpoint with lower learning rates, or give up
        (:class:`~ganzoo.training.health.TrainingDiverged`)."""
        t = self.context
        bad_step, target = t.step, self.checkpoints.last
        self.health.allow_rollback(bad_step, reason, target)
        rollbacks, lr_scale = self.health.rollbacks, t.lr_scale * t.cfg.rollback_lr_factor
        self.checkpoints.load(target)
        self.health.rollbacks, t.lr_scale = rollbacks, lr_scale
        t.apply_lr_factor()
        self.log.rewind(t.step)
        self.log.event({"step": bad_step, "event": "rollback", "reason": reason, "to_step": t.step,
                        "lr_scale": round(t.lr_scale, 8), "rollbacks": self.health.rollbacks})
        self.log.message(f"warning: step {bad_step}: {reason}; rolled back to step {t.step} with learning rates "
                         f"x{t.lr_scale:g} (rollback {self.health.rollbacks} of {t.cfg.max_rollbacks})")
