"""Section 1: the 2-D mixtures (toy-ring, toy-grid) under the PacGAN / VEEGAN protocol.

For every config x dataset x seed: train, draw 2,500 samples (latent seed 12345), score them
with ``ganzoo.metrics.scores.mixture_modes`` AND with the independent numpy scorer below
(written from the definition in docs/ANCHORS.md), and record both. The true mixture's own
score (2,500 test points) is the ceiling row.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import quality_common as qc  # noqa: E402

# --------------------------------------------------------------------------- configuration (edit me)

CONFIGS: list[dict[str, Any]] = [
    {"label": "ganzoo defaults", "model": "gan", "flags": [],
     "note": "`ganzoo train gan --dataset toy-*` with no other flag: the gan model's defaults for point "
             "data (see `ganzoo info gan`)"},
    {"label": "ganzoo before (no tricks)", "model": "gan",
     "flags": ["--set", "pack=1", "--set", "ema=null", "--set", "r1=0", "--set", "r1_every=1",
               "--steps", "2000", "--batch-size", "64", "--set", "arch.hidden=512"],
     "seeds": 3, "note": "the gan model's former defaults (2000 steps, batch 64, 3x512, Adam 2e-4/0.5), "
                         "first 3 table seeds only"},
]
"""One dict per configuration: ``label``, ``model``, ``flags`` (CLI args), ``note``."""

DATASETS = ["toy-ring", "toy-grid"]
N_SAMPLES = 2500
QUICK_STEPS = 300
HIGH_QUALITY_STDS = 3.0


# --------------------------------------------------------------------------- the independent scorer

def mixture(dataset: str) -> tuple[np.ndarray, float]:
    """``(means [K, 2] float64, std)`` of a toy dataset, from ganzoo's definitions."""
    import ganzoo.datasets as D

    if dataset == "toy-ring":
        return D.ring_means().double().numpy(), float(D.RING_STD)
    if dataset == "toy-grid":
        return D.grid_means().double().numpy(), float(D.GRID_STD)
    raise ValueError(f"not a toy dataset: {dataset}")


def true_points(dataset: str, n: int = N_SAMPLES) -> np.ndarray:
    """The first ``n`` test points of the real mixture."""
    import ganzoo.datasets as D

    loader = {"toy-ring": D.load_toy_ring, "toy-grid": D.load_toy_grid}[dataset]
    return loader(split="test").points[:n].double().numpy()


def score_mixture_numpy(points, means, std: float) -> dict[str, float | int]:
    """Mode scores from the ANCHORS definition, in plain numpy (float64).

    - each sample's nearest mode by Euclidean distance (the first on a tie, as ``argmin``);
    - high quality: that distance < 3 * std;
    - modes: the number of distinct nearest modes among high-quality samples;
    - reverse KL: KL(histogram of ALL samples over their nearest modes || uniform over K),
      natural log, with 0 * log 0 = 0.
    """
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    if p.ndim != 2 or m.ndim != 2 or p.shape[1] != m.shape[1] or len(p) == 0:
        raise ValueError(f"points {p.shape} and means {m.shape} must be [N, D] and [K, D]")
    k = len(m)
    distances = np.sqrt(((p[:, None, :] - m[None, :, :]) ** 2).sum(axis=2))  # [N, K]
    nearest = distances.argmin(axis=1)
    distance = distances[np.arange(len(p)), nearest]
    high = distance < HIGH_QUALITY_STDS * std
    counts = np.bincount(nearest, minlength=k).astype(np.float64)
    q = counts / counts.sum()
    nz = q > 0
    reverse_kl = float(np.sum(q[nz] * np.log(q[nz] * k)))
    return {"modes": int(len(np.unique(nearest[high]))), "high_quality": float(100.0 * high.mean()),
            "reverse_kl": reverse_kl}


def score_ganzoo(points, dataset: str) -> dict[str, float | int]:
    import ganzoo.datasets as D
    from ganzoo.metrics.scores import mixture_modes

    means, std = ((D.ring_means(), D.RING_STD) if dataset == "toy-ring" else (D.grid_means(), D.GRID_STD))
    return mixture_modes(points, means, std)


