"""The timing half of benchmarks/gpu.sh: ganzoo against the classic DCGAN loop on one GPU.

    python benchmarks/gpu_bench.py [--dry-run] [--out FILE] [--copy-to DIR] [--tests-rc N --tests-summary TEXT]

Writes one JSON file (rewritten after every row, so a run cut short keeps what it measured):

    {"meta": {gpu, torch, cuda, cudnn, python, date, git_commit, dry_run, tests, settings},
     "matmul_peak": {"fp32": FLOP/s, "bf16": FLOP/s, "sizes": [...]},
     "rows": [{"name", "setting", "images_per_sec", "ms_per_step", "flops_per_step",
               "peak_fraction", "fraction_of_bf16_peak", "ratio_to_classic", ...} | {"name", "error"}],
     "targets": {"row", "3x_classic", "40pct_bf16_peak", ...}}

Rows: the classic loop (benchmarks/classic_dcgan.py, a subprocess, synthetic MNIST-like
images through its per-image PIL transforms and 2-worker DataLoader, fp32), the same loop
with more workers (for reference: how much of the gap is data loading), then ``ganzoo
bench`` (in-process, :func:`ganzoo.training.bench.bench`, synthetic data already on the device) for
DCGAN 64x64 batch 128 (ngf = ndf = 64, nz = 100, as the classic loop), WGAN-GP and
pix2pix (mnist-edges) in fp32, bf16 and bf16 + torch.compile (and DCGAN fp32 + compile).
The compile rows come last (their warm-up is the slow part). A row that fails (or runs past
its time limit) is recorded as ``{"error": ...}`` and the others go on.

``peak_fraction`` is bench's own (achieved FLOP/s over a matmul peak measured with small
matrices at the row's precision); ``fraction_of_bf16_peak`` is against the bf16 peak
measured here with large matrices (``matmul_peak.bf16``), the figure the 40 % target is
about (cuDNN may run fp32 convolutions in TF32, its default, while the fp32 matmul peak is
measured without TF32: see ``meta.tf32``). ``ratio_to_classic`` is ganzoo's images/s over
the classic loop's (2 workers).

``--dry-run``: the same code path on the CPU with tiny settings (32x32, batch 8, one warm-up
and one timed step, classic on 64 images for 2 steps); the compile rows are built but not
run (``"skipped"``) unless ``GPU_BENCH_DRY_COMPILE=1``. Default output there is under
``$TMPDIR``, never benchmarks/results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

ARCH_64 = ["arch.ngf=64", "arch.ndf=64", "arch.latent_dim=100"]  # the classic example's nets

# chosen: the GPU table's rows. name, model, loss, dataset, precision, compile, --set values
ROWS: list[tuple[str, str, str | None, str | None, str, bool, list[str]]] = [
    ("dcgan-fp32", "dcgan", None, None, "fp32", False, ARCH_64),
    ("dcgan-bf16", "dcgan", None, None, "bf16", False, ARCH_64),
    ("wgan-gp-fp32", "wgan", "wgan-gp", None, "fp32", False, ARCH_64),
    ("wgan-gp-bf16", "wgan", "wgan-gp", None, "bf16", False, ARCH_64),
    ("pix2pix-fp32", "pix2pix", None, "mnist-edges", "fp32", False, []),
    ("pix2pix-bf16", "pix2pix", None, "mnist-edges", "bf16", False, []),
    ("dcgan-bf16-compile", "dcgan", None, None, "bf16", True, ARCH_64),
    ("wgan-gp-bf16-compile", "wgan", "wgan-gp", None, "bf16", True, ARCH_64),
    ("pix2pix-bf16-compile", "pix2pix", None, "mnist-edges", "bf16", True, []),
    ("dcgan-fp32-compile", "dcgan", None, None, "fp32", True, ARCH_64),
]

REAL = {"device": "cuda", "image_size": 64, "batch_size": 128, "steps": 30, "warmup": 5,
        "compile_warmup": 5, "peak_sizes": [4096, 8192], "peak_repeats": 10,
        "classic": {"synthetic": 12800, "steps": 60, "warmup": 10},
        "row_limit_s": 90, "compile_row_limit_s": 150, "budget_s": 390}
DRY = {"device": "cpu", "image_size": 32, "batch_size": 8, "steps": 1, "warmup": 1,
       "compile_warmup": 1, "peak_sizes": [256], "peak_repeats": 2,
       "classic": {"synthetic": 64, "steps": 2, "warmup": 1},
       "row_limit_s": 60, "compile_row_limit_s": 120, "budget_s": 120}


class RowTimeout(Exception):
    pass


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu-{platform.machine()}"


def git_commit() -> str | None:
    """The checkout's commit, read from .git (no git command), or $GANZOO_COMMIT."""
    if os.environ.get("GANZOO_COMMIT"):
        return os.environ["GANZOO_COMMIT"]
    git = REPO / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            git = REPO / git.read_text().split(":", 1)[1].strip()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(None, 1)[1]
        roots = [git]
        if (git / "commondir").exists():  # a linked worktree keeps its refs in the main .git
            roots.append((git / (git / "commondir").read_text().strip()).resolve())
        for root in roots:
            if (root / ref).exists():
                return (root / ref).read_text().strip()
            packed = root / "packed-refs"
            if packed.exists():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
    except (OSError, IndexError):
        pass
    return None


