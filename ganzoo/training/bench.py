"""``ganzoo bench``: how fast a training step runs here, and how close to the hardware.

Each model is built exactly as ``ganzoo train`` builds it and trained on synthetic data of
the dataset's shape (no data files needed), so the figures measure the step, not I/O.
Reported: images/s (real images the discriminator sees), ms per step (median, p10, p90),
peak memory (process RSS on CPU, allocated memory on CUDA), FLOPs per step
(``torch.utils.flop_counter``) and the achieved FLOP/s as a fraction of this device's
measured matrix-multiply peak at the same precision.

Under torchrun (or ``ganzoo bench --nproc N``) it times the DDP step of N processes: the
batch is the global batch, images/s count all ranks, FLOPs and the peak are rank 0's
share and one process's peak. :func:`scaling` compares N processes with one.
"""

from __future__ import annotations

import functools
import resource
import statistics
import time
from typing import Any

import torch

from ..plugins.build import build_algorithm
from ..config import resolve_config
from ..data import KIND_OF_NAME, FieldShape, ItemData
from ..errors import ConfigError
from ..kinds import kind_of
from .assemble import assemble
from .hardware import machine_kind, matmul_rate, resolve_device, set_threads
from ..plugins.registry import Registry

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


SLOW_MULTIPLY_S = 0.1
"""Seconds one multiply of :func:`matmul_peak` may take before it tries no larger size."""


@functools.lru_cache(maxsize=None)
def matmul_peak(device: torch.device, precision: str = "fp32", sizes: tuple[int, ...] | None = None,
                repeats: int = 4) -> float:
    """Measured FLOP/s of square matrix multiplies at ``precision`` on ``device``: the best
    over ``sizes`` (default 512, 1024 and 2048 on a CPU, 4096 and 8192 on a GPU) and
    ``repeats``, measured once per process. Sizes are tried smallest first, and none larger once
    one multiply takes :data:`SLOW_MULTIPLY_S`: a larger one runs no faster there, only longer
    (bf16 emulated on an AVX2 CPU runs at about 1 GFLOP/s, minutes for a 2048-square multiply).
    It is a measured, not a datasheet, peak: well-blocked convolutions can come out slightly
    above it (a fraction a little over 1)."""
    dtype = DTYPES[precision]
    device = torch.device(device)
    if sizes is None:
        sizes = (4096, 8192) if device.type == "cuda" else (512, 1024, 2048)
    best = 0.0
    for size in sorted(sizes):
        rate = matmul_rate(device, dtype, size, repeats)
        best = max(best, rate)
        if 2 * size ** 3 / rate > SLOW_MULTIPLY_S:
            break
    return best


