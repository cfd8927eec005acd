"""The ``label`` kind: class indices ``[N]`` (int64): labels, domains."""

from __future__ import annotations

import torch

from . import FieldKind, FieldShape


class LabelKind(FieldKind):
    name = "label"
    stored = "int64 [N] class indices (labels, domains)"
    counts_classes = True

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.dtype != torch.int64 or tensor.dim() != 1:
            raise ValueError(f"{name} must be an int64 tensor [N] of class indices")

    def companion_shape(self, primary: tuple[int, ...]) -> tuple[int, ...]:
        return ()

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        classes = field.classes if field is not None and field.classes else 2
        return torch.randint(0, classes, (n,), generator=generator)


KIND = LabelKind()
