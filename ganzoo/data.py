"""Datasets held in memory as named fields, batched and transformed on the device.

A dataset is a set of named **fields** (:class:`ItemData`): ``image`` (uint8 ``[N, C, H, W]``),
``label`` (int64 ``[N]``), and as a family needs them ``target`` (the paired output image),
``image_b`` / ``label_b`` (a second, unpaired domain), ``domain``, ``mask``, ``points``,
``audio``, ``video`` or ``tokens``. Every field has a **kind** that says how a batch of it is
prepared (:data:`FIELD_KINDS`). Fields of one **stream** are aligned item by item; separate
streams (unpaired domains) are shuffled independently.

No per-item Python runs on the training path: a batch is an index into each field's tensor,
converted (uint8 images to [-1, 1], resized) as a whole on the training device.

Example::

    data = ItemData({"image": edges, "target": digits, "label": labels}, num_classes=10)
    batches = InMemoryBatches(data, batch_size=64, device="cpu")
    batch = batches.next_batch()   # {"image": [64, 1, 28, 28] float, "target": ..., "label": ...}
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from .errors import ConfigError

DATA_DIR_ENV = "GANZOO_DATA_DIR"

FIELD_KINDS = {
    "image": "uint8 [N, C, H, W]; batches are float in [-1, 1], resized to the training size",
    "points": "float [N, D]; used as they are",
    "label": "int64 [N] class indices (labels, domains)",
    "mask": "uint8 or bool [N, 1, H, W], 1 where the image is masked; batches are float 0/1",
    "audio": "float [N, C, T] in [-1, 1], or int16 (scaled by 1/32768)",
    "video": "uint8 [N, C, T, H, W]; batches are float in [-1, 1], frames resized like images",
    "tokens": "int64 [N, L] token ids",
}
"""Field kinds and how each is stored and batched."""

KIND_OF_NAME = {"image": "image", "image_b": "image", "target": "image", "label": "label",
                "label_b": "label", "domain": "label", "domain_b": "label", "mask": "mask",
                "points": "points", "audio": "audio", "video": "video", "tokens": "tokens"}
"""The kind a field gets from its name when none is given."""

PRIMARY_FIELDS = ("image", "points", "audio", "video", "tokens")
"""The field a generator produces, the first of these a dataset has."""


def default_data_dir() -> Path:
    """``$GANZOO_DATA_DIR``, else ``data/`` in ganzoo's cache (``~/.cache/ganzoo/data``)."""
    from .settings import cache_dir

    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return cache_dir() / "data"


# --------------------------------------------------------------------------- shapes

@dataclass(frozen=True)
class FieldShape:
    """One field as a model sees it.

    Attributes:
        kind: one of :data:`FIELD_KINDS`.
        shape: the shape of one item in a batch (images at the training size), e.g. ``(1, 28, 28)``.
        classes: class count of a label field, vocabulary size of a tokens field, else ``None``.
        stream: fields with the same stream are aligned item by item (0 is the main one).
        rate: samples per second of an audio field, frames per second of a video field.
        vocabulary: the token strings of a tokens field (index = token id), for decoding.
    """

    kind: str
    shape: tuple[int, ...] = ()
    classes: int | None = None
    stream: int = 0
    rate: int | None = None
    vocabulary: tuple[str, ...] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(str(w) for w in self.vocabulary))