def count_flops():
    """A context whose ``.total`` is the FLOPs of what ran inside, by torch's own formulas
    (``torch.utils.flop_counter.flop_registry``: matmuls and convolutions, forward and
    backward). Not ``FlopCounterMode`` itself: its per-module tracker hooks every module's
    backward, which breaks ``torch.autograd.grad`` (WGAN-GP's and R1's penalties)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class FlopCount(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    return FlopCount()


SYNTHETIC_VOCABULARY = 5000
"""Token ids of synthetic data of a kind with a vocabulary (SeqGAN's oracle's size): a dataset
spec gives no vocabulary."""


def synthetic_data(spec, image_size: int | None, n: int, seed: int = 0) -> ItemData:
    """Random data with the dataset's kind, item shape, class count, rate and fields (a paired
    ``target`` has the primary field's shape, a ``mask`` its size; ``*_b`` fields form a
    second, unpaired stream)."""
    shape = spec.shape
    if shape is None:
        raise ConfigError(f"ganzoo bench needs the item shape of dataset {spec.name!r} (its spec declares none); "
                          "benchmark with another dataset")
    gen = torch.Generator().manual_seed(seed)
    kind = kind_of(spec.data_kind)
    if image_size and kind.sized:
        shape = kind.resized(shape, image_size / shape[-1])
    vocabulary = ("<pad>", "<eos>", "<unk>", *(f"w{i}" for i in range(SYNTHETIC_VOCABULARY - 3))) \
        if kind.takes_vocabulary else None
    primary = FieldShape(spec.data_kind, shape, len(vocabulary) if vocabulary else None, rate=spec.rate,
                         vocabulary=vocabulary)
    fields = {spec.data_kind: kind.synthetic(n, shape, gen, primary)}
    kinds = {spec.data_kind: spec.data_kind}
    classes = {spec.data_kind: len(vocabulary)} if vocabulary else {}
    for name in ("label", *spec.fields) if spec.num_classes else spec.fields:
        try:
            field_kind = kind_of(KIND_OF_NAME[name])
            field_shape = field_kind.companion_shape(shape)
        except (KeyError, NotImplementedError):
            raise ConfigError(f"ganzoo bench cannot make synthetic {name!r} data; benchmark with the real dataset") from None
        count = (spec.num_classes or 2) if field_kind.counts_classes else None
        field = FieldShape(field_kind.name, field_shape, count)
        fields[name] = field_kind.synthetic(n, field_shape, gen, field)
        kinds[name] = field_kind.name
        if count:
            classes[name] = count
    second = [name for name in fields if name.endswith("_b")]
    streams = [tuple(f for f in fields if f not in second)] + ([tuple(second)] if second else [])
    return ItemData(fields, kinds=kinds, classes=classes, streams=streams,
                    rates={spec.data_kind: spec.rate} if spec.rate else None,
                    vocabularies={spec.data_kind: vocabulary} if vocabulary else None)


def bench(registry: Registry, model: str, *, loss: str | None = None, dataset: str | None = None,
          device: str = "auto", batch_size: int | None = None, image_size: int | None = None,
          precision: str = "fp32", compile: bool = False, steps: int = 20, warmup: int = 3,
          sets: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Benchmark one model's training step; returns a dict of figures (see module docstring)."""
    from . import distributed

    flags = {"batch_size": batch_size, "image_size": image_size, "device": device,
             "precision": precision, "compile": compile}
    cfg = resolve_config(registry, model, loss=loss, dataset=dataset, flags=flags, sets=sets)
    dist = distributed.from_environment()  # under torchrun: time the DDP step of N processes
    dev = distributed.setup(dist, resolve_device(cfg.device))
    set_threads()
    per_step = build_algorithm(registry, cfg).batches_per_step()
    data = synthetic_data(registry.get("dataset", cfg.dataset).spec, cfg.image_size,
                          max(4 * cfg.batch_size * per_step, 256))
    t = assemble(cfg, registry, data=data, device=dev, dist=dist)  # nothing is written anywhere
    cfg = t.cfg
    for _ in range(warmup):
        t.train_step()
    with count_flops() as counter:
        t.train_step()
    flops = counter.total
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for _ in range(steps):
        _sync(dev)
        distributed.barrier(dist)
        started = time.perf_counter()
        t.train_step()
        _sync(dev)
        times.append(time.perf_counter() - started)
    distributed.teardown()
    median = statistics.median(times)
    quantiles = statistics.quantiles(times, n=10) if len(times) > 1 else [median] * 9
    peak = matmul_peak(dev, cfg.precision)
    memory = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
              else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "model": cfg.model, "loss": cfg.loss, "dataset": cfg.dataset, "device": str(dev),
        "machine_kind": machine_kind(dev), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **({"precision_auto": t.notes[0]} if t.notes else {}),
        "processes": dist.world_size, "threads_per_process": torch.get_num_threads(),
        "precision": cfg.precision, "compile": cfg.compile, "batch_size": cfg.batch_size,
        "n_critic": cfg.n_critic, "batches_per_step": per_step, "sample_shape": list(t.shape.sample_shape),
        "steps": steps, "images_per_sec": round(cfg.batch_size * per_step / median, 2),
        "ms_per_step": {"median": round(median * 1e3, 2), "p10": round(quantiles[0] * 1e3, 2),
                        "p90": round(quantiles[-1] * 1e3, 2)},
        "peak_memory_mb": round(memory / 2 ** 20, 1),
        "memory_kind": "allocated (CUDA)" if dev.type == "cuda" else "process RSS",
        "flops_per_step": flops, "achieved_flops_per_sec": round(flops / median),
        "matmul_peak_flops_per_sec": round(peak), "peak_fraction": flops / median / peak,
    }


def scaling(argv: list[str], nproc: int) -> dict[str, Any]:
    """Run ``ganzoo bench ARGV --json`` on 1 and on ``nproc`` processes through torch's
    launcher, each process with the same number of threads (cores / nproc), and return
    both results with the scaling efficiency ``(images/s on N) / (N x images/s on 1)``."""
    import json
    import os

    from .distributed import DistributedError, launch

    threads = max(1, (os.cpu_count() or 1) // nproc)
    results = {}
    for n in (1, nproc):
        done = launch(n, ["bench", *argv, "--json"], capture=True, threads=threads)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise DistributedError(f"bench on {n} process(es) failed (exit code {done.returncode}): {last}")
        try:
            results[n] = json.loads(done.stdout)
        except ValueError:
            raise DistributedError(f"bench on {n} process(es) printed no JSON") from None
    summary = []
    for one, many in zip(results[1], results[nproc]):
        speedup = many["images_per_sec"] / one["images_per_sec"]
        summary.append({"model": one["model"], "processes": nproc, "threads_per_process": threads,
                        "images_per_sec_1": one["images_per_sec"], f"images_per_sec_{nproc}": many["images_per_sec"],
                        "speedup": round(speedup, 3), "efficiency": round(speedup / nproc, 3),
                        "one": one, "many": many})
    return {"results": summary}
