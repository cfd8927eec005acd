"""Setting up and running a training run from a resolved config."""

from __future__ import annotations

import inspect
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import __version__
from .config import RunConfig, arch_config
from .data import DataShape, ImageData, InMemoryBatches, PointData, default_data_dir, shape_of
from .errors import ComponentUnavailableError, ConfigError
from .losses import Loss
from .networks import Networks, check_networks, uses_labels
from .registry import Registry
from .specs import DatasetSpec, ModelSpec, resolve_ref
from .training import checkpoint as ckpt
from .training.progress import Reporter, make_reporter


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; refuses devices that are not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist ({torch.cuda.device_count()} GPUs)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' requested but it is not available; use --device cpu")
    return device


def _resolve(ref, what: str) -> Callable[..., Any]:
    try:
        return resolve_ref(ref)
    except Exception as exc:  # noqa: BLE001 - the plugin's code failed to import
        raise ComponentUnavailableError(f"{what} cannot be loaded: {type(exc).__name__}: {exc}") from None


def load_dataset(registry: Registry, name: str, data_dir: str | Path | None, split: str = "train",
                 image_size: int | None = None) -> ImageData | PointData:
    """Load a registered dataset from ``data_dir`` (else ``$GANZOO_DATA_DIR`` or the cache)."""
    entry = registry.get("dataset", name)
    loader = _resolve(entry.spec.load, f"dataset {entry.qualified_name!r}")
    folder = Path(data_dir).expanduser() if data_dir else default_data_dir()
    try:
        params = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass everything
        params = ()
    if not params or any(p.name == "image_size" or p.kind is p.VAR_KEYWORD for p in params):
        return loader(folder, split, image_size=image_size)
    return loader(folder, split)  # loaders written before image_size existed


def check_model_fits(spec: ModelSpec, shape: DataShape, labelled: bool, dataset: str = "the dataset") -> None:
    """Refuse, before training, data that the model says it cannot handle."""
    if shape.kind not in spec.data_kinds:
        raise ConfigError(f"model {spec.name!r} trains on {' or '.join(spec.data_kinds)} data; "
                          f"{dataset} is {shape.kind} data")
    if spec.needs_labels and not labelled:
        raise ConfigError(f"model {spec.name!r} is conditional and needs a labelled dataset; "
                          f"{dataset} has no labels")
    if shape.kind == "points":
        return
    if spec.channels is not None and shape.channels not in spec.channels:
        raise ConfigError(f"model {spec.name!r} supports {spec.channels} channels, the data has {shape.channels}")
    if spec.min_image_size is not None and shape.image_size < spec.min_image_size:
        raise ConfigError(f"model {spec.name!r} needs images of at least {spec.min_image_size}px; "
                          f"set --image-size (the data is {shape.image_size}px)")
    if spec.max_image_size is not None and shape.image_size > spec.max_image_size:
        raise ConfigError(f"model {spec.name!r} supports images up to {spec.max_image_size}px")


def build_networks(registry: Registry, cfg: RunConfig, shape: DataShape, device: torch.device) -> Networks:
    """Build, seed and check a model's networks for ``shape`` (weights seeded by ``cfg.seed``)."""
    entry = registry.get("model", cfg.model)
    build = _resolve(entry.spec.build, f"model {entry.qualified_name!r}")
    torch.manual_seed(cfg.seed)
    nets = build(arch_config(registry, cfg), shape)
    nets.generator.to(device)
    nets.discriminator.to(device)
    check_networks(nets, shape.sample_shape, entry.name)
    return nets


def build_loss(registry: Registry, name: str) -> Loss:
    entry = registry.get("loss", name)
    return _resolve(entry.spec.factory, f"loss {entry.qualified_name!r}")()


def checkpoint_metadata(cfg: RunConfig, shape: DataShape) -> dict[str, str]:
    """String metadata for every checkpoint file: enough to rebuild the generator."""
    return {"ganzoo_version": __version__, "model": cfg.model, "loss": cfg.loss,
            "dataset": cfg.dataset, "config": cfg.model_dump_json(),
            "data_shape": json.dumps(asdict(shape))}


