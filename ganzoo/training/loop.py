"""The adversarial training loop, the same for every model and loss.

One step = ``n_critic`` discriminator updates, then one generator update. The fake
batch of the last discriminator update is reused for the generator update (it is
generated once, with gradients, and detached for the discriminator), and the
discriminator's parameters do not collect gradients during the generator update.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from ..config import OptimizerConfig, RunConfig
from ..data import InMemoryBatches
from ..distributed import SINGLE, DistContext, any_true, barrier
from ..errors import CheckpointError, GanzooError, TrainingInterrupted
from ..losses import Loss, gradient_penalty, r1_penalty
from ..networks import Networks, generate, split_outputs
from . import checkpoint as ckpt
from .progress import Reporter


class TrainingDiverged(GanzooError):
    """NaN/Inf or exploding gradients kept coming back after every allowed rollback."""


def make_optimizer(params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimizer an :class:`OptimizerConfig` describes."""
    if cfg.name in ("adam", "adamw"):
        # the fused kernel (CPU and CUDA): one pass over the parameters, same update rule
        params = list(params)
        fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        return cls(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                   fused=fused or None)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                   momentum=cfg.momentum)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def square_nrow(n: int) -> int:
    """Images per row of the squarest grid that holds ``n`` images."""
    return max(1, math.isqrt(n - 1) + 1)


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """Save images in [-1, 1] as one PNG grid, written to a temporary file then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_image(images.float().cpu(), tmp, nrow=nrow or square_nrow(len(images)),
                   normalize=True, value_range=(-1, 1), format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def grid_labels(num_classes: int | None, n: int) -> tuple[torch.Tensor | None, int | None]:
    """Labels for a sample grid of about ``n`` images: one row per class when there are
    at most 32 classes (``(labels, images_per_row)``), else cycling labels; ``(None, None)``
    for unconditional models."""
    if not num_classes:
        return None, None
    if num_classes <= 32:
        per_class = max(1, n // num_classes)
        return torch.arange(num_classes).repeat_interleave(per_class), per_class
    return torch.arange(n) % num_classes, None


def render_points(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 256,
                  extent: float | None = None) -> torch.Tensor:
    """A scatter plot of 2-D points as an RGB image ``[3, size, size]`` in [0, 1]:
    generated points white, reference (real) points blue, on black."""
    basis = reference if reference is not None else points
    if extent is None:
        extent = max(float(torch.quantile(basis[:, :2].abs().flatten().float(), 0.99)) * 1.25, 1e-3)
    image = torch.zeros(3, size, size)
    for cloud, colour in ((reference, (0.2, 0.4, 1.0)), (points, (1.0, 1.0, 1.0))):
        if cloud is None:
            continue
        xy = ((cloud[:, :2].float().cpu() / extent + 1) / 2 * (size - 1)).round().long()
        xy = xy[((xy >= 0) & (xy < size)).all(dim=1)]
        mask = torch.zeros(size * size)
        mask[(size - 1 - xy[:, 1]) * size + xy[:, 0]] = 1.0
        mask = mask.view(size, size)
        for channel, value in enumerate(colour):
            image[channel] = torch.where(mask > 0, torch.tensor(value), image[channel])
    return image


def save_points(points: torch.Tensor, path: Path, reference: torch.Tensor | None = None) -> None:
    """Save a scatter plot of 2-D points as a PNG (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_image(render_points(points, reference), tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def alternating_step(trainer: "Trainer") -> dict[str, torch.Tensor]:
    """The classic schedule: ``n_critic`` discriminator updates, then one generator update.

    Conditional generators get the real batch's labels, so real and fake batches share
    one label distribution (and the gradient penalty interpolates within a class). The
    fake batch of the last discriminator update is generated once, with gradients, and
    reused for the generator update. Returns detached scalar tensors (no host sync).
    """
    t = trainer
    G, D, loss, cfg = t.generator, t.discriminator, t.loss, t.cfg
    aux_weight = D.aux_weight if D.aux_classes else 0.0
    for i in range(cfg.n_critic):
        real, labels = t.batches.next()
        g_labels = labels if G.num_classes else None
        d_labels = labels if D.num_classes else None
        z = t.sample_latent()
        with t.autocast():
            if i == cfg.n_critic - 1:
                fake = t.g_forward(z, g_labels)
            else:
                with torch.no_grad():
                    fake = t.g_forward(z, g_labels)
            real_logits, real_classes = t.discriminate(real, d_labels)
            fake_logits, fake_classes = t.discriminate(fake.detach(), d_labels)
        d_loss = loss.d_loss(real_logits, fake_logits)
        if aux_weight:
            d_loss = d_loss + aux_weight * (F.cross_entropy(real_classes, labels)
                                            + F.cross_entropy(fake_classes, labels))
        penalty = None  # penalties: float32, outside autocast
        if cfg.gp:
            penalty = cfg.gp * gradient_penalty(D, real, fake.float(), d_labels)
        if cfg.r1:
            r1 = 0.5 * cfg.r1 * r1_penalty(D, real, d_labels)
            penalty = r1 if penalty is None else penalty + r1
        if penalty is not None:
            d_loss = d_loss + penalty
        d_norm = t.update(d_loss, t.d_optimizer, t.d_scaler)
        if cfg.weight_clip:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-cfg.weight_clip, cfg.weight_clip)

    D.requires_grad_(False)
    try:
        with t.autocast():
            g_logits, g_classes = t.discriminate(fake, d_labels, frozen=True)
        g_loss = loss.g_loss(g_logits)
        if aux_weight:
            g_loss = g_loss + aux_weight * F.cross_entropy(g_classes, labels)
        g_norm = t.update(g_loss, t.g_optimizer, t.g_scaler)
    finally:
        D.requires_grad_(True)
    stats = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
             **loss.scores(real_logits, fake_logits)}
    if penalty is not None:
        stats["penalty"] = penalty.detach()
    if d_norm is not None:
        stats["d_grad_norm"] = d_norm.detach()
    if g_norm is not None:
        stats["g_grad_norm"] = g_norm.detach()
    return stats


