"""The training loop, the same for every family: ask the algorithm for a step, watch the
run's health, log, preview, evaluate, checkpoint, and stop cleanly between steps.

The :class:`Trainer` also is the API an algorithm works through (see
:mod:`ganzoo.algorithms`): named modules, one optimizer and gradient scaler per optimizer
group, batches, latents, autocast and a checkpointed random generator.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ..algorithms import Algorithm, Alternating, alternating_step, make_algorithm
from ..config import RunConfig
from ..data import InMemoryBatches
from .distributed import SINGLE, DistContext, any_true, average_gradients, barrier
from ..errors import GanzooError, TrainingInterrupted
from ..settings import NO_CURVES_ENV, env_flag
from ..loggers import GuardedLogger, Logger
from ..losses import Loss
from ..kinds.media import (decode_tokens, join_clips, save_gif, save_spectrograms, save_text, save_video_strip,
    spectrogram, video_strip, write_wav)
from ..networks import Generator, Networks, generate, split_outputs
from ..kinds.grids import grid_image, render_points, save_grid, save_points
from . import checkpoint as ckpt
from . import state as train_state
from .ema import EMA
from .previews import Previews
from .progress import Reporter
from .optim import make_optimizer

MEDIA_KINDS = ("audio", "video", "tokens")
"""Primary field kinds whose previews are sounds, clips or sentences rather than a grid."""

MEDIA_PREVIEW_CLIPS = 16
"""Clips in an audio or video preview (spectrograms, the GIF)."""

MEDIA_PREVIEW_LISTEN = 4
"""Clips joined in an audio preview's WAV (and sent to the logger)."""

MEDIA_PREVIEW_STRIP = 8
"""Clips (rows) in a video preview's frame strip."""

__all__ = ["Trainer", "TrainingDiverged", "alternating_step", "make_optimizer"]

class TrainingDiverged(GanzooError):
    """NaN/Inf or exploding gradients kept coming back after every allowed rollback."""


class _StopRequested(Exception):
    """A signal asked the loop to stop at the end of the current step."""


