"""Plugin loading and the registry: isolation of broken plugins, names, duplicates."""

from __future__ import annotations

import json
import sys
import types
from importlib import metadata

import pytest

import ganzoo
import ganzoo.plugins.core
import ganzoo_plugins.dcgan
from ganzoo import hookimpl
from ganzoo.errors import ConfigError, UnknownComponentError
from ganzoo.plugins.manager import PluginManager
from ganzoo.plugins.registry import Registry
from ganzoo.specs import LossSpec, ModelSpec


def plugin(**hooks) -> types.SimpleNamespace:
    """A plugin object whose hooks return the given lists."""
    ns = types.SimpleNamespace()
    for name, value in hooks.items():
        def impl(value=value):
            if isinstance(value, Exception):
                raise value
            return value
        impl.__name__ = name
        setattr(ns, name, hookimpl(impl))
    return ns


def model(name: str, **kwargs) -> ModelSpec:
    return ModelSpec(name=name, summary=f"the {name} model", build="nowhere.at_all:build", **kwargs)


def new_manager() -> tuple[PluginManager, list[str]]:
    warnings: list[str] = []
    manager = PluginManager(entry_points=False, warn=warnings.append)
    manager.register(ganzoo.plugins.core, name="core")
    manager.register(ganzoo_plugins.dcgan, name="dcgan")
    return manager, warnings


def test_a_hook_that_raises_leaves_everything_else_working(cli, manager):
    manager.register(plugin(ganzoo_models=RuntimeError("boom")), name="broken")
    result = cli("list", "--json")
    assert result.exit_code == 0
    names = {c["qualified_name"] for c in json.loads(result.stdout)}
    assert {"dcgan:dcgan", "core:bce", "core:mnist"} <= names
    assert len(manager.warnings) == 1 and "broken" in manager.warnings[0]
    assert "\n" not in manager.warnings[0]  # one line on stderr
    details = cli("plugins", "--errors")
    assert "RuntimeError: boom" in details.stdout and "Traceback" in details.stdout


def test_invalid_specs_are_refused_and_valid_ones_kept():
    manager, warnings = new_manager()
    manager.register(plugin(ganzoo_models=[
        model("Bad_Name"),
        LossSpec(name="wrong-kind", summary="a loss from the models hook", factory="x.y:z"),
        model("good-one"),
        "not a spec",
    ]), name="sloppy")
    registry = manager.registry
    assert [e.qualified_name for e in registry.list("models", "good*")] == ["sloppy:good-one"]
    assert registry.list("losses", "wrong*") == []
    assert len(warnings) == 3
    assert any("Bad_Name" in w for w in warnings)
    assert any("expected ModelSpec" in w for w in warnings)


def test_a_duplicate_never_replaces_the_first_registration():
    manager, warnings = new_manager()
    manager.register(plugin(ganzoo_models=[model("twice", default_loss="first"),
                                           model("twice", default_loss="second")]), name="dup")
    assert manager.registry.get("model", "twice").spec.default_loss == "first"
    assert any("already registered" in w for w in warnings)


def test_a_builtin_keeps_its_bare_name_and_the_clash_is_named():
    manager, warnings = new_manager()
    manager.register(plugin(ganzoo_models=[model("dcgan")]), name="other")
    registry = manager.registry
    assert registry.get("model", "dcgan").plugin == "dcgan"
    assert registry.lookup("dcgan").qualified_name == "dcgan:dcgan"
    assert registry.get("model", "other:dcgan").plugin == "other"
    [warning] = warnings
    assert "'other'" in warning and "built-in plugin 'dcgan'" in warning and "other:dcgan" in warning
    assert manager.plugins["other"].warnings == [warning.removeprefix("ganzoo: ")]
    other = registry.get("model", "other:dcgan")
    assert registry.display_name(other) == "other:dcgan"
    assert registry.display_name(registry.get("model", "dcgan")) == "dcgan"


def test_two_third_party_plugins_make_a_bare_name_ambiguous(cli, manager):
    manager.register(plugin(ganzoo_models=[model("twin")]), name="alpha")
    manager.register(plugin(ganzoo_models=[model("twin")]), name="beta")
    registry = manager.registry
    with pytest.raises(ConfigError, match=r"model name 'twin' is ambiguous; use one of alpha:twin, beta:twin"):
        registry.get("model", "twin")
    with pytest.raises(ConfigError, match="ambiguous; use one of alpha:twin, beta:twin"):
        registry.lookup("twin")
    assert manager.warnings == []  # no built-in involved: the lookup error is the message
    result = cli("train", "twin")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: model name 'twin' is ambiguous; use one of alpha:twin, beta:twin"
    import ganzoo

    assert {"alpha:twin", "beta:twin"} <= set(ganzoo.list("models"))


