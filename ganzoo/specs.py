"""Typed specs that plugins hand to ganzoo through hooks.

A spec describes a component without building it: listing every model must not
construct a network or even import torch. The heavy parts are given as references
(``"package.module:attribute"`` strings, or callables) that are resolved only when
the component is used.

Example, in a plugin module::

    from ganzoo import hookimpl
    from ganzoo.specs import ModelSpec

    @hookimpl
    def ganzoo_models():
        yield ModelSpec(
            name="tiny-gan",
            summary="A two-layer MLP GAN",
            build="ganzoo_tiny.nets:build",
        )
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping

from .kinds import kind_names

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
"""Component names: lowercase letters and digits, words joined by single hyphens."""

FIELD_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
"""Data field names (``image``, ``target``, ``image_b``, ...)."""


TASKS = ("unconditional", "conditional", "image-to-image", "encoder", "multi-domain", "super-resolution",
         "inpainting", "autoencoder")
"""What a model does, as ``ganzoo list`` and the README's zoo table show it (``autoencoder``: an image
to its own reconstruction, e.g. VQ-GAN's first stage)."""


def resolve_ref(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """Return the callable a reference names.

    Args:
        ref: a callable, or a ``"package.module:attribute"`` string.

    Returns:
        The callable. Importing the module happens here, not at registration.
    """
    if callable(ref):
        return ref
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _check_ref(value: Any, what: str) -> None:
    if callable(value):
        return
    if not isinstance(value, str) or not re.fullmatch(r"[\w.]+:[\w.]+", value):
        raise ValueError(f"{what} must be a callable or a 'module:attribute' string, got {value!r}")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, kw_only=True)
class ComponentSpec:
    """What every component has: a name, a one-line summary, and where it is described.

    Attributes:
        name: the registry name (lowercase, hyphenated), e.g. ``"wgan-gp"``.
        summary: one line for ``ganzoo list``.
        paper: a citation or URL, shown by ``ganzoo info``.
        defaults: run-config values this component recommends, as a nested mapping
            (e.g. ``{"n_critic": 5, "d_optim": {"lr": 1e-4}}``).
    """

    kind: ClassVar[str] = "component"

    name: str
    summary: str
    paper: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", _frozen(self.defaults))

    def validate(self) -> None:
        """Raise ``ValueError`` with a readable reason if the spec is malformed."""
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"invalid {self.kind} name {self.name!r}: use lowercase letters, digits and hyphens"
            )
        if not isinstance(self.summary, str) or not self.summary.strip():
            raise ValueError(f"{self.kind} {self.name!r} needs a one-line summary")
        if "\n" in self.summary.strip():
            raise ValueError(f"{self.kind} {self.name!r}: the summary must be one line")