class Trainer:
    """Trains ``nets`` with ``loss`` on ``batches``, writing into ``run_dir``.

    Args:
        cfg: the resolved run config.
        nets: the model's named modules, already on ``device``.
        loss: the adversarial loss.
        batches: the data stream.
        run_dir: where metrics, samples and checkpoints go.
        metadata: string metadata stored in every checkpoint file.
        reporter: progress output.
        evaluator: an :class:`~ganzoo.metrics.evaluate.Evaluator` for ``--eval-every``, or None.
        algorithm: the training algorithm: an :class:`~ganzoo.algorithms.Algorithm`, or a
            ``step(trainer)`` function (default: ``alternating``).
        dist: where this process stands in a multi-process run.
        logger: the run's :class:`~ganzoo.loggers.Logger` (rank 0's; see :func:`ganzoo.loggers.build_logger`);
            ``None`` builds the one ``cfg.logger`` names from the installed plugins. Other ranks log nothing.

    Attributes an algorithm uses: ``modules`` (name -> module), ``optimizers`` and
    ``scalers`` (group -> ...), ``batches``, ``loss``, ``cfg``, ``options`` (the algorithm's
    options), ``rng`` (a checkpointed generator), ``device``, ``step``; and the methods
    :meth:`batch`, :meth:`latent`, :meth:`net`, :meth:`discriminate`, :meth:`frozen`,
    :meth:`autocast` and :meth:`update`.
    """

    def __init__(self, cfg: RunConfig, nets: Networks, loss: Loss, batches: InMemoryBatches,
                 run_dir: Path, metadata: dict[str, str], reporter: Reporter, evaluator=None,
                 step_fn: Callable | None = None, dist: DistContext = SINGLE,
                 algorithm: Algorithm | Callable | None = None, logger: Logger | None = None) -> None:
        self.cfg = cfg
        self.dist = dist
        algorithm = algorithm if algorithm is not None else step_fn
        if algorithm is None:
            algorithm = Alternating(None, cfg)
        elif not isinstance(algorithm, Algorithm):
            algorithm = make_algorithm(algorithm, None, cfg)
        self.algorithm = algorithm
        self.options = algorithm.options
        self.nets = nets
        self.modules = nets.modules
        if cfg.precision == "auto":  # ganzoo.train resolves it first; a Trainer built by hand does it here
            from .hardware import resolve_precision

            cfg, _ = resolve_precision(cfg, batches.device)
            self.cfg = cfg
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
        self.channels_last = cfg.channels_last and batches.kinds.get(batches.primary) == "image"
        if self.channels_last:
            for module in self.modules.values():
                module.to(memory_format=torch.channels_last)
        if batches.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self._wrap_modules(batches.device)
        # Latents come from one seeded stream of global batches; each rank takes its slice,
        # so N processes draw the same latents as one (see ganzoo.training.distributed).
        self.latent_generator = torch.Generator().manual_seed(cfg.seed + 3)
        self.rng = torch.Generator().manual_seed(cfg.seed + 5)
        self.loss = loss
        self.batches = batches
        self.device = batches.device
        self.run_dir = Path(run_dir)
        self.metadata = metadata
        self.reporter = reporter
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        fp16 = cfg.precision == "fp16"
        for group, names in nets.optimizers.items():
            params = [p for name in names for p in self.modules[name].parameters()]
            self.optimizers[group] = make_optimizer(params, cfg.optimizer(group))
            self.scalers[group] = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.evaluator = evaluator
        self.logger = self._make_logger(logger)
        self.best: tuple[str, float] | None = None  # (key, value) of the best evaluation so far
        self.step = 0
        self.last_checkpoint: Path | None = None
        self.checkpoint_step: int | None = None
        # health: fp16's gradient scaler already skips steps with inf gradients
        self.watch_grads = cfg.precision != "fp16"
        self._bad: torch.Tensor | None = None
        self._metrics = None  # metrics.jsonl while fit() runs
        self._events = None   # events.jsonl while fit() runs
        self._stop_signal: int | None = None
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.total_steps: int | None = None
        self.diversity_peak: float | None = None
        self.diversity_seen = 0
        self.last_record: dict[str, Any] | None = None
        self._curves_drawn = time.perf_counter()  # when curves.png was last drawn, and how long it took
        self._curves_cost = 0.5
        # the averaged generator (--set ema=...) is what grids, evaluations and checkpoints' users see
        self.ema = EMA({name: self.modules[name] for name in nets.export}, cfg.ema) if cfg.ema else None
        self.sampling_nets = nets.with_modules(self.ema.copies) if self.ema else nets
        self.previews = Previews(self.sampling_nets, batches, cfg, self.device)
        algorithm.setup(self)

    def _make_logger(self, logger: Logger | None) -> GuardedLogger:
        """Rank 0's logger (built from ``cfg.logger`` when none is given); a no-op elsewhere."""
        if not self.dist.is_main:
            return GuardedLogger(Logger(self.run_dir, self.cfg))
        if logger is None:
            from ..loggers import build_logger
            from ..plugins.manager import get_plugin_manager

            registry = get_plugin_manager().registry if self.cfg.logger != "none" else None
            return build_logger(registry, self.cfg, self.run_dir) if registry is not None else \
                GuardedLogger(Logger(self.run_dir, self.cfg))
        return logger if isinstance(logger, GuardedLogger) else GuardedLogger(logger)

    # modules -----------------------------------------------------------------------
    def _wrap_modules(self, device: torch.device) -> None:
        """Forward passes may go through DDP and compiled wrappers; parameters, state_dict
        and requires_grad always use the modules themselves (checkpoint keys stay plain).

        Under DDP the classic pair is wrapped in DDP (gradients synced during backward); any
        other set averages each group's gradients in :meth:`update`, which allows a module
        to be called several times per backward (CycleGAN's cycles).
        """
        cfg, dist = self.cfg, self.dist
        self._ddp = dist.enabled and self.nets.is_pair
        self._forward: dict[str, Callable] = {}
        self._frozen_forward: dict[str, Callable] = {}
        self._frozen: set[str] = set()
        for name, module in self.modules.items():
            wrapped = module
            if self._ddp:
                from torch.nn.parallel import DistributedDataParallel as DDP

                ids = [device.index] if device.type == "cuda" else None
                wrapped = DDP(module, device_ids=ids)
            self._forward[name] = torch.compile(wrapped) if cfg.compile else wrapped
            # a frozen module goes through the module itself: DDP must neither wait for nor
            # sync its (absent) gradients
            self._frozen_forward[name] = ((torch.compile(module) if cfg.compile else module) if self._ddp
                                          else self._forward[name])

    @property
    def generator(self) -> torch.nn.Module | None:
        return self.modules.get("generator")

    @property
    def discriminator(self) -> torch.nn.Module | None:
        return self.modules.get("discriminator")

    @property
    def g_forward(self) -> Callable:
        return self.net("generator")

    @property
    def d_forward(self) -> Callable:
        return self._forward["discriminator"]

    @property
    def d_frozen_forward(self) -> Callable:
        return self._frozen_forward["discriminator"]

    @property
    def g_optimizer(self) -> torch.optim.Optimizer:
        return self.optimizers["g_optim"]

    @property
    def d_optimizer(self) -> torch.optim.Optimizer:
        return self.optimizers["d_optim"]

    @property
    def g_scaler(self) -> torch.amp.GradScaler:
        return self.scalers["g_optim"]

    @property
    def d_scaler(self) -> torch.amp.GradScaler:
        return self.scalers["d_optim"]

    def net(self, name: str) -> Callable:
        """Module ``name`` as a step should call it: through DDP and ``torch.compile``
        wrappers, or (while :meth:`frozen`) without DDP."""
        return self._frozen_forward[name] if name in self._frozen else self._forward[name]

    @contextlib.contextmanager
    def frozen(self, *names: str) -> Iterator[None]:
        """Inside, the named modules collect no parameter gradients (inputs still get theirs,
        e.g. the generator's update through the discriminator)."""
        saved = {name: [p.requires_grad for p in self.modules[name].parameters()] for name in names}
        for name in names:
            self.modules[name].requires_grad_(False)
            self._frozen.add(name)
        try:
            yield
        finally:
            for name in names:
                for p, flag in zip(self.modules[name].parameters(), saved[name]):
                    p.requires_grad_(flag)
                self._frozen.discard(name)

    # one step ------------------------------------------------------------------
    def autocast(self):
        """The run's autocast context (``--precision``); a no-op at fp32."""
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                              enabled=self.autocast_dtype is not None)

    def batch(self) -> dict[str, torch.Tensor]:
        """The next batch, ``{field: tensor}`` on the training device (this rank's share)."""
        batch = self.batches.next_batch()
        if self.channels_last:
            for name, value in batch.items():
                if value.dim() == 4 and value.is_floating_point():
                    batch[name] = value.contiguous(memory_format=torch.channels_last)
        return batch

    def latent(self, dim: int | None = None) -> torch.Tensor:
        """This rank's share of a global batch of latents from the run's checkpointed stream:
        the generator's own prior (``sample_latent``), or N(0, I) of size ``dim``."""
        local = self.batches.local_batch_size
        generator = self.modules.get("generator")
        if dim is None and isinstance(generator, Generator):
            z = generator.sample_latent(self.cfg.batch_size, generator=self.latent_generator, device="cpu")
        else:
            if dim is None:
                raise ValueError("latent() needs dim when the model has no generator named 'generator'")
            z = torch.randn(self.cfg.batch_size, dim, generator=self.latent_generator)
        if self.dist.enabled:
            z = z[self.dist.rank * local:(self.dist.rank + 1) * local]
        return z.to(self.device, non_blocking=True)

    def sample_latent(self) -> torch.Tensor:
        """:meth:`latent` for the generator (the name of plugin API 1.0)."""
        return self.latent()

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, frozen: bool = False,
                     name: str = "discriminator"):
        """``(logits, class_logits or None)`` of discriminator ``name`` on ``x``, in float32
        whatever the autocast precision (losses are computed in float32)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        forward = self._frozen_forward[name] if frozen or name in self._frozen else self._forward[name]
        logits, classes = split_outputs(forward(x, labels))
        return logits.float(), (classes.float() if classes is not None else None)

    def update(self, loss: torch.Tensor, group, scaler=None) -> torch.Tensor | None:
        """Backward and step of optimizer group ``group`` (e.g. ``"d_optim"``); returns the
        gradient norm (before the step) when the health check watches gradients (not under
        fp16, whose scaler already skips inf steps). ``update(loss, optimizer, scaler)``,
        the form of plugin API 1.0, works too."""
        if isinstance(group, str):
            optimizer, scaler = self.optimizers[group], self.scalers[group]
        else:
            optimizer = group
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if self.dist.enabled and not self._ddp:
            average_gradients(params)
        norm = None
        if self.watch_grads:
            grads = [p.grad for p in params if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads) if grads else None
        scaler.step(optimizer)
        scaler.update()
        return norm

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step of the run's algorithm; returns detached scalar tensors (no host sync)."""
        return self.algorithm.step(self)

    # training health -------------------------------------------------------------
    def _watch(self, stats: dict[str, torch.Tensor]) -> None:
        """Fold this step's losses and gradient norms into a flag on the device (no sync)."""
        values = [v for k, v in stats.items() if k.endswith("_loss") or k.endswith("grad_norm")]
        if not values:
            return
        stacked = torch.stack([v.float().reshape(()) for v in values])
        bad = ~torch.isfinite(stacked).all()
        norms = [v.float().reshape(()) for k, v in stats.items() if k.endswith("grad_norm")]
        if self.cfg.max_grad_norm is not None and norms:
            bad = bad | (torch.stack(norms).max() > self.cfg.max_grad_norm)
        self._bad = bad if self._bad is None else (self._bad | bad)

    def _unhealthy(self, stats: dict[str, torch.Tensor], collective: bool = True) -> str | None:
        """Why the steps since the last check went wrong on any rank, or ``None`` (syncs
        with the device; with several processes, every rank must call it at the same step
        unless ``collective`` is off)."""
        flag, self._bad = self._bad, None
        if self.dist.enabled and collective:
            flag = any_true(flag if flag is not None else torch.zeros((), dtype=torch.bool, device=self.device),
                            self.dist)
        if flag is None or not bool(flag):
            return None
        shown = ", ".join(f"{k}={float(v):.4g}" for k, v in stats.items()
                          if k.endswith("_loss") or k.endswith("grad_norm"))
        return f"non-finite or exploding values ({shown})"

    def rollback(self, reason: str) -> None:
        """Go back to the last good checkpoint with lower learning rates, or give up."""
        bad_step = self.step
        self.rollbacks += 1
        target = self.last_checkpoint
        if self.rollbacks > self.cfg.max_rollbacks or target is None:
            tries = f"after {self.cfg.max_rollbacks} rollback(s)" if self.cfg.max_rollbacks else "(rollbacks off)"
            raise TrainingDiverged(
                f"training diverged at step {bad_step} {tries}: {reason}; the last good checkpoint is "
                f"{target}; try a lower --lr, another loss, or --set max_rollbacks=N")
        rollbacks, lr_scale = self.rollbacks, self.lr_scale * self.cfg.rollback_lr_factor
        self.load_checkpoint(target)
        self.rollbacks, self.lr_scale = rollbacks, lr_scale
        self._apply_lr_scale()
        self._rewind_metrics(self.step)
        self.logger.rewind(self.step)
        record = {"step": bad_step, "event": "rollback", "reason": reason, "to_step": self.step,
                  "lr_scale": round(self.lr_scale, 8), "rollbacks": self.rollbacks}
        self._write_event(record)
        self.reporter.message(f"warning: step {bad_step}: {reason}; rolled back to step {self.step} "
                              f"with learning rates x{self.lr_scale:g} "
                              f"(rollback {self.rollbacks} of {self.cfg.max_rollbacks})")

    def lr_factor(self) -> float:
        """What every group's learning rate is multiplied by in the next step: the rollbacks'
        ``lr_scale`` times the ``lr_decay`` schedule at ``step / total_steps``."""
        factor = self.lr_scale
        if self.cfg.lr_decay != "none" and self.total_steps:
            progress = min(self.step / self.total_steps, 1.0)
            factor *= 1.0 - progress if self.cfg.lr_decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor

    def _apply_lr_scale(self) -> None:
        factor = self.lr_factor()
        for group, optimizer in self.optimizers.items():
            base = self.cfg.optimizer(group).lr
            for param_group in optimizer.param_groups:
                param_group["lr"] = base * factor

    def _rewind_metrics(self, step: int) -> None:
        """Drop the metrics lines of steps after ``step`` (they are about to be trained again)."""
        if self._metrics is None:
            return
        self._metrics.close()
        path = self.run_dir / "metrics.jsonl"
        ckpt.truncate_jsonl(path, step)
        self._metrics = open(path, "a", encoding="utf-8")

    def _write_metrics(self, record: dict[str, Any]) -> None:
        if self._metrics is not None:
            self._metrics.write(json.dumps(record) + "\n")
            self._metrics.flush()

    def _write_event(self, record: dict[str, Any]) -> None:
        """One line of ``events.jsonl``: sample diversity, rollbacks, warnings."""
        if self._events is not None:
            self._events.write(json.dumps(record) + "\n")
            self._events.flush()

    def _check_diversity(self, images: torch.Tensor) -> float:
        """Mean pairwise distance of the fixed-latent samples (per pixel); warns when it
        falls below half its peak, a common sign of mode collapse."""
        flat = images.detach().float().flatten(1).cpu()
        value = float(torch.pdist(flat[:256]).mean() / math.sqrt(flat.shape[1])) if len(flat) > 1 else 0.0
        self.diversity_seen += 1
        if self.diversity_seen > 1:  # the first grid comes from an untrained generator
            if self.diversity_peak and value < 0.5 * self.diversity_peak:
                self.reporter.message(
                    f"warning: step {self.step}: sample diversity {value:.4f} fell below half its peak "
                    f"{self.diversity_peak:.4f}; possible mode collapse (see samples/)")
                self._write_event({"step": self.step, "event": "mode_collapse_warning",
                                   "diversity": round(value, 6), "peak": round(self.diversity_peak, 6)})
            self.diversity_peak = max(self.diversity_peak or 0.0, value)
        return value

    # stopping ----------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        if self._stop_signal is not None:  # a second signal: stop now, save nothing new
            raise KeyboardInterrupt
        self._stop_signal = signum

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[bool]:
        """SIGTERM and SIGINT (Ctrl-C) set a flag that the loop honours between steps; a
        second one aborts at once. Yields whether the handlers could be installed."""
        previous = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not in the main thread: leave the signals alone
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            previous = {}
        try:
            yield bool(previous)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_requested(self) -> bool:
        if not self.dist.enabled:
            return self._stop_signal is not None
        flag = torch.tensor(self._stop_signal is not None, device=self.device)
        return bool(any_true(flag, self.dist))  # every rank stops at the same step

    # the loop ---------------------------------------------------------------------
    def fit(self, total_steps: int) -> None:
        """Train until ``total_steps``.

        SIGTERM or Ctrl-C stop the run at the end of the step in progress, save a checkpoint
        of that step and raise :class:`TrainingInterrupted` (resuming from it is exact); a
        second signal aborts at once and saves nothing new. NaN/Inf or exploding gradients
        roll back to the last checkpoint (see :meth:`rollback`).
        """
        cfg = self.cfg
        self.total_steps = total_steps  # the lr_decay schedule runs over it
        metrics_file = self.run_dir / "metrics.jsonl"
        title = "/".join(name.split(":")[-1] for name in (cfg.model, cfg.loss, cfg.dataset))
        self.reporter.start(total_steps, self.step, title)
        window_steps = 0
        batches_per_step = self.algorithm.batches_per_step()
        sync_every_step = self.device.type == "cpu"  # a host sync costs nothing on the CPU
        self._stop_signal = None
        try:
            main = self.dist.is_main  # only rank 0 writes files
            with self._stop_signals(), \
                    (open(metrics_file, "a", encoding="utf-8") if main else contextlib.nullcontext()) as metrics, \
                    (open(self.run_dir / "events.jsonl", "a", encoding="utf-8") if main
                     else contextlib.nullcontext()) as events:
                self._metrics, self._events = metrics, events
                if self.last_checkpoint is None:  # a fresh run: step 0 is the first rollback target
                    self.save_checkpoint()
                started = window_start = time.perf_counter()
                self._curves_drawn = started  # the first curves after a few seconds of training
                while self.step < total_steps:
                    if self._stop_requested():
                        raise _StopRequested
                    if cfg.lr_decay != "none":
                        self._apply_lr_scale()
                    stats = self.train_step()
                    self.step += 1
                    if self.ema is not None:
                        self.ema.update(self.step)
                    window_steps += 1
                    self._watch(stats)
                    last = self.step == total_steps
                    logs = self.step % cfg.log_every == 0 or last
                    writes = (logs or self.step % cfg.sample_every == 0 or self.step % cfg.checkpoint_every == 0
                              or (cfg.eval_every is not None and self.step % cfg.eval_every == 0))
                    if sync_every_step or writes:
                        problem = self._unhealthy(stats)
                        if problem:
                            self.rollback(problem)
                            window_start, window_steps = time.perf_counter(), 0
                            self.reporter.update(self.step)
                            continue
                    self.reporter.update(self.step)
                    if logs:
                        now = time.perf_counter()
                        images = window_steps * cfg.batch_size * batches_per_step
                        record = {"step": self.step, "epoch": self.batches.epoch,
                                  **{k: round(float(v), 6) for k, v in stats.items()},
                                  "images_per_sec": round(images / max(now - window_start, 1e-9), 1),
                                  "elapsed_sec": round(now - started, 3)}
                        if self.lr_scale != 1.0:
                            record["lr_scale"] = self.lr_scale
                        if cfg.lr_decay != "none":
                            record["lr_factor"] = round(self.lr_factor(), 6)
                        if self.dist.enabled:  # losses are rank 0's share of the batch
                            record["world_size"] = self.dist.world_size
                        self._write_metrics(record)
                        self.last_record = record
                        self.reporter.log(record)
                        self.logger.scalars("train", self.step, record)
                        window_start, window_steps = now, 0
                    if self.evaluator is not None and (self.step % cfg.eval_every == 0 or last):
                        record = {"step": self.step, "eval": self.evaluate(),
                                  "provenance": self.eval_provenance()}
                        self.logger.scalars("eval", self.step, record["eval"])
                        self._write_metrics(record)
                        self.reporter.log({"step": self.step, **{
                            k: v for k, v in record["eval"].items() if isinstance(v, (int, float))}})
                    if self.step % cfg.sample_every == 0 or last:
                        self.save_samples()
                        if last or self._curves_due():
                            self.save_curves()
                    if self.step % cfg.checkpoint_every == 0 or last:
                        self.save_checkpoint()
        except _StopRequested:
            if self.checkpoint_step != self.step:
                problem = self._unhealthy({}, collective=False)
                if problem is None:
                    self.save_checkpoint(sync=False)
            self.reporter.close()
            saved = ("checkpoint saved in" if self.checkpoint_step == self.step
                     else "the steps since were unhealthy; last good checkpoint:")
            raise TrainingInterrupted(f"interrupted at step {self.step}; {saved} {self.last_checkpoint}") from None
        except KeyboardInterrupt:  # a second signal: the step in progress is abandoned
            self.reporter.close()
            raise TrainingInterrupted(f"aborted during step {self.step + 1}; nothing new saved; last checkpoint: "
                                      f"{self.last_checkpoint}") from None
        finally:
            self._metrics = self._events = None
            self.logger.close()
        self.reporter.close()

    # evaluation --------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Run the evaluator on freshly generated samples (fixed seed); keep the best checkpoint."""
        G, n = self.previews.generator, self.cfg.eval_samples
        was_training = G.training
        G.eval()
        try:
            gen = torch.Generator().manual_seed(self.cfg.seed + 2)
            z = G.sample_latent(n, generator=gen, device="cpu")
            labels = torch.arange(n) % G.num_classes if G.num_classes else None
            samples = generate(G, z, labels, batch_size=500)
        finally:
            G.train(was_training)
        values = self.evaluator(samples)
        key, lower = self.evaluator.primary()
        value = values.get(key)
        if isinstance(value, (int, float)):
            if self.best is None or (value < self.best[1] if lower else value > self.best[1]):
                self.best = (key, float(value))
                self.save_checkpoint(name="best")
                ckpt.atomic_write_text(self.run_dir / "checkpoints" / "best.json", json.dumps(
                    {"step": self.step, key: value}) + "\n")
        return values

    def eval_provenance(self) -> dict[str, Any]:
        """Where an evaluation's numbers come from (see :meth:`Evaluator.provenance`), as
        ``ganzoo eval`` reports it: the step, and whether the averaged weights were scored."""
        return {**self.evaluator.provenance(self.cfg.eval_samples), "step": self.step,
                "weights": "ema" if self.ema is not None else "raw", "model": self.cfg.model}

    CURVES_SHARE = 0.05
    """At most this share of the training time goes to redrawing ``curves.png``."""

    def _curves_due(self) -> bool:
        """Whether to redraw the curves at this sample step: always, unless that would spend more
        than :attr:`CURVES_SHARE` of the time since the last drawing on drawing (a drawing takes
        about half a second; short runs with frequent grids then draw at the end only)."""
        return time.perf_counter() - self._curves_drawn >= self._curves_cost / self.CURVES_SHARE

    def save_curves(self) -> Path | None:
        """``curves.png``: losses, D outputs, gradient norms and evaluations against steps and
        wall time, drawn from metrics.jsonl and events.jsonl (rank 0 only)."""
        if not self.dist.is_main or env_flag(NO_CURVES_ENV):
            return None
        from ..outputs.curves import save_curves

        start = time.perf_counter()
        try:
            return save_curves(self.run_dir)
        except Exception as exc:  # noqa: BLE001 - a picture must not stop the training it shows
            self.reporter.message(f"warning: step {self.step}: curves.png not drawn: "
                                  f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self._curves_drawn = time.perf_counter()
            self._curves_cost = self._curves_drawn - start

    # previews ----------------------------------------------------------------------
    @property
    def preview_examples(self) -> dict[str, torch.Tensor]:
        """The first items of every field, fixed for the run's previews (translators, encoders)."""
        return self.previews.examples

    @contextlib.contextmanager
    def evaluating(self, *names: str) -> Iterator[None]:
        """The named modules (default: all) in eval mode inside, as they were after."""
        names = names or tuple(self.modules)
        was = {name: self.modules[name].training for name in names}
        for name in names:
            self.modules[name].eval()
        try:
            yield
        finally:
            for name, flag in was.items():
                self.modules[name].train(flag)

    def _on_samples(self, samples: torch.Tensor) -> None:
        self._write_event({"step": self.step, "event": "samples",
                           "diversity": round(self._check_diversity(samples), 6)})

    @torch.no_grad()
    def save_samples(self) -> Path:
        """The preview of this step: ``samples/step-NNNNNNN.png`` (rank 0 only); for audio,
        video and text generators see :meth:`save_media_samples`."""
        path = self.run_dir / "samples" / f"step-{self.step:07d}.png"
        if not self.dist.is_main:
            return path
        preview = self.algorithm.preview(self)
        kind = self.batches.kinds[self.batches.primary]
        if preview is None and kind in MEDIA_KINDS and self.previews.generator is not None:
            return self.save_media_samples(kind)
        if preview is not None:
            images, nrow, points = preview[0], preview[1], False
        else:
            images, nrow, points = self.previews.render(self.evaluating, self._on_samples)
        reference = self.previews.reference_points
        if points:
            save_points(images, path, reference=reference)
        else:
            save_grid(images, path, nrow=nrow)
        if self.logger.wants("image"):
            grid = render_points(images, reference) if points else grid_image(images, nrow)
            self.logger.image(self.step, grid)
        return path

    def save_media_samples(self, kind: str) -> Path:
        """What a person listens to, watches or reads of this step's fixed-latent samples:

        - audio: ``samples/step-N.png`` (a spectrogram per clip) and ``samples/step-N.wav``
          (the first clips one after another, a quarter second apart); the logger gets them as audio;
        - video: ``samples/step-N.png`` (a row of frames per clip) and ``samples/step-N.gif``;
        - tokens: ``samples/step-N.txt`` (one decoded sentence per line); the logger gets them as text.

        Conditional generators show one sample per class first. Returns the PNG (text: the TXT).
        """
        G, previews = self.previews.generator, self.previews
        with self.evaluating():
            samples = G(previews.fixed_latent, previews.fixed_labels)
        self._on_samples(samples)
        samples = samples.detach().cpu()
        if previews.fixed_labels is not None:  # one per class first, then the rest
            labels = previews.fixed_labels.cpu()
            first = torch.tensor([int((labels == c).nonzero()[0]) for c in labels.unique().tolist()])
            rest = torch.tensor([i for i in range(len(labels)) if i not in set(first.tolist())], dtype=torch.long)
            samples = samples[torch.cat([first, rest])]
        stem = self.run_dir / "samples" / f"step-{self.step:07d}"
        primary = self.batches.primary
        rate = self.batches.rates.get(primary)
        if kind == "tokens":
            lines = decode_tokens(samples, self.batches.vocabularies.get(primary))
            path = save_text(lines, stem.with_suffix(".txt"))
            self.logger.text(self.step, lines[:16])
            return path
        if kind == "audio":
            shown = samples[:MEDIA_PREVIEW_CLIPS]
            path = save_spectrograms(shown, stem.with_suffix(".png"), rate)
            write_wav(stem.with_suffix(".wav"), join_clips(shown[:MEDIA_PREVIEW_LISTEN], rate or 16000),
                      rate or 16000)
            if self.logger.wants("image"):
                self.logger.image(self.step, grid_image(spectrogram(shown, rate), min(4, len(shown))))
            for i, clip in enumerate(shown[:MEDIA_PREVIEW_LISTEN]):
                self.logger.audio(self.step, f"samples/{i}", clip, rate or 16000)
            return path
        shown = samples[:MEDIA_PREVIEW_CLIPS]
        path = save_video_strip(shown[:MEDIA_PREVIEW_STRIP], stem.with_suffix(".png"))
        save_gif(shown, stem.with_suffix(".gif"), fps=rate)
        if self.logger.wants("image"):
            frames, per_row = video_strip(shown[:MEDIA_PREVIEW_STRIP])
            self.logger.image(self.step, grid_image(frames, per_row))
        return path

    # checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, name: str | None = None, sync: bool = True) -> Path:
        """Write a complete checkpoint for the current step (or ``checkpoints/NAME``):
        every module, every optimizer and gradient scaler, the algorithm's state, the data
        position, every random generator (torch CPU and CUDA, numpy, Python) and the
        trainer's counters.

        With several processes only rank 0 writes; the others wait for it (``sync``) so
        that any rank may read the checkpoint right after, e.g. to roll back.
        """
        if not self.dist.is_main:
            folder = self.run_dir / ckpt.CHECKPOINTS_DIR / (name or f"step-{self.step:07d}")
            if name is None:
                if sync:
                    barrier(self.dist)
                self.last_checkpoint, self.checkpoint_step = folder, self.step
            return folder
        files, metadata = train_state.capture(self)
        folder = ckpt.save_checkpoint(self.run_dir, self.step, files, metadata,
                                      keep=self.cfg.keep_checkpoints, name=name)
        if name is None:
            self.last_checkpoint = folder
            self.checkpoint_step = self.step
            if sync:
                barrier(self.dist)
        return folder

    def load_checkpoint(self, folder: Path) -> None:
        """Restore everything :meth:`save_checkpoint` wrote (checksums checked first).

        The best evaluation is the one ``checkpoints/best.json`` records when it exists: a
        rollback or resume to an older checkpoint must not forget a better ``best``."""
        train_state.restore(self, folder)
        best_file = self.run_dir / ckpt.CHECKPOINTS_DIR / "best.json"
        if best_file.is_file():
            try:
                record = json.loads(best_file.read_text(encoding="utf-8"))
                (key, value), = [(k, v) for k, v in record.items() if k != "step"]
                if self.best is None or self.best[0] == key:
                    self.best = (key, float(value))
            except (OSError, ValueError, TypeError):
                pass  # a damaged best.json: the checkpoint's own record stands
        self._bad = None