def test_builtin_plugins_are_recognised_by_distribution_or_module():
    from ganzoo.plugins.manager import is_builtin

    assert is_builtin("ganzoo_plugins.dcgan", "ganzoo") and is_builtin("ganzoo.plugins.core")
    assert is_builtin("ganzoo_plugins.dcgan")  # registered in-process
    assert not is_builtin("ganzoo_myplugin") and not is_builtin("")
    assert not is_builtin("ganzoo_plugins.dcgan", "ganzoo-impostor")
    manager, _ = new_manager()
    manager.register(plugin(ganzoo_models=[model("x")]), name="third")
    assert manager.plugins["dcgan"].builtin and not manager.plugins["third"].builtin


def test_unknown_names_get_close_matches():
    registry = Registry()
    registry.add(model("dcgan"), "p")
    registry.add(model("wgan-gp"), "p")
    with pytest.raises(UnknownComponentError, match="did you mean 'dcgan'"):
        registry.get("model", "dcgna")
    with pytest.raises(UnknownComponentError, match="available: dcgan, wgan-gp"):
        registry.get("model", "zzz")


def test_patterns_match_bare_and_qualified_names():
    registry = Registry()
    for name in ("dcgan", "wgan", "vae-like"):
        registry.add(model(name), "zoo")
    assert [e.name for e in registry.list("models", "*gan")] == ["dcgan", "wgan"]
    assert len(registry.list("models", "zoo:*")) == 3


def test_listing_never_builds_networks():
    # The build reference points at a module that does not exist: listing and info must not touch it.
    manager, warnings = new_manager()
    manager.register(plugin(ganzoo_models=[model("ghost")]), name="lazy")
    assert manager.registry.get("model", "ghost").spec.build == "nowhere.at_all:build"
    assert "nowhere" not in sys.modules and warnings == []


class FakeEntryPoint:
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.dist = name, value, None
        self.loaded = False

    def load(self):
        self.loaded = True
        module_name, _, attr = self.value.partition(":")
        module = __import__(module_name, fromlist=["_"])
        return getattr(module, attr) if attr else module


def fake_entry_points(monkeypatch, *eps: FakeEntryPoint) -> None:
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: list(eps))


def test_an_entry_point_that_fails_to_import_costs_one_line(monkeypatch):
    fake_entry_points(monkeypatch,
                      FakeEntryPoint("core", "ganzoo.plugins.core"),
                      FakeEntryPoint("missing", "ganzoo_no_such_module"),
                      FakeEntryPoint("dcgan", "ganzoo_plugins.dcgan"))
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append)
    assert manager.plugins["missing"].status == "failed"
    assert "ModuleNotFoundError" in manager.plugins["missing"].errors[0]
    assert len(warnings) == 1 and "ganzoo plugins --errors" in warnings[0]
    assert manager.registry.get("model", "dcgan").plugin == "dcgan"


def test_disabled_plugins_are_blocked_before_import(monkeypatch):
    blocked = FakeEntryPoint("explosive", "ganzoo_no_such_module")
    fake_entry_points(monkeypatch, FakeEntryPoint("core", "ganzoo.plugins.core"), blocked)
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "explosive, other")
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append)
    assert manager.plugins["explosive"].status == "disabled"
    assert not blocked.loaded and warnings == []
    assert manager.registry.get("loss", "bce").plugin == "core"
    with pytest.raises(UnknownComponentError, match=r"not loaded: explosive \(disabled\)"):
        manager.registry.get("model", "dcgan")


def test_two_distributions_claiming_one_plugin_name(monkeypatch):
    first, second = FakeEntryPoint("core", "ganzoo.plugins.core"), FakeEntryPoint("core", "ganzoo_plugins.dcgan")
    first.dist = second.dist = None
    fake_entry_points(monkeypatch, first, second)
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append)
    assert not second.loaded and len(warnings) == 1 and "already taken" in warnings[0]
    assert [p.status for p in manager.plugins.values()] == ["loaded", "failed"]
    assert manager.registry.get("loss", "bce").plugin == "core"


