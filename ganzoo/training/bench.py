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
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..plugins.build import build_algorithm, build_loss, build_networks, check_algorithm_fits, check_model_fits
from .hardware import resolve_device, resolve_precision
from ..config import resolve_config
from ..data import KIND_OF_NAME, InMemoryBatches, ItemData, PointData, shape_of
from ..errors import ConfigError
from .hardware import machine_kind, matmul_rate, set_threads
from ..plugins.registry import Registry

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@functools.lru_cache(maxsize=None)
def matmul_peak(device: torch.device, precision: str = "fp32", sizes: tuple[int, ...] | None = None,
                repeats: int = 4) -> float:
    """Measured FLOP/s of square matrix multiplies at ``precision`` on ``device``: the best
    over ``sizes`` (default 1024 and 2048 on a CPU, 4096 and 8192 on a GPU) and ``repeats``,
    measured once per process. It is a measured, not a datasheet, peak: well-blocked
    convolutions can come out slightly above it (a fraction a little over 1)."""
    dtype = DTYPES[precision]
    device = torch.device(device)
    if sizes is None:
        sizes = (4096, 8192) if device.type == "cuda" else (1024, 2048)
    return max(matmul_rate(device, dtype, size, repeats) for size in sizes)


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


def synthetic_data(spec, image_size: int | None, n: int, seed: int = 0) -> ItemData:
    """Random data with the dataset's shape, class count and fields (extra image fields
    like ``target`` have the image's shape; ``*_b`` fields form a second, unpaired stream)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, spec.num_classes, (n,), generator=gen) if spec.num_classes else None
    if spec.point_dim:
        return PointData(torch.randn(n, spec.point_dim, generator=gen), labels, spec.num_classes)
    if spec.data_kind in ("audio", "video", "tokens"):
        return _synthetic_media(spec, labels, n, gen)
    size = image_size or spec.image_size

    def images() -> torch.Tensor:
        return torch.randint(0, 256, (n, spec.channels, size, size), generator=gen, dtype=torch.uint8)

    fields = {"image": images(), **({"label": labels} if labels is not None else {})}
    classes = {"label": spec.num_classes} if spec.num_classes else {}
    second: list[str] = []
    for name in spec.fields:
        kind = KIND_OF_NAME.get(name)
        if kind == "image":
            fields[name] = images()
        elif kind == "label":
            fields[name] = torch.randint(0, spec.num_classes or 2, (n,), generator=gen)
            classes[name] = spec.num_classes or 2
        elif kind == "mask":
            fields[name] = (torch.rand(n, 1, size, size, generator=gen) > 0.5).to(torch.uint8)
        else:
            raise ConfigError(f"ganzoo bench cannot make synthetic {name!r} data; benchmark with the real dataset")
        if name.endswith("_b"):
            second.append(name)
    streams = [tuple(f for f in fields if f not in second)] + ([tuple(second)] if second else [])
    return ItemData(fields, classes=classes, streams=streams)


SYNTHETIC_VOCABULARY = 5000
"""Token ids of synthetic text data (SeqGAN's oracle vocabulary): a dataset spec gives no vocabulary size."""


def _synthetic_media(spec, labels: torch.Tensor | None, n: int, gen: torch.Generator) -> ItemData:
    """Random audio, video or token data of the spec's ``item_shape`` (and ``rate``)."""
    kind, shape = spec.data_kind, spec.item_shape
    if not shape:
        raise ConfigError(f"ganzoo bench needs the item_shape of {kind} dataset {spec.name!r}; "
                          "benchmark with the real dataset's spec fixed, or name another dataset")
    extra = {"label": labels} if labels is not None else {}
    if kind == "audio":
        data = {"audio": torch.rand(n, *shape, generator=gen) * 2 - 1}
        return ItemData({**data, **extra}, num_classes=spec.num_classes, rates={"audio": spec.rate or 16000})
    if kind == "video":
        data = {"video": torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)}
        return ItemData({**data, **extra}, num_classes=spec.num_classes, rates={"video": spec.rate or 8})
    words = ("<pad>", "<eos>", "<unk>", *(f"w{i}" for i in range(SYNTHETIC_VOCABULARY - 3)))
    data = {"tokens": torch.randint(0, SYNTHETIC_VOCABULARY, (n, *shape), generator=gen)}
    return ItemData({**data, **extra}, num_classes=spec.num_classes, vocabularies={"tokens": words})


def bench(registry: Registry, model: str, *, loss: str | None = None, dataset: str | None = None,
          device: str = "auto", batch_size: int | None = None, image_size: int | None = None,
          precision: str = "fp32", compile: bool = False, steps: int = 20, warmup: int = 3,
          sets: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Benchmark one model's training step; returns a dict of figures (see module docstring)."""
    from . import distributed
    from ..loggers import Logger
    from .loop import Trainer
    from .progress import Reporter

    flags = {"batch_size": batch_size, "image_size": image_size, "device": device,
             "precision": precision, "compile": compile}
    cfg = resolve_config(registry, model, loss=loss, dataset=dataset, flags=flags, sets=sets)
    ctx = distributed.from_environment()  # under torchrun: time the DDP step of N processes
    dev = distributed.setup(ctx, resolve_device(cfg.device))
    set_threads()
    cfg, picked = resolve_precision(cfg, dev)
    spec = registry.get("dataset", cfg.dataset).spec
    algorithm = build_algorithm(registry, cfg)
    per_step = algorithm.batches_per_step()
    data = synthetic_data(spec, cfg.image_size, max(4 * cfg.batch_size * per_step, 256))
    shape = shape_of(data, cfg.image_size)
    check_model_fits(registry.get("model", cfg.model).spec, shape, dataset=spec.name)
    nets = build_networks(registry, cfg, shape, dev)
    check_algorithm_fits(registry, cfg, nets, shape)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, nets, build_loss(registry, cfg.loss),
                          InMemoryBatches(data, cfg.batch_size, dev, image_size=shape.image_size or None,
                                          rank=ctx.rank, world_size=ctx.world_size),
                          Path(tmp), {}, Reporter(enabled=False), algorithm=algorithm, dist=ctx,
                          logger=Logger(Path(tmp), cfg))  # timing only: nothing is logged anywhere
        for _ in range(warmup):
            trainer.train_step()
        with count_flops() as counter:
            trainer.train_step()
        flops = counter.total
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        times = []
        for _ in range(steps):
            _sync(dev)
            distributed.barrier(ctx)
            started = time.perf_counter()
            trainer.train_step()
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
        **({"precision_auto": picked} if picked else {}),
        "processes": ctx.world_size, "threads_per_process": torch.get_num_threads(),
        "precision": cfg.precision, "compile": cfg.compile, "batch_size": cfg.batch_size,
        "n_critic": cfg.n_critic, "batches_per_step": per_step, "sample_shape": list(shape.sample_shape),
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
