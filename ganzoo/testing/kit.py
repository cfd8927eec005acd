"""The kit's own tiny data and model, registered beside the plugin under test.

The kit's image datasets carry every common field, so any family finds what it needs:
``image``, ``label``, a paired ``target`` (the image turned upside down and inverted), a
``mask`` (a rectangle per image), and a second, unpaired stream ``image_b`` / ``label_b``.
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
from ..data import DataShape, FieldShape, ItemData, PointData
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


def points_shape(num_classes: int | None) -> DataShape:
    return DataShape(point_dim=2, num_classes=num_classes)


AUDIO_SAMPLES, AUDIO_RATE = 16384, 16000
"""The kit's audio: one channel of 16,384 samples (WaveGAN's length: about 1 s) at 16 kHz."""

VIDEO_FRAMES, VIDEO_SIZE, VIDEO_FPS = 16, 32, 8
"""The kit's video: one channel, 16 frames of 32x32, 8 frames per second."""

TOKENS_LENGTH = 20
TOKENS_VOCABULARY = ("<pad>", "<eos>", "<unk>", *(f"w{i}" for i in range(47)))
"""The kit's text: sequences of 20 token ids over a vocabulary of 50 (with the special tokens)."""


def media_shape(kind: str, num_classes: int | None) -> DataShape:
    """The :class:`DataShape` of the kit's ``"audio"``, ``"video"`` or ``"tokens"`` data."""
    if kind == "audio":
        primary = FieldShape("audio", (1, AUDIO_SAMPLES), rate=AUDIO_RATE)
    elif kind == "video":
        primary = FieldShape("video", (1, VIDEO_FRAMES, VIDEO_SIZE, VIDEO_SIZE), rate=VIDEO_FPS)
    elif kind == "tokens":
        primary = FieldShape("tokens", (TOKENS_LENGTH,), len(TOKENS_VOCABULARY), vocabulary=TOKENS_VOCABULARY)
    else:
        raise ValueError(f"the kit has no {kind!r} data")
    fields = {kind: primary}
    if num_classes:
        fields["label"] = FieldShape("label", (), num_classes)
    return DataShape(num_classes=num_classes, fields=fields)


def _kit_media(data_dir, split: str = "train", image_size: int | None = None, *, kind: str) -> ItemData:
    """Tiny labelled data of one kind, the label readable in every item: audio a tone whose
    pitch is the label, video a square moving right on row ``label``, tokens a sentence
    that repeats word ``label``."""
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(KIT_ITEMS) % NUM_CLASSES
    if kind == "audio":
        t = torch.arange(AUDIO_SAMPLES) / AUDIO_RATE
        freqs = 200.0 + 100.0 * labels.float()
        tone = 0.5 * torch.sin(2 * math.pi * freqs[:, None] * t[None, :])
        audio = tone + 0.01 * torch.randn(KIT_ITEMS, AUDIO_SAMPLES, generator=gen)
        return ItemData({"audio": audio.clamp(-1, 1).unsqueeze(1), "label": labels},
                        num_classes=NUM_CLASSES, rates={"audio": AUDIO_RATE})
    if kind == "video":
        video = torch.randint(0, 32, (KIT_ITEMS, 1, VIDEO_FRAMES, VIDEO_SIZE, VIDEO_SIZE), generator=gen,
                              dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            row = 3 * label
            for f in range(VIDEO_FRAMES):
                video[i, 0, f, row:row + 3, f:f + 4] = 255
        return ItemData({"video": video, "label": labels}, num_classes=NUM_CLASSES, rates={"video": VIDEO_FPS})
    words = len(TOKENS_VOCABULARY)
    tokens = torch.randint(3, words, (KIT_ITEMS, TOKENS_LENGTH), generator=gen)
    tokens[:, ::2] = 3 + labels[:, None]
    tokens[:, -3] = 1  # <eos>, then padding
    tokens[:, -2:] = 0
    return ItemData({"tokens": tokens, "label": labels}, num_classes=NUM_CLASSES,
                    vocabularies={"tokens": TOKENS_VOCABULARY})


def _squares(gen: torch.Generator, n: int, channels: int, size: int, labels: torch.Tensor) -> torch.Tensor:
    images = torch.randint(0, 64, (n, channels, size, size), generator=gen, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):  # a bright square whose place encodes the label
        row, col = divmod(label, 5)
        top, left = row * size // 2, col * size // 5
        images[i, :, top:top + max(1, size // 2), left:left + max(1, size // 5)] = 255
    return images


def _kit_images(data_dir, split: str = "train", image_size: int | None = None, *, channels: int,
                size: int) -> ItemData:
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(KIT_ITEMS) % NUM_CLASSES
    images = _squares(gen, KIT_ITEMS, channels, size, labels)
    labels_b = torch.randperm(KIT_ITEMS, generator=gen) % NUM_CLASSES
    mask = torch.zeros(KIT_ITEMS, 1, size, size, dtype=torch.uint8)
    mask[:, :, size // 4: size // 4 + max(1, size // 2), size // 4: size // 4 + max(1, size // 2)] = 1
    fields = {"image": images, "label": labels, "target": 255 - images.flip(-2), "mask": mask,
              "domain": torch.arange(KIT_ITEMS) % NUM_DOMAINS,
              "image_b": 255 - _squares(gen, KIT_ITEMS, channels, size, labels_b), "label_b": labels_b}
    return ItemData(fields, classes={"label": NUM_CLASSES, "label_b": NUM_CLASSES, "domain": NUM_DOMAINS},
                    streams=[("image", "label", "target", "mask", "domain"), ("image_b", "label_b")])


def _kit_points(data_dir, split: str = "train", image_size: int | None = None) -> PointData:
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(KIT_ITEMS) % 8
    angles = labels.float() * (2 * math.pi / 8)
    points = torch.stack([angles.cos(), angles.sin()], dim=1) + 0.01 * torch.randn(KIT_ITEMS, 2, generator=gen)
    return PointData(points=points, labels=labels, num_classes=8)


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
    specs: list[Any] = [
        DatasetSpec(name="points", summary="64 labelled 2-D points on a ring (conformance kit)",
                    load=_kit_points, data_kind="points", point_dim=2, num_classes=8, size=KIT_ITEMS),
        ModelSpec(name="tiny", summary="A tiny fully connected GAN (conformance kit)", build=_kit_build,
                  data_kinds=("image", "points")),
    ]
    for kind, what in (("audio", f"1 x {AUDIO_SAMPLES} samples at {AUDIO_RATE} Hz"),
                       ("video", f"1 x {VIDEO_FRAMES} frames of {VIDEO_SIZE}x{VIDEO_SIZE}"),
                       ("tokens", f"{TOKENS_LENGTH} tokens of {len(TOKENS_VOCABULARY)}")):
        specs.append(DatasetSpec(name=kind, summary=f"64 labelled {kind} items, {what} (conformance kit)",
                                 load=functools.partial(_kit_media, kind=kind), num_classes=NUM_CLASSES,
                                 size=KIT_ITEMS, data_kind=kind))
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
    if shape.kind == "points":
        return f"{KIT_PLUGIN}:points"
    if shape.kind in ("audio", "video", "tokens"):
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
