"""The ``mask`` kind: ``[N, 1, H, W]`` (uint8 or bool), 1 where an image is masked.

Batches are float 0/1, resized with the images (nearest neighbour, so a mask stays binary).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import FieldKind, FieldShape, scaled


class MaskKind(FieldKind):
    name = "mask"
    stored = "uint8 or bool [N, 1, H, W], 1 where the image is masked; batches are float 0/1"

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.dim() != 4:
            raise ValueError(f"{name} must be a tensor [N, 1, H, W]")

    def resized(self, shape: tuple[int, ...], scale: float) -> tuple[int, ...]:
        return (shape[0], scaled(shape[1], scale), scaled(shape[2], scale))

    def prepare(self, batch: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        x = batch.float()
        size = scaled(batch.shape[-1], scale)
        if size != batch.shape[-1]:
            x = F.interpolate(x, size=(scaled(batch.shape[-2], scale), size), mode="nearest")
        return (x > 0).float()

    def companion_shape(self, primary: tuple[int, ...]) -> tuple[int, ...]:
        return (1, *primary[-2:])

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        return (torch.rand(n, *shape, generator=generator) > 0.5).to(torch.uint8)


KIND = MaskKind()
