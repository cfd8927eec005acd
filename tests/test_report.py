"""Curves, ``ganzoo report`` (one self-contained HTML page per run, opened in headless Chromium)
and the model card, for every kind of run the zoo has."""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ganzoo.outputs.curves import RunLogs, event_marks, panels, read_logs, render_curves, save_curves
from ganzoo.outputs.report import card_metadata, read_run, snapshot_steps

from .conftest import family_flags

SMALL = ["--batch-size", "8", "--device", "cpu", "--quiet", "--set", "log_every=1", "--set", "sample_every=2"]
NETS = ["--set", "arch.ngf=8", "--set", "arch.ndf=8"]


def train(cli, data_dir: Path, out: Path, name: str, *args: str) -> Path:
    result = cli("train", *args, *SMALL, "--data-dir", str(data_dir), "--out", str(out), "--run-name", name)
    assert result.exit_code == 0, result.output
    return out / name


# curves ----------------------------------------------------------------------------------------

def test_panels_group_the_statistics_and_wall_time_adds_up_over_resumes():
    logs = RunLogs(
        train=[{"step": 1, "d_loss": 1.0, "g_loss": 2.0, "D(x)": 0.6, "D(G(z))": 0.4, "d_grad_norm": 0.5,
                "penalty": 0.1, "images_per_sec": 100.0, "elapsed_sec": 10.0, "epoch": 0},
               {"step": 2, "d_loss": 0.9, "g_loss": 1.8, "D(x)": 0.7, "D(G(z))": 0.3, "d_grad_norm": 0.4,
                "penalty": 0.2, "images_per_sec": 120.0, "elapsed_sec": 20.0, "epoch": 0},
               # a resumed process: elapsed_sec starts again
               {"step": 3, "d_loss": 0.8, "g_loss": 1.7, "D(x)": 0.8, "D(G(z))": 0.2, "d_grad_norm": 0.3,
                "penalty": 0.3, "images_per_sec": 110.0, "elapsed_sec": 5.0, "epoch": 0}],
        evals=[{"step": 2, "eval": {"fid[x]": 30.0, "note": "text"}}],
        events=[{"step": 2, "event": "resumed"}, {"step": 3, "event": "rollback", "to_step": 2},
                {"step": 2, "event": "samples", "diversity": 0.5}])
    shown = {title: [label for label, _, _ in lines] for title, lines, _ in panels(logs)}
    assert shown == {"losses": ["d_loss", "g_loss"], "other terms": ["penalty"],
                     "D(x) and D(G(z))": ["D(x)", "D(G(z))"], "gradient norms": ["d_grad_norm"],
                     "eval: fid[x]": ["fid[x]"], "sample diversity": ["diversity"],
                     "speed (samples/s)": ["images_per_sec"]}
    assert [(s, round(h * 3600, 6)) for s, h in logs.wall_hours()] == [(1, 10.0), (2, 20.0), (3, 25.0)]
    assert [(step, label) for step, _, _, label in event_marks(logs)] == [(2, "resumed"), (3, "rollback")]


def test_curves_of_an_empty_run_are_none_and_a_run_with_records_is_a_png(tmp_path):
    assert render_curves(RunLogs()) is None
    run = tmp_path / "run"
    run.mkdir()
    assert save_curves(run) is None and not (run / "curves.png").exists()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "d_loss": 1 / s, "elapsed_sec": s}) + "\n"
                                               for s in range(1, 5)) + '{"step": 5, "d_lo')  # cut by a crash
    path = save_curves(run)
    assert path == run / "curves.png" and Image.open(path).format == "PNG"
    assert [r["step"] for r in read_logs(run).train] == [1, 2, 3, 4]
    assert not list(run.glob(".*tmp*"))