@dataclass(frozen=True)
class DataShape:
    """What a model needs to know about the data to build its networks.

    ``channels``, ``image_size`` and ``num_classes`` describe the ``image`` and ``label``
    fields (square images); point data has ``point_dim`` coordinates per sample and no image
    fields. ``fields`` describes every field (derived from the others when not given).
    """

    channels: int = 0
    image_size: int = 0
    num_classes: int | None = None
    point_dim: int | None = None
    fields: Mapping[str, FieldShape] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        given = {name: value if isinstance(value, FieldShape) else FieldShape(**value)
                 for name, value in dict(self.fields or {}).items()}  # from JSON: plain dicts
        if not given:
            if self.point_dim:
                given["points"] = FieldShape("points", (self.point_dim,))
            elif self.channels:
                given["image"] = FieldShape("image", (self.channels, self.image_size, self.image_size))
            if self.num_classes:
                given["label"] = FieldShape("label", (), self.num_classes)
        object.__setattr__(self, "fields", given)

    @property
    def kind(self) -> str:
        """The kind of the primary field: ``"image"``, ``"points"``, ``"audio"``, ..."""
        if self.point_dim:
            return "points"
        primary = self.primary
        return self.fields[primary].kind if primary in self.fields else "image"

    @property
    def primary(self) -> str:
        """The field a generator produces (see :data:`PRIMARY_FIELDS`)."""
        for name in PRIMARY_FIELDS:
            if name in self.fields:
                return name
        return next(iter(self.fields), "image")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample: ``(point_dim,)`` or ``(channels, size, size)``."""
        if self.point_dim:
            return (self.point_dim,)
        if self.channels:
            return (self.channels, self.image_size, self.image_size)
        primary = self.fields.get(self.primary)
        return primary.shape if primary is not None else ()

    def has(self, *names: str) -> bool:
        """Whether every named field is present."""
        return all(name in self.fields for name in names)

    def to_json(self) -> dict[str, Any]:
        """Plain data for checkpoint metadata (:class:`DataShape` ``(**data)`` reads it back)."""
        return {"channels": self.channels, "image_size": self.image_size, "num_classes": self.num_classes,
                "point_dim": self.point_dim,
                "fields": {name: {"kind": f.kind, "shape": list(f.shape), "classes": f.classes,
                                  "stream": f.stream,
                                  **({"rate": f.rate} if f.rate is not None else {}),
                                  **({"vocabulary": list(f.vocabulary)} if f.vocabulary is not None else {})}
                           for name, f in self.fields.items()}}

    def field_of(self, name: str | None = None) -> FieldShape | None:
        """The :class:`FieldShape` of field ``name`` (default: the primary one), or ``None``."""
        return self.fields.get(name or self.primary)


# --------------------------------------------------------------------------- data in memory

class ItemData:
    """A whole dataset in memory as named fields.

    Args:
        fields: name -> tensor; the first dimension indexes items.
        kinds: name -> kind for fields whose name does not say it (see :data:`KIND_OF_NAME`).
        classes: name -> class count (label fields) or vocabulary size (tokens).
        num_classes: shorthand for ``classes["label"]``.
        streams: groups of field names that are aligned item by item; each group is
            shuffled on its own (unpaired domains). Default: one group of every field.
        rates: name -> samples (audio) or frames (video) per second.
        vocabularies: name -> the token strings of a tokens field (index = token id);
            its length is the field's vocabulary size (``classes``).

    Example::

        ItemData({"image": a_images, "image_b": b_images},
                 streams=[("image",), ("image_b",)])      # CycleGAN's unpaired domains
    """

    def __init__(self, fields: Mapping[str, torch.Tensor], *, kinds: Mapping[str, str] | None = None,
                 classes: Mapping[str, int] | None = None, num_classes: int | None = None,
                 streams: Sequence[Sequence[str]] | None = None, rates: Mapping[str, int] | None = None,
                 vocabularies: Mapping[str, Sequence[str]] | None = None) -> None:
        self.fields: dict[str, torch.Tensor] = dict(fields)
        if not self.fields:
            raise ValueError("a dataset needs at least one field")
        kinds = dict(kinds or {})
        self.kinds: dict[str, str] = {}
        for name in self.fields:
            kind = kinds.get(name) or KIND_OF_NAME.get(name)
            if kind is None:
                raise ValueError(f"field {name!r}: give its kind (one of {', '.join(FIELD_KINDS)})")
            if kind not in FIELD_KINDS:
                raise ValueError(f"field {name!r}: unknown kind {kind!r} (one of {', '.join(FIELD_KINDS)})")
            self.kinds[name] = kind
        self.classes: dict[str, int] = {k: int(v) for k, v in (classes or {}).items() if v}
        if num_classes and "label" in self.fields:
            self.classes.setdefault("label", int(num_classes))
        self.streams: list[tuple[str, ...]] = ([tuple(s) for s in streams] if streams is not None
                                               else [tuple(self.fields)])
        self.rates: dict[str, int] = {k: int(v) for k, v in (rates or {}).items() if v}
        self.vocabularies: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (vocabularies or {}).items()}
        for name, words in self.vocabularies.items():
            self.classes.setdefault(name, len(words))
        self._validate()

    def _validate(self) -> None:
        named = [name for stream in self.streams for name in stream]
        if sorted(named) != sorted(self.fields):
            raise ValueError("streams must name every field exactly once")
        for stream in self.streams:
            lengths = {name: len(self.fields[name]) for name in stream}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"fields of one stream differ in length: {lengths}")
        for name, tensor in self.fields.items():
            kind = self.kinds[name]
            if kind == "image" and (tensor.dtype != torch.uint8 or tensor.dim() != 4):
                raise ValueError(f"{name} must be a uint8 tensor [N, C, H, W]")
            if kind == "video" and (tensor.dtype != torch.uint8 or tensor.dim() != 5):
                raise ValueError(f"{name} must be a uint8 tensor [N, C, T, H, W]")
            if kind == "points" and (not tensor.is_floating_point() or tensor.dim() != 2):
                raise ValueError(f"{name} must be a float tensor [N, D]")
            if kind == "label" and (tensor.dtype != torch.int64 or tensor.dim() != 1):
                raise ValueError(f"{name} must be an int64 tensor [N] of class indices")
            if kind == "tokens" and (tensor.dtype != torch.int64 or tensor.dim() != 2):
                raise ValueError(f"{name} must be an int64 tensor [N, L] of token ids")
            if kind == "mask" and tensor.dim() != 4:
                raise ValueError(f"{name} must be a tensor [N, 1, H, W]")
            if kind == "audio" and (tensor.dim() != 3 or not (tensor.is_floating_point()
                                                             or tensor.dtype == torch.int16)):
                raise ValueError(f"{name} must be a float or int16 tensor [N, C, T]")
        for name in (*self.rates, *self.vocabularies):
            if name not in self.fields:
                raise ValueError(f"rate or vocabulary given for {name!r}, which is not a field")
        for name, words in self.vocabularies.items():
            if self.kinds[name] != "tokens":
                raise ValueError(f"field {name!r} has a vocabulary but is not of kind tokens")
            if len(words) != self.classes[name]:
                raise ValueError(f"field {name!r}: vocabulary of {len(words)} words for "
                                 f"{self.classes[name]} token ids")
            tokens = self.fields[name]
            if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= len(words)):
                raise ValueError(f"field {name!r} has token ids outside its vocabulary of {len(words)}")
    @property
    def num_classes(self) -> int | None:
        """The class count of the ``label`` field, or ``None``."""
        return self.classes.get("label")

    @property
    def labels(self) -> torch.Tensor | None:
        """The ``label`` field, or ``None``."""
        return self.fields.get("label")

    @property
    def primary(self) -> str:
        """The field a generator produces (see :data:`PRIMARY_FIELDS`)."""
        return next((name for name in PRIMARY_FIELDS if name in self.fields), next(iter(self.fields)))

    def __len__(self) -> int:
        """Items in the main stream."""
        return len(self.fields[self.streams[0][0]])

    def subset(self, index: torch.Tensor, stream: int = 0) -> "ItemData":
        """The same dataset with only the items ``index`` (int64 indices or a bool mask) of
        ``stream``; other streams are kept whole.

        Example (MNIST digits 0-4)::

            small = data.subset(data.labels < 5)
        """
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        out = copy.copy(self)
        out.fields = {name: (t[index] if name in self.streams[stream] else t) for name, t in self.fields.items()}
        out.kinds, out.classes = dict(self.kinds), dict(self.classes)
        out.rates, out.vocabularies = dict(self.rates), dict(self.vocabularies)
        out.streams = list(self.streams)
        return out

    def with_fields(self, fields: Mapping[str, torch.Tensor], *, kinds: Mapping[str, str] | None = None,
                    classes: Mapping[str, int] | None = None, stream: int | None = 0) -> "ItemData":
        """A new :class:`ItemData` with ``fields`` added (or replaced): in ``stream``, or
        in a new stream of their own when ``stream`` is ``None``."""
        merged = {**self.fields, **fields}
        streams = [tuple(n for n in s if n not in fields) for s in self.streams]
        if stream is None:
            streams.append(tuple(fields))
        else:
            streams[stream] = streams[stream] + tuple(fields)
        streams = [s for s in streams if s]
        return ItemData(merged, kinds={**self.kinds, **(kinds or {})}, classes={**self.classes, **(classes or {})},
                        streams=streams, rates={k: v for k, v in self.rates.items() if k in merged},
                        vocabularies={k: v for k, v in self.vocabularies.items() if k in merged})


class ImageData(ItemData):
    """An image dataset in memory: ``image`` (uint8 ``[N, C, H, W]``) and optional ``label``.

    Attributes:
        images: uint8 tensor ``[N, C, H, W]``.
        labels: int64 tensor ``[N]``, or ``None`` for unlabelled data.
        num_classes: label count, or ``None``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                 num_classes: int | None = None) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be a uint8 tensor [N, C, H, W]")
        if labels is not None and len(labels) != len(images):
            raise ValueError("labels and images differ in length")
        fields = {"image": images} if labels is None else {"image": images, "label": labels}
        super().__init__(fields, num_classes=num_classes)

    @property
    def images(self) -> torch.Tensor:
        return self.fields["image"]


