"""A training run from a resolved config: its directory, and starting or resuming it.

:func:`train` assembles the run (:func:`~ganzoo.training.assemble.assemble`; everything is
checked before anything is written), makes and locks its directory, writes ``config.json`` and
``environment.json``, builds its logger and trains. :func:`resume` continues a run from its
newest complete checkpoint, exactly where it stopped. A run only ever reads and writes inside
its own directory, and one process at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..config import RESUME_SAFE_KEYS, RunConfig, config_diff, resume_config
from ..errors import CheckpointError, ComponentUnavailableError, ConfigError, UnknownComponentError
from ..files import atomic_write_text
from ..loggers import build_logger, check_logger
from ..outputs.sampling import ModelHandle, load
from ..plugins.registry import Registry
from . import checkpoint as ckpt
from . import distributed
from .assemble import assemble
from .context import TrainingContext
from .environment import record_environment
from .hardware import resolve_device, resolve_precision, set_threads
from .log import EVENTS_FILE, METRICS_FILE
from .loop import Trainer
from .progress import Reporter, make_reporter

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
"""``RUN/.lock``: held (``flock``) by the process training the run; the kernel lets go of it
when that process ends, however it ends."""


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
        with open(self.path / METRICS_FILE, encoding="utf-8") as handle:
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
            raise ConfigError(f"run directory {path} already exists; continue it with `ganzoo train --resume {path}`, "
                              f"or choose another --run-name")
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


@contextlib.contextmanager
def run_lock(run_dir: Path, enabled: bool = True) -> Iterator[None]:
    """Inside, this process holds ``RUN/.lock``; a run another live process holds is refused
    in one line. A lock left by a process that died holds nothing (the kernel released it)."""
    if not enabled:
        yield
        return
    try:
        import fcntl
    except ImportError:  # no flock on this platform: runs are not locked
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    try:
        handle = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot lock run {run_dir}: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError(f"run {run_dir} is in use by {holder}; wait for it to end, or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def removed_on_failure(run_dir: Path, enabled: bool) -> Iterator[None]:
    """A new run directory is removed again when setting the run up fails (an algorithm refusing
    the networks, a full disk, an unreachable logger, Ctrl-C): no half-made run is left."""
    try:
        yield
    except BaseException:
        if enabled:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


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
                saved = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))["model"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if model not in (saved, saved.split(":")[-1]):
                continue
        candidates.append((latest.stat().st_mtime, run_dir))
    if not candidates:
        what = f" of model {model!r}" if model else ""
        raise ConfigError(f"no run{what} with a checkpoint in {out} to resume; pass --resume RUN_DIR")
    return max(candidates)[1]


def _saved_config(folder: Path | None, run_dir: Path) -> RunConfig:
    """The config a run was trained with: its checkpoint's (checked), or ``config.json`` when it
    stopped before its first checkpoint."""
    try:
        if folder is not None:
            text, where = ckpt.load_checked(folder / ckpt.STATE_FILE)[1]["config"], folder
        else:
            text, where = (run_dir / CONFIG_FILE).read_text(encoding="utf-8"), run_dir / CONFIG_FILE
    except OSError:
        raise CheckpointError(f"{run_dir} holds no checkpoint and no {CONFIG_FILE}: there is nothing to "
                              f"resume; start a new run") from None
    except KeyError:
        raise CheckpointError(f"{folder} carries no run config") from None
    try:
        return RunConfig.model_validate_json(text)
    except ValueError as exc:
        raise CheckpointError(f"{where} carries no valid run config: {str(exc).splitlines()[0]}") from None


def resume(registry: Registry, target: str | Path, *, model: str | None = None, force: bool = False,
           reporter: Reporter | None = None, **user_args: Any) -> Run:
    """Continue a run from a checkpoint, exactly where it stopped.

    A run directory resumes from its newest complete checkpoint (saying so when that is not the
    one ``checkpoints/latest`` names); a run that stopped before its first checkpoint was
    complete starts again from step 0 in its own directory.

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
    folder, note = ckpt.find_checkpoint(target, for_resume=True)
    if folder is not None:
        run_dir = folder.parent.parent if folder.parent.name == ckpt.CHECKPOINTS_DIR else folder.parent
    else:
        run_dir = Path(target).expanduser()
        note = f"{note}; the run starts again from step 0"
    saved = _saved_config(folder, run_dir)
    for kind in ("model", "loss", "dataset", "algorithm"):
        name = getattr(saved, kind)
        if not registry.list(kind, name):
            raise ComponentUnavailableError(
                f"{run_dir} was trained with {kind} {name!r} from plugin {name.split(':')[0]!r}, "
                f"which is not installed (see `ganzoo plugins`)")
    user_flags = {k: v for k, v in flags.items() if k not in ("out", "run_name")}
    cfg = resume_config(registry, saved, model=model, **{**user_args, "flags": user_flags})
    cfg, _ = resolve_precision(cfg, resolve_device(cfg.device))  # auto means what it picks here
    diff = config_diff(saved, cfg, ignore=RESUME_SAFE_KEYS)
    if diff and not force:
        raise ConfigError(f"refusing to resume {folder or run_dir} with different settings ({'; '.join(diff)}); "
                          f"pass --force to resume anyway")
    cfg = cfg.model_copy(update={"out": str(run_dir.parent), "run_name": run_dir.name})
    reporter = reporter or make_reporter()
    if note:
        reporter.message(f"note: {note}")
    return train(cfg, registry, reporter, resume_from=folder, run_dir=run_dir)


