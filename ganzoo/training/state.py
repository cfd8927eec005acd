"""Everything a resume needs, to and from checkpoint files.

:func:`capture` turns a trainer into the files of one checkpoint (one per module, plus
``train_state.safetensors``); :func:`restore` puts a checkpoint back into a trainer;
:class:`Checkpoints` is the loop's job that writes them and remembers the newest and the best. The
train state holds, as tensors: each optimizer group's state (``<group>.state.<i>.<key>``),
the algorithm's state (``algo.*``), the data streams' order and position (``data.*``) and the
random generators (``rng.*``); as JSON metadata: optimizer param groups, gradient scalers,
Python's and numpy's generators and the trainer's counters.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import CheckpointError
from ..files import atomic_write_text
from . import checkpoint as ckpt
from .distributed import barrier
from .optim import match_param_layout

if TYPE_CHECKING:
    from .loop import Trainer


def capture(trainer: "Trainer") -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str]]:
    """The files of a checkpoint of ``trainer`` and the metadata stored in each (see the module's
    docstring; the trainer's counters keep their checkpoint names: ``trainer`` metadata)."""
    t = trainer.context
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
    best = trainer.checkpoints.best
    trainer_meta = {"step": t.step, "rollbacks": trainer.health.rollbacks, "lr_scale": t.lr_scale,
                    "best": list(best) if best else None,
                    "diversity_peak": trainer.previews.diversity_peak,
                    "diversity_seen": trainer.previews.diversity_seen}
    metadata = {**trainer.checkpoints.metadata, **group_meta,
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


def restore(trainer: "Trainer", folder: Path) -> None:
    """Put checkpoint ``folder`` back into ``trainer`` (every file's checksum checked first).

    Raises:
        CheckpointError: a damaged file, or one that does not fit this run (one line).
    """
    t = trainer.context
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
        step = int(counters["step"])
        cpu_state = state["rng.torch_cpu"]
        rollbacks, lr_scale = int(counters["rollbacks"]), float(counters["lr_scale"])
        best = tuple(counters["best"]) if counters["best"] else None
        diversity = counters["diversity_peak"], int(counters["diversity_seen"])
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
    trainer.health.rollbacks, t.lr_scale = rollbacks, lr_scale
    trainer.checkpoints.best = best
    trainer.previews.diversity_peak, trainer.previews.diversity_seen = diversity
    trainer.checkpoints.last, trainer.checkpoints.step = folder, step


class Checkpoints:
    """The run's checkpoints: the newest (a rollback's and a resume's target), and the one of
    the best evaluation so far (``checkpoints/best``, its value in ``checkpoints/best.json``).

    Args:
        trainer: the run whose state is saved.
        run_dir: where ``checkpoints/`` is.
        metadata: string metadata stored in every checkpoint file (enough to rebuild the networks).
    """

    def __init__(self, trainer: "Trainer", run_dir: Path | None, metadata: dict[str, str]) -> None:
        self.trainer = trainer
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.metadata = metadata
        self.last: Path | None = None
        self.step: int | None = None  # the step of ``last``
        self.best: tuple[str, float] | None = None  # (key, value) of the best evaluation so far

    def save(self, name: str | None = None, sync: bool = True) -> Path:
        """Write a complete checkpoint of the current step (or ``checkpoints/NAME``): every
        module, every optimizer and gradient scaler, the algorithm's state, the data position,
        every random generator (torch CPU and CUDA, numpy, Python) and the counters.

        With several processes only rank 0 writes; the others wait for it (``sync``) so that
        any rank may read the checkpoint right after, e.g. to roll back.
        """
        t = self.trainer.context
        if t.is_main:
            files, metadata = capture(self.trainer)
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
                          json.dumps({"step": self.trainer.context.step, key: value}) + "\n")

    def load(self, folder: Path) -> None:
        """Restore everything :meth:`save` wrote (checksums checked first).

        The best evaluation is the one ``checkpoints/best.json`` records when it exists: a
        rollback or resume to an older checkpoint must not forget a better ``best``."""
        restore(self.trainer, folder)
        best_file = self.run_dir / ckpt.CHECKPOINTS_DIR / "best.json"
        if best_file.is_file():
            try:
                record = json.loads(best_file.read_text(encoding="utf-8"))
                (key, value), = [(k, v) for k, v in record.items() if k != "step"]
                if self.best is None or self.best[0] == key:
                    self.best = (key, float(value))
            except (OSError, ValueError, TypeError):
                pass  # a damaged best.json: the checkpoint's own record stands
        self.trainer.health.forget()


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