class Trainer:
    """Trains ``nets`` with ``loss`` on ``batches``, writing into ``run_dir``.

    Args:
        cfg: the resolved run config.
        nets: the generator and discriminator, already on ``device``.
        loss: the adversarial loss.
        batches: the data stream.
        run_dir: where metrics, samples and checkpoints go.
        metadata: string metadata stored in every checkpoint file.
        reporter: progress output.
        evaluator: an :class:`~ganzoo.metrics.evaluate.Evaluator` for ``--eval-every``, or None.
        step_fn: the update schedule, ``step_fn(trainer) -> stats`` (default
            :func:`alternating_step`).
    """

    def __init__(self, cfg: RunConfig, nets: Networks, loss: Loss, batches: InMemoryBatches,
                 run_dir: Path, metadata: dict[str, str], reporter: Reporter, evaluator=None,
                 step_fn=None, dist: DistContext = SINGLE) -> None:
        self.cfg = cfg
        self.step_fn = step_fn or alternating_step
        self.dist = dist
        self.generator = nets.generator
        self.discriminator = nets.discriminator
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
        self.channels_last = cfg.channels_last and not batches.points
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        if batches.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        # Forward passes may go through DDP and compiled wrappers; parameters, state_dict
        # and requires_grad always use the modules themselves (checkpoint keys stay plain).
        g_module, d_module = self.generator, self.discriminator
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [batches.device.index] if batches.device.type == "cuda" else None
            g_module = DDP(self.generator, device_ids=ids)
            d_module = DDP(self.discriminator, device_ids=ids)
        self.g_forward = torch.compile(g_module) if cfg.compile else g_module
        self.d_forward = torch.compile(d_module) if cfg.compile else d_module
        # The generator update goes through the discriminator's own module: its parameters
        # are frozen then, so DDP must neither wait for nor sync their (absent) gradients.
        self.d_frozen_forward = self.d_forward
        if dist.enabled:
            self.d_frozen_forward = torch.compile(self.discriminator) if cfg.compile else self.discriminator
        # Latents come from one seeded stream of global batches; each rank takes its slice,
        # so N processes draw the same latents as one (see ganzoo.distributed).
        self.latent_generator = torch.Generator().manual_seed(cfg.seed + 3)
        self.loss = loss
        self.batches = batches
        self.device = batches.device
        self.run_dir = Path(run_dir)
        self.metadata = metadata
        self.reporter = reporter
        self.g_optimizer = make_optimizer(self.generator.parameters(), cfg.g_optim)
        self.d_optimizer = make_optimizer(self.discriminator.parameters(), cfg.d_optim)
        fp16 = cfg.precision == "fp16"
        self.g_scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.d_scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.evaluator = evaluator
        self.tensorboard = None
        if cfg.logger == "tensorboard" and dist.is_main:
            from .progress import TensorBoardLogger

            self.tensorboard = TensorBoardLogger(self.run_dir)
        self.best: tuple[str, float] | None = None  # (key, value) of the best evaluation so far
        self.step = 0
        self.last_checkpoint: Path | None = None
        self.checkpoint_step: int | None = None
        # health: fp16's gradient scaler already skips steps with inf gradients
        self.watch_grads = cfg.precision != "fp16"
        self._bad: torch.Tensor | None = None
        self._metrics = None  # metrics.jsonl while fit() runs
        self._events = None   # events.jsonl while fit() runs
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.diversity_peak: float | None = None
        self.diversity_seen = 0
        self.last_record: dict[str, Any] | None = None
        self.fixed_labels, self.grid_nrow = grid_labels(self.generator.num_classes, cfg.sample_grid)
        n = len(self.fixed_labels) if self.fixed_labels is not None else cfg.sample_grid
        if batches.points:
            n = max(n, 1000)  # a scatter plot wants many points
            self.fixed_labels = (torch.arange(n) % self.generator.num_classes
                                 if self.generator.num_classes else None)
        if self.fixed_labels is not None:
            self.fixed_labels = self.fixed_labels.to(self.device)
        seed_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.fixed_latent = self.generator.sample_latent(n, generator=seed_gen, device=self.device)
        self.reference_points = batches.images[:2000].float().cpu() if batches.points else None

    # one step ------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                              enabled=self.autocast_dtype is not None)

    def sample_latent(self) -> torch.Tensor:
        """This rank's share of a global batch of latents, on the training device."""
        local = self.batches.local_batch_size
        z = self.generator.sample_latent(self.cfg.batch_size, generator=self.latent_generator, device="cpu")
        if self.dist.enabled:
            z = z[self.dist.rank * local:(self.dist.rank + 1) * local]
        return z.to(self.device, non_blocking=True)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None, frozen: bool = False):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        forward = self.d_frozen_forward if frozen else self.d_forward
        logits, classes = split_outputs(forward(x, labels))
        # losses are computed in float32 whatever the autocast precision
        return logits.float(), (classes.float() if classes is not None else None)

    def update(self, loss: torch.Tensor, optimizer, scaler) -> torch.Tensor | None:
        """Backward and step; returns the gradient norm (before the step) when the health
        check watches gradients (not under fp16, whose scaler already skips inf steps)."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        norm = None
        if self.watch_grads:
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads) if grads else None
        scaler.step(optimizer)
        scaler.update()
        return norm

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step of the run's update schedule (``cfg.algorithm``); returns detached
        scalar tensors (no host sync)."""
        return self.step_fn(self)

    # training health -------------------------------------------------------------
    def _watch(self, stats: dict[str, torch.Tensor]) -> None:
        """Fold this step's losses and gradient norms into a flag on the device (no sync)."""
        values = [v for k, v in stats.items() if k.endswith("_loss") or k.endswith("grad_norm")]
        if not values:
            return
        stacked = torch.stack([v.float().reshape(()) for v in values])
        bad = ~torch.isfinite(stacked).all()
        norms = [stats[k] for k in ("d_grad_norm", "g_grad_norm") if k in stats]
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
        record = {"step": bad_step, "event": "rollback", "reason": reason, "to_step": self.step,
                  "lr_scale": round(self.lr_scale, 8), "rollbacks": self.rollbacks}
        self._write_event(record)
        self.reporter.message(f"warning: step {bad_step}: {reason}; rolled back to step {self.step} "
                              f"with learning rates x{self.lr_scale:g} "
                              f"(rollback {self.rollbacks} of {self.cfg.max_rollbacks})")

    def _apply_lr_scale(self) -> None:
        for optimizer, base in ((self.g_optimizer, self.cfg.g_optim.lr), (self.d_optimizer, self.cfg.d_optim.lr)):
            for group in optimizer.param_groups:
                group["lr"] = base * self.lr_scale

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

    # the loop ---------------------------------------------------------------------
    def fit(self, total_steps: int) -> None:
        """Train until ``total_steps``; Ctrl-C or SIGTERM saves a checkpoint and raises
        :class:`TrainingInterrupted`; NaN/Inf or exploding gradients roll back to the last
        checkpoint (see :meth:`rollback`)."""
        cfg = self.cfg
        metrics_file = self.run_dir / "metrics.jsonl"
        title = "/".join(name.split(":")[-1] for name in (cfg.model, cfg.loss, cfg.dataset))
        self.reporter.start(total_steps, self.step, title)
        previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        except ValueError:  # not in the main thread: leave SIGTERM alone
            previous = None
        window_steps = 0
        sync_every_step = self.device.type == "cpu"  # a host sync costs nothing on the CPU
        try:
            main = self.dist.is_main  # only rank 0 writes files
            with (open(metrics_file, "a", encoding="utf-8") if main else contextlib.nullcontext()) as metrics, \
                    (open(self.run_dir / "events.jsonl", "a", encoding="utf-8") if main
                     else contextlib.nullcontext()) as events:
                self._metrics, self._events = metrics, events
                if self.last_checkpoint is None:  # a fresh run: step 0 is the first rollback target
                    self.save_checkpoint()
                started = window_start = time.perf_counter()
                while self.step < total_steps:
                    stats = self.train_step()
                    self.step += 1
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
                        images = window_steps * cfg.batch_size * cfg.n_critic
                        record = {"step": self.step, "epoch": self.batches.epoch,
                                  **{k: round(float(v), 6) for k, v in stats.items()},
                                  "images_per_sec": round(images / max(now - window_start, 1e-9), 1),
                                  "elapsed_sec": round(now - started, 3)}
                        if self.lr_scale != 1.0:
                            record["lr_scale"] = self.lr_scale
                        if self.dist.enabled:  # losses are rank 0's share of the batch
                            record["world_size"] = self.dist.world_size
                        self._write_metrics(record)
                        self.last_record = record
                        self.reporter.log(record)
                        if self.tensorboard:
                            self.tensorboard.scalars("train", self.step, record)
                        window_start, window_steps = now, 0
                    if self.evaluator is not None and (self.step % cfg.eval_every == 0 or last):
                        record = {"step": self.step, "eval": self.evaluate()}
                        if self.tensorboard:
                            self.tensorboard.scalars("eval", self.step, record["eval"])
                        self._write_metrics(record)
                        self.reporter.log({"step": self.step, **{
                            k: v for k, v in record["eval"].items() if isinstance(v, (int, float))}})
                    if self.step % cfg.sample_every == 0 or last:
                        self.save_samples()
                    if self.step % cfg.checkpoint_every == 0 or last:
                        self.save_checkpoint()
        except KeyboardInterrupt:
            if self.last_checkpoint is None or self.checkpoint_step != self.step:
                problem = self._unhealthy({}, collective=False)  # other ranks may be gone
                if problem is None:
                    self.save_checkpoint(sync=False)
            self.reporter.close()
            saved = ("checkpoint saved in" if self.checkpoint_step == self.step
                     else "the steps since were unhealthy; last good checkpoint:")
            raise TrainingInterrupted(f"interrupted at step {self.step}; {saved} {self.last_checkpoint}") from None
        finally:
            self._metrics = self._events = None
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if self.tensorboard:
                self.tensorboard.close()
        self.reporter.close()

    # evaluation --------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Run the evaluator on freshly generated samples (fixed seed); keep the best checkpoint."""
        G, n = self.generator, self.cfg.eval_samples
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

    # outputs -----------------------------------------------------------------------
    @torch.no_grad()
    def save_samples(self) -> Path:
        """A grid from the fixed latent batch: ``samples/step-NNNNNNN.png`` (rank 0 only)."""
        G = self.generator
        if not self.dist.is_main:
            return self.run_dir / "samples" / f"step-{self.step:07d}.png"
        was_training = G.training
        G.eval()
        try:
            images = G(self.fixed_latent, self.fixed_labels)
        finally:
            G.train(was_training)
        diversity = self._check_diversity(images)
        self._write_event({"step": self.step, "event": "samples", "diversity": round(diversity, 6)})
        path = self.run_dir / "samples" / f"step-{self.step:07d}.png"
        if self.reference_points is not None:
            save_points(images, path, reference=self.reference_points)
        else:
            save_grid(images, path, nrow=self.grid_nrow)
        if self.tensorboard:
            from torchvision.utils import make_grid

            if self.reference_points is not None:
                grid = render_points(images, self.reference_points)
            else:
                grid = make_grid(images.float().cpu(), nrow=self.grid_nrow or square_nrow(len(images)),
                                 normalize=True, value_range=(-1, 1))
            self.tensorboard.image(self.step, grid)
        return path

    def save_checkpoint(self, name: str | None = None, sync: bool = True) -> Path:
        """Write a complete checkpoint for the current step (or ``checkpoints/NAME``):
        networks, optimizers, gradient scalers, data position, every random generator
        (torch CPU and CUDA, numpy, Python) and the trainer's counters.

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
        g_state, g_meta = ckpt.flatten_optimizer("g_optim", self.g_optimizer)
        d_state, d_meta = ckpt.flatten_optimizer("d_optim", self.d_optimizer)
        train_state = {**g_state, **d_state, "rng.torch_cpu": torch.get_rng_state(),
                       "rng.latent": self.latent_generator.get_state(),
                       **{f"data.{k}": v for k, v in self.batches.state_dict().items()}}
        if self.device.type == "cuda":
            train_state["rng.torch_cuda"] = torch.cuda.get_rng_state(self.device)
        rng_meta: dict[str, Any] = {"python": _json_rng(random.getstate())}
        numpy_state = _numpy_rng_state()
        if numpy_state is not None:
            key, rest = numpy_state
            train_state["rng.numpy_key"] = key
            rng_meta["numpy"] = rest
        trainer_meta = {"step": self.step, "rollbacks": self.rollbacks, "lr_scale": self.lr_scale,
                        "best": list(self.best) if self.best else None,
                        "diversity_peak": self.diversity_peak, "diversity_seen": self.diversity_seen}
        metadata = {**self.metadata, "g_optim": g_meta, "d_optim": d_meta,
                    "scalers": json.dumps({"g": self.g_scaler.state_dict(), "d": self.d_scaler.state_dict()}),
                    "rng": json.dumps(rng_meta), "trainer": json.dumps(trainer_meta)}
        folder = ckpt.save_checkpoint(
            self.run_dir, self.step,
            {ckpt.GENERATOR_FILE: self.generator.state_dict(),
             ckpt.DISCRIMINATOR_FILE: self.discriminator.state_dict(),
             ckpt.STATE_FILE: train_state},
            metadata, keep=self.cfg.keep_checkpoints, name=name)
        if name is None:
            self.last_checkpoint = folder
            self.checkpoint_step = self.step
            if sync:
                barrier(self.dist)
        return folder

    def load_checkpoint(self, folder: Path) -> None:
        """Restore everything :meth:`save_checkpoint` wrote (checksums checked first)."""
        folder = Path(folder)
        g_state, _ = ckpt.load_checked(folder / ckpt.GENERATOR_FILE)
        d_state, _ = ckpt.load_checked(folder / ckpt.DISCRIMINATOR_FILE)
        state, meta = ckpt.load_checked(folder / ckpt.STATE_FILE)
        try:
            self.generator.load_state_dict(g_state)
            self.discriminator.load_state_dict(d_state)
            self.g_optimizer.load_state_dict(ckpt.unflatten_optimizer("g_optim", state, meta["g_optim"]))
            self.d_optimizer.load_state_dict(ckpt.unflatten_optimizer("d_optim", state, meta["d_optim"]))
            for optimizer in (self.g_optimizer, self.d_optimizer):
                _match_param_layout(optimizer)
            scalers = json.loads(meta["scalers"])
            if scalers["g"]:
                self.g_scaler.load_state_dict(scalers["g"])
            if scalers["d"]:
                self.d_scaler.load_state_dict(scalers["d"])
            self.batches.load_state_dict({k[len("data."):]: v for k, v in state.items() if k.startswith("data.")})
            rng = json.loads(meta["rng"])
            trainer = json.loads(meta["trainer"])
            self.latent_generator.set_state(state["rng.latent"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{folder} does not fit this run: {str(exc).splitlines()[0]}") from None
        self.step = self.checkpoint_step = int(trainer["step"])
        if self.dist.rank == 0:  # the saved generators are rank 0's
            torch.set_rng_state(state["rng.torch_cpu"])
            if self.device.type == "cuda" and "rng.torch_cuda" in state:
                torch.cuda.set_rng_state(state["rng.torch_cuda"], self.device)
            random.setstate(_python_rng(rng["python"]))
            if "numpy" in rng and "rng.numpy_key" in state:
                _set_numpy_rng_state(state["rng.numpy_key"], rng["numpy"])
        else:  # other ranks: fresh, reproducible streams of their own
            rank_seed = self.cfg.seed + 1_000_003 * self.dist.rank + self.step
            torch.manual_seed(rank_seed)
            random.seed(rank_seed)
        self.rollbacks, self.lr_scale = int(trainer["rollbacks"]), float(trainer["lr_scale"])
        self.best = tuple(trainer["best"]) if trainer["best"] else None
        self.diversity_peak, self.diversity_seen = trainer["diversity_peak"], int(trainer["diversity_seen"])
        self.last_checkpoint = folder
        self._bad = None


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer state the memory layout of its parameter (e.g. channels-last).

    Checkpoints store tensors contiguous; optimizers build their state with the parameter's
    strides, and fused kernels step parameter and state as raw memory, so a restored state
    must be laid out like the parameter again to give the same update.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if (isinstance(value, torch.Tensor) and value.shape == param.shape
                        and value.stride() != param.stride()):
                    optimizer.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _json_rng(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_rng(data: list) -> tuple:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)


def _numpy_rng_state() -> tuple[torch.Tensor, list] | None:
    try:
        import numpy as np
    except ImportError:  # numpy is optional for training
        return None
    kind, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return torch.from_numpy(key.astype(np.int64)), [kind, int(pos), int(has_gauss), float(cached)]


def _set_numpy_rng_state(key: torch.Tensor, rest: list) -> None:
    import numpy as np

    kind, pos, has_gauss, cached = rest
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, cached))


def _raise_keyboard_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt
