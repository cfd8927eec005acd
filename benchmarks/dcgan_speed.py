"""ganzoo against the classic PyTorch DCGAN loop, side by side on this machine, whole process
and in-process, in one run.

    .venv/bin/python benchmarks/dcgan_speed.py --data-dir ../shared/data \\
        --example /path/to/pytorch-examples/dcgan/main.py --reps 3 --settings fp32,bf16,auto

Every job trains DCGAN (64x64, batch 64, nz 100, ngf = ndf = 64, Adam 2e-4) for one pass over
the same first ``--images`` MNIST training images (default 3,072: 48 steps), one process at a
time, alternating, so the CPU is never shared:

- **the peer**: with ``--example``, the real pytorch/examples ``dcgan/main.py`` (fetch the
  repository yourself; it is never copied into this project), run unchanged as
  ``main.py --dataset mnist --niter 1 --workers 2``; without it,
  ``benchmarks/classic_dcgan.py``, our re-implementation of that loop.
- **ganzoo**: ``ganzoo train dcgan`` with the same architecture, data and step count, for each
  setting (``fp32``, ``bf16``, ``auto``, ``fp32-compile``, ...).

Whole process = wall-clock time of the process, start-up, data loading, the step-0 checkpoint,
grids and the last checkpoint included, as images per second of wall time. In-process = the
steady state: steps after the first ``--warmup`` (the peer's per-iteration lines timed as they
appear, ganzoo's metrics.jsonl windows). Each figure is the median over ``--reps`` of the
per-repetition ratios ganzoo / peer.

It also counts both loops' FLOPs per step (torch.utils.flop_counter): at fp32 both run near the
same matmul peak, so ``peer FLOPs / ganzoo FLOPs`` is the in-process ceiling of the fp32 ratio.

The MNIST subset is written to a temporary folder (nothing is written beside the data).
Results: benchmarks/results/dcgan_speed_<machine kind>.{json,md}, one file per kind of machine
(``ganzoo.training.hardware.machine_kind``: avx512-amx, avx512-bf16, avx2, ...).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BATCH, SIZE = 64, 64


def mnist_subset(data_dir: Path, n: int, out: Path) -> Path:
    """The first ``n`` MNIST training images (and up to 64 test images, which torchvision's
    reader insists on) as unpacked IDX files in ``out/MNIST/raw`` (both loops read them)."""
    from ganzoo.datasets.idx import read_idx

    src, raw = Path(data_dir) / "MNIST" / "raw", out / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", n), ("t10k", 64)):
        images = read_idx(src / f"{prefix}-images-idx3-ubyte", 3)[:count]
        labels = read_idx(src / f"{prefix}-labels-idx1-ubyte", 1)[:count]
        if prefix == "train" and len(images) < count:
            raise SystemExit(f"only {len(images)} MNIST {prefix} images in {src}")
        for kind, tensor, magic in (("images-idx3", images, 0x0803), ("labels-idx1", labels, 0x0801)):
            header = magic.to_bytes(4, "big") + b"".join(s.to_bytes(4, "big") for s in tensor.shape)
            (raw / f"{prefix}-{kind}-ubyte").write_bytes(header + tensor.contiguous().numpy().tobytes())
    return out


def run_timed(command: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, list[float], str]:
    """Run ``command``; returns (wall seconds, the time each stdout line appeared, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stamps, lines = [], []
    for line in proc.stdout:
        stamps.append(time.perf_counter())
        lines.append(line)
    stderr = proc.stderr.read()
    proc.wait()
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{' '.join(command[:3])} failed ({proc.returncode}): {stderr.strip()[-800:]}")
    return wall, stamps, "".join(lines)


def peer(example: str | None, data: Path, images: int, warmup: int, workdir: Path) -> dict:
    steps = images // BATCH
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if example:
        out = workdir / "example-out"
        command = [sys.executable, example, "--dataset", "mnist", "--dataroot", str(data), "--niter", "1",
                   "--batchSize", str(BATCH), "--imageSize", str(SIZE), "--workers", "2", "--outf", str(out),
                   "--manualSeed", "0"]
        wall, stamps, stdout = run_timed(command, cwd=workdir, env=env)
        iteration = [t for t, line in zip(stamps, stdout.splitlines()) if line.startswith("[0/1][")]
        if len(iteration) != steps:
            raise SystemExit(f"the example printed {len(iteration)} iteration lines, expected {steps}")
        # line i appears after iteration i; the steady state is iterations warmup+1 .. steps-1
        steady = (steps - 1 - warmup) * BATCH / (iteration[-1] - iteration[warmup])
    else:
        command = [sys.executable, str(HERE / "classic_dcgan.py"), "--data-dir", str(data),
                   "--steps", str(steps - warmup), "--warmup", str(warmup)]
        wall, _, stdout = run_timed(command, env=env)
        steady = json.loads(stdout.strip().splitlines()[-1])["images_per_sec"]
    return {"whole_img_s": images / wall, "steady_img_s": steady, "wall_s": wall}


def ganzoo(setting: str, data: Path, images: int, warmup: int, workdir: Path, tag: str) -> dict:
    precision, _, compiled = setting.partition("-")
    steps = images // BATCH
    run = workdir / "runs" / tag
    command = [sys.executable, "-m", "ganzoo", "train", "dcgan", "--dataset", "mnist", "--data-dir", str(data),
               "--image-size", str(SIZE), "--batch-size", str(BATCH), "--steps", str(steps), "--device", "cpu",
               "--precision", precision, "--set", f"log_every={warmup}", "--set", "arch.ngf=64",
               "--set", "arch.ndf=64", "--set", "arch.latent_dim=100", "--out", str(run.parent),
               "--run-name", run.name, *(["--compile"] if compiled else [])]
    wall, _, _ = run_timed(command)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in records if "images_per_sec" in r]
    # windows of `warmup` steps; the first is the warm-up, a last short one is left out
    timed = [r for r in records[1:] if r["step"] % warmup == 0]
    seconds = sum(warmup * BATCH / r["images_per_sec"] for r in timed)
    picked = json.loads((run / "config.json").read_text())["precision"]
    return {"whole_img_s": images / wall, "steady_img_s": len(timed) * warmup * BATCH / seconds,
            "wall_s": wall, "precision_used": picked}


