"""Checkpoints as safetensors files: no pickle is ever written or read.

Layout of one checkpoint (a folder)::

    checkpoints/step-0002000/
        <module>.safetensors        one file per network (generator, discriminator, g_ab, ...)
        train_state.safetensors     optimizer states, gradient scalers, the algorithm's state,
                                    data order, random generators
    checkpoints/latest              the name of the newest complete checkpoint

Format 3 names its modules, their optimizer groups and exports in the metadata; format 2
(a ``generator`` and a ``discriminator`` file, no module list) is read as that pair.

Every file carries string metadata: format and version, ganzoo version, the model,
loss and dataset names, the step, the fully resolved run config as JSON, and a
sha256 checksum of its tensors and metadata, checked on every read (a truncated,
corrupted or edited file is refused). A checkpoint is written into a temporary
folder, flushed, then renamed into place; ``latest`` moves only after that, so a
crash at any moment (even SIGKILL mid-write) leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..version import __version__
from ..config import RunConfig
from ..data import DataShape
from ..errors import CheckpointError, GanzooError
from ..files import atomic_write_text


class CheckpointWriteError(GanzooError):
    """A checkpoint could not be written (e.g. the disk is full); nothing half-written is left."""

FORMAT = "ganzoo-checkpoint"
FORMAT_VERSION = "3"  # 2: adds the checksum; 3: named modules and optimizer groups
READABLE_VERSIONS = ("2", "3")
STATE_FILE = "train_state.safetensors"
LATEST = "latest"
CHECKPOINTS_DIR = "checkpoints"


def module_file(name: str) -> str:
    """The file a module is saved in: ``<name>.safetensors``."""
    return f"{name}.safetensors"


def ema_file(name: str) -> str:
    """The file a module's averaged copy (``--set ema``) is saved in: ``<name>.ema.safetensors``."""
    return f"{name}.ema.safetensors"


def ema_modules(meta: dict[str, str]) -> list[str]:
    """The modules whose averaged copies a checkpoint holds (none for a run without ``ema``)."""
    try:
        return list(json.loads(meta["ema"])["modules"]) if meta.get("ema") else []
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint metadata names its averaged modules badly: {exc}") from None