def train(cfg: RunConfig, registry: Registry, reporter: Reporter | None = None,
          resume_from: Path | None = None, run_dir: Path | None = None) -> Run:
    """Train from a resolved config. Everything is checked before the run directory exists.

    With ``resume_from`` (a checkpoint folder, see :func:`resume`), training continues in
    that checkpoint's run directory from the exact state it saved; with ``run_dir`` alone, a
    run that has no checkpoint starts again in its own directory.
    """
    dist = distributed.from_environment()
    device = distributed.setup(dist, resolve_device(cfg.device))
    set_threads()
    try:
        return _train(cfg, registry, reporter, resume_from, run_dir, dist, device)
    finally:
        distributed.teardown()


def _evaluator(registry: Registry, t: TrainingContext, dist):
    """The evaluator of ``--eval-every`` (built on rank 0; the others wait for it without the
    collectives' timeout, since building it may train a feature extractor first)."""
    from ..metrics.evaluate import Evaluator

    cfg = t.cfg
    if t.generator_name is None:
        model = registry.get("model", cfg.model).spec
        raise ConfigError(f"--eval-every evaluates generated samples; model {model.name!r} ({model.task_name}) "
                          f"has no generator to sample from")
    if cfg.eval_metrics is None:
        t.cfg = cfg = cfg.model_copy(update={"eval_metrics": list(t.kind.default_metrics)})
    return distributed.main_only(dist, lambda: Evaluator(
        registry, cfg.dataset, cfg.eval_metrics, n=cfg.eval_samples, split="test", extractor=cfg.eval_extractor,
        seed=cfg.seed, data_dir=cfg.data_dir, image_size=cfg.image_size,
        device=t.device))


