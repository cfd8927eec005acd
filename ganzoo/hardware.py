"""What this machine's processor can do fast: native bf16, its kind, its physical cores.

``--precision auto`` asks :func:`pick_precision`; the benchmarks name their result files
after :func:`machine_kind`, so figures from an AMX Xeon, an AVX512-BF16 EPYC and an
AVX2-only CPU never land in one file.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags: torch's own reading (``torch.cpu.get_capabilities``), else
    /proc/cpuinfo's ``flags`` line (empty where neither answers)."""
    try:
        capabilities = torch.cpu.get_capabilities()
        return frozenset(name for name, present in capabilities.items() if present is True)
    except (AttributeError, RuntimeError):  # an older or newer torch without it
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_bf16() -> str | None:
    """The CPU's native bf16 matrix instructions ("AMX-BF16" or "AVX512-BF16"), or None
    where bf16 would be emulated (AVX2-only CPUs run it slower than fp32)."""
    flags = cpu_flags()
    if {"amx_bf16", "amx_tile"} & flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def pick_precision(device: torch.device) -> tuple[str, str]:
    """What ``--precision auto`` means on ``device``: ``(precision, why)``. bf16 where the
    hardware computes it natively (CUDA GPUs with bf16 support, CPUs with AMX-BF16 or
    AVX512-BF16), else fp32."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{torch.cuda.get_device_name(device)} supports bf16"
        return "fp32", f"{torch.cuda.get_device_name(device)} has no native bf16"
    if device.type == "cpu":
        native = cpu_bf16()
        if native:
            return "bf16", f"the CPU has native bf16 ({native})"
        return "fp32", "the CPU has no native bf16 (no AMX-BF16 or AVX512-BF16; bf16 would be emulated)"
    return "fp32", f"no bf16 policy for device type {device.type!r}"


def machine_kind(device: torch.device | None = None) -> str:
    """A short name for the kind of machine figures were measured on: ``avx512-amx``,
    ``avx512-bf16``, ``avx512``, ``avx2``, ... (torch's CPU capability plus the bf16 units),
    or the GPU's name, e.g. ``cuda-nvidia-h200``."""
    if device is not None and device.type == "cuda":
        name = torch.cuda.get_device_name(device).lower()
        return "cuda-" + "".join(c if c.isalnum() else "-" for c in name).strip("-")
    kind = torch.backends.cpu.get_cpu_capability().lower()
    native = cpu_bf16()
    if native == "AMX-BF16":
        kind += "-amx"
    elif native == "AVX512-BF16" and kind.startswith("avx512"):
        kind += "-bf16"
    return kind


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads of one core count once)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
    cores = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology / "physical_package_id").read_text().strip() + ":"
                      + (topology / "core_id").read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def set_threads() -> int:
    """Intra-op threads = physical cores, unless ``OMP_NUM_THREADS`` (or MKL's) says
    otherwise (as ``ganzoo train --nproc`` does for each process); returns the count in use."""
    if "OMP_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ:
        wanted = physical_cores()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
    return torch.get_num_threads()
