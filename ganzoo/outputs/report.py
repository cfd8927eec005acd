"""A run as one page a person can open and share: ``ganzoo report RUN`` writes ``RUN/report.html``
(self-contained: every image, clip and sound inlined, no network needed) and ``RUN/MODEL_CARD.md``
(the Hugging Face model-card convention), so a run folder can be published as it is.

The page holds the resolved config, the components and the versions they came from, the curves,
the samples over time (a slider), the latest evaluation with its provenance, the events (rollbacks,
collapse warnings, resumes) and the speed. Samples are shown by kind: image grids, translations,
scatter plots, spectrograms with an audio player, animated clips, sentences.

Example::

    from ganzoo.outputs.report import write_report

    paths = write_report("runs/dcgan-mnist-20261205-120000")
    paths.html, paths.card      # .../report.html, .../MODEL_CARD.md
"""

from __future__ import annotations

import base64
import html
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .curves import RunLogs, read_logs, render_curves, save_curves
from ..errors import CheckpointError, ConfigError, writing
from ..kinds import FieldKind, kind_of

REPORT_FILE = "report.html"
CARD_FILE = "MODEL_CARD.md"
MAX_SNAPSHOTS = 24
"""Sample steps on the page's slider at most (evenly spaced, always the first and the last)."""

SAMPLE_NAME = re.compile(r"^step-(\d+)(?:-\d+)?\.(png|gif|wav|txt)$")
"""A preview file: ``step-N.png`` (``.gif``, ``.txt``), or one clip's ``step-N-I.wav``."""

TASK_CAPTIONS = {
    "unconditional": "The same fixed latent vectors at every step, so what changes is the generator learning.",
    "conditional": "Fixed latents, one row per class.",
    "image-to-image": "Rows of 8 examples: the input, the generated output, then the target.",
    "super-resolution": "Rows of 8 examples: the low-resolution input, the generated image, then the target.",
    "inpainting": "Rows of 8 examples: the masked input, the filled-in output, then the original.",
    "multi-domain": "Rows of 8 examples: the input, then its translation into each domain in turn.",
    "encoder": "Samples, then rows of real images and their reconstructions G(E(x)).",
    "autoencoder": "Rows of 8 examples: the input, then its reconstruction.",
}


@dataclass
class RunInfo:
    """Everything the page and the card show, read from a run directory."""

    run_dir: Path
    config: dict[str, Any]
    logs: RunLogs
    kind: str = "image"
    task: str = "unconditional"
    summary: str = ""
    paper: str = ""
    data_shape: dict[str, Any] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[int, dict[str, list[Path]]] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    evaluations: int = 0
    best: dict[str, Any] | None = None
    checkpoint: str | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name

    def kind_of(self) -> FieldKind:
        """The data's kind (what a report says of its previews); a kind this ganzoo does not
        know (a run of a newer one) reads as the plain base kind: no caption, no tags."""
        try:
            return kind_of(self.kind)
        except ValueError:
            return FieldKind()

    def short(self, key: str) -> str:
        """A component's bare name, e.g. ``dcgan`` for ``dcgan:dcgan``."""
        return str(self.config.get(key) or "").split(":")[-1]

    @property
    def step(self) -> int:
        steps = [r["step"] for r in self.logs.train]
        return max(steps) if steps else 0

    @property
    def target_steps(self) -> int | None:
        resumed = [e.get("target_steps") for e in self.logs.events if e.get("event") == "resumed"]
        return next((s for s in reversed(resumed) if isinstance(s, int)), self.config.get("steps"))

    @property
    def components(self) -> dict[str, dict[str, Any]]:
        """Component name, plugin, distribution and version, as recorded when the run started."""
        if self.sessions and self.sessions[-1].get("components"):
            return self.sessions[-1]["components"]
        return {kind: {"name": self.config[kind]} for kind in ("model", "loss", "dataset", "algorithm", "logger")
                if isinstance(self.config.get(kind), str)}

    def speed(self) -> dict[str, Any]:
        """Wall time, samples per second (median of the logged windows) and steps per second."""
        rates = [r["images_per_sec"] for r in self.logs.train if isinstance(r.get("images_per_sec"), (int, float))]
        if len(rates) > 2:
            rates = rates[1:]  # the first window holds the warm-up
        clock = self.logs.wall_hours()
        seconds = clock[-1][1] * 3600 if clock else None
        trained = clock[-1][0] if clock else 0
        return {"wall_seconds": seconds, "samples_per_sec": statistics.median(rates) if rates else None,
                "steps_per_sec": trained / seconds if seconds else None,
                "batch_size": self.config.get("batch_size"), "precision": self.config.get("precision")}


