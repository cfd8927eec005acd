"""The CLI end to end, with the built-in plugins registered in-process."""

from __future__ import annotations

import json
import signal
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganzoo
import ganzoo.errors
import ganzoo.outputs.sampling
from ganzoo.plugins.manager import PluginManager
from ganzoo.training.context import TrainingContext

from .conftest import BUILTIN_PLUGINS, TINY, register_builtins

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


BUILTIN_MODELS = [entry.spec for entry in register_builtins(PluginManager(entry_points=False)).registry.list("model")]
"""The built-in models' specs, from the entry points."""


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_list_groups_components_with_summaries(cli):
    result = cli("list")
    assert result.exit_code == 0
    out = result.stdout
    assert out.index("models") < out.index("losses") < out.index("datasets")
    assert "dcgan" in out and "Deep convolutional GAN" in out and "mnist" in out


def test_list_with_pattern_as_json(cli):
    result = cli("list", "models", "?cgan", "--json")
    assert result.exit_code == 0
    assert [c["qualified_name"] for c in json.loads(result.stdout)] == ["acgan:acgan", "dcgan:dcgan"]
    every = json.loads(cli("list", "models", "*gan", "--json").stdout)
    assert {c["name"] for c in every} == {spec.name for spec in BUILTIN_MODELS if spec.name.endswith("gan")}
    assert len(every) > 10 and "pix2pix" not in {c["name"] for c in every}
    anywhere = json.loads(cli("list", "*mnist", "--json").stdout)
    assert {c["name"] for c in anywhere} == {"mnist", "fashion-mnist", "stacked-mnist", "moving-mnist"}


def test_list_unknown_kind_is_a_usage_error(cli):
    result = cli("list", "gadgets", "*")
    assert result.exit_code == 2
    assert "unknown component kind 'gadgets'" in result.stderr


def test_info_shows_options_defaults_and_losses(cli):
    data = json.loads(cli("info", "dcgan", "--json").stdout)
    fields = {f["key"]: f["default"] for f in data["config_fields"]}
    assert fields == {"arch.latent_dim": 100, "arch.ngf": 64, "arch.ndf": 64, "arch.d_norm": "batch", "arch.mbstd": 0}
    assert data["default_loss"] == "bce" and "bce" in data["compatible_losses"]
    assert "Radford" in data["paper"]
    text = cli("info", "dcgan").stdout
    assert "arch.ngf" in text and "Radford" in text
    # a model's settings for one kind of data are shown with it
    gan = json.loads(cli("info", "gan", "--json").stdout)
    assert gan["settings_by_data_kind"]["points"]["pack"] == 2
    assert "on points data, over these:" in cli("info", "gan").stdout


def test_info_on_a_dataset_shows_its_shape(cli):
    text = cli("info", "fashion-mnist").stdout
    assert "shape: image 1x28x28," in text and "classes: 10" in text
    points = cli("info", "toy-ring").stdout
    assert "shape: points 2," in points and "classes: 8" in points


def test_no_arguments_prints_help_once(cli):
    result = cli()
    assert result.exit_code == 2 and result.stdout.count("Usage") == 1


def test_unknown_model_suggests_and_exits_2(cli):
    result = cli("train", "dcgna")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: unknown model 'dcgna'; did you mean 'dcgan'")
    assert result.stderr.strip().endswith("(see `ganzoo list models`)")
    assert "Traceback" not in result.output
    info = cli("info", "mnsit")
    assert info.exit_code == 2 and "unknown component 'mnsit'; did you mean dataset 'mnist'" in info.stderr


