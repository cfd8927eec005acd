"""Evaluating a trained generator: registered metrics, cached real statistics, provenance.

Example::

    from ganzoo.metrics.evaluate import evaluate
    result = evaluate("runs/dcgan-mnist-...", metrics=["fid", "modes"], n=10000)
    result["metrics"]     # {"fid[mnist-classifier]": 3.1, "modes[mnist-classifier]": 10, ...}
    result["provenance"]  # extractor and its weights sha256, sample counts, split, seed, ...

Scores computed on an extractor's features are named ``KEY[EXTRACTOR]`` so numbers from
different feature networks never share a name (an FID on classifier features is not the
Inception FID of the papers).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file

from .. import datasets
from ..data import ItemData, data_scale
from ..errors import ConfigError, writing
from ..kinds import kind_of
from ..plugins.build import load_dataset, resolve
from ..version import __version__
from ..plugins.manager import get_plugin_manager
from ..plugins.registry import Registry
from ..outputs.sampling import load
from ..settings import cache_dir, writable_cache_dir
from ..specs import resolve_ref
from .scores import class_histogram, inception_score, min_samples, mixture_modes, triple_modes


@dataclass
class EvalContext:
    """What a ``"samples"`` metric may use besides the generated samples.

    Attributes:
        dataset: the dataset's bare name (e.g. ``"toy-ring"``, ``"mnist"``).
        real: the real split being compared against.
        extractor: the feature extractor / classifier in use, or ``None`` (point data).
        seed: the evaluation seed.
    """

    dataset: str
    real: ItemData
    extractor: Any
    seed: int = 0


def _call(func, *args, **optional):
    """Call ``func`` with the optional keyword arguments it accepts."""
    params = inspect.signature(func).parameters
    return func(*args, **{k: v for k, v in optional.items() if k in params})


def real_samples(data: ItemData, n: int, image_size: int | None) -> torch.Tensor:
    """The first ``n`` real samples of a split (its primary field), in the model's range
    ([-1, 1] images or points)."""
    return kind_of(data.kinds[data.primary]).real_samples(data.fields[data.primary][:n], data_scale(data, image_size))


def default_extractor(registry: Registry, dataset: str) -> str | None:
    """The extractor registered for ``dataset`` (bare name), if any."""
    for entry in registry.list("extractor"):
        if dataset in entry.spec.datasets:
            return entry.name
    return None


def required_samples(entry) -> int:
    """The fewest samples (real and generated, each) the registered metric ``entry`` needs:
    :func:`~ganzoo.metrics.scores.min_samples` of its ``compute``."""
    return min_samples(resolve(entry.spec.compute, f"metric {entry.qualified_name!r}"))


def check_sample_counts(metrics, n: int, real: int | None = None, split: str = "") -> None:
    """Refuse ``n`` generated samples (and ``real`` ones of ``split``) fewer than a metric needs.

    Raises:
        ConfigError: naming the metric and its minimum.
    """
    for entry in metrics:
        need = required_samples(entry)
        if n < need:
            raise ConfigError(f"metric {entry.name!r} needs at least {need} samples, got {n}")
        if real is not None and real < need:
            raise ConfigError(f"metric {entry.name!r} needs at least {need} real samples; {split} has {real}")


def reference_features(extractor, dataset: str, split: str, real: torch.Tensor, cache: Path | None,
                       resize: str) -> torch.Tensor:
    """Features of the real samples, cached by dataset, split, extractor weights and resize settings."""
    key = hashlib.sha256(json.dumps({
        "dataset": dataset, "split": split, "extractor": extractor.name, "sha256": extractor.sha256,
        "resize": resize, "n": len(real), "shape": list(real.shape[1:]),
    }, sort_keys=True).encode()).hexdigest()[:20]
    file = cache / "reference" / f"{dataset}-{split}-{extractor.name}-{key}.safetensors" if cache else None
    if file is not None and file.is_file():
        try:
            return load_file(str(file))["features"]
        except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed
            file.unlink(missing_ok=True)
    features = extractor.features(real)
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
            save_file({"features": features.contiguous()}, str(tmp),
                      {"dataset": dataset, "split": split, "extractor": extractor.name,
                       "sha256": extractor.sha256, "resize": resize})
            os.replace(tmp, file)
        except OSError:
            pass  # an unwritable cache only costs time
    return features


class Evaluator:
    """Computes metrics for one run's generator against one real split.

    The real data, the extractor and the real features are prepared once, so training
    can evaluate every ``--eval-every`` steps cheaply.
    """

    def __init__(self, registry: Registry, dataset: str, metrics: Sequence[str], *, n: int = 10000,
                 split: str = "test", extractor: str | None = None, seed: int = 0,
                 data_dir: str | Path | None = None, image_size: int | None = None,
                 device: str | torch.device = "cpu") -> None:
        if n < 2:
            raise ConfigError("evaluation needs at least 2 samples (-n)")
        self.registry, self.seed, self.n, self.split = registry, seed, n, split
        self.metrics = [registry.get("metric", name) for name in metrics]
        if not self.metrics:
            raise ConfigError("no metrics given (e.g. --metrics fid,modes)")
        dataset_entry = registry.get("dataset", dataset)
        self.dataset = dataset_entry.name
        self.real_data = load_dataset(registry, dataset, data_dir, split=split, image_size=image_size)
        self.real = real_samples(self.real_data, n, image_size)
        check_sample_counts(self.metrics, n, len(self.real), f"the {split} split of {self.dataset}")
        self.extractor = None
        feature_metrics = [m for m in self.metrics if m.spec.inputs == "features"]
        kind = self.real_data.kinds[self.real_data.primary]
        name = extractor or default_extractor(registry, self.dataset)
        if name is None and feature_metrics:
            names = ", ".join(m.name for m in feature_metrics)
            raise ConfigError(f"{names} compare features of an extractor, and none is registered for dataset "
                              f"{self.dataset!r} ({kind} data); pass --extractor (see `ganzoo list extractors`) "
                              f"or use metrics of the samples themselves, such as modes")
        if name is not None:  # metrics of the samples alone (modes of a mixture, BLEU, oracle NLL) need none
            entry = registry.get("extractor", name)
            writable_cache_dir()  # extractors and real features are cached: refuse a bad cache before training one
            self.extractor = resolve_ref(entry.spec.load)(torch.device(device), data_dir)
        reads = getattr(self.extractor, "kind", "image")  # an extractor that says nothing reads images
        if self.extractor is not None and reads != kind:
            raise ConfigError(f"extractor {self.extractor.name} reads {reads} data; {self.dataset} is {kind} data")
        self.real_features = None
        if feature_metrics:
            self.real_features = reference_features(self.extractor, self.dataset, split, self.real,
                                                    cache_dir(), self.extractor.resize)

    def primary(self) -> tuple[str, bool]:
        """The key that ranks checkpoints (the first metric's first key) and whether lower is better."""
        spec = self.metrics[0].spec
        suffix = f"[{self.extractor.name}]" if self.extractor is not None else ""
        return spec.keys[0] + suffix, spec.keys[0] in spec.lower_is_better

    def __call__(self, fake: torch.Tensor) -> dict[str, Any]:
        """Metric values for ``fake`` samples (in the model's range)."""
        results: dict[str, Any] = {}
        suffix = f"[{self.extractor.name}]" if self.extractor is not None else ""
        fake_features = None
        context = EvalContext(self.dataset, self.real_data, self.extractor, self.seed)
        for metric in self.metrics:
            compute = resolve_ref(metric.spec.compute)
            if metric.spec.inputs == "features":
                if fake_features is None:
                    fake_features = self.extractor.features(fake)
                values = _call(compute, self.real_features, fake_features, seed=self.seed)
            else:
                values = compute(fake, context)
            results.update({f"{k}{suffix}": v for k, v in values.items()})
        return results

    def provenance(self, n_fake: int) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "split": self.split, "n_real": len(self.real), "n_fake": n_fake,
            "extractor": self.extractor.name if self.extractor else None,
            "extractor_sha256": self.extractor.sha256 if self.extractor else None,
            "extractor_test_accuracy": (getattr(self.extractor, "info", None) or {}).get("test_accuracy"),
            "resize": self.extractor.resize if self.extractor else None,
            "seed": self.seed, "ganzoo_version": __version__,
        }


