"""Shared pieces of the quality suite: seeds, the training runner, aggregation, machine info.

Not installed: the section scripts put this folder on ``sys.path`` and ``import quality_common``.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results" / "quality"
"""Full results; ``--quick`` writes to ``RESULTS_DIR / "quick"`` instead."""

TABLE_SEEDS = list(range(100, 110))
"""The seeds every reported table uses (full runs). Settings were chosen on TUNING_SEEDS."""

TUNING_SEEDS = list(range(0, 10))
"""Seeds reserved for choosing settings: the suite never trains on them."""

QUICK_SEEDS = [100]
"""``--quick``: one table seed."""

SAMPLE_SEED = 12345
"""The latent seed of every scored sample set (``handle.sample(n, seed=SAMPLE_SEED)``)."""

SEED_TEXT = "table seeds 100-109; settings were chosen on seeds 0-9"

assert not set(TABLE_SEEDS) & set(TUNING_SEEDS)


@dataclass
class Options:
    """What every section needs to know about this invocation."""

    data_dir: str | None
    quick: bool
    out: Path                      # folder for run directories
    results: Path                  # folder for quality.json / .md / PNGs
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)
    toy_jobs: int = 1               # toy runs trained side by side (1 torch thread each; untimed)
    images_datasets: list[str] | None = None  # the image section's datasets (default: all)


def strip_flags(flags: Sequence[str], names: Sequence[str]) -> list[str]:
    """``flags`` without any ``NAME VALUE`` or ``NAME=VALUE`` pair whose NAME is in ``names``."""
    out: list[str] = []
    skip = False
    for arg in flags:
        if skip:
            skip = False
            continue
        if arg in names:
            skip = True
            continue
        if any(arg.startswith(f"{n}=") for n in names):
            continue
        out.append(arg)
    return out


def with_steps(flags: Sequence[str], steps: int) -> list[str]:
    """``flags`` with any ``--steps`` / ``--epochs`` replaced by ``--steps steps``."""
    return [*strip_flags(flags, ("--steps", "--epochs")), "--steps", str(int(steps))]


def flag_value(flags: Sequence[str], name: str) -> str | None:
    """The value of ``name`` in ``flags`` (the last one), or None."""
    value = None
    for i, arg in enumerate(flags):
        if arg == name and i + 1 < len(flags):
            value = flags[i + 1]
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1]
    return value


def slug(text: str) -> str:
    """A run-directory-safe version of a label."""
    keep = "".join(c if c.isalnum() else "-" for c in text.lower())
    while "--" in keep:
        keep = keep.replace("--", "-")
    return keep.strip("-")[:48] or "run"


class Trainer:
    """Runs ``python -m ganzoo train`` one run at a time and prints numbered progress lines."""

    def __init__(self, options: Options, total: int) -> None:
        self.options = options
        self.total = total
        self.index = 0
        self._started = 0.0

    def train(self, describe: str, model: str, dataset: str, seed: int, flags: Sequence[str],
              run_name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """Train one run; returns ``{"run_dir", "rc", "train_sec", "command", "error"?}``.

        Prints ``[i/total] describe ...`` (without a newline: :meth:`done` ends the line).
        A failed run (non-zero exit) is returned with ``"error"``, never raised.
        """
        self.index += 1
        opts = self.options
        command = [opts.python, "-m", "ganzoo", "train", model, "--dataset", dataset, "--seed", str(seed),
                   "--device", "cpu", "--out", str(opts.out), "--run-name", run_name, "--quiet"]
        if opts.data_dir:
            command += ["--data-dir", str(opts.data_dir)]
        command += [str(f) for f in flags]
        index = self.index
        if env is None:  # one run at a time: the line ends in done()
            print(f"[{index}/{self.total}] {describe} ...", end="", flush=True)
        started = time.perf_counter()
        env = {**os.environ, **opts.extra_env, **(env or {})}
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(REPO))
            rc, stderr = done.returncode, done.stderr
        except OSError as exc:
            rc, stderr = -1, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {"run_dir": str(opts.out / run_name), "rc": rc,
                                  "train_sec": round(seconds, 2), "command": shlex.join(command),
                                  "describe": f"[{index}/{self.total}] {describe}"}
        if rc != 0:
            tail = [line for line in stderr.strip().splitlines() if line.strip()][-3:]
            result["error"] = f"exit {rc}: " + (" | ".join(tail) or "no output")
        return result

    def done(self, train: dict[str, Any], score_sec: float | None = None, note: str = "") -> None:
        """End the progress line started by :meth:`train`."""
        text = f" {train['train_sec']:.0f} s"
        if train.get("parallel"):
            text = f"{train['describe']}: {text.strip()}"
        if score_sec is not None:
            text += f" (+{score_sec:.0f} s scoring)"
        if "error" in train:
            text += f" FAILED: {train['error'][:200]}"
        if note:
            text += f"  {note}"
        print(text, flush=True)


def aggregate(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, standard error (sample std with ddof=1, over sqrt(n)), min and max.

    ``se`` is None for fewer than 2 values; everything is None for no values.
    """
    xs = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    n = len(xs)
    if n == 0:
        return {"n": 0, "mean": None, "se": None, "std": None, "min": None, "max": None}
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else None
    return {"n": n, "mean": mean, "se": (std / math.sqrt(n)) if std is not None else None, "std": std,
            "min": min(xs), "max": max(xs)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import torch

    import ganzoo

    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - older torch
        capability = None
    return {"cpu_model": cpu_model(), "cpu_capability": capability, "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "platform": platform.platform(),
            "ganzoo": ganzoo.__version__}


def display_path(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell ('' for None)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def fmt_stat(stat: dict | None, digits: int = 2) -> str:
    """``mean ± se`` (or just the mean for one value)."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("se") is not None:
        text += f" ± {stat['se']:.{digits}f}"
    return text
