"""The training preview of a saved checkpoint, for ``ganzoo sample RUN --preview``.

A run's previews (``samples/step-NNNNNNN.*``) are what its algorithm chose to show: samples
from fixed latents, or rows of translations, or an algorithm's own picture (CycleGAN's
A -> B -> A rows, a CoGAN's pairs). This assembles the run as training did, puts the
checkpoint back and writes that same preview, so a checkpoint's preview equals the one the
run wrote at that step.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from ..config import RunConfig
from ..errors import CheckpointError
from ..plugins.registry import Registry
from . import checkpoint as ckpt
from .assemble import assemble
from .log import RunLog
from .previews import Previews
from .progress import Reporter
from .state import restore


def write_preview(path: str | Path, out: Path, registry: Registry, *, data_dir: str | Path | None = None,
                  device: str = "cpu", ema: bool = True) -> tuple[list[Path], int, str | None]:
    """Write the training preview of the checkpoint ``path`` names to ``out`` (its suffix
    replaced by what the data's kind writes).

    Args:
        path: a run directory (its newest complete checkpoint) or a checkpoint folder.
        out: the file to write.
        registry: the component registry.
        data_dir: where the run's dataset is (default: the run's); previews show real examples.
        device: where to run the networks.
        ema: show the moving averages of a run trained with ``--set ema=...`` (as its previews did).

    Returns:
        The files written, the checkpoint's step, and a note when the checkpoint used is not the
        one asked for (see :func:`~ganzoo.training.checkpoint.find_checkpoint`).

    Raises:
        CheckpointError: no complete checkpoint (a preview may use every module of the run).
    """
    folder, note = ckpt.find_checkpoint(path, for_resume=True)
    if folder is None:
        raise CheckpointError(f"{path} holds no complete checkpoint to preview: {note}")
    try:
        cfg = RunConfig.model_validate_json(ckpt.read_metadata(folder / ckpt.STATE_FILE)["config"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{folder} carries no valid run config: {str(exc).splitlines()[0]}") from None
    cfg = cfg.model_copy(update={"device": device, **({"data_dir": str(data_dir)} if data_dir is not None else {})})
    host_state, numpy_state = random.getstate(), _numpy_state()
    with torch.random.fork_rng(devices=[]):  # the caller's random streams stay as they were
        try:
            t = assemble(cfg, registry, device=device, run_dir=out.parent)
            restore(t, folder)
            if not ema:
                t.sampling_nets, t.sampling_modules = t.nets, t.modules
            written = Previews(t, RunLog(None, Reporter(enabled=False))).write(out.with_suffix(""))
        finally:
            random.setstate(host_state)
            if numpy_state is not None:
                import numpy as np

                np.random.set_state(numpy_state)
    return written, t.step, note


def _numpy_state():
    try:
        import numpy as np
    except ImportError:  # numpy is optional
        return None
    return np.random.get_state()