def evaluate(run: str | Path, metrics: Sequence[str] = ("fid",), *, n: int = 10000, split: str = "test",
             extractor: str | None = None, seed: int = 0, data_dir: str | Path | None = None,
             device: str = "cpu", registry: Registry | None = None, ema: bool = True) -> dict[str, Any]:
    """Evaluate a run directory or checkpoint; returns ``{"metrics": ..., "provenance": ...}``.
    ``ema=False`` scores the raw generator of a run trained with ``--set ema=...``."""
    registry = registry or get_plugin_manager().registry
    handle = load(run, device=device, registry=registry, ema=ema)
    cfg = handle.config
    if not handle.can_sample:
        raise ConfigError(f"ganzoo eval scores generated samples; model {cfg.model.split(':')[-1]!r} does not "
                          f"sample (it can {handle.task}); see its benchmark in benchmarks/")
    evaluator = Evaluator(registry, cfg.dataset, metrics, n=n, split=split, extractor=extractor, seed=seed,
                          data_dir=data_dir or cfg.data_dir, image_size=cfg.image_size, device=device)
    values = evaluator(handle.sample(n, seed=seed))
    provenance = {**evaluator.provenance(n), "checkpoint": str(handle.checkpoint), "step": handle.step,
                  "weights": "ema" if handle.averaged else "raw",
                  "model": cfg.model}
    return {"metrics": values, "provenance": provenance}


