"""pix2pix on mnist-edges (digit outlines -> digits): how close, and how recognisable, the
translations of the MNIST test split are, against an L1-only baseline.

Usage (from the repository root, with the project installed):

    .venv/bin/python benchmarks/pix2pix_edges.py --data-dir ../shared/data            # ~13 min
    .venv/bin/python benchmarks/pix2pix_edges.py --data-dir ../shared/data --quick    # ~2 min

Two runs with pix2pix's defaults (U-Net + PatchGAN, bce, lambda_l1=100, Adam 2e-4 /
(0.5, 0.999), batch 64) on the mnist-edges training split, one after the other:

- ``pix2pix``: the paper's objective, GAN + 100 * L1;
- ``l1-only``: the same generator trained on 100 * L1 alone (``algo.lambda_gan=0``: the
  discriminator is not used), the paper's "L1" row, to show what the adversarial term adds.

Then, on the test split (10,000 pairs; 1,000 with --quick), for each run's G(edges):

- L1 and PSNR against the true digits, on images scaled to [0, 1] (PSNR per image with a
  peak of 1, averaged over images; an image equal to its target counts as 100 dB);
- the share of mid-gray pixels (in (0.1, 0.9) on [0, 1]): MNIST digits are mostly
  black or white, a blurry translation is not;
- the accuracy of ganzoo's MNIST classifier (``mnist-classifier``, trained on first use
  and cached in the user cache) on G(edges), beside its accuracy on the real test digits
  and on the raw edge maps.

Results go to benchmarks/results/pix2pix_edges.json and .md (with --quick: only to the
output folder, so the committed full results stay); a grid of test translations (rows:
input edges | pix2pix | L1-only | target) is written to the output folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = 200
"""The default budget: about 6 + 5 minutes of training (1.5-2 s per step on 1 core of a
2-core CPU shared with other jobs), 12,800 training pairs seen per run."""
QUICK_STEPS = 40
"""--quick checks the pipeline end to end; 40 steps do not train G far (its scores mean little)."""
TEST_PAIRS, QUICK_TEST_PAIRS = 10_000, 1_000
RUNS = {"pix2pix": [], "l1-only": ["algo.lambda_gan=0"]}


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images or [-1, 1] floats as floats in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return ((images.float() + 1) / 2).clamp(0, 1)


def image_metrics(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """L1, PSNR (peak 1, per image, averaged) and the mid-gray share of ``output`` on [0, 1]."""
    out, tgt = to_unit(output), to_unit(target)
    mse = (out - tgt).square().flatten(1).mean(1)
    psnr = torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-10)), torch.tensor(100.0))
    mid_gray = ((out > 0.1) & (out < 0.9)).float().mean()
    return {"l1": round(float((out - tgt).abs().mean()), 4), "psnr_db": round(float(psnr.mean()), 2),
            "mid_gray": round(float(mid_gray), 4)}


def accuracy(classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The classifier's top-1 accuracy on images (uint8 or [-1, 1])."""
    x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
    return round(float((classifier.logits(x).argmax(1) == labels).float().mean()), 4)


