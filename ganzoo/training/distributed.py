"""Training on several processes with torch.distributed (DDP), launched by torchrun.

ganzoo never manages processes itself: ``torchrun --nproc-per-node N -m ganzoo train ...``
starts the workers, and ``ganzoo train ... --nproc N`` only re-runs the same command line
through torch's own launcher (``torch.distributed.run``). Each worker reads the standard
torchrun variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ...).

Conventions:

- ``batch_size`` is the **global** batch: each of the N processes trains on
  ``batch_size / N`` samples per step (it must divide), so a run means the same thing
  whatever N is, and a checkpoint written with N processes resumes with any other number.
- Every rank walks the same shuffled data order and takes its own slice of each global
  batch; latents come from one seeded stream shared by all ranks (each takes its slice), so
  with no batch norm one step on N processes equals one step on one process up to
  floating-point reduction order. Everything else random (the gradient penalty's
  interpolation, a plugin's own randomness) uses torch's global generator, seeded
  ``seed + rank``: different on every rank, and reproducible.
- Only rank 0 logs, writes samples, metrics and checkpoints; every rank loads the same
  checkpoint on resume.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch

from ..errors import ConfigError, GanzooError

TIMEOUT_ENV = "GANZOO_DIST_TIMEOUT"
"""Seconds a collective may wait for a peer before the job fails (default 300)."""


class DistributedError(GanzooError):
    """A worker of a multi-process run failed, or the process group could not be set up."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


def from_environment() -> DistContext:
    """The context torchrun describes in the environment (one process if it does not)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as exc:
        raise ConfigError(f"bad torchrun environment: {exc}") from None
    return DistContext(rank, world_size, local_rank)


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA devices, gloo for everything else."""
    return "nccl" if device.type == "cuda" else "gloo"


def timeout() -> timedelta:
    try:
        return timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "300")))
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds") from None


def setup(ctx: DistContext, device: torch.device) -> torch.device:
    """Join the process group (when there are several processes); returns this rank's
    device (``cuda:LOCAL_RANK`` for CUDA runs)."""
    if not ctx.enabled:
        return device
    import torch.distributed as dist

    if device.type == "cuda":
        if torch.cuda.device_count() <= ctx.local_rank:
            raise ConfigError(f"local rank {ctx.local_rank} has no GPU ({torch.cuda.device_count()} visible)")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        try:
            dist.init_process_group(backend_for(device), timeout=timeout(), **kwargs)
        except (RuntimeError, ValueError) as exc:
            raise DistributedError(f"cannot join the process group: {str(exc).splitlines()[0]}") from None
    return device


def teardown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flag: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """``flag`` OR-ed over all ranks (a 0-d bool tensor; no-op for one process)."""
    if not ctx.enabled:
        return flag
    import torch.distributed as dist

    value = flag.to(torch.int32).reshape(1)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value[0] > 0


def average_gradients(params) -> None:
    """Average the gradients of ``params`` over all ranks in place (one all-reduce of a flat
    buffer): the data-parallel update for modules that are not wrapped in DDP."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in params if p.grad is not None]
    if not grads or not dist.is_initialized():
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(synced)


SETUP_TIMEOUT_ENV = "GANZOO_DIST_SETUP_TIMEOUT"
"""Seconds the other ranks wait for rank 0's one-off setup work (default 3600)."""


def main_only(ctx: DistContext, make):
    """``make()`` on rank 0 only (its result there, ``None`` elsewhere) while the other ranks
    wait, for as long as ``$GANZOO_DIST_SETUP_TIMEOUT`` (default an hour) rather than the
    collectives' timeout: rank 0 may be training a feature extractor. Rank 0's error is
    raised on every rank."""
    if not ctx.enabled:
        return make()
    import torch.distributed as dist

    try:
        seconds = float(os.environ.get(SETUP_TIMEOUT_ENV, "3600"))
    except ValueError:
        raise ConfigError(f"{SETUP_TIMEOUT_ENV} must be a number of seconds") from None
    group = dist.new_group(backend="gloo", timeout=timedelta(seconds=seconds))
    box: list = [None]
    result = None
    if ctx.is_main:
        try:
            result = make()
        except GanzooError as exc:
            box[0] = (type(exc).__name__, str(exc))
    dist.broadcast_object_list(box, src=0, group=group)
    dist.destroy_process_group(group)
    if box[0] is not None:
        name, message = box[0]
        raise (ConfigError if name.endswith("ConfigError") else DistributedError)(message)
    return result


def from_main(ctx: DistContext, make):
    """``make()`` run on rank 0 only, its result (or its error) given to every rank."""
    if not ctx.enabled:
        return make()
    import torch.distributed as dist

    box: list = [None, None]
    if ctx.is_main:
        try:
            box[0] = make()
        except GanzooError as exc:
            box[1] = (type(exc).__name__, str(exc))
    dist.broadcast_object_list(box, src=0)
    if box[1] is not None:
        name, message = box[1]
        raise (ConfigError if name.endswith("ConfigError") else DistributedError)(message)
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def launch(nproc: int, argv: list[str], module: str = "ganzoo", capture: bool = False,
           threads: int | None = None):
    """Run ``python -m MODULE ARGV`` on ``nproc`` local processes through torch's launcher
    (``torch.distributed.run``, i.e. torchrun). Each process gets ``threads`` threads
    (default: ``OMP_NUM_THREADS``, else cores / nproc). Returns the exit code, or the
    ``CompletedProcess`` with its output when ``capture``."""
    if nproc < 1:
        raise ConfigError("--nproc must be at least 1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", module, *argv]
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    else:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    if capture:
        return subprocess.run(command, env=env, capture_output=True, text=True)
    return _launch_here(command[3:], env["OMP_NUM_THREADS"])


def _launch_here(launcher_args: list[str], threads: str) -> int:
    """torchrun in this process: the workers print their own one-line errors, and the
    launcher's failure report (a traceback and a table) is replaced by the exit code of
    the first rank that failed."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    os.environ["OMP_NUM_THREADS"] = threads
    quiet = logging.getLogger("torch.distributed.elastic")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # "failed (exitcode ...)" lines: the workers said it already
    try:
        run(parse_args(launcher_args))
        return 0
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        code = failure.exitcode
        return code if isinstance(code, int) and 0 < code < 256 else 1
    except KeyboardInterrupt:
        return 130
    finally:
        quiet.setLevel(level)


def strip_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``--name VALUE`` / ``--name=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == name:
            skip = True
            continue
        if arg.startswith(name + "="):
            continue
        out.append(arg)
    return out