def test_plugins_command_lists_what_each_plugin_registers(cli):
    result = cli("plugins", "--json")
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["dcgan"]["components"] == ["model dcgan:dcgan"]
    assert "loss core:bce" in plugins["core"]["components"]
    assert all(p["status"] == "loaded" for p in plugins.values())


def test_dataset_loaders_get_the_image_size_and_must_take_it(tmp_path):
    """A loader gets the requested size; one without the parameter is refused in one line."""
    import torch

    from ganzoo.data import ImageData
    from ganzoo.errors import ComponentUnavailableError
    from ganzoo.plugins.build import load_dataset
    from ganzoo.specs import DatasetSpec

    seen = {}

    def old_style(data_dir, split):
        seen["old"] = split
        return ImageData(torch.zeros(4, 1, 16, 16, dtype=torch.uint8))

    def new_style(data_dir, split, image_size=None):
        seen["new"] = image_size
        return ImageData(torch.zeros(4, 1, image_size, image_size, dtype=torch.uint8))

    manager, _ = new_manager()
    manager.register(plugin(ganzoo_datasets=[
        DatasetSpec(name="old", summary="two arguments", load=old_style, channels=1, image_size=16),
        DatasetSpec(name="new", summary="three arguments", load=new_style, channels=1, image_size=16),
    ]), name="loaders")
    with pytest.raises(ComponentUnavailableError, match=r"load\(\) must take \(data_dir, split, image_size=None\)"):
        load_dataset(manager.registry, "old", tmp_path, image_size=32)
    assert load_dataset(manager.registry, "new", tmp_path, image_size=32).images.shape[-1] == 32
    assert seen == {"new": 32}


# -- the plugin API version ---------------------------------------------------------

def module_plugin(monkeypatch, import_name: str, api=None, **hooks) -> types.ModuleType:
    """A plugin module importable as ``import_name`` (for fake entry points)."""
    module = types.ModuleType(import_name)
    if api is not None:
        module.GANZOO_API = api
    for name, impl in plugin(**hooks).__dict__.items():
        setattr(module, name, impl)
    monkeypatch.setitem(sys.modules, import_name, module)
    return module


def test_builtins_declare_a_supported_api():
    from ganzoo.plugins.manager import api_contains

    from .conftest import BUILTIN_PLUGINS

    assert ganzoo.PLUGIN_API_VERSION == "2.0"
    for name, module in BUILTIN_PLUGINS.items():
        assert api_contains(module.GANZOO_API), name


@pytest.mark.parametrize("ranges, version, expected", [
    (">=1,<2", "1.0", True), (">=1,<2", "2.0", False), (">=1.1", "1.0", False), ("==1.*", "1.7", True),
    ("==1.*", "2.0", False), ("~=1.2", "1.9", True), ("~=1.2", "1.1", False), ("~=1.2", "2.0", False),
    ("!=1.0", "1.0", False), ("<1", "0.9", True), ("==1", "1.0", True), (" >= 1 , < 3 ", "2.5", True),
])
def test_api_ranges_are_read_as_pip_reads_them(ranges, version, expected):
    from ganzoo.plugins.manager import api_contains

    assert api_contains(ranges, version) is expected


@pytest.mark.parametrize("bad", ["", "one", ">=x", ">=1,", "~=1"])
def test_malformed_api_ranges_are_refused(bad):
    from ganzoo.plugins.manager import api_contains

    with pytest.raises(ValueError):
        api_contains(bad)


def test_plugins_with_an_unsupported_api_are_skipped_saying_what_to_upgrade(monkeypatch):
    module_plugin(monkeypatch, "ganzoo_future", api=">=3,<4", ganzoo_models=[model("from-the-future")])
    module_plugin(monkeypatch, "ganzoo_past", api=">=1,<2", ganzoo_models=[model("from-the-past")])
    module_plugin(monkeypatch, "ganzoo_silent", ganzoo_models=[model("undeclared")])  # declares nothing
    fake_entry_points(monkeypatch, FakeEntryPoint("core", "ganzoo.plugins.core"),
                      FakeEntryPoint("future", "ganzoo_future"), FakeEntryPoint("past", "ganzoo_past"),
                      FakeEntryPoint("silent", "ganzoo_silent"))
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append)
    assert {n: p.status for n, p in manager.plugins.items()} == {
        "core": "loaded", "future": "incompatible", "past": "incompatible", "silent": "loaded"}
    future, past = warnings
    assert future.endswith("supports plugin API >=3,<4, but ganzoo 0.1.0 provides 2.0; skipped: upgrade ganzoo")
    assert "supports plugin API >=1,<2" in past and past.endswith("upgrade the plugin (or use an older ganzoo)")
    assert manager.registry.get("model", "undeclared").plugin == "silent"
    with pytest.raises(UnknownComponentError, match=r"not loaded: future \(incompatible\), past \(incompatible\)"):
        manager.registry.get("model", "from-the-future")


