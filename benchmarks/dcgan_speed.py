"""ganzoo vs the classic PyTorch DCGAN loop, side by side on this machine.

    .venv/bin/python benchmarks/dcgan_speed.py --data-dir ../shared/data --reps 3 --steps 40

For each repetition it runs, one process at a time and alternating, the classic loop
(benchmarks/classic_dcgan.py) and `ganzoo train dcgan` with the same architecture, batch
(64) and image size (64x64) on the same MNIST data, for each ganzoo setting (fp32, and bf16
unless --settings says otherwise). images/s are measured over the same number of steps
after the same warm-up; the reported ratio is the median of the per-repetition ratios.
Results go to benchmarks/results/dcgan_speed_<cpu capability>.{json,md} (one file per machine
kind, e.g. dcgan_speed_avx512.md, dcgan_speed_avx2.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def classic(data_dir: str, steps: int, warmup: int) -> float:
    out = subprocess.run([sys.executable, str(HERE / "classic_dcgan.py"), "--data-dir", data_dir,
                          "--steps", str(steps), "--warmup", str(warmup)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"classic loop failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_sec"]


def ganzoo(data_dir: str, steps: int, warmup: int, extra: list[str], workdir: Path, tag: str) -> float:
    run = f"{tag}"
    command = [sys.executable, "-m", "ganzoo", "train", "dcgan", "--dataset", "mnist", "--data-dir", data_dir,
               "--image-size", "64", "--batch-size", "64", "--steps", str(warmup + steps), "--device", "cpu",
               "--set", f"log_every={warmup}", "--set", "arch.ngf=64", "--set", "arch.ndf=64",
               "--set", "arch.latent_dim=100", "--out", str(workdir), "--run-name", run, "--quiet", *extra]
    if steps % warmup:
        raise SystemExit("--steps must be a multiple of --warmup (one metrics window per warm-up length)")
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"ganzoo failed: {out.stderr.strip()[-500:]}")
    records = [json.loads(line) for line in (workdir / run / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in records if r["step"] > warmup]  # windows after the warm-up window
    seconds = sum(warmup * 64 / r["images_per_sec"] for r in timed)
    return len(timed) * warmup * 64 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--settings", default="fp32,bf16",
                        help="comma-separated ganzoo settings: fp32, bf16, fp16, fp32-compile, bf16-compile")
    args = parser.parse_args()
    settings = args.settings.split(",")
    rows: dict[str, list[tuple[float, float]]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for setting in settings:
                precision, _, compiled = setting.partition("-")
                extra = ["--precision", precision] + (["--compile"] if compiled else [])
                base = classic(args.data_dir, args.steps, args.warmup)
                ours = ganzoo(args.data_dir, args.steps, args.warmup, extra, Path(tmp), f"{setting}-{rep}")
                rows[setting].append((base, ours))
                print(f"rep {rep} {setting}: classic {base:.1f} img/s, ganzoo {ours:.1f} img/s, "
                      f"ratio {ours / base:.2f}", flush=True)
    summary = {s: {"classic_img_s": [round(b, 1) for b, _ in r], "ganzoo_img_s": [round(o, 1) for _, o in r],
                   "median_ratio": round(statistics.median(o / b for b, o in r), 3)} for s, r in rows.items()}
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "steps": args.steps, "warmup": args.warmup, "reps": args.reps, "batch": 64, "image_size": 64}
    RESULTS.mkdir(exist_ok=True)
    stem = f"dcgan_speed_{meta['cpu_capability'].lower()}"  # one results file per machine kind
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": summary}, indent=2) + "\n")
    lines = ["| ganzoo setting | classic img/s | ganzoo img/s | median ratio |", "|---|---|---|---|"]
    for s, r in summary.items():
        lines.append(f"| {s} | {statistics.median(r['classic_img_s']):.1f} | "
                     f"{statistics.median(r['ganzoo_img_s']):.1f} | {r['median_ratio']:.2f}x |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
