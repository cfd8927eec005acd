"""What this machine's processor can do fast: native bf16, its kind, its physical cores.

``--precision auto`` asks :func:`pick_precision`; the benchmarks name their result files
after :func:`machine_kind`, so figures from an AMX Xeon, an AVX512-BF16 EPYC, an
AVX512-BF16 Xeon without AMX and an AVX2-only CPU never land in one file.

Native bf16 instructions do not make bf16 fast everywhere: an AMX Xeon runs bf16 matmuls
about 6x fp32 and an AVX512-BF16 EPYC (Zen 4) about 2x, but on a Xeon whose AMX is hidden
(as some virtual machines do) AVX512-BF16's dot products do not outrun fp32 FMAs: bf16
matmuls and convolutions measured about half the fp32 rate there. So ``auto`` measures
(:func:`bf16_speedup`) before it picks bf16.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from ..config import DEVICE_PATTERN
from ..errors import ConfigError

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


def cpu_vendor() -> str | None:
    """"intel", "amd" or None, from /proc/cpuinfo's ``vendor_id``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                vendor = line.split(":", 1)[1].strip()
                return {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(vendor, vendor.lower() or None)
    except OSError:
        pass
    return None


BF16_WORTH_IT = 1.2  # auto picks bf16 on a CPU only where bf16 matmuls run at least this much faster


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> float:
    """The best FLOP/s of ``repeats`` ``size``-square matrix multiplies in ``dtype`` on
    ``device``, after one warm-up (the timing behind ``ganzoo.training.bench.matmul_peak`` and
    :func:`bf16_speedup`)."""
    import time

    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up
    best = 0.0
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = max(best, 2 * size ** 3 / max(time.perf_counter() - started, 1e-9))
    return best


@functools.lru_cache(maxsize=1)
def bf16_speedup(size: int = 768, repeats: int = 3) -> float:
    """How many times faster a ``size``-square bf16 matmul runs than an fp32 one on this CPU
    (best of ``repeats`` each; about 0.1 s in all). Measured once per process."""
    cpu = torch.device("cpu")
    return matmul_rate(cpu, torch.bfloat16, size, repeats) / matmul_rate(cpu, torch.float32, size, repeats)


def pick_precision(device: torch.device) -> tuple[str, str]:
    """What ``--precision auto`` means on ``device``: ``(precision, why)``. bf16 on CUDA GPUs
    that support it, and on CPUs with native bf16 (AMX-BF16 or AVX512-BF16) where bf16
    matmuls measure at least :data:`BF16_WORTH_IT` times faster than fp32; else fp32."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{torch.cuda.get_device_name(device)} supports bf16"
        return "fp32", f"{torch.cuda.get_device_name(device)} has no native bf16"
    if device.type == "cpu":
        native = cpu_bf16()
        if native:
            speedup = bf16_speedup()
            if speedup >= BF16_WORTH_IT:
                return "bf16", f"the CPU has native bf16 ({native}); bf16 matmuls run {speedup:.1f}x fp32 here"
            without = " (no AMX)" if native == "AVX512-BF16" else ""
            return "fp32", (f"the CPU has {native} but bf16 matmuls run only {speedup:.1f}x fp32 "
                            f"here{without}, so fp32 is faster")
        return "fp32", "the CPU has no native bf16 (no AMX-BF16 or AVX512-BF16; bf16 would be emulated)"
    return "fp32", f"no bf16 policy for device type {device.type!r}"


def machine_kind(device: torch.device | None = None) -> str:
    """A short name for the kind of machine figures were measured on: ``avx512-amx``,
    ``avx512-bf16-amd``, ``avx512-bf16-intel``, ``avx512``, ``avx2``, ... (torch's CPU
    capability plus the bf16 units, and the vendor where AVX512-BF16 alone behaves so
    differently: 2x fp32 on AMD, 0.5x on Intel), or the GPU's name, e.g. ``cuda-nvidia-h200``."""
    if device is not None and device.type == "cuda":
        name = torch.cuda.get_device_name(device).lower()
        return "cuda-" + "".join(c if c.isalnum() else "-" for c in name).strip("-")
    kind = torch.backends.cpu.get_cpu_capability().lower()
    native = cpu_bf16()
    if native == "AMX-BF16":
        kind += "-amx"
    elif native == "AVX512-BF16" and kind.startswith("avx512"):
        kind += "-bf16"
        vendor = cpu_vendor()
        if vendor:
            kind += "-" + "".join(c for c in vendor if c.isalnum())
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
    """At most one intra-op thread per physical core: lowers torch's count where it is higher
    (hyper-threads, a CPU quota), never raises one the process chose itself with
    ``torch.set_num_threads`` and leaves it alone where ``OMP_NUM_THREADS`` (or MKL's) is set
    (as ``ganzoo train --nproc`` does for each process); returns the count in use."""
    if "OMP_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ:
        wanted = physical_cores()
        if torch.get_num_threads() > wanted:
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; refuses devices that are not there."""
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist ({torch.cuda.device_count()} GPUs)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' requested but it is not available; use --device cpu")
    return device


def resolve_precision(cfg, device: torch.device):
    """``(cfg, message)``: a config whose ``precision: auto`` is replaced by what it means on
    ``device`` (see :func:`pick_precision`) and a line saying what was picked
    and why; ``(cfg, None)`` when the precision was given."""
    if cfg.precision != "auto":
        return cfg, None
    picked, why = pick_precision(device)
    return cfg.model_copy(update={"precision": picked}), f"precision auto -> {picked}: {why}"
