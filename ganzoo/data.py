"""Datasets held in memory as uint8 tensors, batched and transformed on the device.

No per-image Python runs on the training path: a batch is an index into one uint8
tensor, converted, resized and scaled to [-1, 1] as a whole on the training device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import ConfigError

DATA_DIR_ENV = "GANZOO_DATA_DIR"


def default_data_dir() -> Path:
    """``$GANZOO_DATA_DIR``, else ``data/`` in ganzoo's cache (``~/.cache/ganzoo/data``)."""
    from .settings import cache_dir

    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return cache_dir() / "data"


@dataclass(frozen=True)
class DataShape:
    """What a model needs to know about the data to build its networks.

    Images have ``channels`` and a square ``image_size``; point data (e.g. the 2-D
    toy mixtures) has ``point_dim`` coordinates per sample and no image fields.
    """

    channels: int = 0
    image_size: int = 0
    num_classes: int | None = None
    point_dim: int | None = None

    @property
    def kind(self) -> str:
        """``"points"`` or ``"image"``."""
        return "points" if self.point_dim else "image"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample: ``(point_dim,)`` or ``(channels, size, size)``."""
        if self.point_dim:
            return (self.point_dim,)
        return (self.channels, self.image_size, self.image_size)


@dataclass
class ImageData:
    """A whole image dataset in memory.

    Attributes:
        images: uint8 tensor ``[N, C, H, W]``.
        labels: int64 tensor ``[N]``, or ``None`` for unlabelled data.
        num_classes: label count, or ``None``.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor [N, C, H, W]")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class PointData:
    """A dataset of points (float32 ``[N, D]``), e.g. 2-D Gaussian mixtures.

    Attributes:
        points: float32 tensor ``[N, D]``, used as they are (no scaling).
        labels: int64 tensor ``[N]`` (e.g. the mixture component), or ``None``.
        num_classes: label count, or ``None``.
    """

    points: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if not self.points.is_floating_point() or self.points.dim() != 2:
            raise ValueError("points must be a float tensor [N, D]")
        if self.labels is not None and len(self.labels) != len(self.points):
            raise ValueError("labels and points differ in length")

    def __len__(self) -> int:
        return len(self.points)


def shape_of(data: "ImageData | PointData", image_size: int | None = None) -> DataShape:
    """The :class:`DataShape` of loaded data, at ``image_size`` if given."""
    if isinstance(data, PointData):
        return DataShape(num_classes=data.num_classes, point_dim=data.points.shape[1])
    return DataShape(channels=data.images.shape[1], image_size=image_size or data.images.shape[-1],
                     num_classes=data.num_classes)


def to_model_range(images: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` to float in [-1, 1], resized (bilinear, antialiased) if asked."""
    x = images.float()
    if image_size is not None and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          antialias=True, align_corners=False)
    return x.div_(127.5).sub_(1.0).clamp_(-1.0, 1.0)


class InMemoryBatches:
    """An endless stream of shuffled batches, reproducible from a seed.

    Each epoch is a fresh permutation drawn from its own generator; the last partial
    batch of an epoch is dropped. ``state_dict()`` captures the exact position so a
    resumed run sees the same batches.

    With ``world_size`` processes, ``batch_size`` is the global batch: every rank walks
    the same order and takes its own ``batch_size / world_size`` slice of each batch
    (sharding by index), so the state is the same on every rank and a run can resume
    on any number of processes.
    """

    def __init__(self, data: ImageData | PointData, batch_size: int, device: torch.device | str,
                 image_size: int | None = None, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size > len(data):
            raise ConfigError(f"batch_size {batch_size} is larger than the dataset ({len(data)} samples)")
        if batch_size % world_size:
            raise ConfigError(f"batch_size {batch_size} does not split evenly over {world_size} processes "
                              f"(it is the global batch; use a multiple of {world_size})")
        self.rank, self.world_size = rank, world_size
        self.local_batch_size = batch_size // world_size
        self.device = torch.device(device)
        self.points = isinstance(data, PointData)
        self.images = (data.points if self.points else data.images).to(self.device)
        self.labels = data.labels.to(self.device) if data.labels is not None else None
        self.batch_size = batch_size
        self.image_size = image_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(len(self.images), generator=self.generator)

    @property
    def batches_per_epoch(self) -> int:
        return len(self.images) // self.batch_size

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch on the device: float images in [-1, 1] (or points as they are),
        and labels (or None)."""
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.generator)
            self.position = 0
            self.epoch += 1
        start = self.position + self.rank * self.local_batch_size
        index = self.order[start:start + self.local_batch_size].to(self.device)
        self.position += self.batch_size
        images = self.images.index_select(0, index)
        if not self.points:
            images = to_model_range(images, self.image_size)
        labels = self.labels.index_select(0, index) if self.labels is not None else None
        return images, labels

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "order": self.order.clone(),
            "generator": self.generator.get_state(),
            "counters": torch.tensor([self.epoch, self.position], dtype=torch.int64),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.order = state["order"].clone()
        self.generator.set_state(state["generator"])
        self.epoch, self.position = (int(v) for v in state["counters"])
