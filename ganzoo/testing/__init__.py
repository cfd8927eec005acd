"""The plugin conformance kit: does a plugin keep ganzoo's contracts?

Public API (also behind ``ganzoo plugin check NAME``)::

    from ganzoo.testing import assert_plugin_conforms, check_plugin

    report = check_plugin("mygan")          # an installed plugin, by its plugin name
    print(report)                            # one line per check: PASS/FAIL/SKIP/WARN
    report.ok, report.failures

    def test_my_plugin():                    # in the plugin's own tests
        assert_plugin_conforms("mygan")

For every component the plugin registers it checks the spec (name, summary, references,
options classes, declared needs and recommended settings), then, per kind:

- models: the network contracts across a few image sizes and channel counts the spec allows
  (sizes the build refuses with ``ConfigError`` are skipped, but one must work; points for
  point models): for the classic generator/discriminator pair the output shapes, dtypes and
  ranges and the conditional contract; for any other set of modules (translators, encoders,
  several generators...) each module by its class; a state-dict round trip of every module
  through safetensors; determinism under a fixed seed; a bf16 autocast forward on CPU; two
  training steps (``ganzoo.training.run.train`` with the model's default algorithm, on tiny in-memory
  data that has every common field: ``image``, ``label``, ``target``, ``mask`` and an unpaired
  ``image_b``) with every compatible loss; an exact resume (3 steps equal 2 steps and a
  resume, bit for bit); reloading the checkpoint and using it (sample, translate, encode);
  optionally (``compile=True``) a ``torch.compile`` smoke test. When the shapes check fails,
  the later checks are listed as skipped, with why;
- losses: finite scalar losses with finite gradients on random and large logits (given
  what the loss declares it needs); ``scores`` returns scalars under keys of its own;
- datasets: the loader resolves and takes ``(data_dir, split, image_size=None)``; with
  ``load_data=True`` it is called (offline, from ``data_dir`` if given) and its fields
  checked against the spec;
- metrics: ``compute`` resolves; feature metrics run on random features;
- extractors: ``load`` resolves and the datasets they name exist;
- algorithms: ``step`` is an ``Algorithm`` subclass, and two training steps run with it
  selected (on the kit's tiny pair, or on a model whose default it is);
- loggers: ``build`` resolves; when the packages it ``requires`` are installed, it builds into
  a scratch run directory (the current directory meanwhile), takes one call of every method,
  resumes and rewinds, and two training steps run with it selected.

Everything runs on the CPU with tiny batches; the caller's torch random state is left
as it was.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ..cli.exits import BUILTIN_COMMANDS
from ..errors import UnknownComponentError
from ..plugins.manager import PluginManager, get_plugin_manager
from ..plugins.registry import Entry, Registry
from .components import (RESERVED_SCORE_KEYS, _algorithm_checks, _dataset_checks, _extractor_checks,
                         _logger_checks, _loss_checks, _metric_checks)
from .kit import BATCH, IMAGE_SIZES, KIT_CHANNELS, KIT_PLUGIN, NUM_CLASSES, _has_kit, _kit_registry
from .models import _model_checks
from .report import CheckResult, Report, _Recorder
from .spec_checks import _check_api, _check_light_import, _generic_checks

__all__ = ["CheckResult", "Report", "check_plugin", "check_component", "check_model", "check_loss",
           "check_dataset", "check_metric", "check_extractor", "check_algorithm", "check_logger",
           "assert_plugin_conforms", "KIT_PLUGIN", "BATCH", "IMAGE_SIZES", "KIT_CHANNELS", "NUM_CLASSES",
           "RESERVED_SCORE_KEYS"]

_CHECKS: dict[str, Callable[[Entry, Registry, Path, dict[str, Any]], list[CheckResult]]] = {
    "model": _model_checks, "loss": _loss_checks, "dataset": _dataset_checks, "metric": _metric_checks,
    "extractor": _extractor_checks, "algorithm": _algorithm_checks, "logger": _logger_checks,
}


def check_plugin(plugin: Any, *, manager: PluginManager | None = None, compile: bool = False,
                 load_data: bool = False, losses: Iterable[str] | None = None,
                 name: str | None = None, data_dir: str | Path | None = None) -> Report:
    """Check every component a plugin registers, and the plugin itself.

    Args:
        plugin: an installed plugin's name (its entry-point name, see ``ganzoo plugins``),
            or a plugin module to register in-process (then give ``name``; the installed
            plugins are loaded beside it, for their losses).
        manager: the plugin manager to use (default: the installed plugins).
        compile: also run the ``torch.compile`` smoke test of each model (slow on CPU).
        load_data: also call each dataset's loader (offline; skipped when files are missing).
        data_dir: the folder datasets are loaded from with ``load_data`` (default:
            ``$GANZOO_DATA_DIR``, else the cache).
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
    manager.commands(reserved=BUILTIN_COMMANDS)  # collected once, when a CLI first needs them
    if not entries and not info.commands:
        rec.add("registers", "warn", "the plugin registers no components and no commands")
    for command in info.commands:
        rec.add(f"command {command}", "pass", f"mounted as `ganzoo {command}`")
    with _kit_registry(registry) as (kit_registry, workdir):
        for entry in entries:
            report.results += check_component(entry, kit_registry, compile=compile, load_data=load_data,
                                              losses=losses, workdir=workdir, data_dir=data_dir).results
    report.seconds = time.perf_counter() - started
    return report


