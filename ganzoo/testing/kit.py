"""The kit's own tiny data and model, registered beside the plugin under test.

Every generated kind has a dataset named after it (:meth:`ganzoo.kinds.FieldKind.examples`).
The kit's image datasets ``images-C`` (C channels) carry every common field, so any family
finds what it needs: ``image``, ``label``, a paired ``target`` (the image turned upside down
and inverted), a ``mask`` (a rectangle per image), and a second, unpaired stream ``image_b`` /
``label_b``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..config import resolve_config
from ..data import DataShape, FieldShape, ItemData
from ..kinds import generated_kinds, kind_of
from ..networks import Discriminator, Generator, Networks
from ..plugins.registry import Registry
from ..training.run import train
from ..specs import DatasetSpec, ModelSpec
from ..training.progress import make_reporter
from .report import _Failed, _Skip

KIT_PLUGIN = "conformance-kit"
"""The plugin name under which the kit registers its own tiny data and model."""

IMAGE_SIZES = (8, 16, 28, 32, 64)
"""Image sizes tried for the shape checks (within the model's min/max image size)."""

BATCH = 3
"""Samples per forward pass in the shape checks (odd, to catch hard-coded batch sizes)."""

KIT_CHANNELS = (1, 2, 3, 4)
"""Channel counts of the kit's training data."""

NUM_CLASSES = 10
"""Classes of the labelled data given to models in the checks."""

NUM_DOMAINS = 3
"""Domains (the ``domain`` field) of the kit's image data, for multi-domain models (StarGAN)."""

KIT_ITEMS = 64
"""Items per stream of the kit's datasets."""

IMAGE_FIELDS = ("image", "target", "image_b")
"""The kit's image fields (all of one shape)."""


def kit_shape(channels: int, size: int, num_classes: int | None) -> DataShape:
    """The :class:`DataShape` of the kit's image data at ``channels x size x size``."""
    image = (channels, size, size)
    fields = {"image": FieldShape("image", image), "target": FieldShape("image", image),
              "mask": FieldShape("mask", (1, size, size)), "domain": FieldShape("label", (), NUM_DOMAINS),
              "image_b": FieldShape("image", image, stream=1)}
    if num_classes:
        fields["label"] = FieldShape("label", (), num_classes)
        fields["label_b"] = FieldShape("label", (), num_classes, stream=1)
    return DataShape(channels=channels, image_size=size, num_classes=num_classes, fields=fields)


def example_field(kind: str) -> FieldShape:
    """The shape of the kit's data of ``kind`` (see :meth:`ganzoo.kinds.FieldKind.examples`)."""
    labels = torch.zeros(1, dtype=torch.long)
    return kind_of(kind).examples(labels, NUM_CLASSES, torch.Generator().manual_seed(0))[1]


def example_shape(kind: str, num_classes: int | None) -> DataShape:
    """The :class:`DataShape` of the kit's data of ``kind``, labelled when ``num_classes``."""
    fields = {kind: example_field(kind)}
    if num_classes:
        fields["label"] = FieldShape("label", (), num_classes)
    return DataShape(num_classes=num_classes, fields=fields)


def with_labels(shape: DataShape, num_classes: int) -> DataShape:
    """``shape`` with a ``label`` field of ``num_classes`` (a model's conditional contract)."""
    fields = {**shape.fields, "label": FieldShape("label", (), num_classes)}
    return DataShape(channels=shape.channels, image_size=shape.image_size, point_dim=shape.point_dim,
                     num_classes=num_classes, fields=fields)


def _kit_examples(data_dir, split: str = "train", image_size: int | None = None, *, kind: str) -> ItemData:
    """The kit's labelled data of one kind, the label readable in every item."""
    generator = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(KIT_ITEMS) % NUM_CLASSES
    items, field = kind_of(kind).examples(labels, NUM_CLASSES, generator)
    return ItemData({kind: items, "label": labels}, kinds={kind: kind}, num_classes=NUM_CLASSES,
                    rates={kind: field.rate} if field.rate else None,
                    vocabularies={kind: field.vocabulary} if field.vocabulary else None)


def _kit_images(data_dir, split: str = "train", image_size: int | None = None, *, channels: int,
                size: int) -> ItemData:
    """Images with every common field: a paired ``target`` (upside down, inverted), a ``mask``,
    a ``domain``, and a second, unpaired stream ``image_b`` / ``label_b``."""
    image = kind_of("image")
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(KIT_ITEMS) % NUM_CLASSES
    images, _ = image.examples(labels, NUM_CLASSES, gen, channels=channels, size=size)
    labels_b = torch.randperm(KIT_ITEMS, generator=gen) % NUM_CLASSES
    mask = torch.zeros(KIT_ITEMS, 1, size, size, dtype=torch.uint8)
    mask[:, :, size // 4: size // 4 + max(1, size // 2), size // 4: size // 4 + max(1, size // 2)] = 1
    fields = {"image": images, "label": labels, "target": 255 - images.flip(-2), "mask": mask,
              "domain": torch.arange(KIT_ITEMS) % NUM_DOMAINS,
              "image_b": 255 - image.examples(labels_b, NUM_CLASSES, gen, channels=channels, size=size)[0],
              "label_b": labels_b}
    return ItemData(fields, classes={"label": NUM_CLASSES, "label_b": NUM_CLASSES, "domain": NUM_DOMAINS},
                    streams=[("image", "label", "target", "mask", "domain"), ("image_b", "label_b")])


class _TinyG(Generator):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(8, shape)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, math.prod(shape)), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


class _TinyD(Discriminator):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 16), nn.LeakyReLU(0.2),
                                 nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten()