@dataclass(frozen=True, kw_only=True)
class ModelSpec(ComponentSpec):
    """A GAN model: how to build its networks and what it needs from the data.

    Attributes:
        build: reference to ``build(arch, data) -> Networks`` where ``arch`` is an
            instance of ``config_class`` and ``data`` a :class:`ganzoo.data.DataShape`.
        config_class: a pydantic model of the architecture options (``arch.*`` keys);
            ``None`` when the model has none.
        default_loss: the loss used when the user names none.
        losses: the losses it works with; ``None`` means any. Others are refused.
        data_kinds: the kinds of data it trains on (see :mod:`ganzoo.kinds`): ``("image",)``,
            ``("image", "points")`` for a model that also fits the 2-D toy mixtures, ...
        needs_labels: a conditional model that refuses unlabelled data.
        channels: image channel counts it supports; ``None`` means any.
        min_image_size, max_image_size: the image sizes it supports.
        fields: data fields it needs besides the primary one (and ``label`` when
            ``needs_labels``), e.g. ``("target",)`` for paired data or ``("image_b",)`` for a
            second domain; a dataset without them is refused before training.
        algorithm: the training algorithm used when the run config names none.
        default_dataset: the dataset used when none is named (default ``mnist``).
        task: what it does (see :data:`TASKS`); by default ``conditional`` when it needs
            labels, else ``unconditional``.
        kind_defaults: run-config values for data of one kind, merged over ``defaults``
            when the dataset is of that kind, e.g. ``{"points": {"batch_size": 128}}`` for a
            model whose best recipe on the 2-D mixtures differs from its image one.
    """

    kind: ClassVar[str] = "model"

    build: str | Callable[..., Any]
    config_class: type | None = None
    default_loss: str = "bce"
    losses: tuple[str, ...] | None = None
    data_kinds: tuple[str, ...] = ("image",)
    needs_labels: bool = False
    channels: tuple[int, ...] | None = None
    min_image_size: int | None = None
    max_image_size: int | None = None
    fields: tuple[str, ...] = ()
    algorithm: str = "alternating"
    default_dataset: str | None = None
    task: str = ""
    kind_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "kind_defaults", _frozen(self.kind_defaults))

    def validate(self) -> None:
        super().validate()
        _check_ref(self.build, f"model {self.name!r}: build")
        if not isinstance(self.kind_defaults, Mapping) or not set(self.kind_defaults) <= set(self.data_kinds):
            raise ValueError(f"model {self.name!r}: kind_defaults must be keyed by its data_kinds "
                             f"({', '.join(self.data_kinds)})")
        unknown = set(self.data_kinds) - set(kind_names())
        if not self.data_kinds or unknown:
            raise ValueError(f"model {self.name!r}: data_kinds must name some of {', '.join(kind_names())}, "
                             f"got {tuple(self.data_kinds)!r}")
        if not isinstance(self.fields, tuple) or not all(isinstance(f, str) and FIELD_PATTERN.match(f)
                                                         for f in self.fields):
            raise ValueError(f"model {self.name!r}: fields must be a tuple of field names, got {self.fields!r}")
        if not isinstance(self.algorithm, str) or not self.algorithm:
            raise ValueError(f"model {self.name!r}: algorithm must name an algorithm")
        if self.task and self.task not in TASKS:
            raise ValueError(f"model {self.name!r}: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.losses is not None and self.default_loss not in self.losses:
            raise ValueError(f"model {self.name!r}: default_loss {self.default_loss!r} is not in its losses")
        if self.config_class is not None and not hasattr(self.config_class, "model_validate"):
            raise ValueError(f"model {self.name!r}: config_class must be a pydantic model")

    @property
    def task_name(self) -> str:
        """``task``, or what it defaults to."""
        return self.task or ("conditional" if self.needs_labels else "unconditional")

    @property
    def required_fields(self) -> tuple[str, ...]:
        """The fields a dataset must have: ``fields``, plus ``label`` when ``needs_labels``."""
        return tuple(dict.fromkeys((*(("label",) if self.needs_labels else ()), *self.fields)))


@dataclass(frozen=True, kw_only=True)
class LossSpec(ComponentSpec):
    """An adversarial loss: pure functions of discriminator logits.

    Attributes:
        factory: reference to a callable returning a :class:`ganzoo.losses.Loss`.
        defaults: the settings its paper recommends (optimizers, ``n_critic``).
    """

    kind: ClassVar[str] = "loss"

    factory: str | Callable[..., Any]

    def validate(self) -> None:
        super().validate()
        _check_ref(self.factory, f"loss {self.name!r}: factory")


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(ComponentSpec):
    """A dataset: its shape known up front, its loading deferred.

    Attributes:
        load: reference to ``load(data_dir: Path, split: str, image_size: int | None = None)``
            returning a :class:`ganzoo.data.ItemData` (or ``ImageData``, ``PointData``).
            ``image_size`` is the requested size; loaders may ignore it (training resizes
            batches anyway) or use it to bring images of mixed sizes to one size.
        data_kind: the kind of its primary field (see :mod:`ganzoo.kinds`): ``"image"`` (the
            default), ``"points"``, ``"audio"``, ``"video"``, ``"tokens"``.
        item_shape: the shape of one item of the primary field, e.g. ``(1, 28, 28)`` (an image),
            ``(2,)`` (a point), ``(1, 16384)`` (audio), ``(1, 16, 32, 32)`` (video), ``(20,)``
            (tokens); shown by ``ganzoo info``. For folders of a user's own data, the default.
        channels, image_size: a square image's ``item_shape``, ``(channels, image_size, image_size)``.
        point_dim: a point's ``item_shape``, ``(point_dim,)``.
        num_classes: number of labels, or ``None`` for unlabelled data.
        size: number of training samples, when known up front.
        files: the files a user must provide to work offline, as paths (or glob patterns)
            relative to the data folder (``--data-dir``), e.g. ``"MNIST/raw/t10k-images-idx3-ubyte"``;
            shown by ``ganzoo info`` and in errors.
        fields: the data fields it yields besides the primary one and ``label``, e.g.
            ``("target",)`` (paired) or ``("image_b",)`` (a second domain); see
            :data:`ganzoo.data.KIND_OF_NAME`.
        rate: samples (audio) or frames (video) per second, shown by ``ganzoo info``.
    """

    kind: ClassVar[str] = "dataset"

    load: str | Callable[..., Any]
    channels: int | None = None
    image_size: int | None = None
    point_dim: int | None = None
    num_classes: int | None = None
    size: int | None = None
    files: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    data_kind: str = "image"
    item_shape: tuple[int, ...] | None = None
    rate: int | None = None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of one item of the primary field: ``item_shape``, else ``(channels,
        image_size, image_size)`` or ``(point_dim,)``; ``None`` when none is declared."""
        if self.item_shape is not None:
            return tuple(self.item_shape)
        if self.point_dim is not None:
            return (self.point_dim,)
        if self.channels is not None and self.image_size is not None:
            return (self.channels, self.image_size, self.image_size)
        return None

    def validate(self) -> None:
        super().validate()
        _check_ref(self.load, f"dataset {self.name!r}: load")
        if self.data_kind not in kind_names():
            raise ValueError(f"dataset {self.name!r}: data_kind must be one of {', '.join(kind_names())}, "
                             f"got {self.data_kind!r}")
        for what in ("channels", "image_size", "point_dim", "rate"):
            value = getattr(self, what)
            if value is not None and not (isinstance(value, int) and value > 0):
                raise ValueError(f"dataset {self.name!r}: {what} must be a positive integer")
        if self.item_shape is not None and not (isinstance(self.item_shape, tuple) and all(
                isinstance(d, int) and d > 0 for d in self.item_shape)):
            raise ValueError(f"dataset {self.name!r}: item_shape must be a tuple of positive integers")
        if self.shape is None:
            raise ValueError(f"dataset {self.name!r}: declare the shape of one item: item_shape=(...), or "
                             f"channels and image_size, or point_dim")
        if not isinstance(self.fields, tuple) or not all(isinstance(f, str) and FIELD_PATTERN.match(f)
                                                         for f in self.fields):
            raise ValueError(f"dataset {self.name!r}: fields must be a tuple of field names, got {self.fields!r}")


@dataclass(frozen=True, kw_only=True)
class MetricSpec(ComponentSpec):
    """An evaluation metric.

    Attributes:
        compute: reference to the function that computes it. Its inputs depend on ``inputs``:
            ``"features"``: ``compute(real_features, fake_features, seed=0) -> dict``
            (float tensors ``[N, D]`` from a feature extractor);
            ``"samples"``: ``compute(fake_samples, context) -> dict`` where ``context`` is a
            :class:`ganzoo.metrics.evaluate.EvalContext` (the dataset, an extractor for class
            predictions, ...). Values are floats (or lists for histograms).
        inputs: ``"features"`` or ``"samples"``.
        keys: the names of the values it returns, e.g. ``("precision", "recall")``; the
            first is the one ``--eval-metrics`` uses to keep the best checkpoint.
        lower_is_better: the keys for which lower is better (the others: higher is better).
    """

    kind: ClassVar[str] = "metric"

    compute: str | Callable[..., Any]
    inputs: str = "features"
    keys: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()

    def validate(self) -> None:
        super().validate()
        _check_ref(self.compute, f"metric {self.name!r}: compute")
        if self.inputs not in ("features", "samples"):
            raise ValueError(f"metric {self.name!r}: inputs must be 'features' or 'samples'")
        if not self.keys:
            raise ValueError(f"metric {self.name!r}: keys must name the values it returns")


@dataclass(frozen=True, kw_only=True)
class ExtractorSpec(ComponentSpec):
    """A feature extractor (a network whose features metrics compare).

    Attributes:
        load: reference to ``load(device, data_dir) -> ganzoo.metrics.extractors.Extractor``; may
            train or download weights on first use and cache them (never beside the data).
        datasets: the datasets it is meant for (the default extractor of those datasets).
    """

    kind: ClassVar[str] = "extractor"

    load: str | Callable[..., Any]
    datasets: tuple[str, ...] = ()

    def validate(self) -> None:
        super().validate()
        _check_ref(self.load, f"extractor {self.name!r}: load")


@dataclass(frozen=True, kw_only=True)
class AlgorithmSpec(ComponentSpec):
    """A training algorithm: everything one training step does.

    The loss says *what* the adversarial terms are; the algorithm says how a step uses the
    networks, the loss and its own terms (reconstruction, cycle, ...): the built-in
    ``alternating`` makes ``n_critic`` discriminator updates, then one generator update.
    The run-config key ``algorithm`` picks one; a model names its default.

    Attributes:
        step: reference to a subclass of :class:`ganzoo.algorithms.Algorithm`: its ``step(t)``
            trains one step through a :class:`~ganzoo.step.StepContext` and returns detached
            scalar tensors for the metrics log (names ending in ``_loss`` or ``grad_norm`` are
            watched for NaN); it may keep options, checkpointed state, its own batch count and
            its own previews.
        config_class: a pydantic model of its options (``algo.*`` keys, e.g.
            ``lambda_cycle``), validated when the config is resolved, shown by ``ganzoo info``
            and written out in ``config.json``; ``None`` when it has none.
        modules: the module names it needs the model to build (e.g. ``("g_ab", "g_ba",
            "d_a", "d_b")``); another model is refused with one line before training.
        fields: the data fields it needs (e.g. ``("image_b",)``).
    """

    kind: ClassVar[str] = "algorithm"

    step: str | Callable[..., Any]
    config_class: type | None = None
    modules: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def validate(self) -> None:
        super().validate()
        _check_ref(self.step, f"algorithm {self.name!r}: step")
        if self.config_class is not None and not hasattr(self.config_class, "model_validate"):
            raise ValueError(f"algorithm {self.name!r}: config_class must be a pydantic model")
        for what in ("modules", "fields"):
            value = getattr(self, what)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and FIELD_PATTERN.match(v) for v in value):
                raise ValueError(f"algorithm {self.name!r}: {what} must be a tuple of names, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class LoggerSpec(ComponentSpec):
    """A logger: where a run's metrics and previews go besides ``metrics.jsonl``
    (the run-config key ``logger``, ``--logger NAME``; see :mod:`ganzoo.loggers`).

    Attributes:
        build: reference to ``build(run_dir, config, resume=False) -> ganzoo.loggers.Logger``
            (a :class:`ganzoo.loggers.Logger` subclass works), called on rank 0 once the
            run directory exists.
        requires: modules it imports (e.g. ``("mlflow",)``); one that is missing stops the
            run before training, with ``install``.
        install: the command that installs them, e.g. ``"pip install 'ganzoo[mlflow]'"``
            (default: ``pip install`` and the module names).
    """

    kind: ClassVar[str] = "logger"

    build: str | Callable[..., Any]
    requires: tuple[str, ...] = ()
    install: str = ""

    def validate(self) -> None:
        super().validate()
        _check_ref(self.build, f"logger {self.name!r}: build")
        if not isinstance(self.requires, tuple) or not all(
                isinstance(m, str) and re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", m) for m in self.requires):
            raise ValueError(f"logger {self.name!r}: requires must be a tuple of module names, got {self.requires!r}")
        if not isinstance(self.install, str) or "\n" in self.install:
            raise ValueError(f"logger {self.name!r}: install must be one line (an install command)")


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    "model": ModelSpec,
    "loss": LossSpec,
    "dataset": DatasetSpec,
    "metric": MetricSpec,
    "extractor": ExtractorSpec,
    "algorithm": AlgorithmSpec,
    "logger": LoggerSpec,
}
"""Component kinds and their spec classes (the order ``ganzoo list`` shows them in)."""