class PointData(ItemData):
    """A dataset of points (``points``: float32 ``[N, D]``), e.g. 2-D Gaussian mixtures.

    Attributes:
        points: float32 tensor ``[N, D]``, used as they are (no scaling).
        labels: int64 tensor ``[N]`` (e.g. the mixture component), or ``None``.
        num_classes: label count, or ``None``.
    """

    def __init__(self, points: torch.Tensor, labels: torch.Tensor | None = None,
                 num_classes: int | None = None) -> None:
        if not isinstance(points, torch.Tensor) or not points.is_floating_point() or points.dim() != 2:
            raise ValueError("points must be a float tensor [N, D]")
        if labels is not None and len(labels) != len(points):
            raise ValueError("labels and points differ in length")
        fields = {"points": points} if labels is None else {"points": points, "label": labels}
        super().__init__(fields, num_classes=num_classes)

    @property
    def points(self) -> torch.Tensor:
        return self.fields["points"]


def _scale(data: ItemData, image_size: int | None) -> float:
    """Training size over native size of the primary image (1 when not resized)."""
    primary = data.primary
    if image_size is None or data.kinds[primary] not in ("image", "video"):
        return 1.0
    return image_size / data.fields[primary].shape[-1]


def _resized(size: int, scale: float) -> int:
    return max(1, round(size * scale))


