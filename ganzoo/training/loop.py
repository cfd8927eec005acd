"""The adversarial training loop, the same for every model and loss.

One step = ``n_critic`` discriminator updates, then one generator update. The fake
batch of the last discriminator update is reused for the generator update (it is
generated once, with gradients, and detached for the discriminator), and the
discriminator's parameters do not collect gradients during the generator update.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import save_image

from ..config import OptimizerConfig, RunConfig
from ..data import InMemoryBatches
from ..errors import TrainingInterrupted
from ..losses import Loss
from ..networks import Networks
from . import checkpoint as ckpt
from .progress import Reporter


def make_optimizer(params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimizer an :class:`OptimizerConfig` describes."""
    if cfg.name in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        return cls(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                   momentum=cfg.momentum)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """Save images in [-1, 1] as one PNG grid, written to a temporary file then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_image(images.float().cpu(), tmp, nrow=nrow or max(1, math.isqrt(len(images) - 1) + 1),
                   normalize=True, value_range=(-1, 1), format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    """

    def __init__(self, cfg: RunConfig, nets: Networks, loss: Loss, batches: InMemoryBatches,
                 run_dir: Path, metadata: dict[str, str], reporter: Reporter) -> None:
        self.cfg = cfg
        self.generator = nets.generator
        self.discriminator = nets.discriminator
        self.loss = loss
        self.batches = batches
        self.device = batches.device
        self.run_dir = Path(run_dir)
        self.metadata = metadata
        self.reporter = reporter
        self.g_optimizer = make_optimizer(self.generator.parameters(), cfg.g_optim)
        self.d_optimizer = make_optimizer(self.discriminator.parameters(), cfg.d_optim)
        self.step = 0
        self.last_checkpoint: Path | None = None
        self.last_record: dict[str, Any] | None = None
        seed_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.fixed_latent = self.generator.sample_latent(cfg.sample_grid, generator=seed_gen,
                                                         device=self.device)
        self.fixed_labels = self._grid_labels(cfg.sample_grid)

    def _grid_labels(self, n: int) -> torch.Tensor | None:
        classes = self.generator.num_classes
        if not classes:
            return None
        return torch.arange(n, device=self.device) % classes

    # one step ------------------------------------------------------------------
    def train_step(self) -> dict[str, torch.Tensor]:
        """One generator update after ``n_critic`` discriminator updates.

        Returns detached scalar tensors (no host sync here).
        """
        G, D, loss = self.generator, self.discriminator, self.loss
        batch_size = self.cfg.batch_size
        for i in range(self.cfg.n_critic):
            real, labels = self.batches.next()
            z = G.sample_latent(batch_size, device=self.device)
            if i == self.cfg.n_critic - 1:
                fake = G(z, labels)
            else:
                with torch.no_grad():
                    fake = G(z, labels)
            real_logits = D(real, labels)
            fake_logits = D(fake.detach(), labels)
            d_loss = loss.d_loss(real_logits, fake_logits)
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_optimizer.step()

        D.requires_grad_(False)
        try:
            g_loss = loss.g_loss(D(fake, labels))
            self.g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_optimizer.step()
        finally:
            D.requires_grad_(True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                **loss.scores(real_logits, fake_logits)}

    # the loop ---------------------------------------------------------------------
    def fit(self, total_steps: int) -> None:
        """Train until ``total_steps``; Ctrl-C or SIGTERM saves a checkpoint and raises
        :class:`TrainingInterrupted`."""
        cfg = self.cfg
        metrics_file = self.run_dir / "metrics.jsonl"
        title = "/".join(name.split(":")[-1] for name in (cfg.model, cfg.loss, cfg.dataset))
        self.reporter.start(total_steps, self.step, title)
        previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        except ValueError:  # not in the main thread: leave SIGTERM alone
            previous = None
        started = window_start = time.perf_counter()
        window_steps = 0
        try:
            with open(metrics_file, "a", encoding="utf-8") as metrics:
                while self.step < total_steps:
                    stats = self.train_step()
                    self.step += 1
                    window_steps += 1
                    self.reporter.update(self.step)
                    last = self.step == total_steps
                    if self.step % cfg.log_every == 0 or last:
                        now = time.perf_counter()
                        images = window_steps * cfg.batch_size * cfg.n_critic
                        record = {"step": self.step, "epoch": self.batches.epoch,
                                  **{k: round(float(v), 6) for k, v in stats.items()},
                                  "images_per_sec": round(images / max(now - window_start, 1e-9), 1),
                                  "elapsed_sec": round(now - started, 3)}
                        metrics.write(json.dumps(record) + "\n")
                        metrics.flush()
                        self.last_record = record
                        self.reporter.log(record)
                        window_start, window_steps = now, 0
                    if self.step % cfg.sample_every == 0 or last:
                        self.save_samples()
                    if self.step % cfg.checkpoint_every == 0 or last:
                        self.save_checkpoint()
        except KeyboardInterrupt:
            if self.last_checkpoint is None or not self.last_checkpoint.name.endswith(f"{self.step:07d}"):
                self.save_checkpoint()
            self.reporter.close()
            raise TrainingInterrupted(
                f"interrupted at step {self.step}; checkpoint saved in {self.last_checkpoint}") from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self.reporter.close()

    # outputs -----------------------------------------------------------------------
    @torch.no_grad()
    def save_samples(self) -> Path:
        """A grid from the fixed latent batch: ``samples/step-NNNNNNN.png``."""
        G = self.generator
        was_training = G.training
        G.eval()
        try:
            images = G(self.fixed_latent, self.fixed_labels)
        finally:
            G.train(was_training)
        path = self.run_dir / "samples" / f"step-{self.step:07d}.png"
        save_grid(images, path)
        return path

    def save_checkpoint(self) -> Path:
        """Write a complete checkpoint for the current step."""
        g_state, g_meta = ckpt.flatten_optimizer("g_optim", self.g_optimizer)
        d_state, d_meta = ckpt.flatten_optimizer("d_optim", self.d_optimizer)
        train_state = {**g_state, **d_state, "rng.torch_cpu": torch.get_rng_state(),
                       **{f"data.{k}": v for k, v in self.batches.state_dict().items()}}
        if self.device.type == "cuda":
            train_state["rng.torch_cuda"] = torch.cuda.get_rng_state(self.device)
        metadata = {**self.metadata, "g_optim": g_meta, "d_optim": d_meta}
        self.last_checkpoint = ckpt.save_checkpoint(
            self.run_dir, self.step,
            {ckpt.GENERATOR_FILE: self.generator.state_dict(),
             ckpt.DISCRIMINATOR_FILE: self.discriminator.state_dict(),
             ckpt.STATE_FILE: train_state},
            metadata, keep=self.cfg.keep_checkpoints)
        return self.last_checkpoint


def _raise_keyboard_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt
