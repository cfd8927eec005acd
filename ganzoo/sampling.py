"""Loading a trained generator from a checkpoint and sampling from it."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import RunConfig
from .data import DataShape
from .errors import (CheckpointError, ComponentUnavailableError, ConfigError, GanzooError,
                     UnknownComponentError)
from .plugins import get_plugin_manager
from .registry import Registry
from .training import checkpoint as ckpt


class GeneratorHandle:
    """A trained generator with the config it was trained with.

    Example::

        g = ganzoo.load("runs/dcgan-mnist-20261128-120000")
        images = g.sample(16, seed=0)      # [16, C, H, W] in [-1, 1], on the CPU
        g.save_grid("grid.png", n=64)
    """

    def __init__(self, generator: torch.nn.Module, config: RunConfig, step: int, checkpoint: Path) -> None:
        self.generator = generator.eval()
        self.config = config
        self.step = step
        self.checkpoint = checkpoint

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def num_classes(self) -> int | None:
        return self.generator.num_classes

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | list[int] | int | None = None,
               seed: int | None = None, batch_size: int = 256) -> torch.Tensor:
        """``n`` images in [-1, 1] as a CPU tensor ``[n, C, H, W]``.

        Args:
            n: how many images.
            labels: class labels for conditional models (one int for all, or ``n`` of them).
            seed: makes the latents reproducible; ``None`` draws fresh ones.
            batch_size: images generated per forward pass.
        """
        if n < 1:
            raise ConfigError("the number of samples must be at least 1")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.generator.sample_latent(n, generator=gen, device="cpu")
        if labels is not None:
            if not self.num_classes:
                raise ConfigError("this model is not conditional; it takes no labels")
            labels = torch.full((n,), labels, dtype=torch.long) if isinstance(labels, int) \
                else torch.as_tensor(labels, dtype=torch.long)
            if len(labels) != n or labels.min() < 0 or labels.max() >= self.num_classes:
                raise ConfigError(f"labels must be {n} class indices in 0..{self.num_classes - 1}")
        elif self.num_classes:
            labels = torch.arange(n) % self.num_classes
        chunks = []
        for start in range(0, n, batch_size):
            zb = z[start:start + batch_size].to(self.device)
            lb = labels[start:start + batch_size].to(self.device) if labels is not None else None
            chunks.append(self.generator(zb, lb).float().cpu())
        return torch.cat(chunks)

    @property
    def is_points(self) -> bool:
        return len(self.generator.out_shape) == 1

    def save_grid(self, path: str | Path, n: int = 64, seed: int | None = 0,
                  labels=None, nrow: int | None = None) -> Path:
        """Sample ``n`` images and write them as one PNG grid.

        Conditional models without ``labels`` get one row per class (``n // classes``
        images each); point models get a scatter plot of ``n`` points.
        """
        from .training.loop import grid_labels, save_grid, save_points

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ConfigError(f"sample grids are PNG files; use a .png name, not {path.name!r}")
        if labels is None and self.num_classes and not self.is_points:
            class_labels, per_row = grid_labels(self.num_classes, n)
            labels, n, nrow = class_labels, len(class_labels), nrow or per_row
        samples = self.sample(n, labels=labels, seed=seed)
        if self.is_points:
            save_points(samples, path)
        else:
            save_grid(samples, path, nrow=nrow)
        return path


def load(path: str | Path, device: str = "cpu", registry: Registry | None = None) -> GeneratorHandle:
    """Load the generator of a run directory or checkpoint (safetensors only).

    Args:
        path: a run directory (its latest checkpoint), a checkpoint folder, or its
            ``generator.safetensors``.
        device: where to put the generator.
        registry: the component registry (default: the installed plugins).
    """
    from .run import build_networks, resolve_device

    registry = registry or get_plugin_manager().registry
    folder = ckpt.resolve_checkpoint(path)
    file = folder / ckpt.GENERATOR_FILE
    meta = ckpt.read_metadata(file)
    try:
        cfg = RunConfig.model_validate_json(meta["config"])
        shape = DataShape(**json.loads(meta["data_shape"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{file} carries no valid run config: {exc}") from None
    plugin = cfg.model.split(":")[0]
    try:
        registry.get("model", cfg.model)
    except UnknownComponentError:
        raise ComponentUnavailableError(
            f"{file} needs model {cfg.model!r} from plugin {plugin!r}, which is not installed "
            f"(see `ganzoo plugins`)") from None
    try:
        with torch.random.fork_rng(devices=[]):  # loading must not reseed the caller's RNG
            nets = build_networks(registry, cfg, shape, resolve_device(device))
    except GanzooError as exc:
        raise type(exc)(f"cannot rebuild the checkpoint's model (plugin {plugin!r}): {exc}") from None
    state = ckpt.load_tensors(file)
    try:
        nets.generator.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{file} does not match model {cfg.model}: "
                              f"{str(exc).splitlines()[0]}") from None
    return GeneratorHandle(nets.generator, cfg, int(meta.get("step", 0)), folder)
