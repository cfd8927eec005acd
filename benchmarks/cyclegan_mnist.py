"""CycleGAN on MNIST <-> inverted MNIST, scored with the MNIST classifier; plus a picture of
MNIST <-> Fashion-MNIST.

Usage (from the repository root, with the project installed):

    .venv/bin/python benchmarks/cyclegan_mnist.py --data-dir /work/shared/data            # ~20 min
    .venv/bin/python benchmarks/cyclegan_mnist.py --data-dir /work/shared/data --quick    # ~2 min

1. ``ganzoo train cyclegan --data-dir DIR --steps N`` with the model's defaults (dataset
   ``mnist-inverted``: A = even-indexed MNIST digits, B = odd-indexed digits inverted 255 - x,
   unpaired; loss lsgan, batch 16, Adam 2e-4 (0.5, 0.999), lambda_cycle 10, identity 0.5).
2. On the 10,000 MNIST test digits, with ``mnist-classifier`` (trained and cached on first use):
   accuracy on the real digits (the ceiling); on the inverted digits as they are (what the
   classifier makes of domain B untranslated: the floor); on ``g_ba(inverted digit)`` (B -> A,
   the direction that ends in the classifier's domain); and on ``-g_ab(digit)`` (A -> B, its
   output inverted back in [-1, 1]). A translation that keeps the stroke but changes the digit
   looks fine in a grid and is caught here. Also: cycle-reconstruction L1 both ways, and since
   the true B -> A translation is known (255 - x), the L1 of ``g_ba(255 - x)`` to ``x``.
3. ``ganzoo train cyclegan --dataset mnist-fashion`` for a third of the steps, as a picture only.

Training runs in a ``ganzoo train`` process with OMP_NUM_THREADS=1 (this evaluation, too, uses
one thread): on a CPU shared with other jobs, two spinning OpenMP threads per process cost
several times the CPU time of one. Results go to benchmarks/results/cyclegan_mnist.json and .md;
grids to --grids (default benchmarks/results/, named cyclegan_*.png).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def train(data_dir: str, out: Path, name: str, steps: int, *extra: str) -> tuple[Path, float, list[str]]:
    """One ``ganzoo train cyclegan`` process; returns (run directory, wall seconds, command)."""
    command = [sys.executable, "-m", "ganzoo", "train", "cyclegan", "--data-dir", data_dir, "--steps", str(steps),
               "--device", "cpu", "--out", str(out), "--run-name", name, "--quiet", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"training failed: {done.stderr.strip()}")
    return out / name, wall, command


def accuracy(classifier, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    predictions = classifier.logits(images).argmax(dim=1)
    return float((predictions == labels).float().mean()), predictions


def confusions(labels: torch.Tensor, predictions: torch.Tensor, top: int = 5) -> list[str]:
    """The most common mistakes as ``"true->predicted: count"``."""
    wrong = Counter((int(t), int(p)) for t, p in zip(labels, predictions) if t != p)
    return [f"{t}->{p}: {n}" for (t, p), n in wrong.most_common(top)]


def last_metrics(run: Path) -> dict:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "g_loss" in r][-1]


@torch.no_grad()
def evaluate(run: Path, data_dir: str, grids: Path) -> dict:
    import ganzoo
    from ganzoo.plugins.build import load_dataset
    from ganzoo.kinds.image import to_model_range
    from ganzoo.metrics.extractors import load_mnist_classifier
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.kinds.image import save_grid, stack_rows

    registry = get_plugin_manager().registry
    test = load_dataset(registry, "mnist", data_dir, split="test")
    digits, labels = to_model_range(test.images), test.labels
    inverted = to_model_range(255 - test.images)  # exactly -digits up to rounding: domain B
    classifier = load_mnist_classifier("cpu", data_dir)
    handle = ganzoo.load(run)
    b_to_a = handle.translate(inverted, net="g_ba")
    a_to_b = handle.translate(digits, net="g_ab")
    cycle_b = handle.translate(b_to_a, net="g_ab")
    cycle_a = handle.translate(a_to_b, net="g_ba")
    real_acc, _ = accuracy(classifier, digits, labels)
    raw_acc, _ = accuracy(classifier, inverted, labels)
    b2a_acc, b2a_pred = accuracy(classifier, b_to_a, labels)
    a2b_acc, a2b_pred = accuracy(classifier, -a_to_b, labels)
    grids.mkdir(parents=True, exist_ok=True)
    rows_b, per_row = stack_rows(inverted[:32], b_to_a[:32], cycle_b[:32])
    rows_a, _ = stack_rows(digits[:32], a_to_b[:32], cycle_a[:32])
    save_grid(torch.cat([rows_b, rows_a]), grids / "cyclegan_inverted_test.png", nrow=per_row)
    wrong = (b2a_pred != labels).nonzero().flatten()[:16]
    if len(wrong):  # the mistakes: inverted input, its translation, the true digit
        rows, _ = stack_rows(inverted[wrong], b_to_a[wrong], digits[wrong])
        save_grid(rows, grids / "cyclegan_inverted_mistakes.png", nrow=per_row)
    return {
        "test_digits": len(labels),
        "accuracy_real_digits": round(real_acc, 4),
        "accuracy_inverted_untranslated": round(raw_acc, 4),
        "accuracy_b_to_a": round(b2a_acc, 4),
        "accuracy_a_to_b_inverted_back": round(a2b_acc, 4),
        "b_to_a_confusions": confusions(labels, b2a_pred),
        "a_to_b_confusions": confusions(labels, a2b_pred),
        "cycle_l1_a": round(float((cycle_a - digits).abs().mean()), 4),
        "cycle_l1_b": round(float((cycle_b - inverted).abs().mean()), 4),
        "b_to_a_l1_to_true_digit": round(float((b_to_a - digits).abs().mean()), 4),
        "a_to_b_l1_to_true_inverse": round(float((a_to_b - inverted).abs().mean()), 4),
    }


@torch.no_grad()
def fashion_grid(run: Path, data_dir: str, grids: Path) -> Path:
    import ganzoo
    from ganzoo.plugins.build import load_dataset
    from ganzoo.kinds.image import to_model_range
    from ganzoo.plugins.manager import get_plugin_manager
    from ganzoo.kinds.image import save_grid, stack_rows

    test = load_dataset(get_plugin_manager().registry, "mnist-fashion", data_dir, split="test")
    handle = ganzoo.load(run)
    a, b = to_model_range(test.fields["image"][:32]), to_model_range(test.fields["image_b"][:32])
    to_b = handle.translate(a, net="g_ab")
    to_a = handle.translate(b, net="g_ba")
    rows_a, per_row = stack_rows(a, to_b, handle.translate(to_b, net="g_ba"))
    rows_b, _ = stack_rows(b, to_a, handle.translate(to_a, net="g_ab"))
    path = grids / "cyclegan_mnist_fashion_test.png"
    save_grid(torch.cat([rows_a, rows_b]), path, nrow=per_row)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/ and FashionMNIST/raw/")
    parser.add_argument("--steps", type=int, default=None, help="mnist-inverted steps (default 1200; --quick 120)")
    parser.add_argument("--fashion-steps", type=int, default=None, help="mnist-fashion steps (default steps / 3)")
    parser.add_argument("--quick", action="store_true", help="about 2 minutes instead of about 20")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "ganzoo-bench" / "cyclegan"),
                        help="folder for the run directories")
    parser.add_argument("--grids", default=None, help="folder for the grids (default: benchmarks/results, "
                        "or beside the --out runs with --quick)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = args.steps or (120 if args.quick else 1200)
    fashion_steps = args.fashion_steps or max(1, steps // 3)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) / stamp
    grids = Path(args.grids) if args.grids else (out if args.quick else RESULTS)
    grids.mkdir(parents=True, exist_ok=True)

    run, wall, command = train(args.data_dir, out, "inverted", steps)
    config = json.loads((run / "config.json").read_text())
    scores = evaluate(run, args.data_dir, grids)
    fashion_run, fashion_wall, fashion_command = train(args.data_dir, out, "fashion", fashion_steps,
                                                       "--dataset", "mnist-fashion")
    fashion_picture = fashion_grid(fashion_run, args.data_dir, grids)
    result = {
        "meta": {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                 "machine": platform.machine(), "cpu_count": os.cpu_count(), "threads": 1,
                 "benchmark_command": shlex.join([Path(sys.executable).name, *sys.argv])},
        "mnist_inverted": {
            "command": shlex.join(["ganzoo", *command[3:]]), "steps": steps, "wall_sec": round(wall, 1),
            "train_sec": last_metrics(run)["elapsed_sec"], "batch_size": config["batch_size"],
            "loss": config["loss"], "arch": config["arch"], "algo": config["algo"],
            "last_metrics": {k: last_metrics(run)[k] for k in ("g_loss", "d_loss", "cycle", "identity",
                                                               "adv_ab", "adv_ba")},
            **scores, "grids": ["cyclegan_inverted_test.png", "cyclegan_inverted_mistakes.png"],
            "run": str(run)},
        "mnist_fashion": {"command": shlex.join(["ganzoo", *fashion_command[3:]]), "steps": fashion_steps,
                          "wall_sec": round(fashion_wall, 1), "grid": Path(fashion_picture).name,
                          "run": str(fashion_run)},
    }
    # a --quick run is a smoke test: its results stay beside the grids, not in benchmarks/results
    folder = grids if args.quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cyclegan_mnist.json").write_text(json.dumps(result, indent=2) + "\n")
    r, m = result["mnist_inverted"], result["meta"]
    lines = [
        f"# CycleGAN, MNIST <-> inverted MNIST ({steps} steps, {r['wall_sec']} s wall, one CPU thread)",
        "",
        f"`{r['command']}`; torch {m['torch']}, CPU {m['cpu_capability']}, {m['cpu_count']} cores shared with "
        f"other jobs; batch {r['batch_size']}, loss {r['loss']}, arch {json.dumps(r['arch'])}, "
        f"algo {json.dumps(r['algo'])}.",
        "",
        f"MNIST classifier on the {r['test_digits']:,} MNIST test digits:",
        "",
        "| input to the classifier | accuracy |",
        "|---|---|",
        f"| real test digits (ceiling) | {r['accuracy_real_digits']:.4f} |",
        f"| inverted digits, untranslated (floor) | {r['accuracy_inverted_untranslated']:.4f} |",
        f"| B -> A: g_ba(inverted digit) | {r['accuracy_b_to_a']:.4f} |",
        f"| A -> B: -g_ab(digit) (output inverted back) | {r['accuracy_a_to_b_inverted_back']:.4f} |",
        "",
        "| L1 in [-1, 1] units, mean per pixel | value |",
        "|---|---|",
        f"| cycle A: g_ba(g_ab(a)) vs a | {r['cycle_l1_a']} |",
        f"| cycle B: g_ab(g_ba(b)) vs b | {r['cycle_l1_b']} |",
        f"| g_ba(255 - x) vs the true digit x | {r['b_to_a_l1_to_true_digit']} |",
        f"| g_ab(x) vs the true inverse 255 - x | {r['a_to_b_l1_to_true_inverse']} |",
        "",
        f"Commonest B -> A mistakes (true->predicted): {', '.join(r['b_to_a_confusions']) or 'none'}.",
        "",
        f"mnist-fashion (picture only): `{result['mnist_fashion']['command']}`, "
        f"{result['mnist_fashion']['wall_sec']} s wall; grid {result['mnist_fashion']['grid']}.",
        "",
    ]
    (folder / "cyclegan_mnist.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