def shape_of(data: ItemData, image_size: int | None = None) -> DataShape:
    """The :class:`DataShape` of loaded data, its images at ``image_size`` if given.

    Every image-like field (``image``, ``target``, ``mask``, ``video`` frames...) is resized
    by the same factor as the primary one, so a 7x7 input with its 28x28 target (super-
    resolution) keeps its 4x ratio.
    """
    scale = _scale(data, image_size)
    stream_of = {name: i for i, stream in enumerate(data.streams) for name in stream}
    fields = {}
    for name, tensor in data.fields.items():
        kind, shape = data.kinds[name], tuple(tensor.shape[1:])
        if kind in ("image", "mask"):
            shape = (shape[0], _resized(shape[1], scale), _resized(shape[2], scale))
        elif kind == "video":
            shape = (shape[0], shape[1], _resized(shape[2], scale), _resized(shape[3], scale))
        fields[name] = FieldShape(kind, shape, data.classes.get(name), stream_of[name],
                                  getattr(data, "rates", {}).get(name), getattr(data, "vocabularies", {}).get(name))
    primary = data.primary
    if data.kinds[primary] == "points":
        return DataShape(num_classes=data.num_classes, point_dim=data.fields[primary].shape[1], fields=fields)
    if data.kinds[primary] == "image":
        channels, size = fields[primary].shape[0], fields[primary].shape[-1]
        return DataShape(channels=channels, image_size=image_size or size, num_classes=data.num_classes,
                         fields=fields)
    return DataShape(num_classes=data.num_classes, fields=fields)


