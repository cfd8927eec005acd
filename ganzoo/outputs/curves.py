"""Training curves: ``curves.png`` in every run, drawn from its ``metrics.jsonl`` and ``events.jsonl``.

The trainer redraws it after each sample grid; ``ganzoo report`` draws it again for the page. Panels:
the losses, other loss terms (penalties, reconstruction), D(x) / D(G(z)), gradient norms, each
evaluated metric, the sample diversity (whose fall warns of mode collapse), the learning-rate factor
when it changes, and the speed. Steps run along the
bottom, the run's wall-clock time (summed over resumes) along the top. Rollbacks, resumes and
mode-collapse warnings are vertical lines in every panel.

Example::

    from ganzoo.outputs.curves import read_logs, save_curves

    logs = read_logs("runs/dcgan-mnist-20261205-120000")
    logs.train[-1]["g_loss"], logs.evals[-1]["eval"], logs.events
    save_curves("runs/dcgan-mnist-20261205-120000")   # -> .../curves.png
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CURVES_FILE = "curves.png"

META_KEYS = {"step", "epoch", "elapsed_sec", "images_per_sec", "world_size", "lr_scale", "lr_factor"}
"""Keys of a training record that are not training statistics."""

MARKS = {  # event -> (colour, line style, legend label)
    "rollback": ("#d62728", "--", "rollback"),
    "resumed": ("#7f7f7f", ":", "resumed"),
    "mode_collapse_warning": ("#ff7f0e", "-.", "collapse warning"),
}


@dataclass
class RunLogs:
    """What a run's logs hold: training records, evaluation records and events, each a list of dicts."""

    train: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def wall_hours(self) -> list[tuple[int, float]]:
        """``(step, hours)`` of each training record: the wall time the run has trained for, summed
        over its resumes (``elapsed_sec`` starts again at 0 in each process)."""
        out, offset, previous = [], 0.0, None
        for record in self.train:
            elapsed = record.get("elapsed_sec")
            if not isinstance(elapsed, (int, float)):
                continue
            if previous is not None and elapsed < previous:  # a new process: a resume
                offset += previous
            previous = elapsed
            out.append((int(record["step"]), (offset + elapsed) / 3600.0))
        return out


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def read_logs(run_dir: str | Path) -> RunLogs:
    """Read ``metrics.jsonl`` (training and evaluation records) and ``events.jsonl`` of a run."""
    run_dir = Path(run_dir)
    logs = RunLogs()
    for record in _read_jsonl(run_dir / "metrics.jsonl"):
        (logs.evals if isinstance(record.get("eval"), dict) else logs.train).append(record)
    logs.events = _read_jsonl(run_dir / "events.jsonl")
    return logs


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def panels(logs: RunLogs) -> list[tuple[str, list[tuple[str, list[int], list[float]]], bool]]:
    """The panels to draw: ``(title, [(label, steps, values), ...], log_scale)``; empty series are left out."""
    def series(records: list[dict[str, Any]], keys: list[str], get=lambda r, k: r.get(k)):
        out = []
        for key in keys:
            points = [(int(r["step"]), float(get(r, key))) for r in records if _number(get(r, key))]
            if points:
                out.append((key, [p[0] for p in points], [p[1] for p in points]))
        return out

    keys: list[str] = []
    for record in logs.train:
        keys += [k for k in record if k not in META_KEYS and k not in keys and _number(record[k])]
    outputs = [k for k in keys if k.startswith("D(")]
    norms = [k for k in keys if k.endswith("grad_norm")]
    losses = [k for k in keys if "loss" in k and k not in outputs + norms]
    other = [k for k in keys if k not in outputs + norms + losses]
    eval_keys: list[str] = []
    for record in logs.evals:
        eval_keys += [k for k, v in record["eval"].items() if k not in eval_keys and _number(v)]
    result = [("losses", series(logs.train, losses), False),
              ("other terms", series(logs.train, other), False),
              ("D(x) and D(G(z))", series(logs.train, outputs), False),
              ("gradient norms", series(logs.train, norms), True)]
    result += [(f"eval: {key}", series(logs.evals, [key], lambda r, k: r["eval"].get(k)), False)
               for key in eval_keys]
    diversity = series([e for e in logs.events if e.get("event") == "samples"], ["diversity"])
    if diversity:  # mean pairwise distance of the fixed-latent samples; a fall warns of mode collapse
        result.append(("sample diversity", diversity, False))
    if any(r.get("lr_factor", r.get("lr_scale", 1.0)) != 1.0 for r in logs.train):
        result.append(("learning-rate factor", series(logs.train, ["lr_factor", "lr_scale"]), False))
    result.append(("speed (samples/s)", series(logs.train, ["images_per_sec"]), False))
    return [(title, lines, log) for title, lines, log in result if lines]


