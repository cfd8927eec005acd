"""The stream of batches training reads: :class:`InMemoryBatches`, a dataset held in memory.

No per-item Python runs on the training path: a batch is an index into each field's tensor,
prepared (uint8 images to [-1, 1], resized) by its kind as a whole on the training device.

Example::

    batches = InMemoryBatches(data, batch_size=64, device="cpu")
    batch = batches.next_batch()   # {"image": [64, 1, 28, 28] float, "label": [64] int64}
"""

from __future__ import annotations

from typing import Mapping

import torch

from ..data import ItemData, data_scale
from ..errors import ConfigError
from ..kinds import kind_of


class _Stream:
    """One independently shuffled group of aligned fields."""

    def __init__(self, names: tuple[str, ...], tensors: dict[str, torch.Tensor], seed: int) -> None:
        self.names = names
        self.tensors = tensors
        self.length = len(next(iter(tensors.values())))
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(self.length, generator=self.generator)

    def take(self, batch_size: int, offset: int, local: int, device: torch.device) -> dict[str, torch.Tensor]:
        if self.position + batch_size > len(self.order):
            self.order = torch.randperm(self.length, generator=self.generator)
            self.position = 0
            self.epoch += 1
        start = self.position + offset
        index = self.order[start:start + local].to(device)
        self.position += batch_size
        return {name: self.tensors[name].index_select(0, index) for name in self.names}

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}order": self.order.clone(), f"{prefix}generator": self.generator.get_state(),
                f"{prefix}counters": torch.tensor([self.epoch, self.position], dtype=torch.int64)}

    def load_state_dict(self, state: Mapping[str, torch.Tensor], prefix: str) -> None:
        self.order = state[f"{prefix}order"].clone()
        self.generator.set_state(state[f"{prefix}generator"])
        self.epoch, self.position = (int(v) for v in state[f"{prefix}counters"])


class InMemoryBatches:
    """An endless stream of shuffled batches, reproducible from a seed.

    Each epoch is a fresh permutation drawn from its own generator; the last partial
    batch of an epoch is dropped. Unpaired streams (see :class:`ItemData`) are shuffled by
    generators of their own and start their epochs independently; ``epoch`` counts the main
    stream's. ``state_dict()`` captures the exact position so a resumed run sees the same batches.

    With ``world_size`` processes, ``batch_size`` is the global batch: every rank walks
    the same order and takes its own ``batch_size / world_size`` slice of each batch
    (sharding by index), so the state is the same on every rank and a run can resume
    on any number of processes.
    """

    def __init__(self, data: ItemData, batch_size: int, device: torch.device | str,
                 image_size: int | None = None, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size > len(data):
            raise ConfigError(f"batch_size {batch_size} is larger than the dataset ({len(data)} samples)")
        for stream in data.streams[1:]:
            if batch_size > len(data.fields[stream[0]]):
                raise ConfigError(f"batch_size {batch_size} is larger than the {stream[0]} part of the dataset "
                                  f"({len(data.fields[stream[0]])} samples)")
        if batch_size % world_size:
            raise ConfigError(f"batch_size {batch_size} does not split evenly over {world_size} processes "
                              f"(it is the global batch; use a multiple of {world_size})")
        self.rank, self.world_size = rank, world_size
        self.local_batch_size = batch_size // world_size
        self.device = torch.device(device)
        self.kinds = dict(data.kinds)
        self.rates = dict(data.rates)
        self.vocabularies = dict(data.vocabularies)
        self.primary = data.primary
        self.batch_size = batch_size
        self.image_size = image_size
        self.scale = data_scale(data, image_size)
        # stream 0 keeps the seed (and state keys) of the single-stream pipeline
        self.streams = [_Stream(names, {n: data.fields[n].to(self.device) for n in names}, seed + 7919 * i)
                        for i, names in enumerate(data.streams)]
        self.fields = tuple(data.fields)

    def stream_of(self, name: str) -> int | None:
        """The stream a field belongs to (fields of one stream are aligned), or ``None``."""
        return next((i for i, s in enumerate(self.streams) if name in s.names), None)

    @property
    def primary_data(self) -> torch.Tensor:
        """The primary field's whole tensor on the device, as stored."""
        return self.streams[0].tensors[self.primary]

    @property
    def labels(self) -> torch.Tensor | None:
        return self.streams[0].tensors.get("label")

    @property
    def epoch(self) -> int:
        return self.streams[0].epoch

    @property
    def batches_per_epoch(self) -> int:
        return self.streams[0].length // self.batch_size

    def next_batch(self) -> dict[str, torch.Tensor]:
        """The next batch on the device: every field, prepared as its kind says."""
        batch: dict[str, torch.Tensor] = {}
        offset = self.rank * self.local_batch_size
        for stream in self.streams:
            for name, raw in stream.take(self.batch_size, offset, self.local_batch_size, self.device).items():
                batch[name] = kind_of(self.kinds[name]).prepare(raw, self.scale)
        return batch

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch as ``(primary field, labels or None)``: images in [-1, 1] (or
        points as they are). Every other field of the batch is drawn too, and dropped."""
        batch = self.next_batch()
        return batch[self.primary], batch.get("label")

    def head(self, n: int) -> dict[str, torch.Tensor]:
        """The first ``n`` items of every stream, unshuffled and prepared (fixed previews)."""
        out = {}
        for stream in self.streams:
            k = min(n, stream.length)
            for name in stream.names:
                out[name] = kind_of(self.kinds[name]).prepare(stream.tensors[name][:k], self.scale)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        state: dict[str, torch.Tensor] = {}
        for i, stream in enumerate(self.streams):
            state.update(stream.state_dict("" if i == 0 else f"s{i}."))
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for i, stream in enumerate(self.streams):
            stream.load_state_dict(state, "" if i == 0 else f"s{i}.")
