"""Short MNIST runs of every model with its default loss: wall time and sample grids.

Usage (from the repository root, with the project installed):

    .venv/bin/python benchmarks/zoo_mnist.py --data-dir ../shared/data --steps 300

Each model trains in its own `ganzoo train` process, one after another (never in
parallel: on a small CPU, concurrent runs distort each other's timings). Results go to
benchmarks/results/zoo_mnist.json and .md; sample grids stay in the run directories
(--out, default a temporary folder) and their paths are listed.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--models", default="gan,dcgan,cgan,acgan,wgan,sngan")
    parser.add_argument("--out", default=None, help="folder for run directories (default: a temp folder)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="ganzoo-zoo-"))
    rows = []
    for model in args.models.split(","):
        command = [sys.executable, "-m", "ganzoo", "train", model, "--dataset", "mnist",
                   "--data-dir", args.data_dir, "--steps", str(args.steps), "--device", "cpu",
                   "--out", str(out), "--run-name", model, "--quiet"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            rows.append({"model": model, "error": done.stderr.strip().splitlines()[-1:]})
            print(f"{model}: failed: {done.stderr.strip()}", file=sys.stderr)
            continue
        run = out / model
        config = json.loads((run / "config.json").read_text())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        rows.append({
            "model": model, "loss": config["loss"], "steps": config["steps"],
            "batch_size": config["batch_size"], "n_critic": config["n_critic"],
            "wall_sec": round(wall, 1), "train_sec": metrics[-1]["elapsed_sec"],
            "images_per_sec": round(config["steps"] * config["batch_size"] * config["n_critic"]
                                    / metrics[-1]["elapsed_sec"], 1),
            "last": {k: metrics[-1][k] for k in ("d_loss", "g_loss")},
            "grid": str(run / "samples" / f"step-{config['steps']:07d}.png"),
        })
        print(json.dumps(rows[-1]), flush=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "processor": platform.processor(), "steps": args.steps}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "zoo_mnist.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    lines = ["| model | loss | steps | batch | n_critic | wall s | img/s (real) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error']} | | | | | |")
        else:
            lines.append(f"| {r['model']} | {r['loss']} | {r['steps']} | {r['batch_size']} | {r['n_critic']} "
                         f"| {r['wall_sec']} | {r['images_per_sec']} |")
    (RESULTS / "zoo_mnist.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