def event_marks(logs: RunLogs) -> list[tuple[int, str, str, str]]:
    """``(step, colour, line style, label)`` of each rollback, resume and collapse warning."""
    return [(int(e["step"]), *MARKS[e["event"]]) for e in logs.events if e.get("event") in MARKS]


def render_curves(logs: RunLogs, title: str = "") -> bytes | None:
    """The curves as PNG bytes, or None when the logs hold no training record yet."""
    chosen = panels(logs)
    if not logs.train or not chosen:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = 2 if len(chosen) > 1 else 1
    rows = math.ceil(len(chosen) / columns)
    height = 2.7 * rows + 0.9
    figure = Figure(figsize=(6.0 * columns, height), dpi=90)
    FigureCanvasAgg(figure)
    # fixed margins: a layout engine would double the time this takes
    figure.subplots_adjust(left=0.07 if columns == 2 else 0.12, right=0.98, bottom=0.45 / height,
                           top=1 - 1.0 / height, hspace=0.45, wspace=0.18)
    if title:
        figure.suptitle(title, fontsize=11)
    clock = logs.wall_hours()
    marks = event_marks(logs)
    shown_marks: set[str] = set()
    first = min(min(steps) for _, lines, _ in chosen for _, steps, _ in lines)
    last = max([max(steps) for _, lines, _ in chosen for _, steps, _ in lines] + [m[0] for m in marks])
    pad = max(1.0, 0.02 * (last - first))  # one step range for every panel, so they line up
    for index, (name, lines, log_scale) in enumerate(chosen):
        axes = figure.add_subplot(rows, columns, index + 1)
        for label, steps, values in lines:
            style = {"marker": "o", "markersize": 3} if len(steps) < 12 else {}
            axes.plot(steps, values, label=label, linewidth=1.2, **style)
        if log_scale and all(v > 0 for _, _, values in lines for v in values):
            axes.set_yscale("log")
        for step, colour, dash, label in marks:
            axes.axvline(step, color=colour, linestyle=dash, linewidth=1.0,
                         label=label if label not in shown_marks else None)
            shown_marks.add(label)
        axes.set_xlim(first - pad, last + pad)
        axes.set_title(name, fontsize=10)
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc="best")
        if index >= len(chosen) - columns:
            axes.set_xlabel("step", fontsize=8)
        if log_scale and axes.get_yscale() == "log":
            axes.set_title(f"{name} (log scale)", fontsize=10)
        if index < columns and len(clock) >= 2 and clock[-1][0] > clock[0][0]:
            _wall_time_axis(axes, clock)  # the top row's top axis: the time each step was reached
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _wall_time_axis(axes, clock: list[tuple[int, float]]) -> None:
    """A top axis with the run's wall-clock time at each step: interpolated between log records,
    extended at the run's mean pace beyond them."""
    import numpy as np

    steps = np.array([0.0] + [c[0] for c in clock])
    hours = np.maximum.accumulate(np.array([0.0] + [c[1] for c in clock]))
    keep = np.concatenate([[True], np.diff(steps) > 0])  # a rollback repeats steps
    steps, hours = steps[keep], hours[keep]
    total = hours[-1] * 3600
    unit, scale = ("s", 3600.0) if total < 120 else ("min", 60.0) if total < 7200 else ("h", 1.0)
    times = hours * scale
    pace = times[-1] / steps[-1] if steps[-1] > 0 else 1.0

    def to_time(s):
        s = np.asarray(s, dtype=float)
        return np.where(s > steps[-1], times[-1] + (s - steps[-1]) * pace,
                        np.where(s < 0, s * pace, np.interp(s, steps, times)))

    def to_step(t):
        t = np.asarray(t, dtype=float)
        return np.where(t > times[-1], steps[-1] + (t - times[-1]) / pace,
                        np.where(t < 0, t / pace, np.interp(t, times, steps)))

    top = axes.secondary_xaxis("top", functions=(to_time, to_step))
    top.set_xlabel(f"wall time ({unit})", fontsize=7)
    top.tick_params(labelsize=7)


def save_curves(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Draw ``RUN/curves.png`` (or ``out``) from the run's logs; written to a temporary file, then
    renamed. Returns the path, or None when there is nothing to draw yet."""
    from ..files import write_atomically

    run_dir = Path(run_dir)
    png = render_curves(read_logs(run_dir), title=run_dir.name)
    if png is None:
        return None
    path = Path(out) if out is not None else run_dir / CURVES_FILE
    write_atomically(path, lambda tmp: tmp.write_bytes(png))
    return path
