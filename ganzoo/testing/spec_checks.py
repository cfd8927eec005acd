"""Checks every component shares: the plugin loads light, declares its API, and its specs
(names, summaries, references, option classes, recommended settings) are valid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from ..version import PLUGIN_API_VERSION
from ..config import RunConfig, deep_merge, format_validation_error
from ..errors import UnknownComponentError
from ..plugins.registry import Entry, Registry
from ..specs import AlgorithmSpec, DatasetSpec, ModelSpec, resolve_ref
from .report import CheckResult, _component, _Failed, _Recorder


def _check_api(rec: _Recorder, info) -> None:
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
        if isinstance(spec, AlgorithmSpec):
            _check_options_class(spec.config_class)
        return True
    return False


def _check_defaults(defaults, entry: Entry, registry: Registry) -> None:
    """Recommended settings must be valid run-config values."""
    if not defaults:
        return
    try:
        RunConfig.model_validate(deep_merge(dict(defaults), {"model": "m", "loss": "l", "dataset": "d"}))
    except ValidationError as exc:
        raise _Failed(f"defaults: {format_validation_error(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise _Failed(f"defaults: {exc}") from None


def _check_options_class(config_class) -> None:
    """An options class (``arch.*`` or ``algo.*``) builds from its defaults and documents each option."""
    if config_class is None:
        return
    try:
        config_class.model_validate({})
    except ValidationError as exc:
        raise _Failed(f"config_class {config_class.__name__} cannot be made from its defaults "
                      f"(every option needs one): {exc.errors()[0]['loc']}") from None
    undocumented = [n for n, f in config_class.model_fields.items() if not f.description]
    if undocumented:
        raise _Failed(f"config_class options without a description (shown by `ganzoo info`): "
                      f"{', '.join(undocumented)}; use Field(default, description=...)")


def _check_model_spec(spec: ModelSpec, registry: Registry) -> None:
    _check_options_class(spec.config_class)
    try:
        registry.get("algorithm", spec.algorithm)
    except UnknownComponentError as exc:
        raise _Failed(f"algorithm names an algorithm that is not installed: {exc}") from None
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
        raise _Failed("files must be a tuple of file names (relative to the data folder)")


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
