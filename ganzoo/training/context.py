"""The run as an algorithm sees it: :class:`TrainingContext`, ganzoo's :class:`~ganzoo.step.StepContext`.

It holds what one training step needs and what a checkpoint of it must save: the named
modules with their DDP and compiled wrappers, one optimizer and gradient scaler per group,
the batches, the latent and algorithm random streams, the autocast precision, the moving
average of the exported modules, and the learning-rate factor. :meth:`TrainingContext.train_step`
runs one step of the run's algorithm. Everything around steps (metric lines, previews,
checkpoints, health, signals) is the loop's business (:mod:`ganzoo.training.loop`).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch
from torch import nn

from ..algorithms import Algorithm
from ..config import RunConfig
from ..data import DataShape
from ..datasets.batches import InMemoryBatches
from ..errors import ConfigError
from ..kinds import kind_of
from ..losses import Loss
from ..networks import Generator, Networks, exported, split_outputs
from .distributed import SINGLE, DistContext, average_gradients
from .ema import EMA
from .optim import make_optimizer

PREVIEW_EXAMPLES = 32
"""Real examples an algorithm's preview may show (``preview_examples``; blocks of 8)."""

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def sampling_generator(modules: Mapping[str, nn.Module], export: tuple[str, ...]) -> str | None:
    """The generator that samples in previews, evaluations and :meth:`TrainingContext.latent`:
    the module named ``generator``, else the first exported :class:`Generator`."""
    if isinstance(modules.get("generator"), Generator):
        return "generator"
    return next((name for name in export if isinstance(modules[name], Generator)), None)


def optimizer_parameters(nets: Networks, model: str) -> dict[str, list[nn.Parameter]]:
    """Each optimizer group's parameters, every one exactly once.

    Modules may share layers (CoGAN's generators share their first layers): a shared
    parameter listed twice in one group would be stepped twice per update, so each group
    takes it once. A parameter in two groups would be stepped by both; that is refused.
    """
    owner: dict[int, str] = {}
    groups: dict[str, list[nn.Parameter]] = {}
    for group, names in nets.optimizers.items():
        params: list[nn.Parameter] = []
        seen: set[int] = set()
        for name in names:
            for param in nets.modules[name].parameters():
                if id(param) in seen:
                    continue
                if owner.get(id(param), group) != group:
                    raise ConfigError(
                        f"model {model!r}: module {name} shares parameters with a module of optimizer group "
                        f"{owner[id(param)]}, so {group} and {owner[id(param)]} would both step them; put the "
                        f"modules that share layers in one group, or give the shared layers a group of their own")
                seen.add(id(param))
                owner[id(param)] = group
                params.append(param)
        groups[group] = params
    return groups