def to_model_range(images: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` to float in [-1, 1], resized (bilinear, antialiased) if asked."""
    x = images.float()
    if image_size is not None and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          antialias=True, align_corners=False)
    return x.div_(127.5).sub_(1.0).clamp_(-1.0, 1.0)


def _prepare_video(video: torch.Tensor, scale: float) -> torch.Tensor:
    n, c, t, h, w = video.shape
    frames = video.transpose(1, 2).reshape(n * t, c, h, w)
    size = _resized(w, scale)
    out = to_model_range(frames, size if size != w else None)
    return out.reshape(n, t, c, out.shape[-2], out.shape[-1]).transpose(1, 2)


def prepare_field(kind: str, tensor: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """A batch of one field as a model takes it (see :data:`FIELD_KINDS`)."""
    if kind == "image":
        size = _resized(tensor.shape[-1], scale)
        return to_model_range(tensor, size if size != tensor.shape[-1] else None)
    if kind == "mask":
        x = tensor.float()
        size = _resized(tensor.shape[-1], scale)
        if size != tensor.shape[-1]:
            x = F.interpolate(x, size=(_resized(tensor.shape[-2], scale), size), mode="nearest")
        return (x > 0).float()
    if kind == "audio":
        return tensor.float() / 32768.0 if tensor.dtype == torch.int16 else tensor.float()
    if kind == "video":
        return _prepare_video(tensor, scale)
    return tensor  # points, labels, tokens: as they are


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
        self.rates = dict(getattr(data, "rates", {}))
        self.vocabularies = dict(getattr(data, "vocabularies", {}))
        self.primary = data.primary
        self.points = data.kinds[self.primary] == "points"
        self.batch_size = batch_size
        self.image_size = image_size
        self.scale = _scale(data, image_size)
        # stream 0 keeps the seed (and state keys) of the single-stream pipeline
        self.streams = [_Stream(names, {n: data.fields[n].to(self.device) for n in names}, seed + 7919 * i)
                        for i, names in enumerate(data.streams)]
        self.fields = tuple(data.fields)

    def stream_of(self, name: str) -> int | None:
        """The stream a field belongs to (fields of one stream are aligned), or ``None``."""
        return next((i for i, s in enumerate(self.streams) if name in s.names), None)

    @property
    def images(self) -> torch.Tensor:
        """The primary field's whole tensor on the device (images, or points)."""
        return self.streams[0].tensors.get(self.primary, next(iter(self.streams[0].tensors.values())))

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
                batch[name] = prepare_field(self.kinds[name], raw, self.scale)
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
                out[name] = prepare_field(self.kinds[name], stream.tensors[name][:k], self.scale)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        state: dict[str, torch.Tensor] = {}
        for i, stream in enumerate(self.streams):
            state.update(stream.state_dict("" if i == 0 else f"s{i}."))
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for i, stream in enumerate(self.streams):
            stream.load_state_dict(state, "" if i == 0 else f"s{i}.")
