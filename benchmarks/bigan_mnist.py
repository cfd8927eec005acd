"""BiGAN on MNIST with its defaults, scored by the BiGAN paper's encoder-quality measures.

Usage (from the repository root, with the project installed):

    .venv/bin/python benchmarks/bigan_mnist.py --data-dir ../shared/data --threads 1   # 5,000 steps: ~8 min
    .venv/bin/python benchmarks/bigan_mnist.py --data-dir ../shared/data --quick --threads 1
    .venv/bin/python benchmarks/bigan_mnist.py --data-dir ../shared/data --threads 1 --kinds mlp,conv --conv-steps 800

(Times measured on 2 shared cores with one thread: the mlp trains at ~1,700 images/s, the conv
kind at ~180; scoring takes ~1 min for the mlp, ~5 min for the conv encoder. With other jobs on
the CPU, two threads ran 2-6x slower than one.)

Each kind trains in its own ``ganzoo train bigan`` process (defaults: the paper's MLPs, 50-D
U[-1, 1] z, bce with inverted labels, Adam 2e-4 / 0.5, batch 128). Then, on the MNIST test split:

* 1-NN accuracy (Euclidean, as the official code's ``nnc_score``): each of the 10,000 test digits
  gets the label of its nearest of the 60,000 training digits, in two feature spaces of the
  encoder: the code E(x) (the official ``NNC_e``) and the layer before it (``NNC_e-``, the one
  ANCHORS.md quotes: 97.1-97.4% after 200-400 epochs, 96.8% for a random encoder);
* a linear probe: multinomial logistic regression (torch, L-BFGS, L2 weight picked on a held-out
  fifth) on the features of the first 10,000 training digits, scored on the test digits;
* reconstruction: mean |x - G(E(x))| (images in [-1, 1]) against random pairs |x - x'|, and the
  official measure, per-image L2 ||x - G(E(x))|| with images in [0, 1] (``EGr``) against
  ||x' - G(E(x))|| for another test image x' (``EGr_b``; the paper's run: 5.95 vs 9.60 at epoch 400).

Every measure is reported beside the same encoder at initialisation (rebuilt from the run's
config and seed; its batch-norm statistics re-estimated on 10,000 training digits, as the official
code's deploy step does) and, for 1-NN, raw pixels. Results go to
benchmarks/results/bigan_mnist.{json,md}; grids of samples and of x over G(E(x)) rows to --grids.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ganzoo
from ganzoo.kinds.image import to_model_range
from ganzoo.datasets.idx import load_mnist
from ganzoo.plugins.build import build_networks
from ganzoo.plugins.manager import get_plugin_manager
from ganzoo.kinds.image import save_grid, stack_rows
from ganzoo.outputs.sampling import ModelHandle

RESULTS = Path(__file__).resolve().parent / "results"
FULL_STEPS, QUICK_STEPS = 5000, 150
PROBE_TRAIN = 10000
QUICK_NN_TRAIN = 10000
"""--quick compares the test digits with the first 10,000 training digits only (1-NN is the slow part)."""


@torch.no_grad()
def features(encoder, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """``(code E(x), the layer before it)`` of uint8 images, in eval mode."""
    codes, hidden = [], []
    for start in range(0, len(images), batch_size):
        x = to_model_range(images[start:start + batch_size])
        h = encoder.body(x)
        hidden.append(h)
        codes.append(encoder(x))
    return torch.cat(codes), torch.cat(hidden)


@torch.no_grad()
def reestimate_batch_norm(encoder, images: torch.Tensor, batch_size: int = 500) -> None:
    """Batch-norm running statistics as plain averages over ``images`` (the official deploy step)."""
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    encoder.train()
    for start in range(0, len(images), batch_size):
        encoder(to_model_range(images[start:start + batch_size]))
    encoder.eval()


@torch.no_grad()
def nearest_neighbour_accuracy(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                               test_labels: torch.Tensor, chunk: int = 500) -> float:
    """Percent of test points whose Euclidean nearest training point has their label."""
    train, test = train.float(), test.float()
    train_sq = train.square().sum(1)
    correct = 0
    for start in range(0, len(test), chunk):
        block = test[start:start + chunk]
        distances = train_sq[None, :] - 2 * block @ train.T  # + |block|^2, the same for every candidate
        correct += (train_labels[distances.argmin(1)] == test_labels[start:start + chunk]).sum().item()
    return 100.0 * correct / len(test)


def linear_probe_accuracy(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                          test_labels: torch.Tensor, weight_decays=(1e-4, 1e-3, 1e-2)) -> dict:
    """Multinomial logistic regression on standardised features: the L2 weight with the best
    accuracy on a held-out fifth of ``train``, refitted on all of it, scored on ``test``."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std

    def fit(x, y, decay):
        torch.manual_seed(0)
        layer = torch.nn.Linear(x.shape[1], 10)
        optimizer = torch.optim.LBFGS(layer.parameters(), lr=1, max_iter=200, history_size=20,
                                      line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(layer(x), y) + decay * layer.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        return layer

    def accuracy(layer, x, y):
        with torch.no_grad():
            return 100.0 * (layer(x).argmax(1) == y).float().mean().item()

    cut = len(train) * 4 // 5
    held_out = {d: accuracy(fit(train[:cut], train_labels[:cut], d), train[cut:], train_labels[cut:])
                for d in weight_decays}
    best = max(held_out, key=held_out.get)
    return {"accuracy": accuracy(fit(train, train_labels, best), test, test_labels), "l2": best}


@torch.no_grad()
def reconstruction(model, images: torch.Tensor) -> dict:
    """Reconstruction errors of ``model`` (a ganzoo handle) on uint8 ``images`` and their baselines."""
    x = to_model_range(images)
    rec = model.reconstruct(images)
    other = torch.roll(x, 1, dims=0)  # x': another test image
    unit = lambda t: (t + 1) / 2  # noqa: E731  (images in [0, 1], as the official code measures)
    return {"rec_l1": (x - rec).abs().mean().item(),
            "random_pair_l1": (x - other).abs().mean().item(),
            "EGr": (unit(x) - unit(rec)).flatten(1).norm(dim=1).mean().item(),
            "EGr_b": (unit(other) - unit(rec)).flatten(1).norm(dim=1).mean().item()}


def evaluate(model, train_images, train_labels, test_images, test_labels) -> dict:
    """Every measure for one model handle (its encoder and generator); 1-NN searches all of
    ``train_images``, the linear probe fits the first :data:`PROBE_TRAIN`."""
    codes_train, hidden_train = features(model.encoder, train_images)
    codes_test, hidden_test = features(model.encoder, test_images)
    return {
        "nn_code": nearest_neighbour_accuracy(codes_train, train_labels, codes_test, test_labels),
        "nn_hidden": nearest_neighbour_accuracy(hidden_train, train_labels, hidden_test, test_labels),
        "probe_code": linear_probe_accuracy(codes_train[:PROBE_TRAIN], train_labels[:PROBE_TRAIN],
                                            codes_test, test_labels),
        "probe_hidden": linear_probe_accuracy(hidden_train[:PROBE_TRAIN], train_labels[:PROBE_TRAIN],
                                              hidden_test, test_labels),
        **reconstruction(model, test_images),
    }


def save_pictures(model, test_images: torch.Tensor, folder: Path, tag: str) -> list[str]:
    """A grid of 64 samples and one of 32 test digits (rows of 8) over their reconstructions."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = folder / f"{tag}-samples.png"
    model.save_samples(samples, n=64, seed=0)
    pairs = folder / f"{tag}-reconstructions.png"
    real = to_model_range(test_images[:32])
    images, per_row = stack_rows(real, model.reconstruct(test_images[:32]))
    save_grid(images, pairs, nrow=per_row)
    return [samples.name, pairs.name]


def initial_model(trained) -> ModelHandle:
    """The trained model's networks as its run initialised them (built from its config and seed;
    the step-0 checkpoint itself is gone once ``keep_checkpoints`` newer ones exist)."""
    modules = build_networks(get_plugin_manager().registry, trained.config, trained.shape, torch.device("cpu"))
    return ModelHandle({name: modules[name] for name in trained.modules}, trained.config, 0,
                       trained.checkpoint, trained.shape)


def train(kind: str, steps: int, data_dir: str, out: Path, threads: int | None) -> tuple[Path, float]:
    """Train ``arch.kind=kind`` with the model's defaults in its own ``ganzoo train`` process.

    Returns:
        ``(run directory, wall seconds)``; a finished run already in ``out`` is reused.
    """
    run = out / f"bigan-{kind}"
    if (run / "checkpoints" / f"step-{steps:07d}").is_dir():  # already trained (--out reused)
        return run, json.loads((run / "wall.json").read_text())["train_wall_sec"]
    command = [sys.executable, "-m", "ganzoo", "train", "bigan", "--data-dir", data_dir, "--steps", str(steps),
               "--device", "cpu", "--out", str(out), "--run-name", run.name, "--quiet",
               "--set", f"arch.kind={kind}", "--set", "log_every=50"]
    started = time.perf_counter()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"training {kind} failed: {done.stderr.strip()}")
    wall = time.perf_counter() - started
    (run / "wall.json").write_text(json.dumps({"train_wall_sec": wall}) + "\n")
    return run, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/")
    parser.add_argument("--steps", type=int, default=None, help=f"training steps (default {FULL_STEPS}, "
                                                                 f"--quick {QUICK_STEPS})")
    parser.add_argument("--quick", action="store_true", help="a short run (about 2 minutes)")
    parser.add_argument("--kinds", default="mlp", help="comma-separated arch.kind values: mlp, conv")
    parser.add_argument("--conv-steps", type=int, default=None, help="steps for the conv kind (default --steps)")
    parser.add_argument("--out", default=None, help="folder for run directories (default: a temp folder)")
    parser.add_argument("--grids", default=None, help="folder for the picture grids (default: "
                        "benchmarks/results, or the --out folder with --quick)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for training and scoring (default: torch's; on a CPU shared with "
                             "other jobs, 1 is often several times faster than 2)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (QUICK_STEPS if args.quick else FULL_STEPS)
    out = Path(args.out or tempfile.mkdtemp(prefix="ganzoo-bigan-"))
    grids = Path(args.grids) if args.grids else (out if args.quick else RESULTS)
    torch.manual_seed(0)

    train_data, test_data = load_mnist(Path(args.data_dir), "train"), load_mnist(Path(args.data_dir), "test")
    train_images, train_labels = train_data.images, train_data.labels
    if args.quick:
        train_images, train_labels = train_images[:QUICK_NN_TRAIN], train_labels[:QUICK_NN_TRAIN]
    test_images, test_labels = test_data.images, test_data.labels
    started = time.perf_counter()
    pixels = nearest_neighbour_accuracy(to_model_range(train_images).flatten(1), train_labels,
                                        to_model_range(test_images).flatten(1), test_labels)
    print(f"1-NN on raw pixels: {pixels:.2f}% ({time.perf_counter() - started:.0f} s)", flush=True)

    rows = []
    for kind in args.kinds.split(","):
        kind_steps = args.conv_steps if (kind == "conv" and args.conv_steps) else steps
        run, wall = train(kind, kind_steps, args.data_dir, out, args.threads)
        config = json.loads((run / "config.json").read_text())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        trained = ganzoo.load(run)
        initial = initial_model(trained)
        reestimate_batch_norm(initial.encoder, train_images[:PROBE_TRAIN])
        started = time.perf_counter()
        scores = {"trained": evaluate(trained, train_images, train_labels, test_images, test_labels),
                  "random": evaluate(initial, train_images, train_labels, test_images, test_labels)}
        row = {"kind": kind, "steps": kind_steps, "batch_size": config["batch_size"],
               "epochs": round(kind_steps * config["batch_size"] / len(train_data.images), 2),
               "train_wall_sec": round(wall, 1), "train_sec": metrics[-1]["elapsed_sec"],
               "eval_sec": round(time.perf_counter() - started, 1), "arch": config["arch"],
               "loss": config["loss"], "g_optim": config["g_optim"],
               "last": {k: metrics[-1][k] for k in ("d_loss", "g_loss", "D(x,E(x))", "D(G(z),z)", "rec_l1")},
               **scores, "grids": save_pictures(trained, test_images, grids, f"bigan-{kind}")}
        save_pictures(initial, test_images, grids, f"bigan-{kind}-random")
        rows.append(row)
        print(json.dumps(row), flush=True)

    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "machine": platform.machine(), "processor": platform.processor(),
            "pixels_nn": pixels, "probe_train_digits": PROBE_TRAIN, "nn_train_digits": len(train_images),
            "test_digits": len(test_images)}
    target = out if args.quick else RESULTS  # a --quick run never replaces the full results
    target.mkdir(exist_ok=True)
    (target / "bigan_mnist.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    lines = [f"BiGAN on MNIST (`{meta['command']}`; torch {meta['torch']}, CPU {meta['cpu_capability']}, "
             f"{meta['threads']} threads). 1-NN: Euclidean, {len(test_images):,} test digits against "
             f"{len(train_images):,} training digits; linear probe: logistic regression on {PROBE_TRAIN:,} "
             f"training digits. 1-NN on raw pixels: {pixels:.2f}%. Paper (official MNIST run, 400 epochs): "
             "1-NN on the layer before the code 97.35% vs 96.84% random; EGr 5.95 vs EGr_b 9.60.", "",
             "| kind | steps | epochs | train s | encoder | 1-NN E(x) % | 1-NN hidden % | probe E(x) % "
             "| probe hidden % | rec L1 | random-pair L1 | EGr | EGr_b |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for which in ("trained", "random"):
            s = r[which]
            lines.append(f"| {r['kind']} | {r['steps']} | {r['epochs']} | {r['train_wall_sec']} | {which} "
                         f"| {s['nn_code']:.2f} | {s['nn_hidden']:.2f} | {s['probe_code']['accuracy']:.2f} "
                         f"| {s['probe_hidden']['accuracy']:.2f} | {s['rec_l1']:.3f} | {s['random_pair_l1']:.3f} "
                         f"| {s['EGr']:.2f} | {s['EGr_b']:.2f} |")
    lines += ["", "Grids (64 samples; test digits over G(E(x)) rows): "
              + ", ".join(f"`{name}`" for r in rows for name in r["grids"])
              + "; a randomly initialised model's: the same names with `-random`."]
    (target / "bigan_mnist.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