class TrainingContext:
    """Everything one training step uses, built once per run (see :func:`ganzoo.training.assemble.assemble`).

    Args:
        cfg: the resolved run config (its ``precision`` already resolved: not ``auto``).
        nets: the model's modules, on the training device.
        loss: the adversarial loss.
        batches: the data stream.
        algorithm: the run's training algorithm; its ``setup`` is called at the end.
        shape: the data's shape at the training size (what the networks were built for).
        dist: where this process stands in a multi-process run.
        run_dir: where files go (``None`` for runs that write none, such as ``ganzoo bench``).
    """

    def __init__(self, cfg: RunConfig, nets: Networks, loss: Loss, batches: InMemoryBatches, algorithm: Algorithm,
                 shape: DataShape, dist: DistContext = SINGLE, run_dir: Path | None = None) -> None:
        if cfg.precision == "auto":
            raise ValueError("resolve precision 'auto' first (ganzoo.training.hardware.resolve_precision)")
        self.cfg = cfg
        self.nets = nets
        self.modules = nets.modules
        self.loss = loss
        self.batches = batches
        self.shape = shape
        self.algorithm = algorithm
        self.dist = dist
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = batches.device
        self.primary = batches.primary
        self.notes: list[str] = []  # what assembling the run decided, for its progress output
        self.step = 0
        self.total_steps: int | None = None  # the lr_decay schedule runs over it
        self.lr_scale = 1.0  # lowered by each rollback
        self.autocast_dtype = AUTOCAST_DTYPES.get(cfg.precision)
        self.kind = kind_of(batches.kinds[batches.primary])  # the data's kind (its primary field's)
        self.channels_last = cfg.channels_last and self.kind.channels_last
        if self.channels_last:
            for module in self.modules.values():
                module.to(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self._wrap_modules()
        # Latents come from one seeded stream of global batches; each rank takes its slice,
        # so N processes draw the same latents as one (see ganzoo.training.distributed).
        self.latent_generator = torch.Generator().manual_seed(cfg.seed + 3)
        self.rng = torch.Generator().manual_seed(cfg.seed + 5)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        model = cfg.model.split(":")[-1]
        for group, params in optimizer_parameters(nets, model).items():
            self.optimizers[group] = make_optimizer(params, cfg.optimizer(group))
            self.scalers[group] = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        # fp16's gradient scaler already skips steps with inf gradients
        self.watch_grads = cfg.precision != "fp16"
        # the averaged modules (--set ema=...) are what previews, evaluations and checkpoints' users see
        self.ema = EMA({name: self.modules[name] for name in nets.export}, cfg.ema) if cfg.ema else None
        self.sampling_nets = nets.with_modules(self.ema.copies) if self.ema else nets
        self.sampling_modules = self.sampling_nets.modules
        self.generator_name = sampling_generator(self.modules, nets.export)
        self.preview_examples = batches.head(min(cfg.sample_grid, PREVIEW_EXAMPLES))
        algorithm.setup(self)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # modules ---------------------------------------------------------------------------
    def _wrap_modules(self) -> None:
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

                ids = [self.device.index] if self.device.type == "cuda" else None
                wrapped = DDP(module, device_ids=ids)
            self._forward[name] = torch.compile(wrapped) if cfg.compile else wrapped
            # a frozen module goes through the module itself: DDP must neither wait for nor
            # sync its (absent) gradients
            self._frozen_forward[name] = ((torch.compile(module) if cfg.compile else module) if self._ddp
                                          else self._forward[name])

    def net(self, name: str) -> Callable:
        return self._frozen_forward[name] if name in self._frozen else self._forward[name]

    @contextlib.contextmanager
    def frozen(self, *names: str) -> Iterator[None]:
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

    @contextlib.contextmanager
    def evaluating(self, *names: str) -> Iterator[None]:
        names = names or tuple(self.modules)
        was = {name: self.modules[name].training for name in names}
        for name in names:
            self.modules[name].eval()
        try:
            yield
        finally:
            for name, flag in was.items():
                self.modules[name].train(flag)

    # one step --------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                              enabled=self.autocast_dtype is not None)

    def batch(self) -> dict[str, torch.Tensor]:
        batch = self.batches.next_batch()
        if self.channels_last:
            for name, value in batch.items():
                if value.dim() == 4 and value.is_floating_point():
                    batch[name] = value.contiguous(memory_format=torch.channels_last)
        return batch

    def latent(self, dim: int | None = None, *, net: str | None = None) -> torch.Tensor:
        local = self.batches.local_batch_size
        if dim is None:
            name = net or self.generator_name
            generator = self.modules.get(name) if name else None
            if not isinstance(generator, Generator):
                generators = exported(self.nets, Generator)
                raise ValueError("latent() samples the prior of a ganzoo Generator; "
                                 + (f"{name!r} is not one; " if name else "")
                                 + (f"name one with net= ({', '.join(generators)})" if generators
                                    else "this model exports none: pass dim=N for N(0, I) latents"))
            z = generator.sample_latent(self.cfg.batch_size, generator=self.latent_generator, device="cpu")
        else:
            z = torch.randn(self.cfg.batch_size, dim, generator=self.latent_generator)
        if self.dist.enabled:
            z = z[self.dist.rank * local:(self.dist.rank + 1) * local]
        return z.to(self.device, non_blocking=True)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, name: str = "discriminator",
                     frozen: bool = False):
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        forward = self._frozen_forward[name] if frozen or name in self._frozen else self._forward[name]
        logits, classes = split_outputs(forward(x, labels))
        return logits.float(), (classes.float() if classes is not None else None)

    def update(self, loss: torch.Tensor, group: str) -> torch.Tensor | None:
        optimizer, scaler = self.optimizers[group], self.scalers[group]
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

    # the learning-rate schedule ---------------------------------------------------------
    def lr_factor(self) -> float:
        factor = self.lr_scale
        if self.cfg.lr_decay != "none" and self.total_steps:
            progress = min(self.step / self.total_steps, 1.0)
            factor *= 1.0 - progress if self.cfg.lr_decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor

    def apply_lr_factor(self) -> None:
        """Set every group's learning rate to its configured rate times :meth:`lr_factor`."""
        factor = self.lr_factor()
        for group, optimizer in self.optimizers.items():
            base = self.cfg.optimizer(group).lr
            for param_group in optimizer.param_groups:
                param_group["lr"] = base * factor

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step of the run's algorithm (after the ``lr_decay`` schedule, before the moving
        average); returns its detached scalar tensors (no host sync)."""
        if self.cfg.lr_decay != "none":
            self.apply_lr_factor()
        stats = self.algorithm.step(self)
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.step)
        return stats