@dataclass
class Run:
    """A finished (or interrupted) training run.

    Attributes:
        path: the run directory.
        config: the resolved config.
        step: the last step trained.
        checkpoint: the newest checkpoint folder.
        last_metrics: the last line written to ``metrics.jsonl``.
    """

    path: Path
    config: RunConfig
    step: int
    checkpoint: Path | None
    last_metrics: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> list[dict[str, Any]]:
        """Every record of ``metrics.jsonl``."""
        with open(self.path / "metrics.jsonl", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def load(self, device: str = "cpu"):
        """The trained generator, ready to sample (see :func:`ganzoo.load`)."""
        from .sampling import load

        return load(self.path, device=device)


def new_run_dir(cfg: RunConfig) -> Path:
    """Create a fresh run directory; never reuses one that exists."""
    out = Path(cfg.out).expanduser()
    if cfg.run_name:
        path = out / cfg.run_name
        if path.exists():
            raise ConfigError(f"run directory {path} already exists; choose another --run-name")
    else:
        stem = f"{cfg.model.split(':')[-1]}-{cfg.dataset.split(':')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = out / stem, 1
        while path.exists():
            n += 1
            path = out / f"{stem}-{n}"
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot create run directory {path}: {exc.strerror or exc}") from None
    return path


def train(cfg: RunConfig, registry: Registry, reporter: Reporter | None = None) -> Run:
    """Train from a resolved config. Everything is checked before the run directory exists."""
    reporter = reporter or make_reporter()
    device = resolve_device(cfg.device)
    if cfg.logger == "tensorboard":
        from .training.progress import check_tensorboard

        check_tensorboard()
    model_spec: ModelSpec = registry.get("model", cfg.model).spec
    dataset_spec: DatasetSpec = registry.get("dataset", cfg.dataset).spec
    data = load_dataset(registry, cfg.dataset, cfg.data_dir, image_size=cfg.image_size)
    shape = shape_of(data, cfg.image_size)
    check_model_fits(model_spec, shape, labelled=data.labels is not None, dataset=dataset_spec.name)
    loss = build_loss(registry, cfg.loss)
    nets = build_networks(registry, cfg, shape, device)
    if uses_labels(nets) and data.labels is None:
        raise ConfigError(f"model {model_spec.name!r} uses class labels and needs a labelled dataset; "
                          f"{dataset_spec.name} has no labels")
    batches = InMemoryBatches(data, cfg.batch_size, device, image_size=shape.image_size, seed=cfg.seed)
    evaluator = None
    if cfg.eval_every:
        from .metrics.evaluate import Evaluator

        if cfg.eval_metrics is None:
            cfg = cfg.model_copy(update={"eval_metrics": ["modes"] if shape.kind == "points" else ["fid"]})
        evaluator = Evaluator(registry, cfg.dataset, cfg.eval_metrics, n=cfg.eval_samples, split="test",
                              extractor=cfg.eval_extractor, seed=cfg.seed, data_dir=cfg.data_dir,
                              image_size=shape.image_size if shape.kind == "image" else None, device=device)
    if cfg.epochs is not None:
        cfg = cfg.model_copy(update={"steps": max(1, math.ceil(cfg.epochs * batches.batches_per_epoch / cfg.n_critic))})

    from .training.loop import Trainer

    run_dir = new_run_dir(cfg)
    ckpt.atomic_write_text(run_dir / "config.json", cfg.model_dump_json(indent=2) + "\n")
    classes = f"{shape.num_classes} classes" if shape.num_classes else "unlabelled"
    reporter.message(f"run directory: {run_dir}")
    reporter.message(f"data: {dataset_spec.name}, {len(data):,} samples of shape "
                     f"{'x'.join(map(str, shape.sample_shape))}, {classes}; device {device}")
    for note in cfg.notes:
        reporter.message(f"note: {note}")
    trainer = Trainer(cfg, nets, loss, batches, run_dir, checkpoint_metadata(cfg, shape), reporter, evaluator)
    trainer.fit(cfg.steps)
    return Run(run_dir, cfg, trainer.step, trainer.last_checkpoint, trainer.last_record or {})
