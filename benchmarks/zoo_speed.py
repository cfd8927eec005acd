"""Every registered model's training step on this machine, so a slow family shows.

    .venv/bin/python benchmarks/zoo_speed.py --precisions fp32,auto --steps 20 --warmup 3

Runs ``ganzoo bench --all --device cpu --precision P --json`` (synthetic data of each model's
default dataset shape, default batch) once per precision, one process at a time, and writes
benchmarks/results/zoo_speed_<machine kind>.{json,md}: images/s, ms per step, GFLOP per step
and the fraction of this machine's matmul peak at the precision used.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", default="fp32,auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    from ganzoo.training.hardware import cpu_bf16, machine_kind

    runs = {}
    for precision in args.precisions.split(","):
        command = [sys.executable, "-m", "ganzoo", "bench", "--all", "--device", "cpu", "--precision", precision,
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--json"]
        done = subprocess.run(command, capture_output=True, text=True)
        if not done.stdout.strip():
            raise SystemExit(f"ganzoo bench failed: {done.stderr.strip()[-500:]}")
        runs[precision] = json.loads(done.stdout)
        print(f"{precision}: {len(runs[precision])} models", flush=True)
    kind = machine_kind()
    meta = {"date": datetime.date.today().isoformat(), "machine_kind": kind, "native_bf16": cpu_bf16(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "command": " ".join(["benchmarks/zoo_speed.py", *sys.argv[1:]])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"zoo_speed_{kind}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    lines = [f"Machine kind {kind} (native bf16: {meta['native_bf16']}; torch {torch.__version__}), {meta['date']}. "
             f"`{meta['command']}`: `ganzoo bench --all` per precision, synthetic data of each model's default "
             f"dataset shape and batch, median of {args.steps} steps after {args.warmup}.", "",
             "| model | dataset shape | batch | precision | img/s | ms/step | GFLOP/step | % of matmul peak |",
             "|---|---|---|---|---|---|---|---|"]
    for precision, rows in runs.items():
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['model']} | error: {r['error']} | | {precision} | | | | |")
                continue
            lines.append(f"| {r['model'].split(':')[-1]} | {r['dataset'].split(':')[-1]} "
                         f"{'x'.join(map(str, r['sample_shape']))} | {r['batch_size']} | {r['precision']} | "
                         f"{r['images_per_sec']:.0f} | {r['ms_per_step']['median']:.0f} | "
                         f"{r['flops_per_step'] / 1e9:.2f} | {100 * r['peak_fraction']:.0f}% |")
    (RESULTS / f"zoo_speed_{kind}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
