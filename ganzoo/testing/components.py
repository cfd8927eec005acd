"""Checks of losses, datasets, metrics, feature extractors, algorithms and loggers."""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Any

import torch

from ..algorithms import Algorithm
from ..plugins.build import load_dataset
from ..data import ItemData
from ..datasets import OFFLINE_ENV
from ..errors import DataUnavailableError, GanzooError
from ..losses import Loss, discriminator_term, generator_term
from ..plugins.registry import Entry, Registry
from ..specs import DatasetSpec
from .kit import KIT_PLUGIN, NUM_CLASSES, _kit_dataset, _train, example_shape
from .report import CheckResult, _component, _Failed, _Recorder, _Skip
from .spec_checks import _check_spec, _resolve

RESERVED_SCORE_KEYS = {"step", "epoch", "d_loss", "g_loss", "penalty", "d_grad_norm", "g_grad_norm",
                       "images_per_sec", "elapsed_sec", "eval"}


def _loss_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    if not _check_spec(rec, entry, registry):
        return results
    factory = _resolve(rec, entry.spec.factory, "factory", check="factory")
    if factory is None:
        return results
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
    with rec.check("loader signature", "load(data_dir, split, image_size=None)"):
        try:
            params = list(inspect.signature(loader).parameters.values())
        except (TypeError, ValueError):
            raise _Skip("the loader has no inspectable signature") from None
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        varargs = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
        if not varargs and (len(positional) < 2 or not any(p.name == "image_size" for p in params)):
            raise _Failed(f"load must accept (data_dir, split, image_size=None), it takes "
                          f"({', '.join(p.name for p in params)})")
    if results[before].status == "fail":
        return results
    if not options.get("load_data"):
        rec.add("data", "skip", "not loaded (pass load_data=True / --load-data)")
        return results
    with rec.check("data") as note:
        _check_loaded(entry, registry, note, options.get("data_dir"))
    return results


def _check_loaded(entry: Entry, registry: Registry, note: dict[str, Any], data_dir: str | Path | None = None) -> None:
    spec: DatasetSpec = entry.spec
    previous = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        data = load_dataset(registry, entry.qualified_name, data_dir)
    except DataUnavailableError as exc:
        raise _Skip(f"files not available offline: {exc}") from None
    finally:
        if previous is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = previous
    if not isinstance(data, ItemData):
        raise _Failed(f"expected ganzoo.data.ItemData (or ImageData, PointData), got {type(data).__name__}")
    primary = data.primary
    if data.kinds[primary] != spec.data_kind:
        raise _Failed(f"expected {spec.data_kind} data, got a {data.kinds[primary]} field {primary!r}")
    item = tuple(data.fields[primary].shape[1:])
    if spec.shape is not None and item != tuple(spec.shape):
        raise _Failed(f"items are {'x'.join(map(str, item))}; the spec says {'x'.join(map(str, spec.shape))}")
    rate = data.rates.get(primary)
    if spec.rate is not None and rate != spec.rate:
        raise _Failed(f"the data's rate is {rate}; the spec says {spec.rate}")
    missing = [f for f in spec.fields if f not in data.fields]
    if missing:
        raise _Failed(f"the spec says it yields {', '.join(spec.fields)}; the data has no {', '.join(missing)}")
    if (data.labels is None) != (spec.num_classes is None):
        raise _Failed(f"labels {'missing' if data.labels is None else 'present'} but the spec's num_classes "
                      f"is {spec.num_classes}")
    if data.labels is not None:
        if data.labels.dtype != torch.int64 or data.labels.min() < 0 or data.labels.max() >= spec.num_classes:
            raise _Failed(f"labels must be int64 in 0..{spec.num_classes - 1}")
    note["message"] = f"{len(data):,} samples; fields {', '.join(data.fields)}"


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
    with rec.check("step class", "an Algorithm subclass"):
        if not (isinstance(step, type) and issubclass(step, Algorithm)):
            raise _Failed(f"step is {step!r}, not a subclass of ganzoo.algorithms.Algorithm (plugin API 2)")
    loss = next((e for e in registry.list("loss") if e.name == "bce"), None) or next(iter(registry.list("loss")), None)
    if loss is None:
        rec.add("train", "skip", "not run: no loss is installed")
        return results
    model, why = _model_for(entry, registry)
    if model is None:
        rec.add("train", "skip", why)
        return results
    spec = registry.get("model", model).spec
    shape = example_shape(spec.data_kinds[0], None)
    dataset, image_size = _kit_dataset(shape), None
    if shape.channels:  # images: 1 channel, as small as the model takes
        dataset = f"{KIT_PLUGIN}:images-1"
        image_size = max(8 if model == f"{KIT_PLUGIN}:tiny" else (spec.min_image_size or 16), 8)
    with rec.check("train") as note:
        run = _train(registry, workdir, model, loss.qualified_name, dataset,
                     run_name=f"algorithm-{entry.plugin}-{entry.name}", image_size=image_size,
                     algorithm=entry.qualified_name)
        note["message"] = (f"2 steps of {model} with {loss.qualified_name}: "
                           f"g_loss {run.last_metrics['g_loss']:.4g}")
    return results