def test_an_invalid_api_declaration_fails_that_plugin_only(monkeypatch):
    module_plugin(monkeypatch, "ganzoo_sloppy", api=1.0, ganzoo_models=[model("sloppy")])
    fake_entry_points(monkeypatch, FakeEntryPoint("core", "ganzoo.plugins.core"), FakeEntryPoint("sloppy", "ganzoo_sloppy"))
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append)
    assert manager.plugins["sloppy"].status == "failed"
    assert "GANZOO_API = 1.0 is not a version range" in warnings[0]
    assert manager.registry.get("loss", "bce").plugin == "core"


# -- broken plugins through the real CLI, strict mode -----------------------------------

def broken_trio(monkeypatch) -> None:
    """Installed plugins: the core and dcgan, plus one that fails to import, one with a
    malformed spec and one that wants a newer plugin API."""
    module_plugin(monkeypatch, "ganzoo_malformed", ganzoo_models=[model("Not A Name")])
    module_plugin(monkeypatch, "ganzoo_newer", api=">=7", ganzoo_models=[model("newer")])
    fake_entry_points(monkeypatch, FakeEntryPoint("core", "ganzoo.plugins.core"),
                      FakeEntryPoint("dcgan", "ganzoo_plugins.dcgan"),
                      FakeEntryPoint("crashes", "ganzoo_module_that_is_not_there"),
                      FakeEntryPoint("malformed", "ganzoo_malformed"),
                      FakeEntryPoint("newer", "ganzoo_newer"))


def test_broken_plugins_leave_the_cli_working_with_one_line_each(monkeypatch):
    from typer.testing import CliRunner

    from ganzoo.cli import create_app

    broken_trio(monkeypatch)
    result = CliRunner().invoke(create_app(lambda: PluginManager()), ["list", "--json"])
    assert result.exit_code == 0
    assert {"dcgan:dcgan", "core:bce"} <= {c["qualified_name"] for c in json.loads(result.stdout)}
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, lines
    assert "plugin 'crashes' failed to load (ModuleNotFoundError" in lines[0]
    assert "plugin 'newer' supports plugin API >=7" in lines[1] and "upgrade ganzoo" in lines[1]
    assert "plugin 'malformed' registered an invalid component (ValueError: invalid model name" in lines[2]
    listing = CliRunner().invoke(create_app(lambda: PluginManager(warn=lambda line: None)), ["plugins", "--json"])
    status = {p["name"]: p["status"] for p in json.loads(listing.stdout)}
    # a plugin whose hook raised is "loaded with errors" in JSON too, as in the table
    assert status == {"core": "loaded", "dcgan": "loaded", "crashes": "failed", "malformed": "loaded with errors",
                      "newer": "incompatible"}


def test_strict_mode_turns_a_plugin_problem_into_a_one_line_error(monkeypatch):
    from typer.testing import CliRunner

    from ganzoo.cli import create_app

    broken_trio(monkeypatch)
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    for args in (["list"], ["train", "dcgan"], ["plugins"]):
        result = CliRunner().invoke(create_app(lambda: PluginManager()), args)
        assert result.exit_code == 4, (args, result.output)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
        assert result.stderr.startswith("error: plugin 'crashes' failed to load (ModuleNotFoundError")
        assert result.stderr.strip().endswith("(GANZOO_STRICT_PLUGINS is set)")


def test_strict_mode_covers_hooks_specs_and_name_clashes():
    from ganzoo.plugins.manager import PluginError

    for offender in (plugin(ganzoo_losses=RuntimeError("boom")), plugin(ganzoo_models=[model("Bad")]),
                     plugin(ganzoo_models=[model("dcgan")])):
        manager = PluginManager(entry_points=False, strict=True)
        manager.register(ganzoo.plugins.core, name="core")
        manager.register(ganzoo_plugins.dcgan, name="dcgan")
        manager.register(offender, name="offender")
        with pytest.raises(PluginError, match="plugin 'offender'") as caught:
            manager.registry  # noqa: B018
        assert caught.value.exit_code == 4 and "\n" not in str(caught.value)
    relaxed = PluginManager(entry_points=False, strict=False)
    relaxed.register(plugin(ganzoo_models=[model("Bad")]), name="offender")
    assert relaxed.registry.list("models") == [] and relaxed.problems


