"""Everything a resume needs, to and from checkpoint files.

:func:`capture` turns a run (its :class:`~ganzoo.training.context.TrainingContext` and the
counters of its jobs) into the files of one checkpoint (one per module, plus
``train_state.safetensors``); :func:`restore` puts a checkpoint back; :class:`Checkpoints` is
the loop's job that writes them and remembers the newest and the best. The
train state holds, as tensors: each optimizer group's state (``<group>.state.<i>.<key>``),
the algorithm's state (``algo.*``), the data streams' order and position (``data.*``) and the
random generators (``rng.*``); as JSON metadata: optimizer param groups, gradient scalers,
Python's and numpy's generators and the counters (``trainer``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import torch

from ..errors import CheckpointError
from ..files import atomic_write_text
from . import checkpoint as ckpt
from .distributed import barrier
from .optim import match_param_layout

if TYPE_CHECKING:
    from .context import TrainingContext


class Counters(Protocol):
    """A job that keeps counters across a resume (the health check's rollbacks, the previews'
    diversity): saved in every checkpoint's ``trainer`` metadata."""

    def counters(self) -> dict[str, Any]: ...

    def load_counters(self, counters: dict[str, Any]) -> None: ...


def capture(t: "TrainingContext", counters: dict[str, Any],
            metadata: dict[str, str]) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str]]:
    """The files of a checkpoint of the run ``t`` and the metadata stored in each: ``metadata``,
    and ``counters`` (with the step and the learning-rate scale) as the ``trainer`` entry."""
    train_state: dict[str, torch.Tensor] = {}
    group_meta: dict[str, str] = {}
    for group, optimizer in t.optimizers.items():
        tensors, meta = ckpt.flatten_optimizer(group, optimizer)
        train_state.update(tensors)
        group_meta[group] = meta
    train_state.update({"rng.torch_cpu": torch.get_rng_state(), "rng.latent": t.latent_generator.get_state(),
                        "rng.algorithm": t.rng.get_state(),
                        **{f"data.{k}": v for k, v in t.batches.state_dict().items()},
                        **{f"algo.{k}": v for k, v in t.algorithm.state_dict().items()}})
    if t.device.type == "cuda":
        train_state["rng.torch_cuda"] = torch.cuda.get_rng_state(t.device)
    rng_meta: dict[str, Any] = {"python": _json_rng(random.getstate())}
    numpy_state = _numpy_rng_state()
    if numpy_state is not None:
        key, rest = numpy_state
        train_state["rng.numpy_key"] = key
        rng_meta["numpy"] = rest
    trainer_meta = {"step": t.step, "lr_scale": t.lr_scale, **counters}
    metadata = {**metadata, **group_meta,
                "modules": json.dumps({name: ckpt.module_file(name) for name in t.modules}),
                "optimizers": json.dumps({g: list(n) for g, n in t.nets.optimizers.items()}),
                "export": json.dumps(list(t.nets.export)),
                "scalers": json.dumps({g: s.state_dict() for g, s in t.scalers.items()}),
                "rng": json.dumps(rng_meta), "trainer": json.dumps(trainer_meta)}
    if t.ema is not None:
        metadata["ema"] = json.dumps({"decay": t.ema.decay, "modules": list(t.ema.copies)})
    files = {ckpt.module_file(name): module.state_dict() for name, module in t.modules.items()}
    if t.ema is not None:
        for name, tensors in t.ema.state_dicts().items():
            files[ckpt.ema_file(name)] = tensors
    files[ckpt.STATE_FILE] = train_state
    return files, metadata


def restore(t: "TrainingContext", folder: Path) -> dict[str, Any]:
    """Put checkpoint ``folder`` back into the run ``t`` (every file's checksum checked first);
    returns the counters :func:`capture` saved besides the step and the learning-rate scale.

    Raises:
        CheckpointError: a damaged file, or one that does not fit this run (one line).
    """
    folder = Path(folder)
    state, meta = ckpt.load_checked(folder / ckpt.STATE_FILE)
    names = list(ckpt.module_layout(meta)[0])
    if sorted(names) != sorted(t.modules):
        raise CheckpointError(f"{folder} holds the modules {', '.join(names)}; this run has "
                              f"{', '.join(t.modules)}")
    weights = {name: ckpt.load_checked(folder / ckpt.module_file(name))[0] for name in names}
    averaged = {}
    if t.ema is not None:
        saved = ckpt.ema_modules(meta)
        if sorted(saved) != sorted(t.ema.copies):
            raise CheckpointError(f"{folder} holds no averaged weights of {', '.join(t.ema.copies)} "
                                  f"(trained without --set ema); this run averages them")
        averaged = {name: ckpt.load_checked(folder / ckpt.ema_file(name))[0] for name in saved}
    try:
        t.algorithm.load_state_dict({k[len("algo."):]: v for k, v in state.items() if k.startswith("algo.")})
        for name, tensors in weights.items():
            t.modules[name].load_state_dict(tensors)
        for name, tensors in averaged.items():
            t.ema.copies[name].load_state_dict(tensors)
        for group, optimizer in t.optimizers.items():
            optimizer.load_state_dict(ckpt.unflatten_optimizer(group, state, meta[group]))
            match_param_layout(optimizer)
        scalers = json.loads(meta["scalers"])
        if meta.get("format_version") == "2":
            scalers = {"g_optim": scalers["g"], "d_optim": scalers["d"]}
        for group, scaler in t.scalers.items():
            if scalers[group]:
                scaler.load_state_dict(scalers[group])
        try:
            t.batches.load_state_dict({k[len("data."):]: v for k, v in state.items() if k.startswith("data.")})
        except KeyError as exc:
            raise KeyError(f"data.{exc.args[0]}") from None
        rng = json.loads(meta["rng"])
        counters = json.loads(meta["trainer"])
        t.latent_generator.set_state(state["rng.latent"])
        if "rng.algorithm" in state:  # format 2 had no algorithm generator
            t.rng.set_state(state["rng.algorithm"])
        step, lr_scale = int(counters.pop("step")), float(counters.pop("lr_scale"))
        cpu_state = state["rng.torch_cpu"]
        python_rng = _python_rng(rng["python"])
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, KeyError):
            reason = f"missing {exc}"
        raise CheckpointError(f"{folder} does not fit this run: {reason}") from None
    t.step = step
    if t.dist.rank == 0:  # the saved generators are rank 0's
        torch.set_rng_state(cpu_state)
        if t.device.type == "cuda" and "rng.torch_cuda" in state:
            torch.cuda.set_rng_state(state["rng.torch_cuda"], t.device)
        random.setstate(python_rng)
        if "numpy" in rng and "rng.numpy_key" in state:
            _set_numpy_rng_state(state["rng.numpy_key"], rng["numpy"])
    else:  # other ranks: fresh, reproducible streams of their own
        rank_seed = t.cfg.seed + 1_000_003 * t.dist.rank + t.step
        torch.manual_seed(rank_seed)
        random.seed(rank_seed)
    t.lr_scale = lr_scale
    return counters


