"""Loading a trained generator from a checkpoint and sampling from it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .config import RunConfig
from .data import DataShape
from .networks import generate
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
        return self._generate(z, labels, batch_size)

    @torch.no_grad()
    def interpolate(self, steps: int = 8, rows: int = 8, seed: int | None = 0) -> torch.Tensor:
        """Latent walks: ``rows`` rows of ``steps`` images, each row a spherical interpolation
        (slerp) between two random latents; conditional models keep one class per row.

        Returns:
            CPU tensor ``[rows * steps, *sample_shape]``.
        """
        if steps < 2 or rows < 1:
            raise ConfigError("an interpolation needs at least 2 steps and 1 row")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        start = self.generator.sample_latent(rows, generator=gen, device="cpu")
        end = self.generator.sample_latent(rows, generator=gen, device="cpu")
        t = torch.linspace(0, 1, steps)
        cos = torch.nn.functional.cosine_similarity(start, end, dim=1).clamp(-1 + 1e-7, 1 - 1e-7)
        omega = torch.acos(cos)[:, None]  # [rows, 1]
        weights_a = torch.sin((1 - t)[None, :] * omega) / torch.sin(omega)  # [rows, steps]
        weights_b = torch.sin(t[None, :] * omega) / torch.sin(omega)
        z = weights_a[..., None] * start[:, None, :] + weights_b[..., None] * end[:, None, :]
        labels = (torch.arange(rows) % self.num_classes).repeat_interleave(steps) if self.num_classes else None
        return self._generate(z.reshape(rows * steps, -1), labels)

    def _generate(self, z: torch.Tensor, labels: torch.Tensor | None, batch_size: int = 256) -> torch.Tensor:
        return generate(self.generator, z, labels, batch_size)

    def save_npz(self, path: str | Path, n: int, seed: int | None = 0, labels=None) -> Path:
        """Write ``n`` raw samples to a ``.npz`` file for outside tools.

        Images are stored as ``images``: uint8 ``[N, H, W, C]`` (0..255, the layout FID tools
        expect); points as ``points``: float32 ``[N, D]``; conditional models add ``labels``.
        """
        import numpy as np

        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ConfigError(f"raw samples go to a .npz file, not {path.name!r}")
        if labels is None and self.num_classes:
            labels = torch.arange(n) % self.num_classes
        samples = self.sample(n, labels=labels, seed=seed)
        arrays = {}
        if self.is_points:
            arrays["points"] = samples.numpy().astype(np.float32)
        else:
            images = ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            arrays["images"] = images.permute(0, 2, 3, 1).numpy()
        if labels is not None:
            arrays["labels"] = torch.as_tensor(labels).expand(n).numpy().astype(np.int64)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

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