# -- CLI commands from plugins -----------------------------------------------------------

def command_plugin():
    import typer

    hello = typer.Typer(name="hello", help="Greetings from a plugin.")

    @hello.command("greet")
    def greet(who: str = typer.Option("world", "--who")):
        """Greet someone."""
        typer.echo(f"hello {who}")

    @hello.command("wave")
    def wave():
        """Wave."""
        typer.echo("~~~")

    def ping():
        """Answer pong."""
        typer.echo("pong")

    return plugin(ganzoo_commands=[hello, ("ping", ping), ("train", ping), ("Bad Name", ping), 42])


def test_plugin_commands_are_mounted_and_clashes_refused(cli, manager):
    manager.register(command_plugin(), name="cmds")
    assert cli("hello", "greet", "--who", "zoo").stdout == "hello zoo\n"
    assert cli("hello", "wave").stdout == "~~~\n"
    assert cli("ping").stdout == "pong\n"
    train = cli("train", "dcgna")  # still the built-in train
    assert train.exit_code == 2 and "unknown model 'dcgna'" in train.stderr
    assert sum("registered an invalid command" in w for w in manager.warnings) == 3
    assert any("command 'train' clashes with a built-in ganzoo command" in w for w in manager.warnings)
    listing = cli("--help").stdout
    assert "hello" in listing and "ping" in listing and "Answer pong" in listing
    plugins = {p["name"]: p for p in json.loads(cli("plugins", "--json").stdout)}
    assert plugins["cmds"]["commands"] == ["hello", "ping"]
    assert cli("nope").exit_code == 2


def test_plugin_check_names_the_commands_a_plugin_mounts(manager):
    from ganzoo.testing import check_plugin

    manager.register(plugin(ganzoo_commands=[("ping", lambda: None)]), name="pinger")
    results = {r.check: (r.status, r.message) for r in check_plugin("pinger", manager=manager).results}
    assert results["command ping"] == ("pass", "mounted as `ganzoo ping`")
    assert "registers" not in results  # no "registers no components and no commands" warning


def test_a_command_hook_that_raises_does_not_break_the_cli(cli, manager):
    manager.register(plugin(ganzoo_commands=RuntimeError("no commands today")), name="moody")
    manager.register(command_plugin(), name="cmds")
    assert cli("ping").stdout == "pong\n"
    assert cli("list", "models", "--json").exit_code == 0
    assert any("ganzoo_commands() raised (RuntimeError: no commands today)" in w for w in manager.warnings)


def test_version_loads_no_plugins_but_help_lists_plugin_commands():
    from typer.testing import CliRunner

    from ganzoo.cli import create_app

    made = []

    def factory():
        made.append(1)
        m = PluginManager(entry_points=False)
        m.register(command_plugin(), name="cmds")
        return m

    app = create_app(factory)
    assert CliRunner().invoke(app, ["--version"]).stdout.startswith("ganzoo ") and made == []
    assert "ping" in CliRunner().invoke(app, ["--help"]).stdout and made == [1]


# -- algorithms --------------------------------------------------------------------------

def test_algorithms_are_a_component_kind(cli):
    from ganzoo.specs import AlgorithmSpec

    listing = [c for c in json.loads(cli("list", "algorithms", "--json").stdout) if c["plugin"] == "core"]
    assert [(c["qualified_name"], c["summary"]) for c in listing] == [
        ("core:alternating", "n_critic discriminator updates, then one generator update")]
    info = cli("info", "alternating")
    assert info.exit_code == 0 and "step: ganzoo.algorithms:Alternating" in info.stdout
    assert json.loads(cli("info", "alternating", "--json").stdout)["step"] == "ganzoo.algorithms:Alternating"
    with pytest.raises(ValueError, match="step must be a callable"):
        AlgorithmSpec(name="bad", summary="no step", step="not a reference").validate()
    manager, warnings = new_manager()
    manager.register(plugin(ganzoo_algorithms=[
        AlgorithmSpec(name="simultaneous", summary="G and D step together", step="mypkg.algo:step"),
        model("wrong-kind"),
    ]), name="algos")
    assert manager.registry.get("algorithm", "simultaneous").plugin == "algos"
    assert any("ganzoo_algorithms() returned ModelSpec, expected AlgorithmSpec" in w for w in warnings)