def test_train_writes_a_run_that_loads_back_and_samples(cli, data_dir, tmp_path):
    result = cli("train", "dcgan", "--loss", "bce", "--dataset", "mnist", "--data-dir", str(data_dir),
                 *TINY, "--run-name", "tiny", "--set", "log_every=1")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tiny"
    assert result.stdout.strip() == str(Path("runs") / "tiny")

    config = json.loads((run / "config.json").read_text())
    assert config["steps"] == 3 and config["arch"]["ngf"] == 8 and config["model"] == "dcgan:dcgan"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert {"d_loss", "g_loss", "D(x)", "D(G(z))", "images_per_sec", "elapsed_sec"} <= set(records[0])
    assert all(0.0 <= r["D(x)"] <= 1.0 and r["d_loss"] > 0 for r in records)
    assert png_size(run / "samples" / "step-0000003.png") == (242, 242)  # 8x8 grid of 28px + 2px padding
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-0000003"
    checkpoint = run / "checkpoints" / "step-0000003"
    assert sorted(p.name for p in checkpoint.iterdir()) == [
        "discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]

    handle = ganzoo.load(run)
    assert handle.step == 3
    first, again = handle.sample(5, seed=7), handle.sample(5, seed=7)
    assert first.shape == (5, 1, 28, 28) and torch.equal(first, again)
    assert first.min() >= -1 and first.max() <= 1

    sampled = cli("sample", str(run), "-n", "10", "--nrow", "5", "--out", "grid.png")
    assert sampled.exit_code == 0, sampled.output
    assert png_size(tmp_path / "grid.png") == (152, 62)  # 5 x 2 images of 28px with 2px padding


def test_checkpoint_holds_no_pickle_and_describes_itself(cli, data_dir, tmp_path):
    from safetensors import safe_open

    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "r").exit_code == 0
    folder = tmp_path / "runs" / "r" / "checkpoints" / "step-0000003"
    for file in folder.iterdir():
        assert file.read_bytes()[8:9] == b"{"  # safetensors: 8-byte length, then a JSON header
        with safe_open(str(file), framework="pt") as handle:
            meta = handle.metadata()
        assert meta["format"] == "ganzoo-checkpoint" and meta["format_version"] == "3"
        assert meta["checksum"].startswith("sha256:")
        assert meta["model"] == "dcgan:dcgan" and meta["step"] == "3"
        assert json.loads(meta["config"])["batch_size"] == 8


def test_image_size_and_bad_sizes(cli, data_dir, tmp_path):
    ok = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--image-size", "32", "--run-name", "s32")
    assert ok.exit_code == 0, ok.output
    assert ganzoo.load(tmp_path / "runs" / "s32").sample(2, seed=0).shape == (2, 1, 32, 32)
    bad = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--image-size", "36")
    assert bad.exit_code == 2 and "cannot make 36x36 images" in bad.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--steps", "0"], 2, "invalid config value for 'steps'"),
    (["--steps", "ten"], 2, "Invalid value for '--steps'"),
    (["--batch-size", "1000"], 2, "larger than the dataset (64 samples)"),
    (["--device", "tpu"], 2, "invalid config value for 'device'"),
    (["--set", "arch.depth=3"], 2, "unknown config key 'arch.depth'"),
    (["--config", "missing.toml"], 2, "config file not found"),
    (["--bogus"], 2, "No such option: --bogus"),
])
def test_bad_input_is_one_line_exit_code_and_no_run_dir(cli, data_dir, tmp_path, args, code, message):
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_missing_data_names_the_files_and_folder(cli, tmp_path):
    empty = tmp_path / "empty"
    result = cli("train", "dcgan", "--data-dir", str(empty), *TINY)
    assert result.exit_code == 2
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", str(empty / "MNIST" / "raw")):
        assert name in result.stderr
    assert not (tmp_path / "runs").exists()


def test_data_dir_from_environment(cli, data_dir, monkeypatch):
    monkeypatch.setenv("GANZOO_DATA_DIR", str(data_dir))
    assert cli("train", "dcgan", *TINY).exit_code == 0


def test_ctrl_c_finishes_the_step_saves_a_checkpoint_and_exits_130(cli, data_dir, tmp_path, monkeypatch):
    real_step = TrainingContext.train_step
    calls = {"n": 0}

    def interrupted_step(self):
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C in the middle of step 3
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self)

    monkeypatch.setattr(TrainingContext, "train_step", interrupted_step)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where pytest runs as a background job
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--steps", "10", "--run-name", "cut")
    assert result.exit_code == 130
    assert "interrupted at step 3; checkpoint saved in" in result.stderr
    assert ganzoo.load(tmp_path / "runs" / "cut").step == 3
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_a_second_ctrl_c_aborts_at_once_and_saves_nothing_new(cli, data_dir, tmp_path, monkeypatch):
    real_step = TrainingContext.train_step
    calls = {"n": 0}

    def interrupted_twice(self):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self)

    monkeypatch.setattr(TrainingContext, "train_step", interrupted_twice)
    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--steps", "10", "--run-name", "cut")
    assert result.exit_code == 130
    assert "aborted during step 3; nothing new saved" in result.stderr
    assert ganzoo.load(tmp_path / "runs" / "cut").step == 0


