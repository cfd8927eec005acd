"""Datasets as named fields, and the shapes models are built for.

A dataset is a set of named **fields** (:class:`ItemData`): ``image`` (uint8 ``[N, C, H, W]``),
``label`` (int64 ``[N]``), and as a family needs them ``target`` (the paired output image),
``image_b`` / ``label_b`` (a second, unpaired domain), ``domain``, ``mask``, ``points``,
``audio``, ``video`` or ``tokens``. Every field has a **kind** (:mod:`ganzoo.kinds`) that says
how it is stored and how a batch of it is prepared. Fields of one **stream** are aligned item
by item; separate streams (unpaired domains) are shuffled independently. The field a generator
produces, named after its kind, is the **primary** one.

A model is built for a :class:`DataShape`: every field's kind and item shape at the training
size, its class count, rate or vocabulary (:func:`shape_of`).

Example::

    data = ItemData({"image": edges, "target": digits, "label": labels}, num_classes=10)
    shape = shape_of(data, image_size=32)   # shape.fields["target"].shape == (1, 32, 32)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from .kinds import FieldShape, generated_kinds, kind_names, kind_of

KIND_OF_NAME = {"image_b": "image", "target": "image", "label_b": "label", "domain": "label",
                "domain_b": "label", **{name: name for name in kind_names()}}
"""The kind a field gets from its name when none is given: a kind's name, or one of these."""


def primary_field(names) -> str | None:
    """The field a generator produces among ``names``: the one named after a generated kind."""
    generated = {kind.name for kind in generated_kinds()}
    return next((name for name in names if name in generated), None)


# --------------------------------------------------------------------------- shapes

@dataclass(frozen=True)
class DataShape:
    """What a model needs to know about the data to build its networks.

    ``fields`` describes every field. ``channels`` and ``image_size`` (square images) or
    ``point_dim`` (points) and ``num_classes`` summarise the primary and ``label`` fields;
    given without ``fields``, they make them (``DataShape(1, 28, 10)``: MNIST's shape), and
    given ``fields`` alone, they are read from the primary field.
    """

    channels: int = 0
    image_size: int = 0
    num_classes: int | None = None
    point_dim: int | None = None
    fields: Mapping[str, FieldShape] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        given = {name: value if isinstance(value, FieldShape) else FieldShape(**value)
                 for name, value in dict(self.fields or {}).items()}  # from JSON: plain dicts
        if not given and not (self.point_dim or self.channels):
            raise ValueError("a DataShape needs fields, or channels and image_size, or point_dim")
        if not given:
            if self.point_dim:
                given["points"] = FieldShape("points", (self.point_dim,))
            elif self.channels:
                given["image"] = FieldShape("image", (self.channels, self.image_size, self.image_size))
            if self.num_classes:
                given["label"] = FieldShape("label", (), self.num_classes)
        object.__setattr__(self, "fields", given)
        primary = given.get(self.primary)
        if primary is not None and not (self.channels or self.point_dim):
            for key, value in kind_of(primary.kind).summary(primary.shape).items():
                object.__setattr__(self, key, value)

    @property
    def kind(self) -> str:
        """The kind of the primary field (``"image"``, ``"points"``, ``"audio"``, ...)."""
        return self.fields[self.primary].kind

    @property
    def primary(self) -> str:
        """The field a generator produces (named after its kind; the first field otherwise)."""
        return primary_field(self.fields) or next(iter(self.fields), "image")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one generated sample (the primary field's item shape)."""
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
                raise ValueError(f"field {name!r}: give its kind (one of {', '.join(kind_names())})")
            if kind not in kind_names():
                raise ValueError(f"field {name!r}: unknown kind {kind!r} (one of {', '.join(kind_names())})")
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
            kind_of(self.kinds[name]).validate(name, tensor)
        for name in (*self.rates, *self.vocabularies):
            if name not in self.fields:
                raise ValueError(f"rate or vocabulary given for {name!r}, which is not a field")
        for name, words in self.vocabularies.items():
            if not kind_of(self.kinds[name]).takes_vocabulary:
                raise ValueError(f"field {name!r} has a vocabulary, which fields of kind {self.kinds[name]} cannot have")
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
        """The field a generator produces (named after its kind; the first field otherwise)."""
        return primary_field(self.fields) or next(iter(self.fields))

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


def data_scale(data: ItemData, image_size: int | None) -> float:
    """Training size over native size of the primary field, for the kinds ``--image-size``
    resizes (1 when not resized)."""
    primary = data.primary
    if image_size is None or not kind_of(data.kinds[primary]).sized:
        return 1.0
    return image_size / data.fields[primary].shape[-1]


def shape_of(data: ItemData, image_size: int | None = None) -> DataShape:
    """The :class:`DataShape` of loaded data, its images at ``image_size`` if given.

    Every field that has a size (``image``, ``target``, ``mask``, ``video`` frames...) is
    resized by the same factor as the primary one, so a 7x7 input with its 28x28 target
    (super-resolution) keeps its 4x ratio.
    """
    scale = data_scale(data, image_size)
    stream_of = {name: i for i, stream in enumerate(data.streams) for name in stream}
    fields = {}
    for name, tensor in data.fields.items():
        kind = data.kinds[name]
        fields[name] = FieldShape(kind, kind_of(kind).resized(tuple(tensor.shape[1:]), scale), data.classes.get(name),
                                  stream_of[name], data.rates.get(name), data.vocabularies.get(name))
    return DataShape(num_classes=data.num_classes, fields=fields)