def _read_json(path: Path) -> Any:
    """A JSON file's content; ``None`` if it is unreadable, not JSON or not a regular file
    (a FIFO would block the read for ever)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _latest_checkpoint(run_dir: Path) -> Path | None:
    folders = sorted((run_dir / "checkpoints").glob("step-*")) if (run_dir / "checkpoints").is_dir() else []
    return folders[-1] if folders else None


def read_run(run_dir: str | Path, registry=None) -> RunInfo:
    """Read what the report shows from a run directory (``config.json`` must be there).

    Raises:
        CheckpointError: no run directory there (exit 5, as sample, eval and export say it).
    """
    run_dir = Path(run_dir)
    try:
        exists, is_dir = run_dir.exists(), run_dir.is_dir()
    except OSError as exc:  # a name too long, a loop of links...
        raise CheckpointError(f"cannot use run directory {run_dir}: {exc.strerror or exc}") from None
    if not exists:
        raise CheckpointError(f"no run directory {run_dir}")
    if not is_dir:
        raise CheckpointError(f"{run_dir} is a file; pass the run directory that holds it")
    config = _read_json(run_dir / "config.json")
    if not isinstance(config, dict):
        raise CheckpointError(f"{run_dir} is not a run directory (no readable config.json); "
                              f"pass a folder under runs/ that `ganzoo train` wrote")
    info = RunInfo(run_dir, config, read_logs(run_dir))
    environment = _read_json(run_dir / "environment.json")
    if isinstance(environment, dict):
        info.sessions = [s for s in environment.get("sessions", []) if isinstance(s, dict)]
    checkpoint = _latest_checkpoint(run_dir)
    if checkpoint is not None:
        info.checkpoint = checkpoint.name
        info.data_shape = _data_shape(checkpoint)
    primary = _primary_field(info.data_shape)
    if primary and primary.get("kind"):
        info.kind = primary["kind"]
    _read_spec(info, registry)
    for path in sorted((run_dir / "samples").glob("step-*")) if (run_dir / "samples").is_dir() else []:
        match = SAMPLE_NAME.match(path.name)
        if match and path.is_file():  # only regular files: a FIFO would block the report
            info.samples.setdefault(int(match.group(1)), {}).setdefault(match.group(2), []).append(path)
    evaluations = [{"metrics": r["eval"], "provenance": r.get("provenance") or {"step": r["step"]},
                    "source": "training (--eval-every)"} for r in info.logs.evals]
    evals_file = run_dir / "evals.jsonl"
    if evals_file.is_file():
        for line in evals_file.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("metrics"), dict):
                evaluations.append({**record, "source": f"ganzoo eval ({record.get('time', 'time unknown')})"})
    if evaluations:  # the latest step; at one step, ganzoo eval's (larger, deliberate) one
        info.evaluation = max(enumerate(evaluations),
                              key=lambda ie: ((ie[1].get("provenance") or {}).get("step", -1), ie[0]))[1]
        info.evaluations = len(evaluations)
    info.best = _read_json(run_dir / "checkpoints" / "best.json")
    return info


def _data_shape(checkpoint: Path) -> dict[str, Any]:
    from ..training.checkpoint import read_metadata

    for file in sorted(checkpoint.glob("*.safetensors")):
        try:
            return json.loads(read_metadata(file).get("data_shape", "{}"))
        except Exception:  # noqa: BLE001 - a damaged file: the report shows what it can
            continue
    return {}


def _primary_field(shape: dict[str, Any]) -> dict[str, Any] | None:
    from ..data import primary_field

    fields = shape.get("fields") or {}
    name = primary_field(fields)
    return fields[name] if name is not None else next(iter(fields.values()), None)


def _read_spec(info: RunInfo, registry) -> None:
    """The model's task, summary and paper from the registry, when its plugin is installed; and the
    data's kind from the dataset's spec when no checkpoint records it."""
    try:
        if registry is None:
            from ..plugins.manager import get_plugin_manager

            registry = get_plugin_manager().registry
        spec = registry.get("model", info.config["model"]).spec
        info.task = getattr(spec, "task_name", None) or info.task
        info.summary, info.paper = spec.summary, spec.paper
        if not info.data_shape:
            data = registry.get("dataset", info.config["dataset"]).spec
            info.kind = data.data_kind
    except Exception:  # noqa: BLE001 - a run of a plugin not installed here still gets its page
        return


# ---------------------------------------------------------------------------------------- the page

def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav"}[path.suffix]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(json.dumps(value) if not isinstance(value, str) else value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.6g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None, raw: bool = False) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell if raw else _e(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table>{head}{body}</table>"


def snapshot_steps(steps: list[int], limit: int = MAX_SNAPSHOTS) -> list[int]:
    """At most ``limit`` of ``steps`` (sorted), evenly spaced, keeping the first and the last."""
    steps = sorted(steps)
    if len(steps) <= limit:
        return steps
    picks = {round(i * (len(steps) - 1) / (limit - 1)) for i in range(limit)}
    return [steps[i] for i in sorted(picks)]


def _img(path: Path, alt: str, css: str = "sample") -> str:
    """An inlined image; small grids (MNIST's 28 px tiles) are shown 2-4x, pixels kept sharp."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width = image.size[0]
    except OSError:
        width = 0
    scale = max(1, min(4, 720 // width)) if width else 1
    size = f' width="{width * scale}"' if scale > 1 else ""
    return f'<img class="{css}" src="{_data_uri(path)}"{size} alt="{_e(alt)}">'


def _snapshot(info: RunInfo, step: int, files: dict[str, list[Path]]) -> str:
    parts = []
    alt = f"{info.name} samples at step {step}"
    if "gif" in files:
        parts.append(_img(files["gif"][0], f"{alt} (animated)", "sample clip"))
    if "png" in files:
        parts.append(_img(files["png"][0], alt))
    for clip in files.get("wav", []):
        parts.append(f'<div><audio controls preload="auto" src="{_data_uri(clip)}"></audio></div>')
    if "txt" in files:
        lines = files["txt"][0].read_text(encoding="utf-8").splitlines()
        parts.append("<ol class=\"sentences\">" + "".join(f"<li>{_e(line) or '<i>(empty)</i>'}</li>"
                                                         for line in lines) + "</ol>")
    return "".join(parts)


def _samples_section(info: RunInfo) -> str:
    if not info.samples:
        return "<p>No samples yet: the trainer writes them every <code>sample_every</code> steps.</p>"
    chosen = snapshot_steps(list(info.samples))
    caption = info.kind_of().caption or TASK_CAPTIONS.get(info.task, "")
    frames = "".join(f'<div class="frame" data-step="{step}"{"" if step == chosen[-1] else " hidden"}>'
                     f'{_snapshot(info, step, info.samples[step])}</div>' for step in chosen)
    left_out = len(info.samples) - len(chosen)
    note = (f"<p class=\"note\">{len(chosen)} of the {len(info.samples)} sample steps are on the slider "
            f"(evenly spaced); all are in <code>samples/</code>.</p>") if left_out else ""
    return (f"<p>{_e(caption)}</p>"
            f'<div class="slider"><button type="button" id="prev" aria-label="previous step">&#9664;</button>'
            f'<input type="range" id="step-slider" min="0" max="{len(chosen) - 1}" value="{len(chosen) - 1}" '
            f'aria-label="sample step"><button type="button" id="next" aria-label="next step">&#9654;</button>'
            f'<span id="step-label">step {chosen[-1]}</span></div>{note}<div id="frames">{frames}</div>')


def _evaluation_section(info: RunInfo) -> str:
    if info.evaluation is None:
        return ("<p>No evaluation yet. Train with <code>--eval-every N</code>, or score this run now: "
                f"<code>ganzoo eval {_e(info.run_dir)}</code> (the result is kept in <code>evals.jsonl</code> "
                "and shown here).</p>")
    result = info.evaluation
    provenance = result.get("provenance") or {}
    metrics = _table([(k, _number(v)) for k, v in result["metrics"].items()], ("metric", "value"))
    prov = _table([(k, _number(v) if not isinstance(v, str) else v) for k, v in provenance.items()],
                  ("provenance", ""))
    best = ""
    if isinstance(info.best, dict):
        best = "<p>Best checkpoint: " + ", ".join(f"{_e(k)} {_number(v)}" for k, v in info.best.items()) + \
               " (<code>checkpoints/best</code>).</p>"
    return (f"<p>From {_e(result.get('source', ''))}, at step {_number(provenance.get('step', '?'))}; "
            f"{info.evaluations} evaluation(s) in all (the curves show each metric over steps).</p>"
            f'<div class="columns">{metrics}{prov}</div>{best}')


def _events_section(info: RunInfo) -> str:
    rows = []
    for event in info.logs.events:
        kind = event.get("event")
        if kind in (None, "samples"):
            continue
        details = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("step", "event"))
        rows.append((event.get("step"), kind, details))
    if not rows:
        return "<p>None: no rollbacks, no collapse warnings, no resumes.</p>"
    counts = {}
    for _, kind, _ in rows:
        counts[kind] = counts.get(kind, 0) + 1
    summary = ", ".join(f"{n} {kind.replace('_', ' ')}{'s' if n > 1 else ''}" for kind, n in counts.items())
    return f"<p>{_e(summary)}.</p>" + _table(rows, ("step", "event", "details"))


def _speed_section(info: RunInfo) -> str:
    speed = info.speed()
    rows = [("wall time (all sessions)", _duration(speed["wall_seconds"])),
            ("samples per second (median)", _number(speed["samples_per_sec"]) if speed["samples_per_sec"] else "-"),
            ("steps per second", f"{speed['steps_per_sec']:.3g}" if speed["steps_per_sec"] else "-"),
            ("batch size", speed["batch_size"]), ("precision", speed["precision"])]
    sessions = ""
    if info.sessions:
        sessions = "<h3>Sessions</h3>" + _table(
            [(s.get("step"), s.get("started"), s.get("device"), s.get("machine"), s.get("threads") or "-",
              s.get("world_size"), s.get("precision"), s.get("torch")) for s in info.sessions],
            ("from step", "started", "device", "machine", "threads", "processes", "precision", "torch"))
    return _table(rows) + sessions


def _components_section(info: RunInfo) -> str:
    rows = [(kind, c.get("name"), c.get("plugin", "-"), c.get("distribution") or "-", c.get("version") or "-")
            for kind, c in info.components.items()]
    versions = ""
    if info.sessions:
        s = info.sessions[-1]
        versions = (f"<p>ganzoo {_e(s.get('ganzoo'))}, torch {_e(s.get('torch'))}, Python {_e(s.get('python'))} "
                    f"on {_e(s.get('platform'))}.</p>")
    return _table(rows, ("kind", "component", "plugin", "distribution", "version")) + versions


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#c9d1dc}nav{padding:6px 28px;background:#e9edf2;font-size:14px}
nav a{margin-right:14px;color:#24507a}main{padding:4px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:8px 18px 14px;margin:16px 0}
h2{font-size:18px;margin:8px 0}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 16px 6px 0;font-size:14px;vertical-align:top}
td,th{border-bottom:1px solid #e5e8ec;padding:3px 10px;text-align:left}th{background:#f0f3f6}
.columns{display:flex;flex-wrap:wrap;align-items:flex-start}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#f0f3f6;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:18px}img{max-width:100%;image-rendering:pixelated}
img.curves{image-rendering:auto}.sample{display:block;margin:8px 0;min-width:256px}
.slider{display:flex;align-items:center;gap:8px;margin:8px 0}.slider input{flex:1;max-width:640px}
#step-label{font-variant-numeric:tabular-nums;min-width:90px}.note{color:#5a6675;font-size:13px}
.sentences{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
pre{background:#f0f3f6;padding:10px;border-radius:4px;overflow:auto;font-size:12px;max-height:480px}
"""

SCRIPT = """
(function () {
  var slider = document.getElementById('step-slider');
  if (!slider) return;
  var frames = document.querySelectorAll('#frames .frame');
  var label = document.getElementById('step-label');
  function show(i) {
    i = Math.max(0, Math.min(frames.length - 1, i));
    slider.value = i;
    for (var j = 0; j < frames.length; j++) {
      frames[j].hidden = j !== i;
      if (j !== i) frames[j].querySelectorAll('audio').forEach(function (a) { a.pause(); });
    }
    label.textContent = 'step ' + frames[i].dataset.step + ' (' + (i + 1) + ' of ' + frames.length + ')';
  }
  slider.addEventListener('input', function () { show(+slider.value); });
  document.getElementById('prev').addEventListener('click', function () { show(+slider.value - 1); });
  document.getElementById('next').addEventListener('click', function () { show(+slider.value + 1); });
  show(+slider.value);
})();
"""


def render_html(info: RunInfo, curves_png: bytes | None) -> str:
    """The report page as one HTML string (nothing outside it is referenced)."""
    from ..version import __version__

    status_steps = info.target_steps
    finished = status_steps is not None and info.step >= status_steps
    status = (f"finished: {info.step:,} steps" if finished
              else f"stopped at step {info.step:,} of {status_steps:,}" if status_steps else f"step {info.step:,}")
    speed = info.speed()
    evaluation = info.evaluation
    headline = ""
    if evaluation:
        key, value = next(iter(evaluation["metrics"].items()))
        headline = f'<div class="card">{_e(key)}<b>{_number(value)}</b></div>'
    cards = (f'<div class="cards"><div class="card">steps<b>{info.step:,}</b></div>'
             f'<div class="card">wall time<b>{_duration(speed["wall_seconds"])}</b></div>'
             f'<div class="card">samples/s<b>{_number(speed["samples_per_sec"]) if speed["samples_per_sec"] else "-"}'
             f'</b></div>{headline}</div>')
    curves = (f'<img class="curves" src="data:image/png;base64,{base64.b64encode(curves_png).decode("ascii")}" '
              f'alt="training curves of {_e(info.name)}">' if curves_png
              else "<p>No training record yet (the first is written after <code>log_every</code> steps).</p>")
    paper = f"<p>Paper: {_e(info.paper)}</p>" if info.paper else ""
    sections = [
        ("samples", "Samples over time", _samples_section(info)),
        ("curves", "Curves", "<p>Losses, discriminator outputs, gradient norms, evaluations and speed against "
                             "steps (wall time along the top); dashed red: rollbacks, dotted grey: resumes, "
                             "orange: collapse warnings.</p>" + curves),
        ("evaluation", "Latest evaluation", _evaluation_section(info)),
        ("events", "Events", _events_section(info)),
        ("speed", "Speed", _speed_section(info)),
        ("components", "Components and versions", _components_section(info) + paper),
        ("config", "Resolved config", f"<p>As in <code>config.json</code>; <code>ganzoo train "
                                      f"{_e(info.short('model'))} --config config.json</code> trains it "
                                      f"again.</p><pre>"
                                      + _e(json.dumps(info.config, indent=2)) + "</pre>"),
    ]
    nav = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title, _ in sections)
    body = "".join(f'<section id="{anchor}"><h2>{_e(title)}</h2>{content}</section>'
                   for anchor, title, content in sections)
    title = f"{info.short('model')} / {info.short('loss')} / {info.short('dataset')}"
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<link rel=\"icon\" href=\"data:,\"><title>{_e(info.name)}: ganzoo run report</title>"
            f"<style>{STYLE}</style></head><body>"
            f"<header><h1>{_e(title)}</h1><p>{_e(info.name)} &middot; {_e(info.task)} &middot; {_e(info.kind)} data"
            f" &middot; {_e(status)}</p><p>{_e(info.summary)}</p></header><nav>{nav}</nav><main>"
            f"<section id=\"summary\"><h2>Summary</h2>{cards}</section>{body}"
            f"<p class=\"note\">Written by ganzoo {_e(__version__)} (<code>ganzoo report</code>).</p>"
            f"</main><script>{SCRIPT}</script></body></html>")


# ---------------------------------------------------------------------------------------- the card

def _yaml(value: Any, indent: int = 0) -> str:
    """``value`` as block YAML; scalars are written as JSON, which YAML reads the same."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {json.dumps(item if not isinstance(item, (dict, list)) else item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                inner = _yaml(item, indent + 1).split("\n")
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {json.dumps(item)}")
        return "\n".join(lines)
    return pad + json.dumps(value)


def card_metadata(info: RunInfo) -> dict[str, Any]:
    """The card's YAML front matter: library, tags, datasets, pipeline tag, metrics with provenance."""
    dataset = info.short("dataset")
    tags = ["ganzoo", "gan", info.short("model"), info.task, f"{info.kind}-generation"
            if info.task in ("unconditional", "conditional") else info.kind, f"loss-{info.short('loss')}"]
    meta: dict[str, Any] = {"library_name": "ganzoo", "tags": list(dict.fromkeys(t for t in tags if t)),
                            "datasets": [dataset]}
    pipeline = info.kind_of().pipeline_tags.get(info.task)
    if pipeline:
        meta["pipeline_tag"] = pipeline
    if info.evaluation:
        provenance = {k: v for k, v in (info.evaluation.get("provenance") or {}).items() if v is not None}
        values = [(k, v) for k, v in info.evaluation["metrics"].items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)]
        meta["metrics"] = list(dict.fromkeys(k.split("[")[0] for k, _ in values))
        meta["model-index"] = [{"name": info.name, "results": [{
            "task": {"type": pipeline or info.task, "name": info.task},
            "dataset": {"type": dataset, "name": dataset, "split": provenance.get("split", "test")},
            "metrics": [{"type": k.split("[")[0], "name": k, "value": v, "verified": False, "args": provenance}
                        for k, v in values],
            "source": {"name": info.evaluation.get("source", "ganzoo eval")},
        }]}]
    return meta


def render_card(info: RunInfo) -> str:
    """``MODEL_CARD.md``: YAML front matter, then what the model is, how to use it, how it was trained
    and evaluated, and what to keep in mind."""
    from ..version import __version__

    model, loss, dataset = info.short("model"), info.short("loss"), info.short("dataset")
    latest = max(info.samples) if info.samples else None
    lines = ["---", _yaml(card_metadata(info)), "---", "",
             f"# {info.name}", "",
             f"A **{model}** ({info.summary or info.task}) trained with the **{loss}** loss on **{dataset}** "
             f"({info.kind} data) for {info.step:,} steps with ganzoo {__version__}.", ""]
    if latest is not None:
        files = info.samples[latest]
        shown = files.get("gif") or files.get("png")
        if shown:
            lines += [f"![samples at step {latest}](samples/{shown[0].name})", ""]
        if "txt" in files:
            lines += ["Sentences at step {:,}:".format(latest), ""] + [
                f"    {line}" for line in files["txt"][0].read_text(encoding="utf-8").splitlines()[:8]] + [""]
    lines += ["## How to use", "", "With ganzoo installed, from the folder that holds this one:", "", "```bash",
              f"ganzoo sample {info.name} --out samples{info.kind_of().sample_suffixes[0]}"
              "     # new samples from this folder",
              f"ganzoo export {info.name} --format onnx --out generator.onnx   # without ganzoo",
              "```", "", "```python", "import ganzoo", "", f'handle = ganzoo.load("{info.name}")',
              "samples = handle.sample(16, seed=0)" if info.task in ("unconditional", "conditional", "encoder")
              else "outputs = handle.translate(images)", "```", "", "## Training", ""]
    speed = info.speed()
    config = info.config
    lines += [f"- model `{config.get('model')}`, loss `{config.get('loss')}`, dataset `{config.get('dataset')}`, "
              f"algorithm `{config.get('algorithm')}`",
              f"- {info.step:,} steps at batch size {config.get('batch_size')}, precision {config.get('precision')}, "
              f"seed {config.get('seed')}; wall time {_duration(speed['wall_seconds'])}",
              "- the full resolved config is `config.json`; versions and machine are in `environment.json`",
              f"- paper: {info.paper}" if info.paper else "- paper: see `ganzoo info model " + model + "`", ""]
    lines += ["## Evaluation", ""]
    if info.evaluation:
        provenance = info.evaluation.get("provenance") or {}
        lines += ["| metric | value |", "|---|---|"] + [
            f"| {k} | {_number(v)} |" for k, v in info.evaluation["metrics"].items()] + [
            "", f"Provenance ({info.evaluation.get('source', '')}):", ""] + [
            f"- {k}: `{v}`" for k, v in provenance.items()] + [""]
        if any("[" in k for k in info.evaluation["metrics"]):
            lines += ["A score named `KEY[EXTRACTOR]` uses that feature extractor, not the Inception network of "
                      "the papers; compare it only with scores from the same extractor.", ""]
    else:
        lines += [f"Not evaluated yet; `ganzoo eval {info.name}` adds an evaluation to this run.", ""]
    lines += ["## Limitations", "",
              "A GAN reproduces its training data's distribution, biases included, and can memorise examples. "
              f"This run trained for {info.step:,} steps; its numbers above say how close it came. "
              "See `report.html` in this folder for its curves, samples over time and events.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- writing

@dataclass
class ReportPaths:
    html: Path
    card: Path
    curves: Path | None


def write_report(run_dir: str | Path, out: str | Path | None = None, registry=None) -> ReportPaths:
    """Write ``report.html`` (or ``out``), ``MODEL_CARD.md`` and a fresh ``curves.png`` for a run.
    Every file goes through a temporary name and a rename."""
    from ..files import write_atomically
    from ..files import atomic_write_text

    info = read_run(run_dir, registry)
    out = Path(out) if out is not None else info.run_dir / REPORT_FILE
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out must name an .html file, got {out}")
    if out.exists() and out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name the .html file to write")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {out.parent} does not exist")
    curves_png = render_curves(info.logs, title=info.name)
    curves = None
    if curves_png is not None:
        curves = info.run_dir / "curves.png"
        with writing(curves):
            write_atomically(curves, lambda tmp: tmp.write_bytes(curves_png))
    page = render_html(info, curves_png)
    with writing(out):
        atomic_write_text(out, page)
    card = info.run_dir / CARD_FILE
    with writing(card):
        atomic_write_text(card, render_card(info))
    return ReportPaths(out, card, curves)


__all__ = ["write_report", "read_run", "render_html", "render_card", "card_metadata", "save_curves",
           "snapshot_steps", "RunInfo", "ReportPaths"]