def test_sample_rejects_missing_and_corrupt_checkpoints(cli, data_dir, tmp_path):
    missing = cli("sample", str(tmp_path / "nothing"))
    assert missing.exit_code == 5 and "no such run or checkpoint" in missing.stderr
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "c").exit_code == 0
    generator = tmp_path / "runs" / "c" / "checkpoints" / "step-0000003" / "generator.safetensors"
    generator.write_bytes(generator.read_bytes()[:100])  # truncated
    corrupt = cli("sample", str(tmp_path / "runs" / "c"), "--out", "x.png")
    assert corrupt.exit_code == 5 and "cannot read checkpoint file" in corrupt.stderr
    assert not (tmp_path / "x.png").exists()
    pickle_file = tmp_path / "model.pt"
    pickle_file.write_bytes(b"\x80\x04not a checkpoint")
    refused = cli("sample", str(pickle_file))
    assert refused.exit_code == 5 and "only .safetensors" in refused.stderr


def test_sample_output_must_be_png(cli, data_dir, tmp_path):
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "p").exit_code == 0
    result = cli("sample", str(tmp_path / "runs" / "p"), "--out", "grid.jpg")
    assert result.exit_code == 2 and ".png" in result.stderr


def test_installed_console_entry_point_and_python_m(tmp_path):
    """The real installation: entry points declared in pyproject.toml, `python -m ganzoo`."""
    env = {**os.environ, "GANZOO_DISABLE_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "ganzoo", "list", "--json"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    names = {c["qualified_name"] for c in json.loads(result.stdout)}
    assert {"dcgan:dcgan", "core:bce", "core:mnist"} <= names
    plugins = {p["name"] for p in json.loads(subprocess.run(
        [sys.executable, "-m", "ganzoo", "plugins", "--json"], capture_output=True, text=True,
        env=env, timeout=120).stdout)}
    assert plugins == set(BUILTIN_PLUGINS)  # the installed entry points == the in-process fixture
    blocked = subprocess.run([sys.executable, "-m", "ganzoo", "list", "models", "--json"],
                             capture_output=True, text=True, timeout=120,
                             env={**env, "GANZOO_DISABLE_PLUGINS": "dcgan,cgan"})
    assert blocked.returncode == 0
    registry = register_builtins(PluginManager(entry_points=False)).registry
    others = {entry.spec.name for entry in registry.list("model") if entry.plugin not in ("dcgan", "cgan")}
    assert {c["name"] for c in json.loads(blocked.stdout)} == others and "dcgan" not in others


def test_the_fixture_registers_what_pyproject_declares():
    """conftest's built-ins come from the installed metadata: a pyproject.toml edited since the
    last `pip install -e .` (a family added, renamed or removed) fails here, not in a stranger's test."""
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"]["ganzoo"]
    assert {name: module.__name__ for name, module in BUILTIN_PLUGINS.items()} == declared
    # and every family folder in plugins/ is declared (shared blocks such as plugins/layers register nothing)
    plugins = Path(__file__).resolve().parent.parent / "plugins"
    folders = {f"ganzoo_plugins.{init.parent.name}" for init in plugins.glob("*/__init__.py")
               if "@hookimpl" in init.read_text(encoding="utf-8")}
    assert folders == set(declared.values()) - {"ganzoo.plugins.core"}


def test_checkpoint_of_a_missing_plugin_says_which_plugin(cli, data_dir, tmp_path, monkeypatch):
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "m").exit_code == 0
    bare = PluginManager(entry_points=False)
    with pytest.raises(ganzoo.errors.ComponentUnavailableError, match="from plugin 'dcgan'"):
        ganzoo.outputs.sampling.load(tmp_path / "runs" / "m", registry=bare.registry)


