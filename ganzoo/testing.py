"""The plugin conformance kit: does a plugin keep ganzoo's contracts?

Public API (also behind ``ganzoo plugin check NAME``)::

    from ganzoo.testing import assert_plugin_conforms, check_plugin

    report = check_plugin("mygan")          # an installed plugin, by its plugin name
    print(report)                            # one line per check: PASS/FAIL/SKIP/WARN
    report.ok, report.failures

    def test_my_plugin():                    # in the plugin's own tests
        assert_plugin_conforms("mygan")

For every component the plugin registers it checks the spec (name, summary, references,
options class, declared needs and recommended settings), then, per kind:

- models: generator and discriminator output shapes, dtypes and ranges across a few
  image sizes and channel counts the spec allows (sizes the build refuses with
  ``ConfigError`` are skipped, but one must work; points for point models); the
  conditional contract; a state-dict round trip through safetensors; determinism under
  a fixed seed; a bf16 autocast forward on CPU; two training steps (``ganzoo.run.train``
  on tiny in-memory data) with every compatible loss, then reloading the checkpoint;
  optionally (``compile=True``) a ``torch.compile`` smoke test;
- losses: finite scalar losses with finite gradients on random and large logits;
  ``scores`` returns scalars under keys of its own;
- datasets: the loader resolves and takes ``(data_dir, split)``; with ``load_data=True``
  it is called (offline) and its output checked;
- metrics: ``compute`` resolves; feature metrics run on random features;
- extractors: ``load`` resolves and the datasets they name exist;
- algorithms: ``step`` resolves to ``step(trainer)``, and two training steps of a tiny
  model run with the algorithm selected.

Everything runs on the CPU with tiny batches; the caller's torch random state is left
as it was.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import ConfigError, GanzooError, UnknownComponentError
from .plugins import PluginManager, get_plugin_manager
from .registry import Entry, Registry
from .specs import DatasetSpec, ModelSpec, resolve_ref

__all__ = ["CheckResult", "Report", "check_plugin", "check_component", "check_model", "check_loss",
           "check_dataset", "check_metric", "check_extractor", "check_algorithm",
           "assert_plugin_conforms"]

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

RESERVED_SCORE_KEYS = {"step", "epoch", "d_loss", "g_loss", "penalty", "d_grad_norm", "g_grad_norm",
                       "images_per_sec", "elapsed_sec", "eval"}


# ---------------------------------------------------------------------------------
# results

@dataclass
class CheckResult:
    """One check of one component.

    Attributes:
        component: ``"KIND plugin:name"`` (e.g. ``"model mygan:mygan"``) or ``"plugin NAME"``.
        check: what was checked (``"spec"``, ``"shapes"``, ``"train[bce]"``, ...).
        status: ``"pass"``, ``"fail"``, ``"skip"`` or ``"warn"`` (warnings do not fail).
        message: what went wrong, or what was covered.
    """

    component: str
    check: str
    status: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.status.upper():4} {self.component} {self.check}" + (f": {self.message}" if self.message else "")


@dataclass
class Report:
    """The results of checking one plugin (or one component)."""

    plugin: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No check failed (warnings and skips are fine)."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    def counts(self) -> dict[str, int]:
        """How many checks passed, failed, were skipped or warned."""
        return {status: sum(r.status == status for r in self.results)
                for status in ("pass", "fail", "skip", "warn")}

    def as_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "ok": self.ok, "seconds": round(self.seconds, 3),
                "counts": self.counts(),
                "results": [{"component": r.component, "check": r.check, "status": r.status,
                             "message": r.message} for r in self.results]}

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        return "\n".join([f"plugin {self.plugin}: {counts} ({self.seconds:.1f} s)",
                          *(f"  {r}" for r in self.results)])

    def raise_for_failures(self) -> "Report":
        """Raise ``AssertionError`` naming every failed check; return the report otherwise."""
        if self.failures:
            lines = "\n".join(f"  {r}" for r in self.failures)
            raise AssertionError(f"plugin {self.plugin!r} fails {len(self.failures)} conformance "
                                 f"check(s):\n{lines}")
        return self


class _Recorder:
    """Collects results for one component; ``with rec.check("name"):`` records a pass,
    or a failure carrying the exception's one-line message."""

    def __init__(self, component: str, results: list[CheckResult]) -> None:
        self.component, self.results = component, results

    def add(self, check: str, status: str, message: str = "") -> CheckResult:
        result = CheckResult(self.component, check, status, message)
        self.results.append(result)
        return result

    @contextlib.contextmanager
    def check(self, name: str, success: str = "") -> Iterator[dict[str, Any]]:
        """Run a block as one check; the block may set ``note["message"]`` or ``note["status"]``."""
        note: dict[str, Any] = {}
        try:
            yield note
        except _Skip as exc:
            self.add(name, "skip", str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a result
            self.add(name, "fail", _describe(exc))
        else:
            self.add(name, note.get("status", "pass"), note.get("message", success))


class _Skip(Exception):
    """Raised inside a check to record it as skipped."""


class _Failed(Exception):
    """A check failure with a prepared message."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (_Failed, GanzooError)):
        return str(exc)
    lines = str(exc).strip().splitlines()
    where = ""
    tb = traceback.extract_tb(exc.__traceback__)
    if tb and not isinstance(exc, AssertionError):
        frame = tb[-1]
        where = f" (at {Path(frame.filename).name}:{frame.lineno})"
    return f"{type(exc).__name__}: {lines[0] if lines else ''}{where}"


def _component(entry: Entry) -> str:
    return f"{entry.kind} {entry.qualified_name}"


# ---------------------------------------------------------------------------------
# entry points

def check_plugin(plugin: Any, *, manager: PluginManager | None = None, compile: bool = False,
                 load_data: bool = False, losses: Iterable[str] | None = None,
                 name: str | None = None) -> Report:
    """Check every component a plugin registers, and the plugin itself.

    Args:
        plugin: an installed plugin's name (its entry-point name, see ``ganzoo plugins``),
            or a plugin module to register in-process (then give ``name``; the installed
            plugins are loaded beside it, for their losses).
        manager: the plugin manager to use (default: the installed plugins).
        compile: also run the ``torch.compile`` smoke test of each model (slow on CPU).
        load_data: also call each dataset's loader (offline; skipped when files are missing).
        losses: the losses to train each model with (default: every compatible loss).
        name: the plugin name when ``plugin`` is a module.

    Raises:
        UnknownComponentError: no plugin of that name is installed (exit code 2).
    """
    started = time.perf_counter()
    if not isinstance(plugin, str):
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        manager = manager or PluginManager()
        if name not in manager.plugins:
            manager.register(plugin, name=name)
        plugin = name
    manager = manager or get_plugin_manager()
    registry = manager.registry
    info = manager.plugins.get(plugin)
    if info is None:
        known = ", ".join(sorted(manager.plugins)) or "none"
        raise UnknownComponentError(f"unknown plugin {plugin!r}; installed plugins: {known} "
                                    "(see `ganzoo plugins`)")
    report = Report(plugin)
    rec = _Recorder(f"plugin {plugin}", report.results)
    if info.status != "loaded":
        reason = "; ".join(info.errors) or info.status
        rec.add("loads", "fail", f"{info.status}: {reason}")
        report.seconds = time.perf_counter() - started
        return report
    if info.errors:
        rec.add("loads", "fail", "loaded with errors: " + "; ".join(info.errors))
    else:
        rec.add("loads", "pass", f"{info.distribution or 'registered in-process'}"
                                 + (f" {info.version}" if info.version else ""))
    for warning in info.warnings:
        rec.add("names", "warn", warning)
    _check_api(rec, info)
    module = manager.pm.get_plugin(plugin)
    _check_light_import(rec, getattr(module, "__name__", None) if inspect.ismodule(module) else None)
    entries = [e for e in registry if e.plugin == plugin]
    if not entries and not info.commands:
        rec.add("registers", "warn", "the plugin registers no components and no commands")
    for command in info.commands:
        rec.add(f"command {command}", "pass", f"mounted as `ganzoo {command}`")
    with _kit_registry(registry) as (kit_registry, workdir):
        for entry in entries:
            report.results += check_component(entry, kit_registry, compile=compile, load_data=load_data,
                                              losses=losses, workdir=workdir).results
    report.seconds = time.perf_counter() - started
    return report


def assert_plugin_conforms(plugin: Any, **options: Any) -> Report:
    """:func:`check_plugin`, raising ``AssertionError`` that names every failed check.

    Returns the report when everything passes, for further assertions.
    """
    return check_plugin(plugin, **options).raise_for_failures()


def check_component(entry: Entry | str, registry: Registry | None = None, *, kind: str | None = None,
                    compile: bool = False, load_data: bool = False, losses: Iterable[str] | None = None,
                    workdir: Path | None = None) -> Report:
    """Check one registered component.

    Args:
        entry: an :class:`~ganzoo.registry.Entry`, or a component name (bare or qualified).
        registry: where to look it up and find losses (default: the installed plugins).
        kind: the kind, when ``entry`` is a name that several kinds use.
        compile, load_data, losses: as for :func:`check_plugin`.
        workdir: a scratch folder for training runs (default: a temporary one).
    """
    started = time.perf_counter()
    registry = registry if registry is not None else get_plugin_manager().registry
    if isinstance(entry, str):
        entry = registry.get(kind, entry) if kind else registry.lookup(entry)
    checks = _CHECKS.get(entry.kind, _generic_checks)
    options = {"compile": compile, "load_data": load_data, "losses": losses}
    if workdir is not None and _has_kit(registry):
        results = checks(entry, registry, workdir, options)
    else:
        with _kit_registry(registry) as (kit, tmp):
            results = checks(entry, kit, workdir or tmp, options)
    return Report(entry.plugin, results, time.perf_counter() - started)


def check_model(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one model: spec, output shapes and dtypes across sizes and channels, the
    conditional contract, a safetensors round trip, determinism, bf16 autocast, two
    training steps with every compatible loss (or ``losses=[...]``) and reloading the
    checkpoint; with ``compile=True`` a ``torch.compile`` smoke test."""
    return check_component(entry, registry, kind="model", **options)


def check_loss(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one loss: spec, factory, finite scalar losses and gradients, ``scores``."""
    return check_component(entry, registry, kind="loss", **options)


def check_dataset(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one dataset: spec, loader signature, and with ``load_data=True`` what it loads."""
    return check_component(entry, registry, kind="dataset", **options)


def check_metric(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one metric: spec, ``compute`` resolves; a feature metric runs on random features."""
    return check_component(entry, registry, kind="metric", **options)


def check_extractor(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one feature extractor: spec, ``load`` resolves, its datasets are installed.
    (The extractor itself is not loaded: that may train a network or read weights.)"""
    return check_component(entry, registry, kind="extractor", **options)


def check_algorithm(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one algorithm: spec, ``step(trainer)`` resolves, and two training steps of the
    kit's tiny model run with it selected (the run-config key ``algorithm``)."""
    return check_component(entry, registry, kind="algorithm", **options)


# ---------------------------------------------------------------------------------
# plugin-level checks

def _check_api(rec: _Recorder, info) -> None:
    from . import PLUGIN_API_VERSION

    if info.api is None:
        major = int(PLUGIN_API_VERSION.split(".")[0])
        rec.add("api", "warn", f"declares no GANZOO_API (accepted); declare the plugin-API versions it "
                               f"supports in the plugin module, e.g. GANZOO_API = \">={major},<{major + 1}\"")
    else:
        rec.add("api", "pass", f"GANZOO_API {info.api} admits plugin API {PLUGIN_API_VERSION}")


def _check_light_import(rec: _Recorder, module: str | None) -> None:
    """The registration module must not import torch (``ganzoo list`` imports it)."""
    if not module or module == "__main__":
        rec.add("light import", "skip", "not an importable module")
        return
    code = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
            "print(','.join(m for m in ('torch', 'torchvision') if m in sys.modules))")
    try:
        path = os.pathsep.join(p for p in sys.path if p)  # the same import path as this process
        result = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True,
                                timeout=120, env={**os.environ, "PYTHONPATH": path})
    except (OSError, subprocess.TimeoutExpired) as exc:
        rec.add("light import", "skip", f"could not run a fresh interpreter: {exc}")
        return
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        rec.add("light import", "skip", f"{module} cannot be imported on its own: {last}")
    elif result.stdout.strip():
        rec.add("light import", "fail", f"importing {module} imports {result.stdout.strip()}; keep the "
                                        "registration module light (every `ganzoo list` imports it): "
                                        "import networks only behind the spec's references")
    else:
        rec.add("light import", "pass", f"importing {module} does not import torch")


# ---------------------------------------------------------------------------------
# spec checks shared by every kind

def _check_spec(rec: _Recorder, entry: Entry, registry: Registry) -> bool:
    with rec.check("spec") as note:
        spec = entry.spec
        spec.validate()
        if len(spec.summary) > 120:
            note.update(status="warn", message=f"the summary is {len(spec.summary)} characters; "
                                               "`ganzoo list` reads best under 100")
        _check_defaults(spec.defaults, entry, registry)
        if isinstance(spec, ModelSpec):
            _check_model_spec(spec, registry)
        if isinstance(spec, DatasetSpec):
            _check_dataset_spec(spec)
        return True
    return False


def _check_defaults(defaults, entry: Entry, registry: Registry) -> None:
    """Recommended settings must be valid run-config values."""
    if not defaults:
        return
    from pydantic import ValidationError

    from .config import RunConfig, deep_merge, format_validation_error

    try:
        RunConfig.model_validate(deep_merge(dict(defaults), {"model": "m", "loss": "l", "dataset": "d"}))
    except ValidationError as exc:
        raise _Failed(f"defaults: {format_validation_error(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise _Failed(f"defaults: {exc}") from None


def _check_model_spec(spec: ModelSpec, registry: Registry) -> None:
    if spec.config_class is not None:
        from pydantic import ValidationError

        try:
            spec.config_class.model_validate({})
        except ValidationError as exc:
            raise _Failed(f"config_class {spec.config_class.__name__} cannot be made from its defaults "
                          f"(every option needs one): {exc.errors()[0]['loc']}") from None
        undocumented = [n for n, f in spec.config_class.model_fields.items() if not f.description]
        if undocumented:
            raise _Failed(f"config_class options without a description (shown by `ganzoo info`): "
                          f"{', '.join(undocumented)}; use Field(default, description=...)")
    for loss in ([spec.default_loss] + list(spec.losses or ())):
        try:
            registry.get("loss", loss)
        except UnknownComponentError as exc:
            raise _Failed(f"default_loss/losses name a loss that is not installed: {exc}") from None
    if spec.channels is not None and (not spec.channels or not all(
            isinstance(c, int) and c > 0 for c in spec.channels)):
        raise _Failed(f"channels must be a tuple of positive ints or None, got {spec.channels!r}")
    for attr in ("min_image_size", "max_image_size"):
        value = getattr(spec, attr)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise _Failed(f"{attr} must be a positive int or None, got {value!r}")
    if spec.min_image_size and spec.max_image_size and spec.min_image_size > spec.max_image_size:
        raise _Failed(f"min_image_size {spec.min_image_size} > max_image_size {spec.max_image_size}")


def _check_dataset_spec(spec: DatasetSpec) -> None:
    if spec.num_classes is not None and (not isinstance(spec.num_classes, int) or spec.num_classes < 1):
        raise _Failed(f"num_classes must be a positive int or None, got {spec.num_classes!r}")
    if spec.size is not None and (not isinstance(spec.size, int) or spec.size < 1):
        raise _Failed(f"size must be a positive int or None, got {spec.size!r}")
    if not all(isinstance(f, str) for f in spec.files):
        raise _Failed("files must be a tuple of file names")


def _resolve(rec: _Recorder, ref: Any, what: str, check: str = "reference") -> Callable[..., Any] | None:
    """Import a spec's reference; record a failure (and return None) if it cannot be."""
    with rec.check(check) as note:
        target = resolve_ref(ref)
        if not callable(target):
            raise _Failed(f"{what} {ref!r} is not callable")
        note["message"] = f"{what} {ref if isinstance(ref, str) else getattr(ref, '__qualname__', ref)}"
        return target
    return None


def _generic_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    _check_spec(_Recorder(_component(entry), results), entry, registry)
    return results


# ---------------------------------------------------------------------------------
# the kit's own tiny data and model, in a registry derived from the plugin's

def _kit_images(data_dir, split: str = "train", image_size: int | None = None, *, channels: int,
                size: int) -> Any:
    import torch

    from .data import ImageData

    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 64
    labels = torch.arange(n) % NUM_CLASSES
    images = torch.randint(0, 64, (n, channels, size, size), generator=gen, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):  # a bright square whose place encodes the label
        row, col = divmod(label, 5)
        top, left = row * size // 2, col * size // 5
        images[i, :, top:top + max(1, size // 2), left:left + max(1, size // 5)] = 255
    return ImageData(images=images, labels=labels, num_classes=NUM_CLASSES)


def _kit_points(data_dir, split: str = "train", image_size: int | None = None) -> Any:
    import torch

    from .data import PointData

    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(64) % 8
    angles = labels.float() * (2 * math.pi / 8)
    points = torch.stack([angles.cos(), angles.sin()], dim=1) + 0.01 * torch.randn(64, 2, generator=gen)
    return PointData(points=points, labels=labels, num_classes=8)


def _kit_build(arch, data) -> Any:
    """A tiny fully connected model, for checking algorithms."""
    import torch
    from torch import nn

    from .networks import Discriminator, Generator, Networks

    shape = data.sample_shape

    class TinyG(Generator):
        def __init__(self) -> None:
            super().__init__(8, shape)
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, math.prod(shape)), nn.Tanh())

        def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            return self.net(z).view(-1, *shape)

    class TinyD(Discriminator):
        def __init__(self) -> None:
            super().__init__(shape)
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 16), nn.LeakyReLU(0.2),
                                     nn.Linear(16, 1))

        def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            return self.net(x).flatten()

    return Networks(TinyG(), TinyD())


def _kit_specs() -> list[Any]:
    import functools

    specs: list[Any] = [
        DatasetSpec(name="points", summary="64 labelled 2-D points on a ring (conformance kit)",
                    load=_kit_points, point_dim=2, num_classes=8, size=64),
        ModelSpec(name="tiny", summary="A tiny fully connected GAN (conformance kit)", build=_kit_build,
                  data_kinds=("image", "points")),
    ]
    for channels in KIT_CHANNELS:  # 16x16 images; training resizes batches to the size checked
        specs.append(DatasetSpec(
            name=f"images-{channels}", summary=f"64 labelled {channels}-channel images (conformance kit)",
            load=functools.partial(_kit_images, channels=channels, size=16),
            channels=channels, image_size=16, num_classes=NUM_CLASSES, size=64))
    return specs


def _has_kit(registry: Registry) -> bool:
    return any(e.plugin == KIT_PLUGIN for e in registry.list("model"))


@contextlib.contextmanager
def _kit_registry(registry: Registry) -> Iterator[tuple[Registry, Path]]:
    """A copy of ``registry`` plus the kit's data and model, and a scratch folder; the
    caller's torch random state is restored afterwards."""
    import torch

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
    if shape.channels not in KIT_CHANNELS:
        raise _Skip(f"the kit has no {shape.channels}-channel data")
    return f"{KIT_PLUGIN}:images-{shape.channels}"


def _train(registry: Registry, workdir: Path, model: str, loss: str, dataset: str, run_name: str,
           image_size: int | None, **extra: Any):
    from .config import resolve_config
    from .run import train
    from .training.progress import make_reporter

    flags = {"steps": 2, "batch_size": 4, "device": "cpu", "out": str(workdir), "run_name": run_name,
             "seed": 0, "log_every": 1, "sample_every": 1000, "checkpoint_every": 1000,
             "keep_checkpoints": 1, "sample_grid": 4, "image_size": image_size, **extra}
    cfg = resolve_config(registry, model, loss=loss, dataset=dataset, flags=flags)
    run = train(cfg, registry, make_reporter(enabled=False))
    if run.step != 2:
        raise _Failed(f"trained {run.step} steps, expected 2")
    bad = {k: v for k, v in run.last_metrics.items()
           if k in ("d_loss", "g_loss") and not (isinstance(v, (int, float)) and math.isfinite(v))}
    if bad or not {"d_loss", "g_loss"} <= set(run.last_metrics):
        raise _Failed(f"losses after 2 steps are not finite numbers: "
                      f"{ {k: run.last_metrics.get(k) for k in ('d_loss', 'g_loss')} }")
    return run


# ---------------------------------------------------------------------------------
# models

def _image_sizes(spec: ModelSpec) -> list[int]:
    low, high = spec.min_image_size or 1, spec.max_image_size or 10 ** 6
    sizes = {s for s in IMAGE_SIZES if low <= s <= high}
    if spec.min_image_size and spec.min_image_size <= 256:
        sizes.add(spec.min_image_size)
    if spec.max_image_size and spec.max_image_size <= 64:
        sizes.add(spec.max_image_size)
    if not sizes and low <= 256:
        sizes = {low, min(2 * low, high)}
    return sorted(sizes)


def _shapes_to_try(spec: ModelSpec) -> list[Any]:
    from .data import DataShape

    num_classes = NUM_CLASSES if spec.needs_labels else None
    shapes = []
    if "image" in spec.data_kinds:
        channel_counts = list(spec.channels or (1, 3))[:3]
        sizes = _image_sizes(spec)
        for channels in channel_counts:
            for size in sizes:
                shapes.append(DataShape(channels=channels, image_size=size, num_classes=num_classes))
    if "points" in spec.data_kinds:
        shapes.append(DataShape(point_dim=2, num_classes=8 if spec.needs_labels else None))
    return shapes


def _shape_text(shape) -> str:
    return f"{shape.point_dim}-D points" if shape.kind == "points" else \
        f"{shape.channels}x{shape.image_size}x{shape.image_size}"


def _build(build: Callable[..., Any], spec: ModelSpec, shape, seed: int = 0, arch: Any = None):
    import torch

    arch = arch if arch is not None else (spec.config_class() if spec.config_class is not None else None)
    torch.manual_seed(seed)
    nets = build(arch, shape)
    return nets


def _forward(nets, shape, n: int = BATCH, seed: int = 0, labels=None):
    """Generator output for a fixed latent batch, and the discriminator's output on it."""
    import torch

    from .networks import split_outputs

    g, d = nets.generator, nets.discriminator
    gen = torch.Generator().manual_seed(seed)
    z = g.sample_latent(n, generator=gen, device="cpu")
    if labels is None and shape.num_classes:
        labels = torch.arange(n) % shape.num_classes
    fake = g(z, labels if g.num_classes else None)
    out = d(fake, labels if d.num_classes else None)
    logits, class_logits = split_outputs(out)
    return z, labels, fake, logits, class_logits


def _check_outputs(nets, shape, model: str) -> None:
    """The generator/discriminator contract for one shape, in training mode: the generator
    is checked first, so that a wrong output is named rather than crashing the discriminator."""
    import torch

    from .networks import Discriminator, Generator, split_outputs

    g, d = nets.generator, nets.discriminator
    if not isinstance(g, Generator) or not isinstance(d, Discriminator):
        raise _Failed("build() must return ganzoo.networks.Generator and Discriminator modules "
                      f"(got {type(g).__name__}, {type(d).__name__})")
    where = _shape_text(shape)
    if tuple(g.out_shape) != tuple(shape.sample_shape):
        raise _Failed(f"{where}: generator.out_shape is {tuple(g.out_shape)}, expected {shape.sample_shape}")
    labels = torch.arange(BATCH) % shape.num_classes if shape.num_classes else None
    with torch.no_grad():
        z = g.sample_latent(BATCH, generator=torch.Generator().manual_seed(0), device="cpu")
        if tuple(z.shape) != (BATCH, g.latent_dim):
            raise _Failed(f"{where}: sample_latent({BATCH}) gave {tuple(z.shape)}, expected {(BATCH, g.latent_dim)}")
        try:
            fake = g(z, labels if g.num_classes else None)
        except Exception as exc:  # noqa: BLE001
            raise _Failed(f"{where}: the generator raised {_describe(exc)}") from None
        if not isinstance(fake, torch.Tensor) or tuple(fake.shape) != (BATCH, *shape.sample_shape):
            raise _Failed(f"{where}: generator made {tuple(getattr(fake, 'shape', ()))}, "
                          f"expected {(BATCH, *shape.sample_shape)}")
        if fake.dtype != torch.float32:
            raise _Failed(f"{where}: generator output is {fake.dtype}, expected torch.float32")
        if not torch.isfinite(fake).all():
            raise _Failed(f"{where}: generator output is not finite")
        if shape.kind == "image" and fake.abs().max() > 1 + 1e-5:
            raise _Failed(f"{where}: generated images reach {fake.abs().max().item():.3g}; images must be "
                          "in [-1, 1] (end the generator with tanh)")
        try:
            logits, class_logits = split_outputs(d(fake, labels if d.num_classes else None))
        except Exception as exc:  # noqa: BLE001
            raise _Failed(f"{where}: the discriminator raised {_describe(exc)}") from None
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (BATCH,):
        raise _Failed(f"{where}: discriminator returned shape {tuple(getattr(logits, 'shape', ()))}, "
                      f"expected ({BATCH},): one logit per sample")
    if logits.dtype != torch.float32 or not torch.isfinite(logits).all():
        raise _Failed(f"{where}: discriminator logits must be finite float32, got {logits.dtype}")
    if d.aux_classes and (class_logits is None or tuple(class_logits.shape) != (BATCH, d.aux_classes)):
        raise _Failed(f"{where}: discriminator has aux_classes={d.aux_classes} but did not return "
                      f"(logits, class_logits [N, {d.aux_classes}])")


def _model_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    spec: ModelSpec = entry.spec
    if not _check_spec(rec, entry, registry):
        return results
    build = _resolve(rec, spec.build, "build", check="build")
    if build is None:
        return results

    working: list[Any] = []
    with rec.check("shapes") as note:
        refused = []
        for shape in _shapes_to_try(spec):
            try:
                nets = _build(build, spec, shape)
            except ConfigError as exc:
                refused.append(f"{_shape_text(shape)} ({exc})")
                continue
            _check_outputs(nets, shape, entry.name)
            working.append((shape, nets if not working else None))  # keep one model, free the rest
        if not working:
            raise _Failed("the build refused every shape tried: " + "; ".join(refused))
        note["message"] = (f"ok at {', '.join(_shape_text(s) for s, _ in working)}"
                           + (f"; refused {len(refused)}: " + ", ".join(r.split(' (')[0] for r in refused)
                              if refused else ""))
    if not working:
        return results
    shape, nets = working[0]
    _check_conditional(rec, build, spec, shape)
    _check_round_trip(rec, build, spec, shape, nets)
    _check_determinism(rec, build, spec, shape)
    _check_bf16(rec, nets, shape)
    if options.get("compile"):
        _check_compile(rec, nets, shape)
    _check_training(rec, entry, registry, workdir, working, options.get("losses"))
    return results


def _check_conditional(rec: _Recorder, build, spec: ModelSpec, shape) -> None:
    import torch

    from .data import DataShape
    from .networks import uses_labels

    with rec.check("conditional") as note:
        labelled = DataShape(channels=shape.channels, image_size=shape.image_size, point_dim=shape.point_dim,
                             num_classes=shape.num_classes or NUM_CLASSES)
        nets = _build(build, spec, labelled)
        conditional = uses_labels(nets)
        if not spec.needs_labels:
            if conditional:
                note.update(status="warn", message="the networks use labels on labelled data but the spec "
                                                   "does not set needs_labels=True (unlabelled data fails late)")
            else:
                note["message"] = "unconditional: labelled data is accepted and labels are not used"
            return
        if not conditional:
            raise _Failed("needs_labels=True, but neither network sets num_classes or aux_classes")
        g, d = nets.generator, nets.discriminator
        for name, value in (("generator", g.num_classes), ("discriminator", d.num_classes),
                            ("discriminator aux_classes", d.aux_classes)):
            if value is not None and value != labelled.num_classes:
                raise _Failed(f"{name} has {value} classes, the data {labelled.num_classes}")
        _check_outputs(nets, labelled, spec.name)
        if g.num_classes:
            g.eval()
            with torch.no_grad():
                z = g.sample_latent(2, generator=torch.Generator().manual_seed(0), device="cpu")
                z = z[:1].repeat(2, 1)
                a = g(z, torch.tensor([0, 1]))
            if torch.allclose(a[0], a[1], rtol=1e-5, atol=1e-6):  # float noise aside
                raise _Failed("the generator ignores its labels (same z, labels 0 and 1, same sample)")
        parts = [f"generator {g.num_classes} classes" if g.num_classes else "",
                 f"discriminator {d.num_classes} classes" if d.num_classes else "",
                 f"auxiliary classifier {d.aux_classes} classes" if d.aux_classes else ""]
        note["message"] = ", ".join(p for p in parts if p)


def _state(module) -> dict[str, Any]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _check_round_trip(rec: _Recorder, build, spec: ModelSpec, shape, nets) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    with rec.check("safetensors") as note, tempfile.TemporaryDirectory() as tmp:
        fresh = _build(build, spec, shape, seed=1)
        for part in ("generator", "discriminator"):
            path = Path(tmp) / f"{part}.safetensors"
            try:
                save_file(_state(getattr(nets, part)), str(path))
            except (RuntimeError, ValueError) as exc:
                raise _Failed(f"{part} state_dict cannot be saved with safetensors: "
                              f"{str(exc).splitlines()[0]} (tied or shared weights?)") from None
            try:
                getattr(fresh, part).load_state_dict(load_file(str(path)), strict=True)
            except RuntimeError as exc:
                raise _Failed(f"{part} state_dict does not load back strictly: {str(exc).splitlines()[0]}") from None
        nets.generator.eval(), nets.discriminator.eval(), fresh.generator.eval(), fresh.discriminator.eval()
        try:
            with torch.no_grad():
                _, _, a, la, _ = _forward(nets, shape)
                _, _, b, lb, _ = _forward(fresh, shape)
        finally:
            nets.generator.train(), nets.discriminator.train()
        if not torch.equal(a, b) or not torch.equal(la, lb):
            raise _Failed("a rebuilt model with the saved weights gives different outputs "
                          "(state kept outside state_dict?)")
        note["message"] = (f"{sum(t.numel() for t in _state(nets.generator).values()):,} G and "
                           f"{sum(t.numel() for t in _state(nets.discriminator).values()):,} D values")


def _check_determinism(rec: _Recorder, build, spec: ModelSpec, shape) -> None:
    import torch

    with rec.check("determinism", "two builds with seed 0: identical weights and outputs"):
        first, second = _build(build, spec, shape, seed=0), _build(build, spec, shape, seed=0)
        for part in ("generator", "discriminator"):
            a, b = _state(getattr(first, part)), _state(getattr(second, part))
            if a.keys() != b.keys():
                raise _Failed(f"two builds give {part}s with different parameter names")
            differ = [k for k in a if not torch.equal(a[k], b[k])]
            if differ:
                raise _Failed(f"two builds with the same seed give different {part} weights: {differ[0]} "
                              "(draw random numbers only from torch's global generator)")
        for nets in (first, second):
            nets.generator.eval(), nets.discriminator.eval()
        with torch.no_grad():
            out_a, out_b = _forward(first, shape), _forward(second, shape)
        if not torch.equal(out_a[2], out_b[2]) or not torch.equal(out_a[3], out_b[3]):
            raise _Failed("two builds with the same seed give different outputs for the same input")


def _check_bf16(rec: _Recorder, nets, shape) -> None:
    import torch

    with rec.check("bf16 autocast", "CPU bf16 autocast forward: shapes kept, values finite"):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            _, _, fake, logits, _ = _forward(nets, shape)
        if tuple(fake.shape) != (BATCH, *shape.sample_shape) or tuple(logits.shape) != (BATCH,):
            raise _Failed(f"under bf16 autocast: generator {tuple(fake.shape)}, discriminator "
                          f"{tuple(logits.shape)}")
        if not torch.isfinite(fake.float()).all() or not torch.isfinite(logits.float()).all():
            raise _Failed("under bf16 autocast the outputs are not finite")


def _check_compile(rec: _Recorder, nets, shape) -> None:
    import torch

    with rec.check("torch.compile") as note:
        nets.generator.eval(), nets.discriminator.eval()
        try:
            with torch.no_grad():
                eager = _forward(nets, shape)
                g, d = nets.generator, nets.discriminator
                compiled_g, compiled_d = torch.compile(g), torch.compile(d)
                fake = compiled_g(eager[0], eager[1] if g.num_classes else None)
                logits = compiled_d(fake, eager[1] if d.num_classes else None)
                logits = logits[0] if isinstance(logits, tuple) else logits
        finally:
            nets.generator.train(), nets.discriminator.train()
        if not torch.allclose(fake, eager[2], atol=1e-4, rtol=1e-3) or not torch.allclose(
                logits, eager[3], atol=1e-4, rtol=1e-3):
            raise _Failed("compiled and eager outputs differ")
        note["message"] = "compiled G and D match eager outputs"


def _compatible_losses(spec: ModelSpec, registry: Registry) -> list[Entry]:
    if spec.losses is not None:
        return [registry.get("loss", name) for name in spec.losses]
    return [e for e in registry.list("loss") if e.plugin != KIT_PLUGIN]


def _check_training(rec: _Recorder, entry: Entry, registry: Registry, workdir: Path, working,
                    losses: Iterable[str] | None) -> None:
    import torch

    try:
        chosen = ([registry.get("loss", name) for name in losses] if losses is not None
                  else _compatible_losses(entry.spec, registry))
    except GanzooError as exc:
        rec.add("train", "fail", str(exc))
        return
    images = [s for s, _ in working if s.kind == "image"]
    shape = min(images, key=lambda s: (s.image_size, s.channels)) if images else working[0][0]
    try:
        dataset = _kit_dataset(shape)
    except _Skip as exc:
        rec.add("train", "skip", str(exc))
        return
    image_size = shape.image_size if shape.kind == "image" else None
    first_run = None
    for loss in chosen:
        with rec.check(f"train[{loss.name}]") as note:
            run = _train(registry, workdir, entry.qualified_name, loss.qualified_name, dataset,
                         run_name=f"{entry.plugin}-{entry.name}-{loss.plugin}-{loss.name}",
                         image_size=image_size)
            first_run = first_run or run
            note["message"] = (f"2 steps on {_shape_text(shape)}: d_loss {run.last_metrics['d_loss']:.4g}, "
                               f"g_loss {run.last_metrics['g_loss']:.4g}")
    if "points" in entry.spec.data_kinds and shape.kind != "points":
        with rec.check(f"train[{entry.spec.default_loss}, points]") as note:
            run = _train(registry, workdir, entry.qualified_name, entry.spec.default_loss, f"{KIT_PLUGIN}:points",
                         run_name=f"{entry.plugin}-{entry.name}-points", image_size=None)
            note["message"] = f"2 steps on 2-D points: g_loss {run.last_metrics['g_loss']:.4g}"
    if first_run is not None:
        with rec.check("reload", "the last checkpoint loads with ganzoo.load and samples") as note:
            from .sampling import load

            handle = load(first_run.path, registry=registry)
            samples = handle.sample(2, seed=0)
            if tuple(samples.shape) != (2, *shape.sample_shape) or not torch.isfinite(samples).all():
                raise _Failed(f"reloaded generator sampled {tuple(samples.shape)}")


# ---------------------------------------------------------------------------------
# losses

def _loss_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    if not _check_spec(rec, entry, registry):
        return results
    factory = _resolve(rec, entry.spec.factory, "factory", check="factory")
    if factory is None:
        return results
    import torch

    from .losses import Loss, discriminator_term, generator_term

    with rec.check("values") as note:
        loss = factory()
        if not isinstance(loss, Loss):
            raise _Failed(f"factory() returned {type(loss).__name__}, not a ganzoo.losses.Loss")
        gen = torch.Generator().manual_seed(0)
        for scale in (1.0, 50.0):
            extremes = torch.tensor([scale, -scale])  # saturating logits must not overflow either
            real = torch.cat([torch.randn(6, generator=gen) * scale, extremes]).requires_grad_()
            fake = torch.cat([torch.randn(6, generator=gen) * scale, -extremes]).requires_grad_()
            labels = torch.arange(len(real)) % NUM_CLASSES
            d = discriminator_term(loss, real, fake, labels)
            g = generator_term(loss, fake, real.detach(), labels)
            for what, value in (("d_loss", d), ("g_loss", g)):
                if not isinstance(value, torch.Tensor) or value.dim() != 0:
                    raise _Failed(f"{what} must return a scalar tensor, got "
                                  f"{getattr(value, 'shape', type(value).__name__)}")
                if not torch.isfinite(value):
                    raise _Failed(f"{what} is {value.item()} on logits of scale {scale:g}")
            grads = torch.autograd.grad(d + g, (real, fake), allow_unused=True)
            if grads[1] is None or any(gr is not None and not torch.isfinite(gr).all() for gr in grads):
                raise _Failed(f"gradients of the losses are missing or not finite (logit scale {scale:g})")
        scores = loss.scores(real.detach(), fake.detach())
        if not isinstance(scores, dict):
            raise _Failed("scores() must return a dict of scalar tensors")
        clash = RESERVED_SCORE_KEYS & set(scores)
        if clash:
            raise _Failed(f"scores() reuses the metrics record's keys: {', '.join(sorted(clash))}")
        for key, value in scores.items():
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                raise _Failed(f"scores()[{key!r}] must be a scalar tensor")
        note["message"] = ("finite scalar losses and gradients on logits of scale 1 and 50; scores: "
                           + (", ".join(scores) or "none"))
    return results


# ---------------------------------------------------------------------------------
# datasets, metrics, extractors, algorithms

def _dataset_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    spec: DatasetSpec = entry.spec
    if not _check_spec(rec, entry, registry):
        return results
    loader = _resolve(rec, spec.load, "load", check="loader")
    if loader is None:
        return results
    before = len(results)
    with rec.check("loader signature", "load(data_dir, split[, image_size])"):
        try:
            params = list(inspect.signature(loader).parameters.values())
        except (TypeError, ValueError):
            raise _Skip("the loader has no inspectable signature") from None
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in params):
            raise _Failed(f"load must accept (data_dir, split), it takes ({', '.join(p.name for p in params)})")
    if results[before].status == "fail":
        return results
    if not options.get("load_data"):
        rec.add("data", "skip", "not loaded (pass load_data=True / --load-data)")
        return results
    with rec.check("data") as note:
        _check_loaded(entry, registry, note)
    return results


