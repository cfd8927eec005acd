"""Section 2: Stacked MNIST (1,000 modes), the VEEGAN / PacGAN protocol.

For every config x seed: train on ``stacked-mnist``, draw 26,000 samples (latent seed 12345),
classify each of the three channels with ganzoo's MNIST classifier and count the digit
triples hit (of 1,000) and KL(triple histogram || uniform).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import quality_common as qc  # noqa: E402

# --------------------------------------------------------------------------- configuration (edit me)

FULL_STEPS = 400  # the stated CPU budget (2-core CPU)
QUICK_STEPS = 30

CONFIGS: list[dict[str, Any]] = [
    {"label": "dcgan defaults", "model": "dcgan", "flags": ["--steps", str(FULL_STEPS)],
     "note": "the dcgan model with its defaults"},
    {"label": "PacDCGAN2 + EMA", "model": "dcgan",
     "flags": ["--set", "pack=2", "--set", "ema=0.999", "--steps", str(FULL_STEPS)],
     "note": "dcgan with PacGAN packing (2) and an averaged generator (0.999)"},
]
"""One dict per configuration: ``label``, ``model``, ``flags`` (CLI args), ``note``."""

DATASET = "stacked-mnist"
FULL_SEEDS = qc.TABLE_SEEDS[:1]  # one seed per config: the CPU budget
N_SAMPLES = 26_000


def plan(options: qc.Options) -> list[dict[str, Any]]:
    seeds = qc.QUICK_SEEDS if options.quick else FULL_SEEDS
    return [{"config": c, "seed": s} for c in CONFIGS for s in seeds]


def classify_triples(handle, classifier, n: int = N_SAMPLES, seed: int = qc.SAMPLE_SEED):
    """``[n, 3]`` predicted digits of ``handle.sample(n, seed=seed)`` (x in [-1, 1], [n, 3, 28, 28]),
    one channel at a time; ~250 MB of samples for n = 26,000, classified in batches."""
    import torch

    x = handle.sample(n, seed=seed)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected [n, 3, H, W] samples, got {tuple(x.shape)}")
    return torch.stack([classifier.logits(x[:, c:c + 1]).argmax(1) for c in range(3)], dim=1)


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for config in CONFIGS:
        group = [r for r in rows if r["label"] == config["label"]]
        if not group:
            continue
        good = [r for r in group if "error" not in r]
        out.append({"label": config["label"], "model": config["model"], "dataset": DATASET,
                    "seeds": [r["seed"] for r in good], "errors": len(group) - len(good),
                    "steps": group[0].get("steps"),
                    "modes": qc.aggregate([r["scores"]["modes"] for r in good]),
                    "kl_uniform": qc.aggregate([r["scores"]["kl_uniform"] for r in good])})
    return out


def run(options: qc.Options, trainer: qc.Trainer, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    import ganzoo
    from ganzoo.metrics.extractors import load_mnist_classifier
    from ganzoo.metrics.scores import triple_modes

    started = time.perf_counter()
    classifier = load_mnist_classifier(data_dir=options.data_dir)  # trains + caches on first use
    rows: list[dict[str, Any]] = []
    png = options.results / "stacked_samples.png"
    png_text = "not written: no successful run"
    for job in jobs:
        config, seed = job["config"], job["seed"]
        flags = qc.with_steps(config["flags"], QUICK_STEPS) if options.quick else list(config["flags"])
        name = f"stacked-{qc.slug(config['label'])}-s{seed}"
        train = trainer.train(f"{DATASET} {config['label']!r} ({config['model']}) seed {seed}", config["model"],
                              DATASET, seed, flags, name)
        row: dict[str, Any] = {"label": config["label"], "model": config["model"], "dataset": DATASET,
                               "seed": seed, "flags": flags, "steps": qc.flag_value(flags, "--steps") or "default",
                               "train_sec": train["train_sec"], "command": train["command"]}
        t0 = time.perf_counter()
        score_sec = None
        if "error" in train:
            row["error"] = train["error"]
        else:
            try:
                handle = ganzoo.load(train["run_dir"])
                digits = classify_triples(handle, classifier)
                row["scores"] = triple_modes(digits)
                row["n_samples"] = int(len(digits))
                if png_text.startswith("not written"):
                    png.parent.mkdir(parents=True, exist_ok=True)
                    handle.save_samples(png, n=64, seed=0)
                    png_text = f"{qc.display_path(png)} ({config['label']}, seed {seed})"
            except Exception as exc:  # noqa: BLE001 - a broken run is an error row
                row["error"] = f"scoring failed: {type(exc).__name__}: {exc}"
            score_sec = time.perf_counter() - t0
        note = (f"modes {row['scores']['modes']}/1000, KL {row['scores']['kl_uniform']:.3f}" if "scores" in row
                else row.get("error", "") if "error" not in train else "")
        trainer.done(train, score_sec, note)
        rows.append(row)
    return {
        "protocol": (f"{N_SAMPLES} samples per run (latent seed {qc.SAMPLE_SEED}); each channel classified by "
                     f"mnist-classifier (test accuracy {classifier.info.get('test_accuracy')}); modes = digit "
                     f"triples hit of 1000; KL = KL(triple histogram || uniform over 1000)"),
        "classifier": {"name": classifier.name, "sha256": classifier.sha256,
                       "test_accuracy": classifier.info.get("test_accuracy")},
        "seeds": sorted({j["seed"] for j in jobs}),
        "configs": CONFIGS,
        "runs": rows,
        "aggregates": summarize(rows),
        "png": png_text,
        "runtime_sec": round(time.perf_counter() - started, 1),
    }