def train_run(name: str, sets: list[str], args, out: Path):
    """Train one run in-process; returns ``(run, wall seconds)``."""
    from ganzoo.config import resolve_config
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.training.run import train
    from ganzoo.training.progress import make_reporter

    registry = get_plugin_manager().registry
    cfg = resolve_config(registry, "pix2pix", sets=sets, flags={
        "data_dir": args.data_dir, "steps": args.steps, "device": "cpu", "out": str(out), "run_name": name,
        "seed": args.seed, "log_every": max(1, args.steps // 10), "sample_every": args.steps,
        "checkpoint_every": args.steps, "keep_checkpoints": 1})
    started = time.perf_counter()
    run = train(cfg, registry, make_reporter(enabled=not args.quiet))
    return run, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/")
    parser.add_argument("--steps", type=int, default=None, help=f"steps per run (default {STEPS}; "
                                                                 f"--quick: {QUICK_STEPS})")
    parser.add_argument("--quick", action="store_true", help="a short check (~2 min); results stay in --out")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a CPU shared with other jobs, 2 threads that "
                             "wait for each other are several times slower than 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the L1-only run")
    parser.add_argument("--out", default=None, help="folder for the runs and the grid (default: a temp folder)")
    parser.add_argument("--quiet", action="store_true", help="no training progress")
    args = parser.parse_args()
    args.steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    torch.set_num_threads(args.threads)
    out = Path(args.out or tempfile.mkdtemp(prefix="pix2pix-edges-")).expanduser()
    out.mkdir(parents=True, exist_ok=True)

    import ganzoo
    from ganzoo.plugins.build import load_dataset
    from ganzoo.metrics.extractors import load_mnist_classifier
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.kinds.image import save_grid, stack_rows

    started = time.perf_counter()
    registry = get_plugin_manager().registry
    test = load_dataset(registry, "mnist-edges", args.data_dir, split="test")
    n = QUICK_TEST_PAIRS if args.quick else TEST_PAIRS
    edges, digits, labels = (test.fields[k][:n] for k in ("image", "target", "label"))
    classifier = load_mnist_classifier("cpu", args.data_dir)
    reference = {"real_digits": {"accuracy": accuracy(classifier, digits, labels)},
                 "edge_maps": {"accuracy": accuracy(classifier, edges, labels), **image_metrics(edges, digits)},
                 "target_mid_gray": image_metrics(digits, digits)["mid_gray"]}
    print(json.dumps({"reference": reference}), flush=True)

    rows, outputs, batch_size = {}, {}, None
    for name, sets in RUNS.items():
        if name == "l1-only" and args.no_baseline:
            continue
        run, wall = train_run(name, sets, args, out)
        handle = ganzoo.load(run.path)
        eval_started = time.perf_counter()
        outputs[name] = handle.translate(edges)
        last = run.last_metrics
        batch_size = run.config.batch_size
        rows[name] = {"algo": run.config.algo, "loss": run.config.loss, "train_sec": round(wall, 1),
                      "sec_per_step": round(wall / args.steps, 2),
                      "accuracy": accuracy(classifier, outputs[name], labels),
                      **image_metrics(outputs[name], digits),
                      "eval_sec": round(time.perf_counter() - eval_started, 1),
                      "last_step": {k: last[k] for k in ("d_loss", "g_loss", "l1", "D(x)", "D(G(z))") if k in last},
                      "run": str(run.path), "preview": str(run.path / "samples" / f"step-{args.steps:07d}.png")}
        print(json.dumps({name: rows[name]}), flush=True)

    target = out if args.quick else RESULTS
    target.mkdir(exist_ok=True)
    grid_path = target / "pix2pix_edges_test_grid.png"
    picks = torch.arange(16)
    parts = [edges[picks].float() / 127.5 - 1, *(outputs[k][picks] for k in outputs), digits[picks].float() / 127.5 - 1]
    images, per_row = stack_rows(*parts)
    save_grid(images, grid_path, nrow=per_row)

    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "steps": args.steps, "seed": args.seed,
            "test_pairs": n, "batch_size": batch_size, "wall_sec": round(time.perf_counter() - started, 1),
            "threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "machine": platform.machine(), "python": platform.python_version(),
            "grid": grid_path.name, "grid_rows": ["input edges", *outputs, "target"],
            "metrics": "L1 and PSNR on [0, 1] images (PSNR per image, peak 1, averaged); mid_gray: share of "
                       "output pixels in (0.1, 0.9); accuracy: mnist-classifier top-1 against the digit labels"}
    result = {"meta": meta, "reference": reference, "runs": rows}
    lines = [f"# pix2pix on mnist-edges ({args.steps} steps per run, batch {batch_size}, seed {args.seed})", "",
             f"`{meta['command']}`: {meta['wall_sec']} s in all, {meta['threads']} torch thread(s), "
             f"CPU {meta['cpu_capability']}, torch {meta['torch']}; MNIST test split, first {n} pairs.", "",
             "| images scored | classifier accuracy | L1 [0,1] | PSNR dB | mid-gray share | train s (s/step) |",
             "|---|---|---|---|---|---|",
             f"| real test digits | {reference['real_digits']['accuracy']:.4f} | 0 | inf | "
             f"{reference['target_mid_gray']:.4f} | |",
             f"| raw edge maps (the input) | {reference['edge_maps']['accuracy']:.4f} | "
             f"{reference['edge_maps']['l1']:.4f} | {reference['edge_maps']['psnr_db']:.2f} | "
             f"{reference['edge_maps']['mid_gray']:.4f} | |"]
    for name, r in rows.items():
        what = "G(edges), pix2pix: GAN + 100 L1" if name == "pix2pix" else "G(edges), L1 only (100 L1)"
        lines.append(f"| {what} | {r['accuracy']:.4f} | {r['l1']:.4f} | {r['psnr_db']:.2f} | {r['mid_gray']:.4f} | "
                     f"{r['train_sec']} ({r['sec_per_step']}) |")
    lines += ["", meta["metrics"] + ".", f"Grid (rows: {' | '.join(meta['grid_rows'])}): `{grid_path.name}`."]
    (target / "pix2pix_edges.json").write_text(json.dumps(result, indent=2) + "\n")
    (target / "pix2pix_edges.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