def module_layout(meta: dict[str, str]) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """``(modules, optimizer groups, exports)`` a checkpoint file's metadata describes; a
    format-2 checkpoint is the generator/discriminator pair."""
    if meta.get("format_version") == "2":
        return (["generator", "discriminator"], {"g_optim": ["generator"], "d_optim": ["discriminator"]},
                ["generator"])
    try:
        return json.loads(meta["modules"]), json.loads(meta["optimizers"]), json.loads(meta["export"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata does not name its modules: {exc}") from None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checksum(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """``sha256:HEX`` over every tensor (name, dtype, shape, bytes) and the metadata
    (without the checksum itself), in sorted order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    meta = {k: v for k, v in metadata.items() if k != "checksum"}
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return "sha256:" + digest.hexdigest()




def truncate_jsonl(path: Path, step: int) -> None:
    """Drop the lines of a ``.jsonl`` log written after ``step`` (they are about to be redone)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (ValueError, AttributeError):
            continue  # a line cut short by a crash
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


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
    return tensors, json.dumps({"param_groups": state["param_groups"], "scalars": scalars,
                                "tensors": sorted(tensors)})


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: str) -> dict[str, Any]:
    """Rebuild an optimizer ``state_dict`` from :func:`flatten_optimizer`'s output."""
    info = json.loads(meta)
    missing = [name for name in info.get("tensors", ()) if name not in tensors]  # format 2 lists none
    if missing:
        raise KeyError(missing[0])
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
    for leftover in (*root.glob(".tmp-*"), *root.glob(".old-*")):  # from a process that was killed
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    try:
        tmp.mkdir()
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "step": str(step), **metadata}
        for file_name, tensors in files.items():
            tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
            save_file(tensors, tmp / file_name, {**meta, "checksum": checksum(tensors, meta)})
            _fsync(tmp / file_name)
        _fsync(tmp)
        if final.exists():  # only `best` (or a step rewritten after a rollback) is replaced
            old = root / f".old-{final.name}-{os.getpid()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_dir(root)
    except (OSError, SafetensorError) as exc:  # safetensors reports a full disk as SafetensorError
        shutil.rmtree(tmp, ignore_errors=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointWriteError(f"cannot write checkpoint {final}: {reason}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if name is not None:
        return final
    try:
        atomic_write_text(root / LATEST, final.name + "\n")
    except OSError as exc:
        raise CheckpointWriteError(f"cannot update {root / LATEST}: {exc.strerror or exc}") from None
    # checkpoints after this step belong to a timeline abandoned by a resume: left alone
    old = sorted(p for p in root.glob("step-*") if p.is_dir() and p.name < final.name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def checkpoint_files(folder: Path) -> tuple[list[str], list[str]]:
    """``(every file, the files a user of the trained model needs)`` of checkpoint ``folder``, as
    its metadata names them (every file of a checkpoint carries the same metadata, so any intact
    one tells): every module, its averaged copy and ``train_state.safetensors``; the exported
    modules (their averaged copies too). ``([], [])`` when no file can tell."""
    for file in [folder / STATE_FILE, *sorted(folder.glob("*.safetensors"))]:
        try:
            meta = read_metadata(file)
            modules, _, export = module_layout(meta)
            averaged = ema_modules(meta)
        except (CheckpointError, OSError):
            continue
        every = [STATE_FILE, *(module_file(m) for m in modules), *(ema_file(m) for m in averaged)]
        needed = [*(module_file(m) for m in export), *(ema_file(m) for m in export if m in averaged)]
        return every, needed
    return [], []


def missing_files(folder: Path, for_resume: bool = True) -> list[str]:
    """The files checkpoint ``folder`` lacks: for a resume every file, for using the trained model
    (sampling, evaluation, export) those of its exported modules. A folder with no readable
    file lacks ``train_state.safetensors``."""
    every, needed = checkpoint_files(folder)
    if not every:
        return [STATE_FILE]
    return [name for name in (every if for_resume else needed) if not (folder / name).is_file()]


def _checkpoints_root(path: Path) -> Path | None:
    """The ``checkpoints`` folder of a run directory or a checkpoints folder, if ``path`` is one."""
    for root in (path / CHECKPOINTS_DIR, path):
        if (root / LATEST).is_file() or (root.name == CHECKPOINTS_DIR and root.is_dir()):
            return root
    return None


def _latest(root: Path) -> Path | None:
    """The checkpoint ``root/latest`` names, which must be a folder inside ``root`` (a run only
    ever reads and writes inside its own folder)."""
    latest = root / LATEST
    if not latest.is_file():
        return None
    name = latest.read_text(encoding="utf-8").strip()
    folder = root / name
    # a bare name, and no link out of the run either
    if not name or Path(name).name != name or name in (".", "..") or folder.resolve().parent != root.resolve():
        raise CheckpointError(f"{latest} names {name!r}, which is not a checkpoint folder of this run; "
                              f"write the name of one of the folders in {root} there")
    return folder


def complete_checkpoints(root: Path, for_resume: bool = True) -> list[Path]:
    """The checkpoints in ``root`` that lack nothing (see :func:`missing_files`), newest first."""
    folders = sorted((p for p in root.glob("step-*") if p.is_dir() and not p.is_symlink()),
                     key=lambda p: p.name, reverse=True)
    return [folder for folder in folders if not missing_files(folder, for_resume)]


def find_checkpoint(path: str | Path, for_resume: bool = False) -> tuple[Path | None, str | None]:
    """The checkpoint that ``path`` means, and a note when it is not the one asked for.

    ``path`` is a run directory or its ``checkpoints`` folder (the checkpoint ``latest`` names),
    a checkpoint folder, or a file inside one. A checkpoint that lacks files (see
    :func:`missing_files`) is not used: from a run directory the newest one that lacks nothing is
    taken instead, and the note says so. A run directory with no checkpoint folder at all (a run
    killed before its first one was written) gives ``(None, why)`` for a resume; one whose every
    checkpoint lacks files is refused (that is damage, and starting again would write over it).

    Raises:
        CheckpointError: nothing usable is there; the message says what is missing and where.
    """
    p = Path(path).expanduser()
    try:
        exists = p.exists()
    except OSError as exc:  # a name too long, a loop of links...
        raise CheckpointError(f"cannot use {p}: {exc.strerror or exc}") from None
    if not exists:
        raise CheckpointError(f"no such run or checkpoint: {p}")
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CheckpointError(f"not a ganzoo checkpoint (only .safetensors files are read): {p}")
        p = p.parent
    root = _checkpoints_root(p)
    if root is None:  # a checkpoint folder, named by the user: used as it is or refused
        missing = missing_files(p, for_resume)
        if not any(p.glob("*.safetensors")):
            raise CheckpointError(f"no checkpoint found in {p} (expected a run directory or a checkpoint folder)")
        if missing:
            raise CheckpointError(f"checkpoint {p} lacks {', '.join(missing)}")
        return p, None
    latest = _latest(root)
    if latest is not None and latest.is_dir() and not missing_files(latest, for_resume):
        return latest, None
    found = complete_checkpoints(root, for_resume)
    if latest is not None:
        problem = (f"{latest.name} lacks {', '.join(missing_files(latest, for_resume))}" if latest.is_dir()
                   else f"{root / LATEST} names {latest.name}, which is missing")
    else:
        problem = f"{root} has no {LATEST} file"
    if found:
        return found[0], f"{problem}; using {found[0].name}, the newest complete checkpoint"
    written = any(folder.is_dir() for folder in root.glob("step-*"))
    if for_resume and not written and root.parent.joinpath("config.json").is_file():
        return None, f"{problem}, and no earlier checkpoint is complete"
    raise CheckpointError(f"no usable checkpoint in {p}: {problem}, and no earlier checkpoint is complete")


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint folder that ``path`` names, for using the trained model (see
    :func:`find_checkpoint`; a run directory's newest checkpoint whose exported modules are intact)."""
    return find_checkpoint(path)[0]


def read_metadata(file: Path) -> dict[str, str]:
    """The metadata of a ganzoo safetensors file, checked for format and version."""
    try:
        with safe_open(str(file), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint file {file}: {exc}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a ganzoo checkpoint")
    if meta.get("format_version") not in READABLE_VERSIONS or "checksum" not in meta:
        raise CheckpointError(
            f"{file} has checkpoint format {meta.get('format_version')!r}; "
            f"this ganzoo reads formats {', '.join(READABLE_VERSIONS)}")
    return meta


def load_checked(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the metadata of a ganzoo safetensors file, after checking its
    format, version and checksum (never unpickles anything)."""
    meta = read_metadata(file)
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"cannot read checkpoint file {file}: {exc}") from None
    if meta.get("checksum") != checksum(tensors, meta):
        raise CheckpointError(f"{file} fails its checksum: the file is corrupt or was modified")
    return tensors, meta


def load_tensors(file: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checked ganzoo safetensors file (see :func:`load_checked`)."""
    return load_checked(file)[0]


def checkpoint_metadata(cfg: RunConfig, shape: DataShape) -> dict[str, str]:
    """String metadata for every checkpoint file: enough to rebuild the networks."""
    return {"ganzoo_version": __version__, "model": cfg.model, "loss": cfg.loss,
            "dataset": cfg.dataset, "config": cfg.model_dump_json(),
            "data_shape": json.dumps(shape.to_json())}