def test_training_keeps_curves_up_to_date_and_marks_the_resume(cli, data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("GANZOO_NO_CURVES")  # the other tests train without (conftest)
    out = tmp_path / "runs"
    run = train(cli, data_dir, out, "r", "dcgan", "--steps", "4", *NETS)
    first = (run / "curves.png").read_bytes()
    assert Image.open(io.BytesIO(first)).size[0] > 500
    result = cli("train", "--resume", str(run), "--steps", "6", "--quiet", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    drawn = (run / "curves.png").read_bytes()
    assert drawn != first
    logs = read_logs(run)
    assert [step for step, *_ in event_marks(logs)] == [4]  # the resume, drawn as a line
    sessions = json.loads((run / "environment.json").read_text())["sessions"]
    assert [s["step"] for s in sessions] == [0, 4]
    monkeypatch.setenv("GANZOO_NO_CURVES", "1")  # the switch for sweeps of short runs
    assert cli("train", "--resume", str(run), "--steps", "8", "--quiet", "--data-dir", str(data_dir)).exit_code == 0
    assert (run / "curves.png").read_bytes() == drawn
    assert sessions[0]["components"]["model"]["name"] == "dcgan:dcgan"
    assert sessions[0]["components"]["model"]["version"] and sessions[0]["torch"]


# the report and the card -------------------------------------------------------------------------

def test_snapshot_steps_keep_the_first_and_last_evenly():
    assert snapshot_steps([3, 1, 2]) == [1, 2, 3]
    picked = snapshot_steps(list(range(0, 1000, 10)), limit=5)
    assert picked == [0, 250, 500, 740, 990]  # items 0, 99/4, 99/2, 3*99/4, 99 rounded


def test_a_points_run_report_holds_its_evaluation_with_provenance_and_a_card(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    run = train(cli, data_dir, out, "ring", "gan", "--dataset", "toy-ring", "--steps", "4",
                "--eval-every", "2", "--set", "eval_samples=200")
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    page = (run / "report.html").read_text()
    info = read_run(run)
    assert info.kind == "points" and info.evaluation["provenance"]["step"] == 4
    assert info.evaluation["provenance"]["dataset"] == "toy-ring" and info.evaluation["provenance"]["n_fake"] == 200
    assert "Latest evaluation" in page and "reverse_kl" in page and "n_fake" in page
    assert "Generated points (colour) over real ones (grey)." in page
    # a later `ganzoo eval` is the latest evaluation, and it says where it comes from
    assert cli("eval", str(run), "--metrics", "modes", "-n", "300").exit_code == 0
    info = read_run(run)
    assert info.evaluations == 3 and info.evaluation["provenance"]["n_fake"] == 300
    assert info.evaluation["source"].startswith("ganzoo eval")
    assert cli("report", str(run)).exit_code == 0
    card = (run / "MODEL_CARD.md").read_text()
    yaml = pytest.importorskip("yaml")
    front = yaml.safe_load(card.split("---")[1])
    assert front == card_metadata(read_run(run))
    assert front["library_name"] == "ganzoo" and front["datasets"] == ["toy-ring"]
    assert {"ganzoo", "gan"} <= set(front["tags"]) and front["metrics"] == ["modes", "high_quality", "reverse_kl"]
    metric = front["model-index"][0]["results"][0]["metrics"][0]
    assert metric["type"] == "modes" and metric["args"]["n_fake"] == 300 and metric["args"]["step"] == 4
    assert "## Evaluation" in card and "| modes |" in card


def test_the_report_is_self_contained(cli, data_dir, tmp_path):
    run = train(cli, data_dir, tmp_path / "runs", "d", "dcgan", "--steps", "4", *NETS)
    assert cli("report", str(run), "--out", str(tmp_path / "share.html")).exit_code == 0
    page = (tmp_path / "share.html").read_text()
    sources = re.findall(r'\b(?:src|href)="([^"#]*)"', page)
    assert sources and all(s.startswith("data:") for s in sources), sources
    assert len(re.findall(r"<img [^>]*src=\"data:image/png", page)) == 3  # 2 sample steps and the curves
    assert "No evaluation yet" in page and f"ganzoo eval {run}" in page
    assert html.escape('"model": "dcgan:dcgan"') in page  # the resolved config
    assert not (run / "report.html").exists()  # --out: only there


@pytest.mark.parametrize("args, code, message", [
    (["nowhere"], 5, "no run directory nowhere"),
    (["."], 5, "is not a run directory (no readable config.json)"),
    (["RUN", "--out", "report.txt"], 2, "--out must name an .html file"),
])
def test_bad_report_input_is_one_line(cli, data_dir, tmp_path, args, code, message):
    if "RUN" in args:
        run = train(cli, data_dir, tmp_path / "runs", "d", "dcgan", "--steps", "2", *NETS)
        args = [str(run) if a == "RUN" else a for a in args]
    result = cli("report", *args)
    assert result.exit_code == code and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("**/report.txt"))


# every kind, in a real browser -------------------------------------------------------------------

KIND_RUNS = {
    "points": ["gan", "--dataset", "toy-ring"],
    "image": ["dcgan"],
    "translation": ["pix2pix", "--dataset", "mnist-edges"],
    "audio": ["wavegan"],
    "video": ["vgan"],
    "tokens": ["relgan", "--set", "algo.pretrain_steps=2"],
}
"""A run of each kind of report: the model, then flags besides its small ones (later flags win)."""


def _browser():
    """Playwright and a Chromium to drive, or a skip that says which is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    path = os.environ.get("GANZOO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium package where it can)")
    return sync_playwright, path


def test_every_kind_of_report_opens_in_chromium_without_errors(cli, data_dir, tmp_path):
    sync_playwright, chromium = _browser()
    pages = {}
    for kind, (model, *extra) in KIND_RUNS.items():
        run = train(cli, data_dir, tmp_path / "runs", kind, model, "--steps", "4", *family_flags(model, data_dir),
                    *extra)
        assert cli("report", str(run)).exit_code == 0
        pages[kind] = run / "report.html"
    shots = Path(os.environ.get("GANZOO_REPORT_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for kind, path in pages.items():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                problems, requests = [], []
                page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                        else None)
                page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
                page.on("request", lambda r: requests.append(r.url))
                page.goto(path.as_uri(), wait_until="load")
                images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
                assert images and all(done and width > 0 for _, done, width in images), (kind, images)
                if kind == "audio":
                    page.wait_for_function("Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)")
                    audio = page.evaluate("Array.from(document.querySelectorAll('audio'))"
                                          ".map(a => [a.error && a.error.code, a.duration])")
                    assert audio and all(error is None and duration > 1.0 for error, duration in audio), audio
                if kind == "video":
                    assert any("(animated)" in alt for alt, _, _ in images)
                if kind == "tokens":
                    assert page.locator("ol.sentences li").count() >= 8
                # the slider shows the other sample steps, one at a time
                frames = page.locator("#frames .frame")
                assert frames.count() == 2
                assert page.locator("#step-label").inner_text() == "step 4 (2 of 2)"
                page.click("#prev")
                assert page.locator("#frames .frame:not([hidden])").count() == 1
                assert page.locator("#step-label").inner_text().endswith("(1 of 2)")
                page.click("#next")
                page.screenshot(path=str(shots / f"report-{kind}.png"), full_page=True)
                assert problems == [], (kind, problems)
                assert requests == [path.as_uri()], (kind, requests)  # nothing fetched beside the page
                page.close()
        finally:
            browser.close()
    assert Image.open(shots / "report-audio.png").size[0] == 1280
