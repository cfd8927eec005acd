"""Fast checks of the quality suite in benchmarks/quality/ (no training)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent.parent / "benchmarks" / "quality"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"quality_suite_{name}", SUITE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


toy = _load("toy")
report = _load("report")
qc = _load("quality_common")
images = _load("images")


# --------------------------------------------------------------------------- the toy scorers

# 8 ring modes at (cos 2 pi i/8, sin 2 pi i/8), std 0.01, so high quality is distance < 0.03.
# Two points on mode 0 (1, 0), two on mode 2 (0, 1), one far point (0.5, 0.1) whose nearest
# mode is mode 0 (distance 0.51, vs 0.64 to mode 1) but which is not high quality.
HANDMADE = [[1.0, 0.0], [1.005, 0.0], [0.0, 1.0], [0.0, 1.01], [0.5, 0.1]]
# modes: {0, 2} -> 2. HQ: 4 of 5 -> 80%. Histogram over nearest modes (all 5): mode 0 has 3,
# mode 2 has 2 -> p = (0.6, 0.4), KL(p || 1/8) = 0.6 ln(0.6 * 8) + 0.4 ln(0.4 * 8).
HANDMADE_KL = 0.6 * math.log(4.8) + 0.4 * math.log(3.2)


def test_handmade_kl_value_by_hand():
    assert HANDMADE_KL == pytest.approx(1.406430, abs=1e-6)


def test_independent_scorer_on_a_handmade_example():
    means, std = toy.mixture("toy-ring")
    got = toy.score_mixture_numpy(HANDMADE, means, std)
    assert got["modes"] == 2
    assert got["high_quality"] == pytest.approx(80.0)
    assert got["reverse_kl"] == pytest.approx(HANDMADE_KL, rel=1e-12)


def test_independent_scorer_agrees_with_ganzoo():
    import ganzoo.datasets as D
    from ganzoo.metrics.scores import mixture_modes

    ours = mixture_modes(HANDMADE, D.ring_means(), D.RING_STD)
    assert ours["modes"] == 2
    assert ours["high_quality"] == pytest.approx(80.0)
    assert ours["reverse_kl"] == pytest.approx(HANDMADE_KL, rel=1e-9)
    check = toy.score_both(HANDMADE, "toy-ring")
    assert check["disagreements"] == []


def test_disagreement_is_reported():
    a = {"modes": 8, "high_quality": 98.0, "reverse_kl": 0.01}
    assert toy.disagreements(a, dict(a)) == []
    assert len(toy.disagreements(a, {**a, "modes": 7, "high_quality": 97.96})) == 2


def test_independent_scorer_on_the_grid_and_an_empty_mode_set():
    means, std = toy.mixture("toy-grid")
    assert len(means) == 25
    got = toy.score_mixture_numpy([[10.0, 10.0]] * 4, means, std)  # all nearest (4, 4), none HQ
    assert got["modes"] == 0 and got["high_quality"] == 0.0
    assert got["reverse_kl"] == pytest.approx(math.log(25))


# --------------------------------------------------------------------------- aggregation

def test_aggregate_mean_and_standard_error():
    stat = qc.aggregate([1.0, 2.0, 3.0, 4.0])
    # mean 2.5; sample std (ddof 1) = sqrt(5/3); se = std / sqrt(4)
    assert stat["n"] == 4 and stat["mean"] == pytest.approx(2.5)
    assert stat["std"] == pytest.approx(math.sqrt(5 / 3))
    assert stat["se"] == pytest.approx(math.sqrt(5 / 3) / 2)
    assert (stat["min"], stat["max"]) == (1.0, 4.0)
    one = qc.aggregate([7])
    assert one["mean"] == 7 and one["se"] is None
    assert qc.aggregate([])["mean"] is None


def test_toy_summary_groups_by_config_and_dataset():
    rows = [{"label": "a", "model": "gan", "dataset": "toy-ring", "seed": s, "steps": "300",
             "scores": {"modes": m, "high_quality": hq, "reverse_kl": kl},
             "score_check": {"disagreements": []}}
            for s, (m, hq, kl) in zip((100, 101), ((8, 99.0, 0.01), (6, 97.0, 0.03)))]
    rows.append({"label": "a", "model": "gan", "dataset": "toy-ring", "seed": 102, "error": "exit 1"})
    (agg,) = toy.summarize(rows)
    assert agg["seeds"] == [100, 101] and agg["errors"] == 1
    assert agg["modes"]["mean"] == 7 and agg["modes"]["se"] == pytest.approx(1.0)
    assert agg["modes"]["min"] == 6 and agg["high_quality"]["min"] == 97.0
    assert agg["reverse_kl"]["max"] == 0.03


def test_flags_helpers():
    assert qc.with_steps(["--steps", "3000", "--lr", "1e-4"], 300) == ["--lr", "1e-4", "--steps", "300"]
    assert qc.with_steps(["--epochs=2"], 5) == ["--steps", "5"]
    assert qc.flag_value(["--steps", "3", "--steps", "9"], "--steps") == "9"
    assert images.max_relative_deviation([10] * 10) == 0.0
    assert images.max_relative_deviation([12, 8] + [10] * 8) == pytest.approx(0.2)
    assert images.max_relative_deviation([0] + [10] * 9) == pytest.approx(1.0)


def test_read_curve_maps_eval_steps_to_wall_time(tmp_path):
    lines = ['{"step": 10, "d_loss": 1, "elapsed_sec": 1.5}', '{"step": 20, "elapsed_sec": 3.0}',
             '{"step": 20, "eval": {"fid[mnist-classifier]": 12.5, "precision[mnist-classifier]": 0.5, '
             '"recall[mnist-classifier]": 0.4, "modes[mnist-classifier]": 10, '
             '"histogram[mnist-classifier]": [12, 8, 10, 10, 10, 10, 10, 10, 10, 10]}}']
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    curve, extractor = images.read_curve(path)
    assert extractor == "mnist-classifier"
    assert curve == [{"step": 20, "wall_sec": 3.0, "fid": 12.5, "precision": 0.5, "recall": 0.4, "modes": 10,
                      "kl_uniform": None, "histogram": [12, 8] + [10] * 8, "max_rel_dev": pytest.approx(0.2)}]


# --------------------------------------------------------------------------- the report

def _stat(mean, lo=None, hi=None):
    return {"n": 2, "mean": mean, "se": 0.1, "std": 0.1, "min": mean if lo is None else lo,
            "max": mean if hi is None else hi}


def fake_results():
    toy_aggs = [
        {"label": "good", "model": "gan", "dataset": "toy-ring", "seeds": [100, 101], "errors": 0, "steps": "2000",
         "modes": _stat(8, 8), "high_quality": _stat(98.5, 98.2), "reverse_kl": _stat(0.01, hi=0.015)},
        {"label": "good", "model": "gan", "dataset": "toy-grid", "seeds": [100, 101], "errors": 0, "steps": "2000",
         "modes": _stat(24.5, 24), "high_quality": _stat(96.0, 95.5), "reverse_kl": _stat(0.02, hi=0.025)},
    ]
    return {
        "quick": False, "command": "run.py", "runtime_sec": 12.0,
        "machine": {"cpu_model": "Test CPU", "cpu_capability": "AVX2", "torch_threads": 2, "torch": "x"},
        "sections": {
            "toy": {"protocol": "p", "seeds": [100, 101], "aggregates": toy_aggs, "runs": [],
                    "ceiling": {}, "scorer_disagreements": [], "png": "toy.png", "runtime_sec": 5},
            "stacked": {"protocol": "p", "seeds": [100], "runs": [], "png": "s.png", "aggregates": [
                {"label": "dcgan", "model": "dcgan", "dataset": "stacked-mnist", "seeds": [100, 101], "errors": 0,
                 "steps": "3000", "modes": _stat(1000, 1000), "kl_uniform": _stat(0.04, hi=0.06)}]},
            "images": {"protocol": "p", "seeds": [100], "png": "i.png", "fid_label": {},
                       "floors": {"mnist": {"fid": 1.0, "n_test": 2000, "n_train": 2000, "extractor": "mnist-classifier",
                                            "extractor_test_accuracy": 0.99, "train_max_rel_dev": 0.1}},
                       "runs": [
                           {"label": "dcgan", "model": "dcgan", "dataset": "mnist", "seed": 100, "steps": 3000,
                            "train_sec": 10, "best": {"step": 3000, "fid": 2.5},
                            "final": {"step": 3000, "fid": 2.5, "fid_ratio": 2.5, "precision": 0.7, "recall": 0.6,
                                      "modes": 10, "max_rel_dev": 0.15}},
                           {"label": "gan", "model": "gan", "dataset": "mnist", "seed": 100, "steps": 3000,
                            "train_sec": 10, "best": {"step": 3000, "fid": 9.0},
                            "final": {"step": 3000, "fid": 9.0, "fid_ratio": 9.0, "precision": 0.7, "recall": 0.6,
                                      "modes": 10, "max_rel_dev": 0.35}}]},
        },
    }


def _verdicts(results):
    return {(c["section"], c["label"], c["dataset"], c["on"].split(" (")[0]): c for c in report.goal_checks(results)}


def test_goal_checks_pass_and_miss():
    v = _verdicts(fake_results())
    assert v[("toy", "good", "toy-ring", "mean over seeds")]["pass"]
    assert v[("toy", "good", "toy-ring", "every seed")]["pass"]
    grid = v[("toy", "good", "toy-grid", "mean over seeds")]
    assert not grid["pass"]
    assert [p["key"] for p in grid["parts"] if not p["pass"]] == ["modes"]
    assert grid["parts"][0]["margin"] == pytest.approx(-0.5)
    assert v[("stacked", "dcgan", "stacked-mnist", "mean over seeds")]["pass"]
    worst = v[("stacked", "dcgan", "stacked-mnist", "every seed")]
    assert not worst["pass"] and worst["parts"][1]["margin"] == pytest.approx(-0.01)
    assert v[("images", "dcgan", "mnist", "final eval")]["pass"]
    gan = v[("images", "gan", "mnist", "final eval")]
    assert not gan["pass"] and [p["pass"] for p in gan["parts"]] == [False, False]


def test_markdown_renders_the_verdicts():
    md = report.render(fake_results())
    block = md.split("Goal summary:", 1)[1].split("\n## ", 1)[0]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in block.splitlines() if line.startswith("| ")]
    summary = {f"{c[1]}/{c[2]}/{c[3]}": c[4] for c in cells[1:]}  # after the header row
    assert summary["good/toy-ring/mean over seeds"].startswith("PASS (modes 8 >= 8, margin 0;")
    assert summary["good/toy-grid/mean over seeds"].startswith("MISS (modes 24.50 >= 25: short by 0.5;")
    assert "HQ% 96 >= 95, margin 1" in summary["good/toy-grid/mean over seeds"]
    assert summary["dcgan/stacked-mnist/every seed"].startswith("MISS")
    assert summary["dcgan/mnist/final eval (step 3000)"].startswith("PASS")
    assert summary["gan/mnist/final eval (step 3000)"].startswith("MISS (max class dev 0.35 <= 0.2: short by 0.15")
    # the published rows sit beside ours, and the FID is labelled as not Inception FID
    assert "| PacGAN4 (PacGAN T1) | 7.8 | 95.9 | 0.07 | 24.8 | 93.6 | 0.04 |" in md
    assert "| PacDCGAN2 (PacGAN T2) | 1000 | 0.06 |" in md
    assert "**good (ours, 2 seeds)**" in md
    assert "not Inception FID" in md
    assert "table seeds 100-109; settings were chosen on seeds 0-9" in md
    # the detail tables give the short verdict
    assert "| MISS (modes) | MISS (modes) |" in md


def test_report_without_sections_renders():
    md = report.render({"sections": {}, "machine": {}})
    assert md.startswith("# ganzoo quality suite")


def test_out_of_the_box_goal_judges_the_defaults_worst_seed():
    results = fake_results()
    for agg in results["sections"]["toy"]["aggregates"]:
        agg["label"] = report.DEFAULTS_LABEL
    v = _verdicts(results)
    ring = v[("toy", report.DEFAULTS_LABEL, "toy-ring", "out of the box: every seed")]
    assert ring["pass"]  # worst seed 8 modes, 98.2% HQ >= 90
    grid = v[("toy", report.DEFAULTS_LABEL, "toy-grid", "out of the box: every seed")]
    assert grid["pass"]  # worst seed 24 modes >= 24, 95.5% >= 85
    results["sections"]["toy"]["aggregates"][0]["high_quality"] = _stat(95.0, 89.0)
    ring = _verdicts(results)[("toy", report.DEFAULTS_LABEL, "toy-ring", "out of the box: every seed")]
    assert not ring["pass"] and ring["parts"][1]["margin"] == pytest.approx(-1.0)
    # other configs get no out-of-the-box verdict
    assert not any(k[3].startswith("out of the box") for k in _verdicts(fake_results()))