def _check_loaded(entry: Entry, registry: Registry, note: dict[str, Any]) -> None:
    import torch

    from .data import ImageData, PointData
    from .datasets import OFFLINE_ENV
    from .errors import DataUnavailableError
    from .run import load_dataset

    spec: DatasetSpec = entry.spec
    previous = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        data = load_dataset(registry, entry.qualified_name, None)
    except DataUnavailableError as exc:
        raise _Skip(f"files not available offline: {exc}") from None
    finally:
        if previous is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = previous
    if spec.point_dim is not None:
        if not isinstance(data, PointData) or data.points.shape[1] != spec.point_dim:
            raise _Failed(f"expected PointData with {spec.point_dim} coordinates, got {type(data).__name__}")
    else:
        if not isinstance(data, ImageData):
            raise _Failed(f"expected ImageData, got {type(data).__name__}")
        n, c, h, w = data.images.shape
        if c != spec.channels or h != w:
            raise _Failed(f"images are {c}x{h}x{w}; the spec says {spec.channels} channels, square")
    if (data.labels is None) != (spec.num_classes is None):
        raise _Failed(f"labels {'missing' if data.labels is None else 'present'} but the spec's num_classes "
                      f"is {spec.num_classes}")
    if data.labels is not None:
        if data.labels.dtype != torch.int64 or data.labels.min() < 0 or data.labels.max() >= spec.num_classes:
            raise _Failed(f"labels must be int64 in 0..{spec.num_classes - 1}")
    note["message"] = f"{len(data):,} samples"