def run_classic(name: str, s: dict, workers: int) -> dict[str, Any]:
    c = s["classic"]
    command = [sys.executable, str(HERE / "classic_dcgan.py"), "--device", s["device"],
               "--batch-size", str(s["batch_size"]), "--synthetic", str(c["synthetic"]),
               "--steps", str(c["steps"]), "--warmup", str(c["warmup"]), "--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=s["row_limit_s"])
    if done.returncode:
        raise RuntimeError(f"exit {done.returncode}: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"name": name, "setting": {"loop": "classic", "model": "dcgan", "precision": "fp32", "compile": False,
                                      "image_size": 64, "batch_size": result["batch"], "workers": workers,
                                      "steps": c["steps"], "warmup": c["warmup"], "data": "synthetic"},
            "command": " ".join(command[1:]), "images_per_sec": round(result["images_per_sec"], 2),
            "ms_per_step": round(1e3 * result["seconds"] / result["steps"], 3),
            "device": result["device"], "wall_s": round(time.perf_counter() - started, 1)}


def run_bench(registry, row, s: dict) -> dict[str, Any]:
    from ganzoo.training.bench import bench

    name, model, loss, dataset, precision, compiled, sets = row
    warmup = s["compile_warmup"] if compiled else s["warmup"]
    setting = {"loop": "ganzoo", "model": model, "loss": loss, "dataset": dataset, "precision": precision,
               "compile": compiled, "image_size": s["image_size"], "batch_size": s["batch_size"],
               "steps": s["steps"], "warmup": warmup, "sets": sets}
    started = time.perf_counter()
    kwargs = dict(loss=loss, dataset=dataset, device=s["device"], batch_size=s["batch_size"],
                  image_size=s["image_size"], precision=precision, compile=compiled, steps=s["steps"],
                  warmup=warmup, sets=sets)
    r = bench(registry, model, **kwargs)
    return {"name": name, "setting": setting, "images_per_sec": r["images_per_sec"],
            "ms_per_step": r["ms_per_step"], "flops_per_step": r["flops_per_step"],
            "achieved_flops_per_sec": r["achieved_flops_per_sec"], "peak_fraction": r["peak_fraction"],
            "bench_matmul_peak_flops_per_sec": r["matmul_peak_flops_per_sec"],
            "peak_memory_mb": r["peak_memory_mb"], "batches_per_step": r["batches_per_step"],
            "n_critic": r["n_critic"], "device": r["device"],
            "wall_s": round(time.perf_counter() - started, 1)}


def with_limit(seconds: float, fn, *args):
    """Run ``fn(*args)``, raising RowTimeout after ``seconds`` (SIGALRM, main thread)."""
    def expired(signum, frame):
        raise RowTimeout(f"ran past its {seconds:.0f} s limit")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(max(1, int(seconds)))
    try:
        return fn(*args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def reset_compiled() -> None:
    """Forget compiled graphs between rows (each row compiles its own nets)."""
    try:
        import torch._dynamo

        torch._dynamo.reset()
    except Exception as exc:  # noqa: BLE001 - cleanup must not stop the run
        print(f"gpu_bench: torch._dynamo.reset() failed: {exc}", file=sys.stderr)


def write(path: Path, report: dict, copy_to: Path | None = None) -> None:
    for target in [path] + ([copy_to / path.name] if copy_to else []):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, target)


