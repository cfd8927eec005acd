"""Checkpoints as safetensors files: no pickle is ever written or read.

Layout of one checkpoint (a folder)::

    checkpoints/step-0002000/
        generator.safetensors       generator weights
        discriminator.safetensors   discriminator weights
        train_state.safetensors     optimizer states, data order, random generators
    checkpoints/latest              the name of the newest complete checkpoint

Every file carries string metadata: format and version, ganzoo version, the model,
loss and dataset names, the step, and the fully resolved run config as JSON.
A checkpoint is written into a temporary folder, flushed, then renamed into place;
``latest`` moves only after that.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError

FORMAT = "ganzoo-checkpoint"
FORMAT_VERSION = "1"
GENERATOR_FILE = "generator.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
STATE_FILE = "train_state.safetensors"
LATEST = "latest"
CHECKPOINTS_DIR = "checkpoints"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], str]:
    """An optimizer's state as flat tensors plus JSON for everything that is not a tensor."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, json.dumps({"param_groups": state["param_groups"], "scalars": scalars})


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: str) -> dict[str, Any]:
    """Rebuild an optimizer ``state_dict`` from :func:`flatten_optimizer`'s output."""
    info = json.loads(meta)
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, tensor in tensors.items():
        if name.startswith(head):
            index, key = name[len(head):].split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    for name, value in info["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": info["param_groups"]}


def save_checkpoint(run_dir: Path, step: int, files: dict[str, dict[str, torch.Tensor]],
                    metadata: dict[str, str], keep: int, name: str | None = None) -> Path:
    """Write a complete checkpoint folder, point ``latest`` at it, drop old ones.

    Args:
        run_dir: the run directory.
        step: the training step, used in the folder name.
        files: file name -> tensors to store in it.
        metadata: string metadata stored in every file.
        keep: how many checkpoints to keep (the newest).
        name: write ``checkpoints/NAME`` instead (e.g. ``best``): no rotation, ``latest``
            unchanged.

    Returns:
        The checkpoint folder.
    """
    root = Path(run_dir) / CHECKPOINTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / (name or f"step-{step:07d}")
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "step": str(step), **metadata}
        for file_name, tensors in files.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp / file_name, meta)
            _fsync(tmp / file_name)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if name is not None:
        return final
    atomic_write_text(root / LATEST, final.name + "\n")
    old = sorted(p for p in root.glob("step-*") if p.is_dir() and p != final)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint folder that ``path`` names: a run directory (its latest
    checkpoint), a checkpoints folder, a checkpoint folder, or a file inside one."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"no such run or checkpoint: {p}")
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CheckpointError(f"not a ganzoo checkpoint (only .safetensors files are read): {p}")
        return p.parent
    for root in (p / CHECKPOINTS_DIR, p):
        latest = root / LATEST
        if latest.is_file():
            target = root / latest.read_text(encoding="utf-8").strip()
            if not (target / GENERATOR_FILE).is_file():
                raise CheckpointError(f"{latest} names a missing checkpoint: {target}")
            return target
    if (p / GENERATOR_FILE).is_file():
        return p
    raise CheckpointError(f"no checkpoint found in {p} (expected a run directory or a checkpoint folder)")


def read_metadata(file: Path) -> dict[str, str]:
    """The metadata of a ganzoo safetensors file, checked for format and version."""
    try:
        with safe_open(str(file), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint file {file}: {exc}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a ganzoo checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{file} has checkpoint format {meta.get('format_version')!r}; "
            f"this ganzoo reads format {FORMAT_VERSION}")
    return meta


def load_tensors(file: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file (never unpickles anything)."""
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint file {file}: {exc}") from None