def _metric_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    if not _check_spec(rec, entry, registry):
        return results
    compute = _resolve(rec, entry.spec.compute, "compute", check="compute")
    if compute is None:
        return results
    if entry.spec.inputs != "features":
        rec.add("values", "skip", "a samples metric needs an evaluation context (exercised by `ganzoo eval`)")
        return results
    import torch

    with rec.check("values") as note:
        gen = torch.Generator().manual_seed(0)
        real, fake = torch.randn(64, 8, generator=gen), torch.randn(64, 8, generator=gen) + 0.5
        params = inspect.signature(compute).parameters
        values = compute(real, fake, **({"seed": 0} if "seed" in params else {}))
        if not isinstance(values, dict) or entry.spec.keys[0] not in values:
            raise _Failed(f"compute() must return a dict with at least {entry.spec.keys[0]!r}")
        bad = [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise _Failed(f"non-finite values on random features: {', '.join(bad)}")
        note["message"] = "on 64 random 8-D features: " + ", ".join(
            f"{k} {v:.4g}" for k, v in values.items() if isinstance(v, (int, float)))
    return results


def _extractor_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    if not _check_spec(rec, entry, registry):
        return results
    _resolve(rec, entry.spec.load, "load", check="loader")
    if entry.spec.datasets:
        with rec.check("datasets") as note:
            missing = []
            for name in entry.spec.datasets:
                try:
                    registry.get("dataset", name)
                except GanzooError:
                    missing.append(name)
            if missing:
                note.update(status="warn", message=f"names datasets that are not installed: {', '.join(missing)}")
            else:
                note["message"] = "default extractor of " + ", ".join(entry.spec.datasets)
    return results


def _algorithm_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    if not _check_spec(rec, entry, registry):
        return results
    step = _resolve(rec, entry.spec.step, "step", check="step")
    if step is None:
        return results
    with rec.check("step signature", "step(trainer)"):
        try:
            params = [p for p in inspect.signature(step).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        except (TypeError, ValueError):
            raise _Skip("no inspectable signature") from None
        if not params:
            raise _Failed("step must take the trainer as its argument: step(trainer)")
    loss = next((e for e in registry.list("loss") if e.name == "bce"), None) or next(iter(registry.list("loss")), None)
    if loss is None:
        rec.add("train", "skip", "no loss is installed")
        return results
    with rec.check("train") as note:
        run = _train(registry, workdir, f"{KIT_PLUGIN}:tiny", loss.qualified_name, f"{KIT_PLUGIN}:images-1",
                     run_name=f"algorithm-{entry.plugin}-{entry.name}", image_size=8,
                     algorithm=entry.qualified_name)
        note["message"] = f"2 steps of a tiny model with {loss.qualified_name}: g_loss {run.last_metrics['g_loss']:.4g}"
    return results


_CHECKS: dict[str, Callable[[Entry, Registry, Path, dict[str, Any]], list[CheckResult]]] = {
    "model": _model_checks, "loss": _loss_checks, "dataset": _dataset_checks, "metric": _metric_checks,
    "extractor": _extractor_checks, "algorithm": _algorithm_checks,
}
