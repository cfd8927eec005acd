"""``ganzoo list``, ``ganzoo info`` and ``ganzoo plugins``: what is installed."""

from __future__ import annotations

import difflib
import json
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..errors import GanzooError, UnknownComponentError
from ..plugins.registry import KIND_ALIASES, PLURAL, Entry, normalize_kind
from ..specs import SPEC_TYPES, ModelSpec


def entry_dict(entry: Entry) -> dict[str, Any]:
    return {"kind": entry.kind, "name": entry.name, "qualified_name": entry.qualified_name,
            "plugin": entry.plugin, "summary": entry.spec.summary}


def _options(config_class, prefix: str) -> list[dict[str, Any]]:
    """The options of a pydantic class as ``ganzoo info`` rows: key, default, type, description."""
    if config_class is None:
        return []
    return [{"key": f"{prefix}.{name}", "default": _plain(field.get_default(call_default_factory=True)),
             "type": getattr(field.annotation, "__name__", str(field.annotation)),
             "description": field.description or ""}
            for name, field in config_class.model_fields.items()]


def describe(entry: Entry, registry) -> dict[str, Any]:
    """Everything ``ganzoo info`` shows, as plain data (no network is built)."""
    spec = entry.spec
    data = {**entry_dict(entry), "paper": spec.paper, "recommended_settings": _plain(spec.defaults)}
    if isinstance(spec, ModelSpec):
        losses = list(spec.losses) if spec.losses is not None else [e.name for e in registry.list("loss")]
        data.update(config_fields=_options(spec.config_class, "arch"), default_loss=spec.default_loss,
                    compatible_losses=losses, task=spec.task_name, algorithm=spec.algorithm,
                    default_dataset=spec.default_dataset or "mnist",
                    settings_by_data_kind=_plain(spec.kind_defaults),
                    data_kinds=list(spec.data_kinds), fields=list(spec.required_fields),
                    needs_labels=spec.needs_labels,
                    channels=list(spec.channels) if spec.channels else "any",
                    image_sizes={"min": spec.min_image_size, "max": spec.max_image_size})
        try:  # the model's own algorithm: its options are the family's loss weights
            algorithm = registry.get("algorithm", spec.algorithm).spec
        except GanzooError:
            algorithm = None
        if algorithm is not None and algorithm.config_class is not None:
            data["algorithm_fields"] = _options(algorithm.config_class, "algo")
    elif spec.kind == "dataset":
        data.update(channels=spec.channels, image_size=spec.image_size, point_dim=spec.point_dim,
                    num_classes=spec.num_classes, size=spec.size, files=list(spec.files),
                    fields=list(spec.fields), data_kind=spec.data_kind,
                    item_shape=list(spec.shape) if spec.shape else None, rate=spec.rate)
    elif spec.kind == "algorithm":
        data.update(step=_ref_name(spec.step), config_fields=_options(spec.config_class, "algo"),
                    modules=list(spec.modules), fields=list(spec.fields))
    elif spec.kind == "logger":
        from ..loggers import missing_packages

        data.update(build=_ref_name(spec.build), requires=list(spec.requires),
                    install=spec.install or (f"pip install {' '.join(spec.requires)}" if spec.requires else ""),
                    missing=missing_packages(spec))
    return data


def _no_kind_or_name(word: str, registry) -> str:
    """The message for ``ganzoo list WORD`` when WORD is no kind, no pattern and no name: the
    kinds and component names close to it."""
    kinds = difflib.get_close_matches(word.lower(), list(PLURAL.values()), n=2, cutoff=0.6)
    kinds_of = {e.name: e.kind for e in registry}
    names = difflib.get_close_matches(word, list(kinds_of), n=3, cutoff=0.6)
    close = [f"the kind {k!r}" for k in kinds] + [f"{kinds_of[n]} {n!r}" for n in names]
    hint = (f"did you mean {' or '.join(close)}?" if close
            else f"the kinds are {', '.join(PLURAL.values())}")
    return (f"{word!r} is no kind of component and nothing is called {word!r}; {hint} "
            f"(a pattern such as '*gan' lists what matches)")


