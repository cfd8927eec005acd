"""Field kinds: what one field of the data is, and everything ganzoo does with it by kind.

Every field of a dataset (``image``, ``label``, ``target``, ``mask``, ``audio`` ...) has a
*kind*; the field a generator produces is the *primary* one, and its kind is the data's kind.
Each kind is one module of this package, named after it, holding one :class:`FieldKind`
subclass (its instance is the module's ``KIND``): how a field of that kind is stored and
checked, how a batch of it is prepared for a model, how it is resized, what a person gets of
generated samples of it (the files that previews and ``ganzoo sample`` write, what a logger
receives, the arrays of ``--format npz``), what ``ganzoo export`` says of it, and tiny
synthetic data of it for benchmarks and the conformance kit.

Nothing outside this package asks which kind a field is: it asks the field's kind object
(:func:`kind_of`) to do the thing. Adding a kind is adding one module here.

Example::

    from ganzoo.kinds import kind_of

    kind = kind_of("audio")
    batch = kind.prepare(raw_int16_clips)                  # float [N, C, T] in [-1, 1]
    kind.write_samples(samples, Path("out/clips"), field)  # clips.png + clips-000.wav ...
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class FieldShape:
    """One field as a model sees it.

    Attributes:
        kind: the name of its kind.
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


def kind_names() -> tuple[str, ...]:
    """Every kind's name (the modules of this package), without importing them (no torch)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


_KINDS: dict[str, "FieldKind"] = {}


def kind_of(name: str) -> "FieldKind":
    """The :class:`FieldKind` called ``name``.

    Raises:
        ValueError: no such kind (the message lists the kinds).
    """
    if name not in _KINDS:
        if name not in kind_names():
            raise ValueError(f"unknown field kind {name!r} (one of {', '.join(kind_names())})")
        _KINDS[name] = importlib.import_module(f"{__name__}.{name}").KIND
    return _KINDS[name]


def all_kinds() -> list["FieldKind"]:
    """Every kind, by name."""
    return [kind_of(name) for name in kind_names()]


def generated_kinds() -> list["FieldKind"]:
    """The kinds a generator can produce (a dataset's primary field is of one of them)."""
    return [kind for kind in all_kinds() if kind.generated]


def scaled(size: int, scale: float) -> int:
    """A side length after resizing by ``scale`` (at least 1)."""
    return max(1, round(size * scale))


class FieldKind:
    """What ganzoo does with the fields of one kind. The defaults fit a field that is used as
    it is (labels); a kind module overrides what differs.

    Attributes:
        name: the kind's name (its module's name).
        stored: how a dataset stores a field of this kind, and what a batch of it looks like.
        generated: a generator can produce it (it can be a dataset's primary field).
        sized: ``--image-size`` resizes it (the data's scale is set by the primary field's side).
        channels_last: conv networks read it faster in channels-last memory layout.
        noun: what one generated sample is called, in messages (``"images"``, ``"clips"``).
        caption: what a run report says under the previews of a generator of this kind.
        pipeline_tags: the Hugging Face ``pipeline_tag`` of a model card, by model task.
        default_metrics: what ``--eval-every`` computes when no ``--eval-metrics`` are given.
        sample_suffixes: the file suffixes ``ganzoo sample --out`` accepts.
        sample_file: what ``ganzoo sample`` writes without ``--out`` (``None``: it prints the samples).
        takes_vocabulary: a field of this kind may carry a vocabulary (its ids' strings).
        counts_classes: a field of this kind holds class indices (it has a class count).
        rate_unit: what a field's ``rate`` counts, as ``ganzoo info`` shows it.
        class_rows: a conditional generator's previews show one row per class (a grid);
            otherwise their labels cycle through the classes, one of each first.
        preview_limit: the most samples a training preview writes (default: all it draws).
        preview_one_by_one: how many of them get a file or row each (clips to listen to,
            rows of frames).
    """

    name: ClassVar[str] = ""
    stored: ClassVar[str] = ""
    generated: ClassVar[bool] = False
    sized: ClassVar[bool] = False
    channels_last: ClassVar[bool] = False
    noun: ClassVar[str] = "samples"
    caption: ClassVar[str] = ""
    pipeline_tags: ClassVar[Mapping[str, str]] = {}
    default_metrics: ClassVar[tuple[str, ...]] = ("fid",)
    sample_suffixes: ClassVar[tuple[str, ...]] = (".png",)
    sample_file: ClassVar[str | None] = "samples.png"
    takes_vocabulary: ClassVar[bool] = False
    counts_classes: ClassVar[bool] = False
    rate_unit: ClassVar[str] = "per second"
    class_rows: ClassVar[bool] = False
    preview_limit: ClassVar[int | None] = None
    preview_one_by_one: ClassVar[int | None] = None

    # -- data ------------------------------------------------------------------------------
    def validate(self, name: str, tensor: "torch.Tensor") -> None:
        """Raise ``ValueError`` when field ``name``'s tensor is not stored as :attr:`stored` says."""

    def resized(self, shape: tuple[int, ...], scale: float) -> tuple[int, ...]:
        """The shape of one item after resizing the data by ``scale`` (as it is, by default)."""
        return tuple(shape)

    def prepare(self, batch: "torch.Tensor", scale: float = 1.0) -> "torch.Tensor":
        """A batch as a model takes it (as it is stored, by default)."""
        return batch

    def summary(self, shape: tuple[int, ...]) -> dict[str, int]:
        """What :class:`~ganzoo.data.DataShape` says of a primary field of this kind besides its
        fields: ``channels`` and ``image_size`` for images, ``point_dim`` for points."""
        return {}

    def companion_shape(self, primary: tuple[int, ...]) -> tuple[int, ...]:
        """The item shape of a field of this kind beside primary items of shape ``primary`` (a
        paired target, a mask, a label), for synthetic data."""
        raise NotImplementedError(f"no {self.name} field can be made to go with items of shape {primary}")

    def synthetic(self, n: int, shape: tuple[int, ...], generator: "torch.Generator",
                  field: FieldShape | None = None) -> "torch.Tensor":
        """``n`` random items of ``shape`` stored as this kind stores them (benchmarks, kit)."""
        raise NotImplementedError(f"no synthetic {self.name} data")

    def examples(self, labels: "torch.Tensor", num_classes: int,
                 generator: "torch.Generator") -> tuple["torch.Tensor", FieldShape]:
        """Tiny items of this kind in which each one's label can be read (the conformance kit's
        data), and their field's shape (rate, vocabulary)."""
        raise NotImplementedError(f"no example {self.name} data")

    def check_batch(self, batch: "torch.Tensor") -> str | None:
        """What a batch in the model's range must be when it is not (a network's input, such
        as a feature extractor's): ``None`` when it fits."""
        return None

    # -- generated samples -----------------------------------------------------------------
    def check_samples(self, samples: "torch.Tensor", field: FieldShape | None = None) -> str | None:
        """Why a generator's output is not valid data of this kind, or ``None``."""
        return None

    def discriminator_input(self, samples: "torch.Tensor", field: FieldShape | None = None) -> "torch.Tensor":
        """What a discriminator reads of generated samples (the samples themselves, by default)."""
        return samples

    def preview_count(self, n: int) -> int:
        """How many samples a training preview of ``n`` shows."""
        return n

    def preview_reference(self, real: "torch.Tensor") -> "torch.Tensor | None":
        """Real data drawn under each training preview, or ``None``."""
        return None

    def real_samples(self, stored: "torch.Tensor", scale: float = 1.0) -> "torch.Tensor":
        """Real items in the model's range, to compare generated samples with (evaluation)."""
        return self.prepare(stored, scale)

    def write_samples(self, samples: "torch.Tensor", stem: Path, field: FieldShape | None = None, *,
                      nrow: int | None = None, reference: "torch.Tensor | None" = None,
                      one_by_one: int | None = None) -> list[Path]:
        """Write what a person looks at, listens to or reads of generated ``samples`` as files
        named after ``stem`` (a path without suffix); return them, the main one first. Training
        previews and ``ganzoo sample`` both write through here.

        Args:
            nrow: samples per row of a picture (default: the squarest).
            reference: real data drawn under the samples (point clouds).
            one_by_one: how many of the samples also get a file or row each (clips to listen
                to, rows of frames); default all.
        """
        raise NotImplementedError(f"{self.name} fields are not generated")

    def logged(self, samples: "torch.Tensor", field: FieldShape | None = None, *,
               wants: Callable[[str], bool] = lambda method: True, nrow: int | None = None,
               reference: "torch.Tensor | None" = None, one_by_one: int | None = None) -> list[tuple[str, tuple]]:
        """What a run's logger gets of :meth:`write_samples`'s files: ``(method, arguments after
        the step)`` of :class:`ganzoo.loggers.Logger`'s ``image(step, grid)``, ``audio(step, tag,
        clip, rate)`` and ``text(step, lines)``, for the methods ``wants`` accepts (nothing is
        drawn for a logger that takes no pictures)."""
        return []

    def as_text(self, samples: "torch.Tensor", field: FieldShape | None = None) -> list[str]:
        """Generated samples as lines of text, for kinds whose samples are read (sentences)."""
        raise NotImplementedError(f"{self.name} samples are not text")

    def npz_arrays(self, samples: "torch.Tensor", field: FieldShape | None = None) -> dict[str, Any]:
        """Raw samples as numpy arrays for ``ganzoo sample --format npz`` (outside tools)."""
        raise NotImplementedError(f"{self.name} fields are not generated")

    def describe_output(self, shape: Sequence[int], field: FieldShape | None = None) -> dict[str, Any]:
        """``ganzoo export``'s description of a generator's output: name, dtype, shape
        (``"N"`` first), range and words."""
        raise NotImplementedError(f"{self.name} fields are not generated")

    def export_info(self, field: FieldShape | None = None) -> dict[str, Any]:
        """What else a consumer of an exported generator needs (sample rate, vocabulary)."""
        return {}