def _kit_build(arch, data) -> Networks:
    """A tiny fully connected model, for checking algorithms."""
    return Networks(_TinyG(data.sample_shape), _TinyD(data.sample_shape))


def _kit_specs() -> list[Any]:
    specs: list[Any] = [ModelSpec(name="tiny", summary="A tiny fully connected GAN (conformance kit)",
                                  build=_kit_build, data_kinds=tuple(k.name for k in generated_kinds()))]
    for kind in generated_kinds():  # the dataset named after a kind holds data of that kind
        field = example_field(kind.name)
        specs.append(DatasetSpec(name=kind.name, summary=f"64 labelled {kind.noun} of shape "
                                 f"{'x'.join(map(str, field.shape))} (conformance kit)",
                                 load=functools.partial(_kit_examples, kind=kind.name), data_kind=kind.name,
                                 item_shape=field.shape, rate=field.rate, size=KIT_ITEMS,
                                 num_classes=NUM_CLASSES))
    for channels in KIT_CHANNELS:  # 16x16 images; training resizes batches to the size checked
        specs.append(DatasetSpec(
            name=f"images-{channels}", summary=f"64 labelled {channels}-channel images with every common "
                                               "field (conformance kit)",
            load=functools.partial(_kit_images, channels=channels, size=16),
            channels=channels, image_size=16, num_classes=NUM_CLASSES, size=KIT_ITEMS,
            fields=("target", "mask", "domain", "image_b", "label_b")))
    return specs


def _has_kit(registry: Registry) -> bool:
    return any(e.plugin == KIT_PLUGIN for e in registry.list("model"))


@contextlib.contextmanager
def _kit_registry(registry: Registry) -> Iterator[tuple[Registry, Path]]:
    """A copy of ``registry`` plus the kit's data and model, and a scratch folder; the
    caller's torch random state is restored afterwards."""
    kit = Registry()
    kit.missing_plugins = list(registry.missing_plugins)
    for entry in registry:
        kit.add(entry.spec, entry.plugin, builtin=entry.builtin)
    if not _has_kit(registry):
        for spec in _kit_specs():
            kit.add(spec, KIT_PLUGIN)
    with tempfile.TemporaryDirectory(prefix="ganzoo-check-") as tmp, torch.random.fork_rng(devices=[]):
        yield kit, Path(tmp)


def _kit_dataset(shape) -> str:
    """The kit's dataset for data of ``shape``: images of its channel count, else the kind's own."""
    if not shape.channels:
        return f"{KIT_PLUGIN}:{shape.kind}"
    if shape.channels not in KIT_CHANNELS:
        raise _Skip(f"the kit has no {shape.channels}-channel data")
    return f"{KIT_PLUGIN}:images-{shape.channels}"


def _train(registry: Registry, workdir: Path, model: str, loss: str, dataset: str, run_name: str,
           image_size: int | None, steps: int = 2, **extra: Any):
    """Train ``steps`` steps on the kit's data (batch 4, CPU); refuses non-finite losses."""
    flags = {"steps": steps, "batch_size": 4, "device": "cpu", "out": str(workdir), "run_name": run_name,
             "seed": 0, "log_every": 1, "sample_every": 1000, "checkpoint_every": 1000,
             "keep_checkpoints": 2, "sample_grid": 4, "image_size": image_size, **extra}
    cfg = resolve_config(registry, model, loss=loss, dataset=dataset, flags=flags)
    run = train(cfg, registry, make_reporter(enabled=False))
    if run.step != steps:
        raise _Failed(f"trained {run.step} steps, expected {steps}")
    bad = {k: v for k, v in run.last_metrics.items()
           if k in ("d_loss", "g_loss") and not (isinstance(v, (int, float)) and math.isfinite(v))}
    if bad or not {"d_loss", "g_loss"} <= set(run.last_metrics):
        raise _Failed(f"losses after {steps} steps are not finite numbers: "
                      f"{ {k: run.last_metrics.get(k) for k in ('d_loss', 'g_loss')} }")
    return run