def spec_limits_images(spec: ModelSpec) -> bool:
    """Whether a model says which images it takes (channels, sizes)."""
    return bool(spec.channels or spec.min_image_size or spec.max_image_size)


def _ref_name(ref: Any) -> str:
    """A reference as text: the ``module:attribute`` string, or a callable's import path."""
    if isinstance(ref, str):
        return ref
    return f"{getattr(ref, '__module__', '?')}:{getattr(ref, '__qualname__', repr(ref))}"


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def register(app: typer.Typer, ctx) -> None:
    from .exits import handle_errors, plain_console

    @app.command("list")
    @handle_errors
    def list_command(
        kind: Optional[str] = typer.Argument(None, help="models, losses, datasets, metrics, extractors, "
                                                        "algorithms or loggers (default: all); or a pattern"),
        pattern: Optional[str] = typer.Argument(None, help="fnmatch pattern on names, e.g. '*gan'"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    ) -> None:
        """List the components that installed plugins provide.

        Examples: ganzoo list | ganzoo list models '*gan' --json | ganzoo list '*mnist*' | ganzoo list loggers
        """
        lone_word = False
        if kind is not None and kind.lower() not in KIND_ALIASES:
            if pattern is not None:
                normalize_kind(kind)  # raises: unknown kind
            kind, pattern = None, kind
            lone_word = not any(c in pattern for c in "*?[")  # a name, not a pattern
        kinds = [normalize_kind(kind)] if kind else list(SPEC_TYPES)
        registry = ctx.registry
        entries = [e for k in kinds for e in registry.list(k, pattern)]
        if lone_word and not entries:
            raise UnknownComponentError(_no_kind_or_name(pattern, registry))
        if as_json:
            typer.echo(json.dumps([entry_dict(e) for e in entries], indent=2))
            return
        console = plain_console()
        if not entries:
            console.print("no components match" + (f" {pattern!r}" if pattern else ""))
            return
        for k in kinds:
            rows = [e for e in entries if e.kind == k]
            if not rows:
                continue
            table = Table(title=PLURAL[k], title_justify="left", show_edge=False, box=None, pad_edge=False)
            table.add_column("name", style="bold cyan", no_wrap=True)
            table.add_column("plugin", style="dim", no_wrap=True)
            if k == "model":
                table.add_column("task", no_wrap=True)
            table.add_column("summary")
            for e in rows:
                table.add_row(e.name, e.plugin, *((e.spec.task_name,) if k == "model" else ()), e.spec.summary)
            console.print(table)
            console.print()

    @app.command("info")
    @handle_errors
    def info_command(
        name: str = typer.Argument(..., help="a component name, bare or plugin:name"),
        kind: Optional[str] = typer.Option(None, "--kind", help="model, loss, dataset, metric, extractor, "
                                                                "algorithm or logger, if the name is ambiguous"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    ) -> None:
        """Show a component: summary, paper, options with defaults, compatible losses.

        Examples: ganzoo info dcgan | ganzoo info bce --json
        """
        registry = ctx.registry
        entry = registry.get(kind, name) if kind else registry.lookup(name)
        data = describe(entry, registry)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        console = plain_console()
        console.print(Text.assemble((entry.name, "bold"), f" ({entry.kind}, {entry.qualified_name})"))
        console.print(entry.spec.summary, highlight=False)
        if entry.spec.paper:
            console.print(f"paper: {entry.spec.paper}", highlight=False)
        if entry.kind == "model":
            console.print(f"task: {data['task']}; algorithm: {data['algorithm']}; default dataset: "
                          f"{data['default_dataset']}", highlight=False)
            console.print(f"default loss: {data['default_loss']}; compatible losses: "
                          f"{', '.join(data['compatible_losses']) or 'none installed'}")
            sizes = data["image_sizes"]
            images = (f"; channels {data['channels']}, image size {sizes['min'] or 'any'}..{sizes['max'] or 'any'}"
                      if spec_limits_images(entry.spec) else "")
            console.print(f"data: {' or '.join(data['data_kinds'])}{images}"
                          + (f"; needs the fields {', '.join(data['fields'])}" if data["fields"] else ""),
                          highlight=False)
        if entry.kind == "dataset":
            from ..kinds import kind_of

            shape = (f"{data['data_kind']} " + ("x".join(map(str, data["item_shape"])) if data["item_shape"]
                                                else "(size set by the data)")
                     + (f" at {data['rate']} {kind_of(data['data_kind']).rate_unit}" if data["rate"] else ""))
            console.print(f"shape: {shape}, "
                          f"classes: {data['num_classes'] or 'none'}, samples: {data['size'] or 'unknown'}")
            if data["fields"]:
                console.print(f"fields besides the {data['data_kind']} and label: {', '.join(data['fields'])}",
                              highlight=False)
            if data["files"]:
                console.print(f"files (in --data-dir): {', '.join(data['files'])}", highlight=False)
        if entry.kind == "logger":
            console.print(f"build: {data['build']}", highlight=False)
            if data["requires"]:
                state = (f"missing {', '.join(data['missing'])}: {data['install']}" if data["missing"]
                         else "installed")
                console.print(f"requires: {', '.join(data['requires'])} ({state})", highlight=False)
        if entry.kind == "algorithm":
            console.print(f"step: {data['step']}", highlight=False)
            if data["modules"] or data["fields"]:
                console.print(f"needs modules {', '.join(data['modules']) or '-'}; data fields "
                              f"{', '.join(data['fields']) or '-'}", highlight=False)
        for key, title in (("config_fields", "options (--set KEY=VALUE)"),
                           ("algorithm_fields", f"options of its algorithm {data.get('algorithm')}, the loss "
                                                f"weights among them (--set algo.KEY=VALUE)")):
            if data.get(key):
                table = Table(title=title, title_justify="left", box=None)
                for column in ("key", "default", "type", "description"):
                    table.add_column(column)
                for f in data[key]:
                    table.add_row(f["key"], json.dumps(f["default"]), f["type"], f["description"])
                console.print(table)
        if data["recommended_settings"]:
            console.print("recommended settings: " + json.dumps(data["recommended_settings"]), highlight=False)
        for kind, settings in (data.get("settings_by_data_kind") or {}).items():
            console.print(f"on {kind} data, over these: " + json.dumps(settings), highlight=False)

    @app.command("plugins")
    @handle_errors
    def plugins_command(
        errors: bool = typer.Option(False, "--errors", help="Show full tracebacks of plugin failures."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    ) -> None:
        """List installed plugins: distribution, version, status and what each registers.

        Statuses: loaded, loaded with errors, failed, disabled (GANZOO_DISABLE_PLUGINS) and
        incompatible (its GANZOO_API range excludes this ganzoo's plugin API).

        Examples: ganzoo plugins | ganzoo plugins --errors | GANZOO_DISABLE_PLUGINS=dcgan ganzoo list
        """
        from .exits import BUILTIN_COMMANDS

        manager = ctx.manager
        manager.registry  # noqa: B018 - build it so components and hook errors are recorded
        manager.commands(reserved=BUILTIN_COMMANDS)  # and CLI commands
        infos = sorted(manager.plugins.values(), key=lambda p: p.name)
        if as_json:
            typer.echo(json.dumps([p.as_dict() for p in infos], indent=2))
            return
        console = plain_console()
        table = Table(box=None, show_edge=False)
        for column in ("plugin", "distribution", "version", "status", "registers"):
            table.add_column(column)
        for p in infos:
            status = p.shown_status
            registers = [c.split(" ", 1)[1].split(":", 1)[1] for c in p.components]
            registers += [f"`ganzoo {c}`" for c in p.commands]
            table.add_row(p.name, p.distribution or "-", p.version or "-", status, ", ".join(registers) or "-")
        console.print(table)
        failing = [p for p in infos if p.errors]
        if errors:
            for p in failing:
                console.rule(f"plugin {p.name}")
                for tb in p.tracebacks:
                    console.print(tb, highlight=False)
        elif failing:
            console.print(f"{len(failing)} plugin(s) had errors; run `ganzoo plugins --errors` for details")
