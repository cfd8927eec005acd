"""Setting up and running a training run from a resolved config."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import distributed
from ..plugins.build import (build_algorithm, build_loss, build_networks, check_algorithm_fits, check_model_fits,
    load_dataset)
from .checkpoint import checkpoint_metadata
from .hardware import resolve_device, resolve_precision
from ..config import RESUME_SAFE_KEYS, RunConfig, config_diff, resume_config
from ..data import InMemoryBatches, shape_of
from ..errors import CheckpointError, ComponentUnavailableError, ConfigError, GanzooError, UnknownComponentError
from .hardware import set_threads
from ..loggers import Logger, build_logger, check_logger
from ..metrics.evaluate import Evaluator
from ..networks import Generator, exported, uses_labels
from ..plugins.registry import Registry
from ..outputs.sampling import ModelHandle, load
from ..specs import SPEC_TYPES, DatasetSpec, ModelSpec
from . import checkpoint as ckpt
from .loop import Trainer
from .progress import Reporter, make_reporter

__all__ = ["Run", "train", "resume", "find_run", "new_run_dir",
           # the components, where earlier versions had them
           "build_loss", "build_networks", "check_model_fits", "load_dataset", "resolve_device",
           "checkpoint_metadata"]


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

    def load(self, device: str = "cpu") -> ModelHandle:
        """The trained model, ready to sample or translate (see :func:`ganzoo.load`)."""
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


def _seed_host_generators(seed: int) -> None:
    """Seed Python's and numpy's global generators too (plugins may use them); torch's is
    seeded when the networks are built. A resumed run restores all three from its checkpoint."""
    import random

    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is optional
        return
    np.random.seed(seed % 2**32)


def find_run(out: str | Path, run_name: str | None = None, model: str | None = None) -> Path:
    """The run that ``--resume latest`` means: ``OUT/RUN_NAME`` when a name is given,
    else the run in ``out`` (of ``model``, if given) whose latest checkpoint is newest."""
    out = Path(out).expanduser()
    if run_name:
        return out / run_name
    candidates = []
    for latest in out.glob(f"*/{ckpt.CHECKPOINTS_DIR}/{ckpt.LATEST}"):
        run_dir = latest.parent.parent
        if model:
            try:
                saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["model"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if model not in (saved, saved.split(":")[-1]):
                continue
        candidates.append((latest.stat().st_mtime, run_dir))
    if not candidates:
        what = f" of model {model!r}" if model else ""
        raise ConfigError(f"no run{what} with a checkpoint in {out} to resume; pass --resume RUN_DIR")
    return max(candidates)[1]


def resume(registry: Registry, target: str | Path, *, model: str | None = None, force: bool = False,
           reporter: Reporter | None = None, **user_args: Any) -> Run:
    """Continue a run from a checkpoint, exactly where it stopped.

    Args:
        registry: the component registry.
        target: ``"latest"`` (see :func:`find_run`), a run directory or a checkpoint folder.
        model: the model the user named (must match the checkpoint's unless ``force``).
        force: resume even if model, loss, data or training settings differ.
        reporter: progress output.
        **user_args: ``loss``, ``dataset``, ``config_file``, ``flags``, ``sets`` as for
            :func:`~ganzoo.config.resolve_config`; only settings that do not change what is
            trained (``RESUME_SAFE_KEYS``) may differ from the checkpoint's without ``force``.
    """
    flags = user_args.get("flags") or {}
    if str(target) == "latest":
        target = find_run(flags.get("out") or "runs", flags.get("run_name"), model)
    folder = ckpt.resolve_checkpoint(target)
    # the config comes from a checked file; train() checks the rest before writing anything
    _, meta = ckpt.load_checked(folder / ckpt.STATE_FILE)
    try:
        saved = RunConfig.model_validate_json(meta["config"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{folder} carries no valid run config: {str(exc).splitlines()[0]}") from None
    for kind in ("model", "loss", "dataset", "algorithm"):
        name = getattr(saved, kind)
        if not registry.list(kind, name):
            raise ComponentUnavailableError(
                f"{folder} was trained with {kind} {name!r} from plugin {name.split(':')[0]!r}, "
                f"which is not installed (see `ganzoo plugins`)")
    user_flags = {k: v for k, v in flags.items() if k not in ("out", "run_name")}
    cfg = resume_config(registry, saved, model=model, **{**user_args, "flags": user_flags})
    cfg, _ = resolve_precision(cfg, resolve_device(cfg.device))  # auto means what it picks here
    diff = config_diff(saved, cfg, ignore=RESUME_SAFE_KEYS)
    if diff and not force:
        raise ConfigError(f"refusing to resume {folder} with different settings ({'; '.join(diff)}); "
                          f"pass --force to resume anyway")
    run_dir = folder.parent.parent if folder.parent.name == ckpt.CHECKPOINTS_DIR else folder.parent
    cfg = cfg.model_copy(update={"out": str(run_dir.parent), "run_name": run_dir.name})
    return train(cfg, registry, reporter, resume_from=folder)


def train(cfg: RunConfig, registry: Registry, reporter: Reporter | None = None,
          resume_from: Path | None = None) -> Run:
    """Train from a resolved config. Everything is checked before the run directory exists.

    With ``resume_from`` (a checkpoint folder, see :func:`resume`), training continues in
    that checkpoint's run directory from the exact state it saved.
    """
    dist_ctx = distributed.from_environment()
    device = distributed.setup(dist_ctx, resolve_device(cfg.device))
    set_threads()
    # auto may measure the CPU: rank 0 decides for every process, so they all train alike
    cfg, picked = distributed.from_main(dist_ctx, lambda: resolve_precision(cfg, device))
    try:
        return _train(cfg, registry, reporter, resume_from, dist_ctx, device, picked)
    finally:
        distributed.teardown()


ENVIRONMENT_FILE = "environment.json"


def environment(cfg: RunConfig, registry: Registry, device: torch.device, world_size: int = 1) -> dict[str, Any]:
    """What a run was trained with: versions of ganzoo, torch and Python, the machine, and each
    component with the plugin (distribution and version) that provided it."""
    import platform
    import sys

    from .. import __version__
    from .hardware import machine_kind
    from ..plugins.manager import get_plugin_manager

    plugins = get_plugin_manager().plugins
    components = {}
    for kind in ("model", "loss", "dataset", "algorithm", "logger"):
        name = getattr(cfg, kind, None)
        if not isinstance(name, str) or kind not in SPEC_TYPES:
            continue
        try:
            entry = registry.get(kind, name)
        except GanzooError:
            continue
        info = plugins.get(entry.plugin)
        components[kind] = {"name": entry.qualified_name, "plugin": entry.plugin,
                            "distribution": info.distribution if info else None,
                            "version": (info.version if info and info.version else
                                        __version__ if entry.builtin else None)}
    return {"ganzoo": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "device": str(device),
            "machine": machine_kind(device), "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "world_size": world_size, "precision": cfg.precision, "argv": sys.argv[1:],
            "components": components}


def record_environment(run_dir: Path, cfg: RunConfig, registry: Registry, device: torch.device,
                       world_size: int, step: int) -> None:
    """Add this session (a start or a resume at ``step``) to ``RUN/environment.json``."""
    path = Path(run_dir) / ENVIRONMENT_FILE
    sessions = []
    try:
        sessions = json.loads(path.read_text(encoding="utf-8")).get("sessions", [])
    except (OSError, ValueError, AttributeError):
        pass
    sessions = [s for s in sessions if isinstance(s, dict) and s.get("step", 0) <= step]
    sessions.append({"step": step, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     **environment(cfg, registry, device, world_size)})
    ckpt.atomic_write_text(path, json.dumps({"sessions": sessions}, indent=2) + "\n")


def _train(cfg: RunConfig, registry: Registry, reporter: Reporter | None, resume_from: Path | None,
           dist_ctx, device: torch.device, picked: str | None = None) -> Run:
    if dist_ctx.is_main:
        reporter = reporter or make_reporter()
    else:
        reporter = Reporter(enabled=False)  # only rank 0 reports
    if cfg.sync_batchnorm and dist_ctx.enabled and device.type != "cuda":
        raise ConfigError("sync_batchnorm needs CUDA devices (SyncBatchNorm has no CPU kernel)")
    try:  # unknown, or its package missing: one line, before anything
        check_logger(registry, cfg.logger)
    except UnknownComponentError as exc:
        if resume_from is None:
            raise
        raise UnknownComponentError(f"{exc}; resume with --logger NAME to use another") from None
    model_spec: ModelSpec = registry.get("model", cfg.model).spec
    dataset_spec: DatasetSpec = registry.get("dataset", cfg.dataset).spec
    data = load_dataset(registry, cfg.dataset, cfg.data_dir, image_size=cfg.image_size)
    shape = shape_of(data, cfg.image_size)
    check_model_fits(model_spec, shape, dataset=dataset_spec.name)
    loss = build_loss(registry, cfg.loss)
    nets = build_networks(registry, cfg, shape, device, seed_process=True)
    if uses_labels(nets) and data.labels is None:
        raise ConfigError(f"model {model_spec.name!r} uses class labels and needs a labelled dataset; "
                          f"{dataset_spec.name} has no labels")
    check_algorithm_fits(registry, cfg, nets, shape)
    algorithm = build_algorithm(registry, cfg)
    if dist_ctx.rank:  # same initial weights everywhere; a stream of its own from here on
        torch.manual_seed(cfg.seed + dist_ctx.rank)
    if cfg.sync_batchnorm and dist_ctx.enabled:
        for name, module in list(nets.modules.items()):
            nets.modules[name] = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    batches = InMemoryBatches(data, cfg.batch_size, device, image_size=shape.image_size or None, seed=cfg.seed,
                              rank=dist_ctx.rank, world_size=dist_ctx.world_size)
    evaluator = None
    if cfg.eval_every:
        if not (isinstance(nets.modules.get("generator"), Generator) or exported(nets, Generator)):
            raise ConfigError(f"--eval-every evaluates generated samples; model {model_spec.name!r} "
                              f"({model_spec.task_name}) has no generator to sample from")
        if cfg.eval_metrics is None:
            cfg = cfg.model_copy(update={"eval_metrics": ["modes"] if shape.kind == "points" else ["fid"]})
        # only rank 0 evaluates; the others wait for it without the collectives' timeout
        # (building the evaluator may train a feature extractor first)
        evaluator = distributed.main_only(dist_ctx, lambda: Evaluator(
            registry, cfg.dataset, cfg.eval_metrics, n=cfg.eval_samples, split="test",
            extractor=cfg.eval_extractor, seed=cfg.seed, data_dir=cfg.data_dir,
            image_size=shape.image_size if shape.kind == "image" else None, device=device))
    if cfg.epochs is not None:
        per_step = algorithm.batches_per_step()
        cfg = cfg.model_copy(update={"steps": max(1, math.ceil(cfg.epochs * batches.batches_per_epoch / per_step))})
        algorithm.cfg = cfg

    _seed_host_generators(cfg.seed + dist_ctx.rank)
    if resume_from is not None:
        run_dir = Path(cfg.out) / str(cfg.run_name)
    else:  # rank 0 names and creates the run directory; the others learn its name
        run_dir = distributed.from_main(dist_ctx, lambda: new_run_dir(cfg))
    try:
        trainer = Trainer(cfg, nets, loss, batches, run_dir, checkpoint_metadata(cfg, shape), reporter,
                          evaluator, algorithm=algorithm, dist=dist_ctx,
                          logger=Logger(run_dir, cfg))  # the run's own logger comes once the run is set up
    except BaseException:  # e.g. an algorithm's setup() refusing the networks: no empty run directory
        if resume_from is None and dist_ctx.is_main:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if resume_from is not None:
        trainer.load_checkpoint(resume_from)  # a bad checkpoint fails here, before anything is written
    if resume_from is not None and dist_ctx.is_main:
        for name in ("metrics.jsonl", "events.jsonl"):
            ckpt.truncate_jsonl(run_dir / name, trainer.step)
        with open(run_dir / "events.jsonl", "a", encoding="utf-8") as events:
            events.write(json.dumps({"step": trainer.step, "event": "resumed", "checkpoint": resume_from.name,
                                     "target_steps": cfg.steps}) + "\n")
    if dist_ctx.is_main:
        try:
            ckpt.atomic_write_text(run_dir / "config.json", cfg.model_dump_json(indent=2) + "\n")
            record_environment(run_dir, cfg, registry, device, dist_ctx.world_size, trainer.step)
        except BaseException:  # a full disk, Ctrl-C: leave no new run directory without its config
            if resume_from is None:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    if dist_ctx.is_main:
        try:
            trainer.logger = build_logger(registry, cfg, run_dir, resume=resume_from is not None)
        except BaseException:  # e.g. an unreachable MLflow server: no new run directory left behind
            if resume_from is None:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        if resume_from is not None:
            trainer.logger.rewind(trainer.step)  # as metrics.jsonl: the steps after the checkpoint are redone
    classes = f"{shape.num_classes} classes" if shape.num_classes else "unlabelled"
    reporter.message(f"run directory: {run_dir}")
    fields = "" if set(shape.fields) <= {"image", "points", "label"} else f" (fields: {', '.join(shape.fields)})"
    reporter.message(f"data: {dataset_spec.name}, {len(data):,} samples of shape "
                     f"{'x'.join(map(str, shape.sample_shape))}, {classes}{fields}; device {device}"
                     + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else ""))
    if picked:
        reporter.message(picked)
    if dist_ctx.enabled:
        reporter.message(f"distributed: {dist_ctx.world_size} processes ({distributed.backend_for(device)}), "
                         f"global batch {cfg.batch_size} = {dist_ctx.world_size} x {batches.local_batch_size}")
    for note in cfg.notes:
        reporter.message(f"note: {note}")
    if resume_from is not None:
        if trainer.step >= cfg.steps:
            reporter.message(f"the run is already at step {trainer.step} (--steps {cfg.steps}); "
                             f"pass a larger --steps to train on")
            trainer.logger.close()
            return Run(run_dir, cfg, trainer.step, resume_from, {})
        reporter.message(f"resuming from {resume_from.name} (step {trainer.step})")
    trainer.fit(cfg.steps)
    return Run(run_dir, cfg, trainer.step, trainer.last_checkpoint, trainer.last_record or {})