def _train(cfg: RunConfig, registry: Registry, reporter: Reporter | None, resume_from: Path | None,
           run_dir: Path | None, dist, device) -> Run:
    reporter = (reporter or make_reporter()) if dist.is_main else Reporter(enabled=False)  # only rank 0 reports
    try:  # unknown, or its package missing: one line, before anything
        check_logger(registry, cfg.logger)
    except UnknownComponentError as exc:
        if run_dir is None:
            raise
        raise UnknownComponentError(f"{exc}; resume with --logger NAME to use another") from None
    t = assemble(cfg, registry, device=device, dist=dist)
    evaluator = _evaluator(registry, t, dist) if t.cfg.eval_every else None
    _seed_host_generators(t.cfg.seed + dist.rank)
    fresh = run_dir is None
    if fresh:  # rank 0 names and creates the run directory; the others learn its name
        run_dir = distributed.from_main(dist, lambda: new_run_dir(t.cfg))
    with run_lock(run_dir, dist.is_main):
        with removed_on_failure(run_dir, fresh and dist.is_main):
            trainer = _set_up(t, registry, run_dir, reporter, evaluator, resume_from, fresh, dist, device)
        _announce(reporter, t, registry, run_dir, dist, device)
        if resume_from is not None:
            if t.step >= t.cfg.steps:
                reporter.message(f"the run is already at step {t.step} (--steps {t.cfg.steps}); "
                                 f"pass a larger --steps to train on")
                trainer.log.logger.close()
                return Run(run_dir, t.cfg, t.step, resume_from, {})
            reporter.message(f"resuming from {resume_from.name} (step {t.step})")
        trainer.fit(t.cfg.steps)
    return Run(run_dir, t.cfg, t.step, trainer.checkpoints.last, trainer.log.last_record or {})


def _set_up(t: TrainingContext, registry: Registry, run_dir: Path, reporter: Reporter, evaluator,
            resume_from: Path | None, fresh: bool, dist, device) -> Trainer:
    """The trainer, restored from ``resume_from``; the run's files and logger (rank 0)."""
    cfg = t.cfg
    trainer = Trainer(t, run_dir, reporter, metadata=ckpt.checkpoint_metadata(cfg, t.shape), evaluator=evaluator)
    if resume_from is not None:
        trainer.checkpoints.load(resume_from)  # a bad checkpoint fails here, before anything is written
    if not dist.is_main:
        return trainer
    if not fresh:  # the steps after the checkpoint are trained again (all of them, without one)
        for name in (METRICS_FILE, EVENTS_FILE):
            ckpt.truncate_jsonl(run_dir / name, t.step)
    if resume_from is not None:
        with open(run_dir / EVENTS_FILE, "a", encoding="utf-8") as events:
            events.write(json.dumps({"step": t.step, "event": "resumed", "checkpoint": resume_from.name,
                                     "target_steps": cfg.steps}) + "\n")
    atomic_write_text(run_dir / CONFIG_FILE, cfg.model_dump_json(indent=2) + "\n")
    record_environment(run_dir, cfg, registry, device, dist.world_size, t.step)
    trainer.log.use_logger(build_logger(registry, cfg, run_dir, resume=resume_from is not None))
    if resume_from is not None:
        trainer.log.logger.rewind(t.step)  # as metrics.jsonl: the steps after the checkpoint are redone
    return trainer


def _announce(reporter: Reporter, t: TrainingContext, registry: Registry, run_dir: Path, dist, device) -> None:
    """The run's first lines: where it writes, its data and device, what was decided for it."""
    import torch

    cfg, shape, batches = t.cfg, t.shape, t.batches
    classes = f"{shape.num_classes} classes" if shape.num_classes else "unlabelled"
    others = [name for name in shape.fields if name not in (shape.primary, "label")]
    fields = f" (fields: {', '.join(shape.fields)})" if others else ""
    reporter.message(f"run directory: {run_dir}")
    reporter.message(f"data: {registry.get('dataset', cfg.dataset).spec.name}, {batches.streams[0].length:,} samples "
                     f"of shape {'x'.join(map(str, shape.sample_shape))}, {classes}{fields}; device {device}"
                     + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else ""))
    for note in t.notes:
        reporter.message(note)
    if dist.enabled:
        reporter.message(f"distributed: {dist.world_size} processes ({distributed.backend_for(device)}), "
                         f"global batch {cfg.batch_size} = {dist.world_size} x {batches.local_batch_size}")
    for note in cfg.notes:
        reporter.message(f"note: {note}")
