"""What a run was trained with: ``RUN/environment.json``, one record per session (start or resume)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig
from ..errors import GanzooError
from ..files import atomic_write_text
from ..plugins.registry import Registry
from ..specs import SPEC_TYPES

ENVIRONMENT_FILE = "environment.json"


def environment(cfg: RunConfig, registry: Registry, device: torch.device, world_size: int = 1) -> dict[str, Any]:
    """What a run was trained with: versions of ganzoo, torch and Python, the machine, and each
    component with the plugin (distribution and version) that provided it."""
    import platform
    import sys

    from ..version import __version__
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
    atomic_write_text(path, json.dumps({"sessions": sessions}, indent=2) + "\n")
