"""One place builds a run from a resolved config: :func:`assemble`.

``ganzoo train``, ``ganzoo bench``, the conformance kit and the tests all build runs here, so
they train the same thing: the data (the registered dataset, or data given in memory), the
networks (seeded by ``cfg.seed``), the loss, the algorithm and its options, the precision
(``auto`` resolved, by rank 0 for every process), the optimizers and the moving average. What
is checked is checked before anything is written. The run's directory, its logger and its
periodic jobs come after, in :mod:`ganzoo.training.run` and :class:`~ganzoo.training.loop.Trainer`.

Example (two steps of a tiny DCGAN, nothing written)::

    cfg = resolve_config(registry, "dcgan", flags={"batch_size": 8, "device": "cpu"})
    t = assemble(cfg, registry, data=ImageData(images, labels, 10))
    stats = t.train_step()
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..config import RunConfig
from ..data import ItemData, shape_of
from ..datasets.batches import InMemoryBatches
from ..errors import ConfigError
from ..networks import Networks, uses_labels
from ..plugins.build import (build_algorithm, build_loss, build_networks, check_algorithm_fits, check_model_fits,
                             load_dataset)
from ..plugins.registry import Registry
from .context import TrainingContext
from .distributed import SINGLE, DistContext, from_main
from .hardware import resolve_device, resolve_precision


def assemble(cfg: RunConfig, registry: Registry, *, data: ItemData | None = None, nets: Networks | None = None,
             device: torch.device | str | None = None, dist: DistContext = SINGLE,
             run_dir: Path | None = None) -> TrainingContext:
    """Build everything a run trains with; :meth:`TrainingContext.train_step` then trains it.

    Args:
        cfg: the resolved run config.
        registry: the component registry.
        data: the training data; ``None`` loads ``cfg.dataset`` from ``cfg.data_dir``.
        nets: networks to train instead of the model's (checked like them), e.g. in a test of one step.
        device: the training device (default: what ``cfg.device`` names).
        dist: where this process stands in a multi-process run.
        run_dir: where the run writes (an algorithm's own previews); set later by the trainer.

    Returns:
        The run's :class:`TrainingContext`; its ``cfg`` has the precision resolved and, with
        ``epochs``, the step count; its ``notes`` say what was decided on the way.

    Raises:
        ConfigError: the data, model, loss and algorithm do not fit together (one line).
    """
    device = torch.device(device) if device is not None else resolve_device(cfg.device)
    # auto may measure the CPU: rank 0 decides for every process, so they all train alike
    cfg, picked = from_main(dist, lambda: resolve_precision(cfg, device))
    if cfg.sync_batchnorm and dist.enabled and device.type != "cuda":
        raise ConfigError("sync_batchnorm needs CUDA devices (SyncBatchNorm has no CPU kernel)")
    model = registry.get("model", cfg.model).spec
    dataset = registry.get("dataset", cfg.dataset).spec.name
    if data is None:
        data = load_dataset(registry, cfg.dataset, cfg.data_dir, image_size=cfg.image_size)
    shape = shape_of(data, cfg.image_size)
    check_model_fits(model, shape, dataset=dataset)
    loss = build_loss(registry, cfg.loss)
    if nets is None:
        nets = build_networks(registry, cfg, shape, device, seed_process=True)
    if uses_labels(nets) and data.labels is None:
        raise ConfigError(f"model {model.name!r} uses class labels and needs a labelled dataset; {dataset} has no labels")
    check_algorithm_fits(registry, cfg, nets, shape)
    algorithm = build_algorithm(registry, cfg)
    if dist.rank:  # same initial weights everywhere; a stream of its own from here on
        torch.manual_seed(cfg.seed + dist.rank)
    if cfg.sync_batchnorm and dist.enabled:
        for name, module in list(nets.modules.items()):
            nets.modules[name] = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    batches = InMemoryBatches(data, cfg.batch_size, device, image_size=cfg.image_size, seed=cfg.seed,
                              rank=dist.rank, world_size=dist.world_size)
    if cfg.epochs is not None:
        per_step = algorithm.batches_per_step()
        cfg = cfg.model_copy(update={"steps": max(1, math.ceil(cfg.epochs * batches.batches_per_epoch / per_step))})
        algorithm.cfg = cfg
    context = TrainingContext(cfg, nets, loss, batches, algorithm, shape, dist, run_dir)
    if picked:
        context.notes.append(picked)
    return context
