"""Plugin loading and the registry: isolation of broken plugins, names, duplicates."""

from __future__ import annotations

import json
import sys
import types
from importlib import metadata

import pytest

import ganzoo.builtins
import ganzoo_plugins.dcgan
from ganzoo import hookimpl
from ganzoo.errors import ConfigError, UnknownComponentError
from ganzoo.plugins import PluginManager
from ganzoo.registry import Registry
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
    manager.register(ganzoo.builtins, name="core")
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


def test_same_name_from_two_plugins_needs_the_qualified_name():
    manager, _ = new_manager()
    manager.register(plugin(ganzoo_models=[model("dcgan")]), name="other")
    registry = manager.registry
    with pytest.raises(ConfigError, match="ambiguous.*dcgan:dcgan.*other:dcgan"):
        registry.get("model", "dcgan")
    assert registry.get("model", "other:dcgan").plugin == "other"
    assert registry.get("model", "dcgan:dcgan").plugin == "dcgan"


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
                      FakeEntryPoint("core", "ganzoo.builtins"),
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
    fake_entry_points(monkeypatch, FakeEntryPoint("core", "ganzoo.builtins"), blocked)
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "explosive, other")
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append)
    assert manager.plugins["explosive"].status == "disabled"
    assert not blocked.loaded and warnings == []
    assert manager.registry.get("loss", "bce").plugin == "core"
    with pytest.raises(UnknownComponentError, match=r"not loaded: explosive \(disabled\)"):
        manager.registry.get("model", "dcgan")


def test_two_distributions_claiming_one_plugin_name(monkeypatch):
    first, second = FakeEntryPoint("core", "ganzoo.builtins"), FakeEntryPoint("core", "ganzoo_plugins.dcgan")
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


def test_dataset_loaders_with_and_without_image_size(tmp_path):
    """Loaders written for the two-argument form keep working beside newer ones."""
    import torch

    from ganzoo.data import ImageData
    from ganzoo.run import load_dataset
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
    assert len(load_dataset(manager.registry, "old", tmp_path, image_size=32)) == 4
    assert load_dataset(manager.registry, "new", tmp_path, image_size=32).images.shape[-1] == 32
    assert seen == {"old": "train", "new": 32}