def finish(report: dict) -> None:
    """ratio_to_classic, fraction_of_bf16_peak and the targets of the best DCGAN row."""
    rows = {r["name"]: r for r in report["rows"]}
    classic = rows.get("classic", {}).get("images_per_sec")
    classic_more = rows.get("classic-more-workers", {}).get("images_per_sec")
    bf16_peak = report["matmul_peak"].get("bf16")
    for r in report["rows"]:
        if "error" in r or "skipped" in r or r["setting"]["loop"] != "ganzoo":
            continue
        if bf16_peak:
            r["fraction_of_bf16_peak"] = r["achieved_flops_per_sec"] / bf16_peak
        if r["setting"]["model"] == "dcgan":
            r["ratio_to_classic"] = round(r["images_per_sec"] / classic, 3) if classic else None
            r["ratio_to_classic_more_workers"] = round(r["images_per_sec"] / classic_more, 3) if classic_more else None
    dcgan = [r for r in report["rows"] if "images_per_sec" in r and r["setting"]["loop"] == "ganzoo"
             and r["setting"]["model"] == "dcgan"]
    for r in dcgan:
        r.pop("targets", None)
    if dcgan:
        best = max(dcgan, key=lambda r: r["images_per_sec"])
        best["targets"] = {"3x_classic": bool(best.get("ratio_to_classic") and best["ratio_to_classic"] >= 3),
                           "40pct_bf16_peak": bool(best.get("fraction_of_bf16_peak", 0) >= 0.4)}
        report["targets"] = {"row": best["name"], **best["targets"], "ratio_to_classic": best.get("ratio_to_classic"),
                             "fraction_of_bf16_peak": best.get("fraction_of_bf16_peak")}
    else:
        report["targets"] = {"row": None, "3x_classic": False, "40pct_bf16_peak": False}


