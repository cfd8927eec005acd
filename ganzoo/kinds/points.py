"""The ``points`` kind: float vectors ``[N, D]`` (the 2-D Gaussian mixtures), used as they are.

What a person gets of generated points is a scatter plot: generated points white over real
ones blue, on black. Previews draw many more points than a grid holds images.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..files import suffixed, write_atomically
from . import FieldKind, FieldShape
from .image import save_image

SCATTER_POINTS = 1000
"""Generated points in a scatter-plot preview (at least)."""

REFERENCE_POINTS = 2000
"""Real points drawn under generated ones in a scatter-plot preview."""


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
    write_atomically(Path(path), lambda tmp: save_image(render_points(points, reference), tmp, format="PNG"))


class PointsKind(FieldKind):
    name = "points"
    stored = "float [N, D]; used as they are"
    generated = True
    noun = "points"
    caption = "Generated points (colour) over real ones (grey)."
    default_metrics = ("modes",)

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if not tensor.is_floating_point() or tensor.dim() != 2:
            raise ValueError(f"{name} must be a float tensor [N, D]")

    def summary(self, shape: tuple[int, ...]) -> dict[str, int]:
        return {"point_dim": shape[0]}

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        return torch.randn(n, *shape, generator=generator)

    def examples(self, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, FieldShape]:
        """2-D points on a ring, one place per class."""
        angles = labels.float() * (2 * math.pi / num_classes)
        points = torch.stack([angles.cos(), angles.sin()], dim=1) + 0.01 * torch.randn(len(labels), 2,
                                                                                           generator=generator)
        return points, FieldShape(self.name, (2,))

    def check_samples(self, samples: torch.Tensor, field: FieldShape | None = None) -> str | None:
        if not samples.is_floating_point():
            return f"points must be float, got {samples.dtype}"
        return None

    def preview_count(self, n: int) -> int:
        return max(n, SCATTER_POINTS)  # a scatter plot wants many points

    def preview_reference(self, real: torch.Tensor) -> torch.Tensor | None:
        return real[:REFERENCE_POINTS].float().cpu()

    def real_samples(self, stored: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return stored.float()

    def write_samples(self, samples: torch.Tensor, stem: Path, field: FieldShape | None = None, *,
                      nrow: int | None = None, reference: torch.Tensor | None = None,
                      one_by_one: int | None = None) -> list[Path]:
        path = suffixed(stem, ".png")
        save_points(samples, path, reference=reference)
        return [path]

    def logged(self, samples: torch.Tensor, field: FieldShape | None = None, *,
               wants: Callable[[str], bool] = lambda method: True, nrow: int | None = None,
               reference: torch.Tensor | None = None, one_by_one: int | None = None) -> list[tuple[str, tuple]]:
        return [("image", (render_points(samples, reference),))] if wants("image") else []

    def npz_arrays(self, samples: torch.Tensor, field: FieldShape | None = None) -> dict[str, Any]:
        return {"points": samples.numpy().astype("float32")}

    def describe_output(self, shape: Sequence[int], field: FieldShape | None = None) -> dict[str, Any]:
        return {"name": "points", "dtype": "float32", "shape": ["N", *shape],
                "description": "points (unbounded coordinates)", "range": None}


KIND = PointsKind()
