"""What conditional networks share: one-hot labels and the class count they are built for."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganzoo.data import DataShape
from ganzoo.errors import ConfigError


def class_count(data: DataShape, model: str) -> int:
    """The data's label count; conditional models refuse unlabelled data."""
    if not data.num_classes:
        raise ConfigError(f"model {model!r} is conditional and needs a labelled dataset")
    return data.num_classes


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``[N]`` int64 labels to ``[N, K]`` one-hot vectors; refuses missing labels."""
    if labels is None:
        raise ValueError(f"this conditional network needs labels (int64 [N] in 0..{num_classes - 1})")
    return F.one_hot(labels, num_classes).to(dtype)
