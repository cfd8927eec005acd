"""Config layering: defaults < model < loss < file < flags < --set (with a model's own default
loss: defaults < loss < model < ...), and one-line errors."""

from __future__ import annotations

import json

import pytest

from ganzoo.config import RunConfig, parse_set, resolve_config
from ganzoo.errors import ConfigError, UnknownComponentError


def test_model_defaults_override_builtin_defaults(manager):
    cfg = resolve_config(manager.registry, "dcgan")
    assert RunConfig.model_fields["batch_size"].default == 64
    assert cfg.batch_size == 128  # DCGAN's paper batch size, from the model's defaults
    assert cfg.g_optim.lr == 2e-4 and cfg.g_optim.betas == (0.5, 0.999)
    assert (cfg.model, cfg.loss, cfg.dataset) == ("dcgan:dcgan", "core:bce", "core:mnist")
    assert cfg.arch == {"latent_dim": 100, "ngf": 64, "ndf": 64, "d_norm": "batch", "mbstd": 0}


def test_with_its_own_loss_a_models_recipe_beats_the_losss_and_with_another_loss_the_loss_wins(manager):
    registry = manager.registry
    progan = registry.get("model", "progan").spec
    assert progan.default_loss == "wgan-gp" and progan.defaults["g_optim"]["lr"] == 1e-3
    own = resolve_config(registry, "progan")  # the paper's recipe: ProGAN's Adam over wgan-gp's 1e-4 (0, 0.9)
    assert (own.g_optim.lr, own.g_optim.betas) == (1e-3, (0.0, 0.99))
    assert own.gp == 10.0  # what the model does not set still comes from its loss
    assert own.n_critic == 1  # ProGAN's one critic update over wgan-gp's 5
    other = resolve_config(registry, "progan", loss="wgan")  # WGAN's RMSprop and clipping win
    assert (other.g_optim.name, other.g_optim.lr, other.weight_clip) == ("rmsprop", 5e-5, 0.01)
    named = resolve_config(registry, "progan", loss="core:wgan-gp")  # the qualified name is the same loss
    assert named.g_optim.lr == 1e-3
    user = resolve_config(registry, "progan", sets=["g_optim.lr=0.5"])  # the user beats both
    assert user.g_optim.lr == 0.5


def test_each_layer_beats_the_one_before(manager, tmp_path):
    config_file = tmp_path / "run.toml"
    config_file.write_text('batch_size = 32\nsteps = 7\nseed = 3\n[arch]\nngf = 16\n[d_optim]\nlr = 0.001\n')
    cfg = resolve_config(manager.registry, "dcgan", config_file=config_file,
                         flags={"steps": 9, "seed": None},
                         sets=["seed=5", "arch.ndf=24", "d_optim.betas=[0.0, 0.9]"])
    assert cfg.batch_size == 32          # file beats model default (128)
    assert cfg.steps == 9                # flag beats file
    assert cfg.seed == 5                 # --set beats file; an unset flag (None) changes nothing
    assert cfg.arch["ngf"] == 16 and cfg.arch["ndf"] == 24 and cfg.arch["latent_dim"] == 100
    assert cfg.d_optim.lr == 0.001 and cfg.d_optim.betas == (0.0, 0.9)
    assert cfg.g_optim.lr == 2e-4        # the other optimizer keeps its defaults


def test_json_config_files_work_too(manager, tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"batch_size": 16, "g_optim": {"name": "rmsprop", "lr": 5e-5}}))
    cfg = resolve_config(manager.registry, "dcgan", config_file=path)
    assert cfg.batch_size == 16 and cfg.g_optim.name == "rmsprop"


@pytest.mark.parametrize("sets, message", [
    (["bogus=1"], "unknown config key 'bogus'"),
    (["arch.width=3"], "unknown config key 'arch.width'"),
    (["g_optim.momentum_x=1"], "unknown config key 'g_optim.momentum_x'"),
    (["batch_size=0"], "invalid config value for 'batch_size'"),
    (["batch_size=many"], "invalid config value for 'batch_size'"),
    (["arch.ngf=-4"], "invalid config value for 'arch.ngf'"),
    (["g_optim.betas=[0.5, 1.5]"], "invalid config value for 'g_optim.betas'"),
    (["device=gpu"], "invalid config value for 'device'"),
    (["run_name=../escape"], "invalid config value for 'run_name'"),
    (["novalue"], "--set expects key=value"),
])
def test_bad_values_name_the_key_in_one_line(manager, sets, message):
    with pytest.raises(ConfigError) as info:
        resolve_config(manager.registry, "dcgan", sets=sets)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_components_are_refused_with_suggestions(manager):
    with pytest.raises(UnknownComponentError, match="did you mean 'bce'"):
        resolve_config(manager.registry, "dcgan", loss="bec")
    with pytest.raises(UnknownComponentError, match="did you mean 'mnist'"):
        resolve_config(manager.registry, "dcgan", dataset="mnsit")


def test_bad_config_files(manager, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(manager.registry, "dcgan", config_file=tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("steps = = 3")
    with pytest.raises(ConfigError, match="cannot parse"):
        resolve_config(manager.registry, "dcgan", config_file=broken)
    yaml = tmp_path / "run.yaml"
    yaml.write_text("steps: 3")
    with pytest.raises(ConfigError, match=".json or .toml"):
        resolve_config(manager.registry, "dcgan", config_file=yaml)


def test_parse_set_reads_json_values_and_nests_keys():
    assert parse_set("a.b.c=1") == {"a": {"b": {"c": 1}}}
    assert parse_set("name=dcgan") == {"name": "dcgan"}
    assert parse_set("x=[1, 2]") == {"x": [1, 2]}
    assert parse_set("flag=true") == {"flag": True}
    assert parse_set("text=a=b") == {"text": "a=b"}