def _json_rng(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_rng(data: list) -> tuple:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)


def _numpy_rng_state() -> tuple[torch.Tensor, list] | None:
    try:
        import numpy as np
    except ImportError:  # numpy is optional for training
        return None
    kind, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return torch.from_numpy(key.astype(np.int64)), [kind, int(pos), int(has_gauss), float(cached)]


def _set_numpy_rng_state(key: torch.Tensor, rest: list) -> None:
    import numpy as np

    kind, pos, has_gauss, cached = rest
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, cached))


class Checkpoints:
    """The run's checkpoints: the newest (a rollback's and a resume's target), and the one of
    the best evaluation so far (``checkpoints/best``, its value in ``checkpoints/best.json``).

    Args:
        t: the run whose state is saved.
        run_dir: where ``checkpoints/`` is.
        metadata: string metadata stored in every checkpoint file (enough to rebuild the networks).
        jobs: the jobs whose counters are saved too (see :class:`Counters`).
    """

    def __init__(self, t: "TrainingContext", run_dir: Path | None, metadata: dict[str, str],
                 jobs: Sequence[Counters] = ()) -> None:
        self.t = t
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.metadata = metadata
        self.jobs = list(jobs)
        self.last: Path | None = None
        self.step: int | None = None  # the step of ``last``
        self.best: tuple[str, float] | None = None  # (key, value) of the best evaluation so far

    def counters(self) -> dict[str, Any]:
        counters = {"best": list(self.best) if self.best else None}
        for job in self.jobs:
            counters.update(job.counters())
        return counters

    def save(self, name: str | None = None, sync: bool = True) -> Path:
        """Write a complete checkpoint of the current step (or ``checkpoints/NAME``): every
        module, every optimizer and gradient scaler, the algorithm's state, the data position,
        every random generator (torch CPU and CUDA, numpy, Python) and the counters.

        With several processes only rank 0 writes; the others wait for it (``sync``) so that
        any rank may read the checkpoint right after, e.g. to roll back.
        """
        t = self.t
        if t.is_main:
            files, metadata = capture(t, self.counters(), self.metadata)
            folder = ckpt.save_checkpoint(self.run_dir, t.step, files, metadata, keep=t.cfg.keep_checkpoints,
                                          name=name)
        else:
            folder = self.run_dir / ckpt.CHECKPOINTS_DIR / (name or f"step-{t.step:07d}")
        if name is None:
            self.last, self.step = folder, t.step
            if sync:
                barrier(t.dist)
        return folder

    def save_best(self, key: str, value: float) -> None:
        """Keep the current step as ``checkpoints/best``: its evaluation's ``key`` is ``value``."""
        self.best = (key, float(value))
        self.save(name="best")
        atomic_write_text(self.run_dir / ckpt.CHECKPOINTS_DIR / "best.json",
                          json.dumps({"step": self.t.step, key: value}) + "\n")

    def load(self, folder: Path) -> None:
        """Restore everything :meth:`save` wrote (checksums checked first).

        The best evaluation is the one ``checkpoints/best.json`` records when it exists: a
        rollback or resume to an older checkpoint must not forget a better ``best``."""
        counters = restore(self.t, folder)
        try:
            self.best = tuple(counters["best"]) if counters["best"] else None
            for job in self.jobs:
                job.load_counters(counters)
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{folder} does not fit this run: missing or bad counter {exc}") from None
        self.last, self.step = Path(folder), self.t.step
        best_file = self.run_dir / ckpt.CHECKPOINTS_DIR / "best.json"
        if best_file.is_file():
            try:
                record = json.loads(best_file.read_text(encoding="utf-8"))
                (key, value), = [(k, v) for k, v in record.items() if k != "step"]
                if self.best is None or self.best[0] == key:
                    self.best = (key, float(value))
            except (OSError, ValueError, TypeError):
                pass  # a damaged best.json: the checkpoint's own record stands