def test_loading_does_not_reseed_the_global_rng(cli, data_dir, tmp_path):
    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "g").exit_code == 0
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ganzoo.load(tmp_path / "runs" / "g")
    assert torch.equal(torch.rand(3), expected)


def test_interpolation_grid_and_raw_samples(cli, data_dir, tmp_path):
    import numpy as np

    assert cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--run-name", "w").exit_code == 0
    run = tmp_path / "runs" / "w"
    walk = cli("sample", str(run), "--interpolate", "4", "-n", "8", "--out", "walk.png")
    assert walk.exit_code == 0, walk.output
    assert png_size(tmp_path / "walk.png") == (4 * 30 + 2, 2 * 30 + 2)  # 2 walks of 4 steps

    g = ganzoo.load(run)
    images = g.interpolate(steps=5, rows=2, seed=3)
    gen = torch.Generator().manual_seed(3)
    start, end = g.generator.sample_latent(2, generator=gen, device="cpu"), \
        g.generator.sample_latent(2, generator=gen, device="cpu")
    with torch.no_grad():
        assert torch.allclose(images[0::5], g.generator(start), atol=1e-5)  # walks start at z_a
        assert torch.allclose(images[4::5], g.generator(end), atol=1e-5)    # and end at z_b
    assert not torch.allclose(images[2], images[0])

    raw = cli("sample", str(run), "-n", "6", "--seed", "2", "--format", "npz", "--out", "s.npz")
    assert raw.exit_code == 0, raw.output
    with np.load(tmp_path / "s.npz") as npz:
        assert npz["images"].shape == (6, 28, 28, 1) and npz["images"].dtype == np.uint8
        expected = ((g.sample(6, seed=2) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
        assert np.array_equal(npz["images"], expected.numpy())
    wrong = cli("sample", str(run), "--format", "npz", "--out", "s.png")
    assert wrong.exit_code == 2 and ".npz" in wrong.stderr


@pytest.mark.slow
def test_compiled_training_writes_plain_checkpoints(cli, data_dir, tmp_path):
    """--compile (torch.compile; ~30 s of compiling on a small CPU) keeps checkpoint keys plain."""
    from safetensors.torch import load_file

    result = cli("train", "dcgan", "--data-dir", str(data_dir), *TINY, "--compile", "--run-name", "c")
    assert result.exit_code == 0, result.output
    keys = load_file(str(tmp_path / "runs" / "c" / "checkpoints" / "step-0000003" / "generator.safetensors"))
    assert keys and not any("_orig_mod" in k for k in keys)
    assert ganzoo.load(tmp_path / "runs" / "c").sample(2, seed=0).shape == (2, 1, 28, 28)


OWN_ALGORITHM = sorted(spec.name for spec in BUILTIN_MODELS if spec.algorithm.split(":")[-1] == spec.name)
"""The families whose model and algorithm share the name."""


def test_some_families_have_an_algorithm_of_their_own():
    assert len(OWN_ALGORITHM) >= 10 and "cyclegan" in OWN_ALGORITHM and "dcgan" not in OWN_ALGORITHM


@pytest.mark.parametrize("family", OWN_ALGORITHM)
def test_info_on_a_family_name_means_its_model(cli, family):
    """The model and its own algorithm share the name: `ganzoo info NAME` shows the model, and
    its algorithm's options (the family's loss weights) below its own."""
    result = cli("info", family, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "model" and data["algorithm"].split(":")[-1] == family
    algorithm = json.loads(cli("info", family, "--kind", "algorithm", "--json").stdout)
    assert algorithm["kind"] == "algorithm"
    assert bool(algorithm["config_fields"]) == (family != "bigan")  # bigan's algorithm has no algo.* options
    assert data.get("algorithm_fields", []) == algorithm["config_fields"]
    text = cli("info", family).stdout
    for field in algorithm["config_fields"]:
        assert field["key"] in text


def test_info_shows_a_familys_loss_weights_with_the_paper_defaults(cli):
    text = cli("info", "stargan").stdout
    assert "options of its algorithm" in text and "algo.lambda_rec" in text and "10.0" in text
    assert "options of its algorithm" not in cli("info", "dcgan").stdout  # the alternating step has none