def disagreements(a: dict, b: dict, tol: float = 1e-9) -> list[str]:
    """How two mode-score dicts differ (empty when they agree)."""
    out = []
    if int(a["modes"]) != int(b["modes"]):
        out.append(f"modes {a['modes']} vs {b['modes']}")
    for key in ("high_quality", "reverse_kl"):
        if abs(float(a[key]) - float(b[key])) > tol * max(1.0, abs(float(a[key]))):
            out.append(f"{key} {a[key]!r} vs {b[key]!r}")
    return out


def score_both(points, dataset: str) -> dict[str, Any]:
    """Both scorers on the same points, with any disagreement listed."""
    ours = score_ganzoo(points, dataset)
    means, std = mixture(dataset)
    independent = score_mixture_numpy(np.asarray(points, dtype=np.float64), means, std)
    return {"ganzoo": ours, "numpy": independent, "disagreements": disagreements(ours, independent)}


# --------------------------------------------------------------------------- the section

def steps_for(config: dict, quick: bool) -> list[str]:
    return qc.with_steps(config["flags"], QUICK_STEPS) if quick else list(config["flags"])


def plan(options: qc.Options) -> list[dict[str, Any]]:
    seeds = qc.QUICK_SEEDS if options.quick else qc.TABLE_SEEDS
    return [{"config": c, "dataset": d, "seed": s} for c in CONFIGS for d in DATASETS
            for s in (seeds[:c["seeds"]] if c.get("seeds") else seeds)]


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per config x dataset: mean / se / min / max of the ganzoo scores over successful seeds."""
    out = []
    keys = []
    for r in rows:
        key = (r["label"], r["dataset"])
        if key not in keys:
            keys.append(key)
    for label, dataset in keys:
        group = [r for r in rows if r["label"] == label and r["dataset"] == dataset]
        good = [r for r in group if "error" not in r]
        out.append({
            "label": label, "model": group[0]["model"], "dataset": dataset,
            "seeds": [r["seed"] for r in good], "errors": len(group) - len(good),
            "steps": group[0].get("steps"),
            **{k: qc.aggregate([r["scores"][k] for r in good]) for k in ("modes", "high_quality", "reverse_kl")},
            "scorer_disagreements": sum(1 for r in good if r["score_check"]["disagreements"]),
        })
    return out


def run(options: qc.Options, trainer: qc.Trainer, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    import ganzoo

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    first_points: dict[tuple[str, str], np.ndarray] = {}
    def train_one(job):
        config, dataset, seed = job["config"], job["dataset"], job["seed"]
        flags = steps_for(config, options.quick)
        name = f"toy-{dataset}-{qc.slug(config['label'])}-s{seed}"
        describe = f"{dataset} {config['label']!r} ({config['model']}) seed {seed}"
        if options.toy_jobs > 1:  # side by side, one thread each; the table uses no timings
            train = trainer.train(describe, config["model"], dataset, seed, flags, name,
                                  env={"OMP_NUM_THREADS": "1"})
            train["parallel"] = True
        else:
            train = trainer.train(describe, config["model"], dataset, seed, flags, name)
        return job, flags, train

    if options.toy_jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(options.toy_jobs) as pool:
            trained = list(pool.map(train_one, jobs))
    else:
        trained = (train_one(job) for job in jobs)
    for job, flags, train in trained:
        config, dataset, seed = job["config"], job["dataset"], job["seed"]
        row: dict[str, Any] = {"label": config["label"], "model": config["model"], "dataset": dataset, "seed": seed,
                               "flags": flags, "steps": qc.flag_value(flags, "--steps") or "default",
                               "train_sec": train["train_sec"], "command": train["command"]}
        t0 = time.perf_counter()
        if "error" in train:
            row["error"] = train["error"]
            score_sec = None
        else:
            try:
                handle = ganzoo.load(train["run_dir"])
                points = handle.sample(N_SAMPLES, seed=qc.SAMPLE_SEED)
                check = score_both(points, dataset)
                row["scores"] = check["ganzoo"]
                row["score_check"] = check
                first_points.setdefault((config["label"], dataset), points.double().numpy())
            except Exception as exc:  # noqa: BLE001 - a broken run is an error row
                row["error"] = f"scoring failed: {type(exc).__name__}: {exc}"
            score_sec = time.perf_counter() - t0
        note = ""
        if "scores" in row:
            s = row["scores"]
            note = f"modes {s['modes']}, HQ {s['high_quality']:.1f}%, rKL {s['reverse_kl']:.3f}"
            if row["score_check"]["disagreements"]:
                note += "  SCORERS DISAGREE: " + "; ".join(row["score_check"]["disagreements"])
        elif "error" in row and "error" not in train:
            note = row["error"]
        trainer.done(train, score_sec, note)
        rows.append(row)

    ceiling = {}
    for dataset in DATASETS:
        pts = true_points(dataset)
        ceiling[dataset] = score_both(pts, dataset)
        first_points.setdefault(("true mixture", dataset), pts)

    png = options.results / "toy_scatter.png"
    try:
        plot(first_points, png)
        png_text = qc.display_path(png)
    except Exception as exc:  # noqa: BLE001 - a missing matplotlib must not lose the numbers
        png_text = f"not written: {type(exc).__name__}: {exc}"
        print(f"toy: scatter plot {png_text}", file=sys.stderr)

    aggregates = summarize(rows)
    return {
        "protocol": (f"{N_SAMPLES} samples per run (latent seed {qc.SAMPLE_SEED}); nearest mode by Euclidean "
                     f"distance; high quality < 3 std; modes = distinct nearest modes of HQ samples; reverse KL "
                     f"= KL(histogram of all samples over nearest modes || uniform)"),
        "seeds": sorted({j["seed"] for j in jobs}),
        "configs": CONFIGS,
        "runs": rows,
        "aggregates": aggregates,
        "ceiling": ceiling,
        "scorer_disagreements": [
            {"label": r["label"], "dataset": r["dataset"], "seed": r["seed"], "what": r["score_check"]["disagreements"]}
            for r in rows if "score_check" in r and r["score_check"]["disagreements"]]
        + [{"label": "true mixture", "dataset": d, "seed": None, "what": c["disagreements"]}
           for d, c in ceiling.items() if c["disagreements"]],
        "png": png_text,
        "runtime_sec": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------- the picture

VIEW = {"toy-ring": 1.6, "toy-grid": 6.0}


def plot(points: dict[tuple[str, str], np.ndarray], path: Path) -> Path:
    """Scatter plots: one row per config (true mixture first), one column per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["true mixture"] + [c["label"] for c in CONFIGS if any((c["label"], d) in points for d in DATASETS)]
    fig, axes = plt.subplots(len(labels), len(DATASETS), figsize=(4.2 * len(DATASETS), 4.0 * len(labels)),
                             squeeze=False)
    for i, label in enumerate(labels):
        for j, dataset in enumerate(DATASETS):
            ax = axes[i][j]
            means, std = mixture(dataset)
            lim = VIEW[dataset]
            pts = points.get((label, dataset))
            if pts is not None:
                inside = (np.abs(pts) <= lim).all(axis=1)
                ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5, color="tab:blue", linewidths=0, zorder=2)
                s = score_mixture_numpy(pts, means, std)
                title = (f"{label} - {dataset}\nmodes {s['modes']}/{len(means)}, HQ {s['high_quality']:.1f}%, "
                         f"rKL {s['reverse_kl']:.3f}")
                if not inside.all():
                    title += f"\n{100 * (1 - inside.mean()):.1f}% of points outside the view"
            else:
                title = f"{label} - {dataset}\n(no run)"
            ax.scatter(means[:, 0], means[:, 1], marker="x", color="red", s=60, linewidths=0.8, zorder=1)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(title, fontsize=9)
            ax.tick_params(labelsize=7)
    fig.suptitle("2,500 samples (first seed) over the mode centres (red x)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
