"""Progressive GAN: the growth schedule, the growing networks (fade-in, pixel norm, minibatch std,
equalised lr), the step's loss (WGAN-GP + drift), per-resolution grids, exact resume mid-fade,
sampling at every stage, and one-line refusals.

Runs train on the tiny MNIST files of the ``data_dir`` fixture (64 28x28 images), resized to
16 px (three resolutions: 4, 8, 16), with networks a few channels wide.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ganzoo
from ganzoo.config import resolve_config
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.networks import MinibatchStd
from ganzoo.training import checkpoint as ckpt
from ganzoo_plugins.progan import DEFAULT_STEPS, ProGANConfig
from ganzoo_plugins.progan.algorithm import ProGAN, default_phase_steps, fade_real, schedule
from ganzoo_plugins.progan.nets import EqualizedConv2d, EqualizedLinear, build, pixel_norm, resolutions, upsample, width

from ..test_cli import png_size
from ..conftest import assert_bitwise_equal

SMALL = ["--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.latent_dim=8"]


def tiny_flags(data_dir: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--image-size", "16", "--steps", str(steps), "--batch-size", "8",
            "--device", "cpu", "--out", str(out), "--quiet", "--set", "sample_grid=16", *SMALL, *extra]


def state_of(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


def small_nets(size: int = 16, channels: int = 1, **arch):
    torch.manual_seed(0)
    return build(ProGANConfig(**{"ngf": 8, "ndf": 8, "latent_dim": 8, **arch}), DataShape(channels=channels,
                                                                                       image_size=size))


# the schedule ------------------------------------------------------------------------------

def test_schedule_fades_each_resolution_in_then_trains_it_stable():
    # 3 resolutions (4, 8, 16), phases of 4 steps: 4x4 | fade 8 | stable 8 | fade 16 | stable 16 ...
    got = [schedule(s, 4, 3) for s in range(22)]
    assert got[:4] == [(0, 1.0)] * 4
    assert got[4:8] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75)]
    assert got[8:12] == [(1, 1.0)] * 4
    assert got[12:16] == [(2, 0.0), (2, 0.25), (2, 0.5), (2, 0.75)]
    assert got[16:] == [(2, 1.0)] * 6  # the last resolution trains on after its stable phase
    # the default: --steps over the 2k - 1 phases; 2100 steps at 32 px (4 resolutions) = 7 x 300
    assert default_phase_steps(DEFAULT_STEPS, 4) == 300 and default_phase_steps(3, 4) == 1
    assert schedule(DEFAULT_STEPS - 1, 300, 4) == (3, 1.0) and schedule(5 * 300, 300, 4) == (3, 0.0)


def test_resolutions_and_widths():
    assert resolutions(32) == [4, 8, 16, 32] and resolutions(8) == [4, 8]
    assert [width(128, r, 8) for r in resolutions(32)] == [128, 128, 64, 32]
    assert [width(512, r, 32) for r in (4, 8, 16, 32, 64, 128)] == [512, 512, 512, 512, 256, 128]  # the paper's


@pytest.mark.parametrize("size", [28, 48, 4, 12])
def test_sizes_that_are_not_a_power_of_two_from_8_are_refused_in_one_line(size):
    with pytest.raises(ConfigError, match=f"power of two of at least 8 .*got {size}") as info:
        small_nets(size)
    assert "\n" not in str(info.value)


# the networks ------------------------------------------------------------------------------

def test_the_generator_always_returns_full_size_images_and_the_discriminator_takes_any_size():
    nets = small_nets(16, channels=3)
    G, D = nets.generator, nets.discriminator
    z = torch.randn(5, 8)
    for stage, resolution in enumerate([4, 8, 16]):
        for alpha in (0.0, 0.5, 1.0) if stage else (1.0,):
            G.set_growth(stage, alpha), D.set_growth(stage, alpha)
            native = G(z, native=True)
            full = G(z)
            assert native.shape == (5, 3, resolution, resolution) and full.shape == (5, 3, 16, 16)
            assert torch.equal(full, upsample(native, 16).clamp(-1, 1))
            assert full.abs().max() <= 1
            # D on the full-size images = D on the current resolution (nearest-up then box-down)
            assert D(full).shape == (5,)
            assert torch.allclose(D(full), D(full[..., ::16 // resolution, ::16 // resolution]), atol=1e-5)


def test_fade_in_mixes_the_previous_resolution_with_the_new_one_by_alpha():
    nets = small_nets(16)
    G, D = nets.generator, nets.discriminator
    z = torch.randn(4, 8)
    G.set_growth(0, 1.0)
    with torch.no_grad():
        x4 = G(z, native=True)
        G.set_growth(1, 0.0)
        faded0 = G(z, native=True)
        G.set_growth(1, 1.0)
        new = G(z, native=True)
        G.set_growth(1, 0.25)
        quarter = G(z, native=True)
    assert torch.allclose(faded0, upsample(x4, 8), atol=1e-6)  # alpha 0: the old 4x4 output, upsampled
    assert torch.allclose(quarter, 0.75 * upsample(x4, 8) + 0.25 * new, atol=1e-5)
    # D at alpha 0 is D at 4x4 on the pooled image; at alpha 1 it ignores the old fromRGB
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        D.set_growth(0, 1.0)
        at4 = D(F.avg_pool2d(x, 2))
        D.set_growth(1, 0.0)
        assert torch.allclose(D(x), at4, atol=1e-5)
        D.set_growth(1, 1.0)
        full = D(x)
        D.from_rgb[0].weight.add_(1.0)
        assert torch.equal(D(x), full)


def test_real_images_are_pooled_to_the_resolution_and_faded_like_the_generator():
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    at8 = F.avg_pool2d(x, 2)
    assert torch.allclose(fade_real(x, 8, 1.0), at8)
    assert torch.allclose(fade_real(x, 8, 0.0), upsample(F.avg_pool2d(at8, 2), 8))
    assert torch.allclose(fade_real(x, 8, 0.5), 0.5 * upsample(F.avg_pool2d(at8, 2), 8) + 0.5 * at8, atol=1e-6)
    assert torch.equal(fade_real(x, 16, 1.0), x)
    # any size is brought to the resolution (the registry sweep feeds 28 px batches to a 32 px model)
    assert fade_real(torch.rand(2, 1, 28, 28), 4, 1.0).shape == (2, 1, 4, 4)


def test_pixel_norm_equalised_lr_and_minibatch_std():
    y = pixel_norm(torch.randn(2, 16, 3, 3) * 7)
    assert torch.allclose(y.pow(2).mean(dim=1), torch.ones(2, 3, 3), atol=1e-4)
    nets = small_nets(16, full_width_until=16)
    layers = [m for net in nets.modules.values() for m in net.modules()
              if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
    assert not [m for net in nets.modules.values() for m in net.modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]  # every layer is equalised
    weights = torch.cat([m.weight.flatten() for m in layers])
    assert abs(weights.std().item() - 1.0) < 0.05 and abs(weights.mean().item()) < 0.05  # N(0, 1)
    conv = nets.generator.blocks[0].conv1  # 3x3, 8 -> 8 channels: He's constant sqrt(2 / 72)
    assert conv.scale == pytest.approx(math.sqrt(2 / 72))
    assert nets.generator.to_rgb[0].scale == pytest.approx(1 / math.sqrt(8))  # toRGB: gain 1
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers)
    D = nets.discriminator
    assert isinstance(D.mbstd, MinibatchStd) and D.mbstd.group_size == 4
    assert D.final_conv.weight.shape[1] == 8 + 1  # the std feature map is one more input channel
    assert small_nets(16, mbstd=0).discriminator.mbstd is None


def test_growth_buffers_are_part_of_the_state_dicts():
    nets = small_nets(16)
    nets.generator.set_growth(2, 0.375)
    state = nets.generator.state_dict()
    assert state["stage"].item() == 2 and state["alpha"].item() == 0.375
    other = small_nets(16).generator
    other.load_state_dict(state)
    assert other.growth() == (2, 0.375)


# the step ----------------------------------------------------------------------------------

def test_defaults_are_the_papers_where_the_layering_allows(manager):
    cfg = resolve_config(manager.registry, "progan")
    assert cfg.loss == "core:wgan-gp" and cfg.gp == 10.0 and cfg.image_size == 32
    assert cfg.algorithm == "progan:progan" and cfg.algo == {"stage_steps": None, "eps_drift": 0.001}
    assert cfg.arch["mbstd"] == 4 and cfg.batch_size == 16 and cfg.steps == DEFAULT_STEPS
    # with its own loss a model's settings win: the paper's Adam, not wgan-gp's 1e-4 (0, 0.9) ...
    assert (cfg.g_optim.lr, cfg.g_optim.betas, cfg.d_optim.lr, cfg.d_optim.betas) == (1e-3, (0.0, 0.99), 1e-3, (0.0, 0.99))
    # ... and its one critic update per step, not wgan-gp's 5; the user can still ask for 5
    assert cfg.n_critic == 1
    assert ProGAN(ganzoo_options(manager, cfg), cfg).batches_per_step() == 1
    five = resolve_config(manager.registry, "progan", sets=["n_critic=5"])
    assert ProGAN(ganzoo_options(manager, five), five).batches_per_step() == 5
    # with another loss, that loss's optimizer wins
    hinge = resolve_config(manager.registry, "progan", loss="hinge")
    assert (hinge.g_optim.lr, hinge.g_optim.betas) == (2e-4, (0.0, 0.9))


def ganzoo_options(manager, cfg):
    from ganzoo.config import algorithm_options

    return algorithm_options(manager.registry, cfg)


def test_the_discriminator_loss_is_wgan_gp_plus_the_drift_term(cli, data_dir, tmp_path):
    # stage_steps 2: step 2 fades 8x8 in (alpha 0), step 3 (alpha 0.5); log every step
    result = cli("train", "progan", *tiny_flags(data_dir, tmp_path / "runs", 4, "--run-name", "r",
                                                "--set", "algo.stage_steps=2", "--set", "log_every=1",
                                                "--set", "algo.eps_drift=0.5"))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "runs" / "r" / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in lines if "d_loss" in r]
    assert [(r["resolution"], r["alpha"]) for r in records] == [(4, 1), (4, 1), (8, 0), (8, 0.5)]
    for r in records:
        # WGAN: D(G(z)) - D(x), the gradient penalty (weight 10), eps_drift * E[D(x)^2]
        expected = r["D(G(z))"] - r["D(x)"] + r["penalty"] + 0.5 * r["drift"]
        assert r["d_loss"] == pytest.approx(expected, abs=2e-5)
        assert r["drift"] > 0


def test_every_resolution_leaves_a_grid_and_samples_are_full_size_at_every_stage(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    # phases of 2 steps: 16 px fades in over steps 6 and 7 (alpha 0, 0.5); stop after step 7
    result = cli("train", "progan", *tiny_flags(data_dir, out, 8, "--run-name", "r", "--set", "algo.stage_steps=2",
                                                "--set", "sample_grid=16"))
    assert result.exit_code == 0, result.output
    samples = out / "r" / "samples"
    assert sorted(p.name for p in samples.glob("res-*.png")) == ["res-16.png", "res-4.png", "res-8.png"]
    assert png_size(samples / "res-4.png") == (4 * 18 + 2, 4 * 18 + 2)  # 16 images of 16 px, upsampled
    generator = state_of(out / "r")["generator.safetensors"]
    assert generator["stage"].item() == 2 and generator["alpha"].item() == 0.5  # the last step trained
    handle = ganzoo.load(out / "r")
    images = handle.sample(6, seed=3)
    assert images.shape == (6, 1, 16, 16) and images.abs().max() <= 1
    sampled = cli("sample", str(out / "r"), "-n", "8", "--nrow", "4", "--out", str(tmp_path / "grid.png"))
    assert sampled.exit_code == 0, sampled.output
    assert png_size(tmp_path / "grid.png") == (4 * 18 + 2, 2 * 18 + 2)


def test_a_run_interrupted_mid_fade_resumes_bit_for_bit(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    phases = ["--set", "algo.stage_steps=2"]  # steps 2, 3 fade 8x8 in (alpha 0, 0.5); 6, 7 fade 16x16 in
    assert cli("train", "progan", *tiny_flags(data_dir, out, 8, "--run-name", "full", *phases)).exit_code == 0
    assert cli("train", "progan", *tiny_flags(data_dir, out, 3, "--run-name", "part", *phases)).exit_code == 0
    middle = state_of(out / "part")
    assert (middle["generator.safetensors"]["stage"].item(), middle["generator.safetensors"]["alpha"].item(),
            middle["discriminator.safetensors"]["alpha"].item()) == (1, 0.0, 0.0)  # stopped inside the fade
    result = cli("train", "--resume", str(out / "part"), "--steps", "8", "--quiet")
    assert result.exit_code == 0, result.output
    full, resumed = state_of(out / "full"), state_of(out / "part")
    assert sorted(full) == ["discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]
    assert_bitwise_equal(full, resumed)
    assert (full["generator.safetensors"]["stage"].item(), full["generator.safetensors"]["alpha"].item()) == (2, 0.5)
    assert full["train_state.safetensors"]["algo.phase_steps"].item() == 2


def test_a_resume_keeps_the_schedule_it_started_with(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    # stage_steps null: 5 steps over 5 phases -> 1 step each; 4x4, fade 8, 8, fade 16, 16
    assert cli("train", "progan", *tiny_flags(data_dir, out, 5, "--run-name", "r")).exit_code == 0
    assert state_of(out / "r")["train_state.safetensors"]["algo.phase_steps"].item() == 1
    result = cli("train", "--resume", str(out / "r"), "--steps", "9", "--quiet")
    assert result.exit_code == 0, result.output
    state = state_of(out / "r")
    assert state["train_state.safetensors"]["algo.phase_steps"].item() == 1  # not 9 // 5
    assert (state["generator.safetensors"]["stage"].item(), state["generator.safetensors"]["alpha"].item()) == (2, 1)


# refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--image-size", "28"], "progan grows 4x4 -> 8x8 -> ... by doubling, so the image size must be a power "
                             "of two of at least 8 (e.g. 32 for MNIST), got 28"),
    (["--image-size", "48"], "progan grows 4x4 -> 8x8"),
    (["--image-size", "4"], "model 'progan' needs images of at least 8px"),
    (["--dataset", "toy-ring"], "model 'progan' trains on image data"),
    (["--set", "algo.stage_steps=0"], "invalid config value"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(cli, data_dir, tmp_path, flags, message):
    args = ["--data-dir", str(data_dir), "--steps", "1", "--batch-size", "8", "--device", "cpu",
            "--out", str(tmp_path / "runs"), "--quiet", *SMALL, *flags]
    result = cli("train", "progan", *args)
    assert result.exit_code == 2, result.output
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in result.output
    assert error.startswith("error: ") and message in error, error
    assert not (tmp_path / "runs").exists()


def test_info_explains_the_model_and_the_algorithm(cli):
    model = cli("info", "progan", "--kind", "model")
    assert model.exit_code == 0 and "arXiv:1710.10196" in model.stdout and "wgan-gp" in model.stdout
    algo = cli("info", "progan", "--kind", "algorithm", "--json")
    assert algo.exit_code == 0
    for key in ("stage_steps", "eps_drift", "0.001"):
        assert key in algo.stdout
    assert '"n_critic": 1' in cli("info", "progan", "--kind", "model", "--json").stdout


def test_the_averaged_generator_follows_the_growth(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli("train", "progan", *tiny_flags(data_dir, out, 4, "--run-name", "r", "--set", "algo.stage_steps=1",
                                                "--set", "ema=0.9"))
    assert result.exit_code == 0, result.output
    state = state_of(out / "r")
    for name in ("generator.safetensors", "generator.ema.safetensors"):
        assert (state[name]["stage"].item(), state[name]["alpha"].item()) == (2, 0.0), name  # step 3: fade 16
    assert ganzoo.load(out / "r").sample(3, seed=0).shape == (3, 1, 16, 16)
