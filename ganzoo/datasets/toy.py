"""PacGAN's 2-D Gaussian mixtures (ring and grid), generated from fixed seeds."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..data import PointData
from .common import _check_split

RING_MODES = 8
RING_RADIUS = 1.0
RING_STD = 0.01
"""PacGAN's ring: 8 Gaussians on the unit circle, std 0.01."""

GRID_VALUES = (-4.0, -2.0, 0.0, 2.0, 4.0)
GRID_STD = 0.05
"""PacGAN's grid: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05."""

TOY_SIZES = {"train": 100_000, "test": 10_000}
TOY_SEEDS = {"train": 0, "test": 1}


def ring_means() -> torch.Tensor:
    """The 8 ring means ``(cos 2*pi*i/8, sin 2*pi*i/8)``, i = 0..7, float32 ``[8, 2]``."""
    angles = 2 * math.pi * torch.arange(RING_MODES, dtype=torch.float64) / RING_MODES
    return (RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_means() -> torch.Tensor:
    """The 25 grid means, float32 ``[25, 2]``; component ``5*i + j`` is at
    ``(GRID_VALUES[i], GRID_VALUES[j])``."""
    values = torch.tensor(GRID_VALUES)
    return torch.cartesian_prod(values, values).float()


def gaussian_mixture(means: torch.Tensor, std: float, n: int, seed: int) -> PointData:
    """``n`` points from equal-weight isotropic Gaussians; labels are the component indices."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(means), (n,), generator=generator)
    noise = torch.randn(n, means.shape[1], generator=generator)
    points = means[labels] + std * noise
    return PointData(points=points, labels=labels, num_classes=len(means))


def load_toy_ring(data_dir: Path | None = None, split: str = "train",
                  image_size: int | None = None) -> PointData:
    """PacGAN's 2-D ring of 8 Gaussians (100,000 train / 10,000 test points, fixed seeds)."""
    _check_split(split, "toy-ring")
    return gaussian_mixture(ring_means(), RING_STD, TOY_SIZES[split], TOY_SEEDS[split])


def load_toy_grid(data_dir: Path | None = None, split: str = "train",
                  image_size: int | None = None) -> PointData:
    """PacGAN's 2-D grid of 25 Gaussians (100,000 train / 10,000 test points, fixed seeds)."""
    _check_split(split, "toy-grid")
    return gaussian_mixture(grid_means(), GRID_STD, TOY_SIZES[split], TOY_SEEDS[split])