def assert_plugin_conforms(plugin: Any, **options: Any) -> Report:
    """:func:`check_plugin`, raising ``AssertionError`` that names every failed check.

    Returns the report when everything passes, for further assertions.
    """
    return check_plugin(plugin, **options).raise_for_failures()


def check_component(entry: Entry | str, registry: Registry | None = None, *, kind: str | None = None,
                    compile: bool = False, load_data: bool = False, losses: Iterable[str] | None = None,
                    workdir: Path | None = None, data_dir: str | Path | None = None) -> Report:
    """Check one registered component.

    Args:
        entry: an :class:`~ganzoo.plugins.registry.Entry`, or a component name (bare or qualified).
        registry: where to look it up and find losses (default: the installed plugins).
        kind: the kind, when ``entry`` is a name that several kinds use.
        compile, load_data, losses, data_dir: as for :func:`check_plugin`.
        workdir: a scratch folder for training runs (default: a temporary one).
    """
    started = time.perf_counter()
    registry = registry if registry is not None else get_plugin_manager().registry
    if isinstance(entry, str):
        entry = registry.get(kind, entry) if kind else registry.lookup(entry)
    checks = _CHECKS.get(entry.kind, _generic_checks)
    options = {"compile": compile, "load_data": load_data, "losses": losses, "data_dir": data_dir}
    if workdir is not None and _has_kit(registry):
        results = checks(entry, registry, workdir, options)
    else:
        with _kit_registry(registry) as (kit, tmp):
            results = checks(entry, kit, workdir or tmp, options)
    return Report(entry.plugin, results, time.perf_counter() - started)


def check_model(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one model: spec, the network contracts across sizes and channels, the
    conditional contract, a safetensors round trip, determinism, bf16 autocast, two
    training steps with every compatible loss (or ``losses=[...]``), an exact resume and
    reloading the checkpoint; with ``compile=True`` a ``torch.compile`` smoke test."""
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
    """Check one algorithm: spec, ``step`` resolves to an ``Algorithm`` subclass, and two
    training steps run with it selected (the run-config key ``algorithm``): on the kit's tiny
    model, or on a model whose default algorithm it is."""
    return check_component(entry, registry, kind="algorithm", **options)


def check_logger(entry: Entry | str, registry: Registry | None = None, **options: Any) -> Report:
    """Check one logger: spec, ``build`` resolves; with its packages installed, one call of
    every method in a scratch run directory, a resume and a rewind, and 2 training steps with
    it selected (``--logger``)."""
    return check_component(entry, registry, kind="logger", **options)