def _model_for(entry: Entry, registry: Registry) -> tuple[str | None, str]:
    """The model to train an algorithm with: a model whose default algorithm this is, else
    the kit's tiny pair when it has the modules the algorithm needs and it needs no data
    fields of its own (a pix2pix step needs a translator, not the tiny G(z))."""
    for model in registry.list("model"):
        if model.spec.algorithm in (entry.name, entry.qualified_name) and model.plugin != KIT_PLUGIN:
            return model.qualified_name, ""
    if set(entry.spec.modules) <= {"generator", "discriminator"} and not entry.spec.fields:
        return f"{KIT_PLUGIN}:tiny", ""
    return None, (f"not run: it trains the modules {', '.join(entry.spec.modules)} and no installed model "
                  "names it as its algorithm (its model's checks train it)")


def _logger_checks(entry: Entry, registry: Registry, workdir: Path, options: dict[str, Any]) -> list[CheckResult]:
    """A logger: its packages are there, it builds into a scratch run directory and takes one call
    of every method (then a resume and a rewind), and 2 training steps run with it selected.
    The current directory is the scratch folder meanwhile, so a default store such as MLflow's
    ``./mlruns`` lands there (a store named by the environment, e.g. ``MLFLOW_TRACKING_URI``, is used)."""
    from ..config import RunConfig
    from ..loggers import METHODS, Logger, missing_packages

    results: list[CheckResult] = []
    rec = _Recorder(_component(entry), results)
    if not _check_spec(rec, entry, registry):
        return results
    build = _resolve(rec, entry.spec.build, "build", check="build")
    if build is None:
        return results
    missing = missing_packages(entry.spec)
    if missing:
        install = entry.spec.install or f"pip install {' '.join(missing)}"
        rec.add("calls", "skip", f"not run: {', '.join(missing)} is not installed ({install})")
        return results
    folder = workdir / f"logger-{entry.plugin}-{entry.name}"
    folder.mkdir(parents=True, exist_ok=True)
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with rec.check("calls") as note:
            cfg = RunConfig.model_validate({"model": "m", "loss": "l", "dataset": "d", "logger": entry.qualified_name,
                                            "out": str(workdir), "run_name": folder.name})
            logger = build(folder, cfg, resume=False)
            if not isinstance(logger, Logger):
                raise _Failed(f"build returned {type(logger).__name__}, not a ganzoo.loggers.Logger")
            logger.scalars("train", 1, {"step": 1, "epoch": 0, "d_loss": 1.5, "g_loss": 0.5, "D(x)": 0.5})
            logger.scalars("eval", 1, {"fid[kit]": 12.5, "histogram": [1, 2]})
            logger.image(1, torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)))
            logger.audio(1, "samples/0", torch.zeros(1, 1600), 16000)
            logger.text(1, ["a generated sentence", ""])
            logger.rewind(0)
            logger.scalars("train", 1, {"step": 1, "d_loss": 1.25, "g_loss": 0.75})
            logger.close()
            resumed = build(folder, cfg, resume=True)
            resumed.rewind(1)
            resumed.scalars("train", 2, {"step": 2, "d_loss": 1.0, "g_loss": 1.0})
            resumed.close()
            note["message"] = "implements " + (", ".join(m for m in METHODS if logger.wants(m)) or "nothing (no-op)")
        loss = next((e for e in registry.list("loss") if e.name == "bce"), None)
        if loss is None:
            rec.add("train", "skip", "not run: no loss is installed")
        else:
            with rec.check("train") as note:
                _train(registry, folder, f"{KIT_PLUGIN}:tiny", loss.qualified_name, f"{KIT_PLUGIN}:images-1",
                       run_name="run", image_size=8, logger=entry.qualified_name, sample_every=2)
                note["message"] = f"2 steps of {KIT_PLUGIN}:tiny with --logger {entry.qualified_name}"
    finally:
        os.chdir(previous)
    return results