def flops_per_step() -> dict:
    """FLOPs of one training step of the classic loop and of ganzoo's (fp32)."""
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(HERE))
    import classic_dcgan as classic

    G, D = classic.generator(), classic.discriminator()
    criterion = torch.nn.BCELoss()
    oG, oD = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    real = torch.randn(BATCH, 1, SIZE, SIZE)
    ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)
    with FlopCounterMode(display=False) as counter:  # the example's step, line for line in spirit
        D.zero_grad()
        criterion(D(real).view(-1), ones).backward()
        fake = G(torch.randn(BATCH, 100, 1, 1))
        criterion(D(fake.detach()).view(-1), zeros).backward()
        oD.step()
        G.zero_grad()
        criterion(D(fake).view(-1), ones).backward()
        oG.step()
    classic_flops = counter.get_total_flops()
    from ganzoo.training.bench import bench
    from ganzoo.plugins.manager import get_plugin_manager

    ours = bench(get_plugin_manager().registry, "dcgan", dataset="mnist", device="cpu", batch_size=BATCH,
                 image_size=SIZE, steps=1, warmup=1,
                 sets=["arch.ngf=64", "arch.ndf=64", "arch.latent_dim=100"])["flops_per_step"]
    return {"classic": classic_flops, "ganzoo": ours, "fp32_ceiling_ratio": classic_flops / ours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw (read only)")
    parser.add_argument("--example", help="path to pytorch/examples' dcgan/main.py (else classic_dcgan.py)")
    parser.add_argument("--images", type=int, default=3072, help="MNIST images (one pass; a multiple of 64)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps of the in-process figure")
    parser.add_argument("--settings", default="fp32,bf16,auto",
                        help="ganzoo settings: fp32, bf16, fp16, auto, each optionally with -compile")
    args = parser.parse_args()
    if args.images % BATCH or args.images // BATCH <= 2 * args.warmup:
        raise SystemExit(f"--images must be a multiple of {BATCH} and more than {2 * args.warmup * BATCH}")
    settings = args.settings.split(",")
    from ganzoo.training.hardware import cpu_bf16, machine_kind

    from ganzoo.training.bench import matmul_peak

    # the peak before and after the runs, the higher kept: a shared VM has slow spells
    # that would otherwise make the fraction of peak meaningless
    peaks_before = {p: matmul_peak.__wrapped__(torch.device("cpu"), p) for p in ("fp32", "bf16")}
    peer_name = "pytorch/examples dcgan/main.py" if args.example else "benchmarks/classic_dcgan.py"
    rows: dict[str, list[tuple[dict, dict]]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        data = mnist_subset(Path(args.data_dir), args.images, Path(tmp) / "data")
        for rep in range(args.reps):
            for setting in settings:
                base = peer(args.example, data, args.images, args.warmup, Path(tmp))
                ours = ganzoo(setting, data, args.images, args.warmup, Path(tmp), f"{setting}-{rep}")
                rows[setting].append((base, ours))
                print(f"rep {rep} {setting}: peer {base['whole_img_s']:.1f} / {base['steady_img_s']:.1f} img/s, "
                      f"ganzoo {ours['whole_img_s']:.1f} / {ours['steady_img_s']:.1f} img/s "
                      f"(whole process / in-process), ratio {ours['whole_img_s'] / base['whole_img_s']:.2f} / "
                      f"{ours['steady_img_s'] / base['steady_img_s']:.2f}", flush=True)
    flops = flops_per_step()
    peaks_after = {p: matmul_peak.__wrapped__(torch.device("cpu"), p) for p in ("fp32", "bf16")}
    peaks = {p: max(peaks_before[p], peaks_after[p]) for p in peaks_before}
    summary = {}
    for setting, pairs in rows.items():
        summary[setting] = {
            "precision_used": pairs[0][1]["precision_used"],
            "peer_whole_img_s": [round(b["whole_img_s"], 1) for b, _ in pairs],
            "ganzoo_whole_img_s": [round(o["whole_img_s"], 1) for _, o in pairs],
            "peer_steady_img_s": [round(b["steady_img_s"], 1) for b, _ in pairs],
            "ganzoo_steady_img_s": [round(o["steady_img_s"], 1) for _, o in pairs],
            "whole_ratio": round(statistics.median(o["whole_img_s"] / b["whole_img_s"] for b, o in pairs), 3),
            "steady_ratio": round(statistics.median(o["steady_img_s"] / b["steady_img_s"] for b, o in pairs), 3),
            "ganzoo_steady_peak_fraction": round(
                statistics.median(o["steady_img_s"] for _, o in pairs) / BATCH * flops["ganzoo"]
                / peaks["bf16" if pairs[0][1]["precision_used"] == "bf16" else "fp32"], 3),
        }
    kind = machine_kind()
    meta = {"date": datetime.date.today().isoformat(), "peer": peer_name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.machine(), "processor": _processor(),
            "machine_kind": kind, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": cpu_bf16(), "images": args.images, "steps": args.images // BATCH,
            "warmup": args.warmup, "reps": args.reps, "batch": BATCH, "image_size": SIZE,
            "matmul_peak_gflops": {p: round(v / 1e9, 1) for p, v in peaks.items()},
            "matmul_peak_gflops_before_after": {p: [round(peaks_before[p] / 1e9, 1), round(peaks_after[p] / 1e9, 1)]
                                                for p in peaks},
            "flops_per_step": flops, "command": " ".join(["benchmarks/dcgan_speed.py", *sys.argv[1:]])}
    RESULTS.mkdir(exist_ok=True)
    stem = f"dcgan_speed_{kind}"
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": summary}, indent=2) + "\n")
    lines = [f"{meta['processor']} ({kind}; torch {torch.__version__}, {meta['threads']} threads), "
             f"{meta['date']}; peer: {peer_name}; {args.images} MNIST images = {meta['steps']} steps of "
             f"{BATCH} at {SIZE}x{SIZE}, medians of {args.reps} alternating repetitions.",
             f"Matmul peak (the higher of before and after the runs): fp32 {meta['matmul_peak_gflops']['fp32']} GFLOP/s, bf16 "
             f"{meta['matmul_peak_gflops']['bf16']} GFLOP/s. FLOPs per step: peer {flops['classic'] / 1e9:.1f} G, "
             f"ganzoo {flops['ganzoo'] / 1e9:.1f} G (fp32 in-process ceiling {flops['fp32_ceiling_ratio']:.2f}x).",
             "", "| ganzoo setting | precision used | peer img/s (whole / in-process) | ganzoo img/s (whole / "
             "in-process) | ratio whole process | ratio in-process | ganzoo in-process % of matmul peak |",
             "|---|---|---|---|---|---|---|"]
    for s, r in summary.items():
        lines.append(f"| {s} | {r['precision_used']} | {statistics.median(r['peer_whole_img_s']):.1f} / "
                     f"{statistics.median(r['peer_steady_img_s']):.1f} | "
                     f"{statistics.median(r['ganzoo_whole_img_s']):.1f} / "
                     f"{statistics.median(r['ganzoo_steady_img_s']):.1f} | {r['whole_ratio']:.2f}x | "
                     f"{r['steady_ratio']:.2f}x | {100 * r['ganzoo_steady_peak_fraction']:.0f}% |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