def table(report: dict) -> str:
    lines = [f"{'row':24s} {'img/s':>10s} {'ms/step':>9s} {'GFLOP/step':>10s} {'peak%':>6s} "
             f"{'bf16pk%':>7s} {'x classic':>9s}"]
    for r in report["rows"]:
        if "error" in r or "skipped" in r:
            lines.append(f"{r['name']:24s} {'error: ' + r['error'] if 'error' in r else 'skipped: ' + r['skipped']}"[:150])
            continue
        ms = r["ms_per_step"]["median"] if isinstance(r["ms_per_step"], dict) else r["ms_per_step"]
        gf = f"{r['flops_per_step'] / 1e9:.1f}" if "flops_per_step" in r else "-"
        pf = f"{100 * r['peak_fraction']:.1f}" if "peak_fraction" in r else "-"
        bf = f"{100 * r['fraction_of_bf16_peak']:.1f}" if "fraction_of_bf16_peak" in r else "-"
        ratio = f"{r['ratio_to_classic']:.2f}" if r.get("ratio_to_classic") else "-"
        lines.append(f"{r['name']:24s} {r['images_per_sec']:10.1f} {ms:9.2f} {gf:>10s} {pf:>6s} {bf:>7s} {ratio:>9s}")
    t = report.get("targets", {})
    peak = report["matmul_peak"]
    lines.append(f"matmul peak: fp32 {peak.get('fp32', 0) / 1e12:.1f} TFLOP/s, bf16 {peak.get('bf16', 0) / 1e12:.1f} "
                 f"TFLOP/s; targets (row {t.get('row')}): 3x classic {t.get('3x_classic')}, "
                 f"40% of bf16 peak {t.get('40pct_bf16_peak')}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny settings, compile rows skipped")
    parser.add_argument("--out", type=Path, help="JSON file (default: benchmarks/results/gpu_<gpu>.json, "
                        "or $TMPDIR/gpu_<device>_dryrun.json with --dry-run)")
    parser.add_argument("--copy-to", type=Path, help="also keep a copy of the JSON in this folder "
                        "(rewritten with every row, like --out)")
    parser.add_argument("--tests-rc", type=int, help="exit code of the gpu tests (from gpu.sh)")
    parser.add_argument("--tests-summary", help="their last output line")
    args = parser.parse_args()
    s = dict(DRY if args.dry_run else REAL)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_bench: no CUDA device (torch.cuda.is_available() is False); use --dry-run on a CPU",
              file=sys.stderr)
        return 2
    name = device_name(s["device"])
    out = args.out or (Path(tempfile.gettempdir()) / f"gpu_{slug(name)}_dryrun.json" if args.dry_run
                       else RESULTS / f"gpu_{slug(name)}.json")
    if args.dry_run:  # light on a shared CPU: one thread, and bench's own peak on small matrices
        import functools

        import ganzoo.training.bench

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"  # the classic loop's subprocess
        ganzoo.training.bench.matmul_peak = functools.partial(ganzoo.training.bench.matmul_peak, sizes=tuple(s["peak_sizes"]),
                                                     repeats=s["peak_repeats"])
    from ganzoo.plugins.manager import get_plugin_manager

    registry = get_plugin_manager().registry
    started = time.perf_counter()
    report: dict[str, Any] = {
        "meta": {"gpu": name, "device": s["device"], "torch": torch.__version__, "cuda": torch.version.cuda,
                 "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                 "python": platform.python_version(),
                 "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
                 "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "git_commit": git_commit(), "dry_run": args.dry_run,
                 "tests": {"exit_code": args.tests_rc, "summary": args.tests_summary},
                 "settings": s, "threads": torch.get_num_threads(),
                 "bench_peak_sizes": s["peak_sizes"] if args.dry_run else "ganzoo.training.bench default (4096, 8192 on a GPU)"},
        "matmul_peak": {}, "rows": []}
    dev = torch.device(s["device"])
    for precision in ("fp32", "bf16"):
        from ganzoo.training.bench import matmul_peak

        try:
            report["matmul_peak"][precision] = matmul_peak(dev, precision, sizes=tuple(s["peak_sizes"]),
                                                           repeats=s["peak_repeats"])
        except Exception as exc:  # noqa: BLE001 - recorded, the rows go on
            report["matmul_peak"][precision] = None
            report["matmul_peak"][f"{precision}_error"] = f"{type(exc).__name__}: {exc}"
    report["matmul_peak"]["sizes"] = s["peak_sizes"]
    write(out, report, args.copy_to)

    jobs: list[tuple[str, Any, tuple]] = [
        ("classic", run_classic, ("classic", s, 2)),
        ("classic-more-workers", run_classic, ("classic-more-workers", s, min(8, os.cpu_count() or 2))),
    ] + [(row[0], run_bench, (registry, row, s)) for row in ROWS]
    for job_name, fn, fn_args in jobs:
        compiled = fn is run_bench and fn_args[1][5]
        left = s["budget_s"] - (time.perf_counter() - started)
        if compiled and args.dry_run and os.environ.get("GPU_BENCH_DRY_COMPILE") != "1":
            row = {"name": job_name, "skipped": "dry run (set GPU_BENCH_DRY_COMPILE=1 to run compile rows)"}
        elif left < 5:
            row = {"name": job_name, "error": f"skipped: the run's {s['budget_s']} s time budget is spent"}
        else:
            limit = min(s["compile_row_limit_s"] if compiled else s["row_limit_s"], left)
            print(f"gpu_bench: {job_name} (limit {limit:.0f} s) ...", file=sys.stderr, flush=True)
            try:
                row = with_limit(limit, fn, *fn_args)
            except Exception as exc:  # noqa: BLE001 - a failing row must not stop the others
                message = str(exc).strip().splitlines()
                row = {"name": job_name, "error": f"{type(exc).__name__}: {message[0] if message else ''}"[:500]}
            if compiled:
                reset_compiled()
            if dev.type == "cuda":
                try:
                    torch.cuda.empty_cache()
                except Exception as exc:  # noqa: BLE001 - e.g. a CUDA error left by the row
                    print(f"gpu_bench: torch.cuda.empty_cache() failed: {exc}", file=sys.stderr)
        report["rows"].append(row)
        finish(report)
        write(out, report, args.copy_to)
    report["meta"]["wall_s"] = round(time.perf_counter() - started, 1)
    write(out, report, args.copy_to)
    print(table(report))
    print(f"gpu_bench: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