def mode_metric(fake: torch.Tensor, context: EvalContext) -> dict[str, Any]:
    """Mode coverage, by dataset:

    - ``toy-ring`` / ``toy-grid``: modes captured, % high-quality samples and reverse KL,
      as defined in PacGAN/VEEGAN (see ``ganzoo.metrics.scores.mixture_modes``);
    - ``stacked-mnist``: each channel classified by the extractor; modes are digit triples
      (of 1000) and KL to uniform;
    - any other labelled image dataset: the extractor's predicted-class histogram (classes
      hit and KL to uniform).
    """
    if context.dataset == "toy-ring":
        return mixture_modes(fake, datasets.ring_means(), datasets.RING_STD)
    if context.dataset == "toy-grid":
        return mixture_modes(fake, datasets.grid_means(), datasets.GRID_STD)
    extractor = context.extractor
    if extractor is None or not getattr(extractor, "num_classes", None):
        raise ConfigError(f"the modes metric needs a classifier for {context.dataset}; pass --extractor")
    if context.dataset == "stacked-mnist":
        digits = torch.stack([extractor.logits(fake[:, c:c + 1]).argmax(dim=1) for c in range(3)], dim=1)
        return triple_modes(digits)
    if context.real.num_classes is None:
        raise ConfigError(f"the modes metric needs a labelled dataset; {context.dataset} has no labels")
    return class_histogram(extractor.logits(fake).argmax(dim=1), extractor.num_classes)


IS_SPLITS = 10
"""Parts the inception score is averaged over (as in Salimans et al. 2016)."""


def inception_score_metric(fake: torch.Tensor, context: EvalContext) -> dict[str, Any]:
    """The inception score of ``fake`` under the run's classifier extractor (WaveGAN's measure
    on its spoken-digit classifier; the paper's on Inception-v3 for images), over
    :data:`IS_SPLITS` parts (fewer when there are fewer than 10 samples)."""
    extractor = context.extractor
    if extractor is None or not getattr(extractor, "num_classes", None):
        raise ConfigError(f"the inception score needs a classifier extractor for {context.dataset}; "
                          "pass --extractor (see `ganzoo list extractors`)")
    return inception_score(extractor.logits(fake), splits=min(IS_SPLITS, len(fake)))


EVALS_FILE = "evals.jsonl"
"""Where ``ganzoo eval`` keeps its results in a run directory, one JSON line each."""


def save_evaluation(result: dict[str, Any]) -> Path | None:
    """Append an :func:`evaluate` result to ``RUN/evals.jsonl`` of the run its checkpoint belongs to
    (rewritten through a temporary file, so a crash leaves the old file); None for a checkpoint
    outside a run directory.

    Raises:
        WriteError: ``evals.jsonl`` cannot be read or rewritten (a read-only run, a full disk).
    """
    from ..files import atomic_write_text

    checkpoint = Path(result["provenance"]["checkpoint"])
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    if run_dir is None or not (run_dir / "config.json").is_file():
        return None
    path = run_dir / EVALS_FILE
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    with writing(path):
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        atomic_write_text(path, old + json.dumps(record) + "\n")
    return path
