"""VGAN and Moving MNIST: the bouncing recipe worked by hand, seeding, shapes and options, bad
input, the two-stream composition, the discriminator, the mask term, the frame classifier and
its cache, the temporal and motion measures on hand-built clips, training, sampling, evaluation
and a bitwise resume, and the conformance kit.

Everything is built from the ``data_dir`` fixture's tiny MNIST files (64 train / 16 test
squares), never the real MNIST, with networks a few channels wide at 16 px.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ganzoo
import ganzoo_plugins.vgan
from ganzoo.plugins.build import load_dataset
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, FieldShape, ItemData
from ganzoo.kinds.video import KIND as VIDEO
from ganzoo.errors import CheckpointError, ConfigError, GanzooError
from ganzoo.metrics.evaluate import EvalContext
from ganzoo.metrics.extractors import Extractor, sha256_file
from ganzoo.training import checkpoint as ckpt
from ganzoo_plugins.vgan import data as mm
from ganzoo_plugins.vgan import metrics as vm
from ganzoo_plugins.vgan.nets import TwoStreamGenerator, VideoDiscriminator, build, size_plan, time_plan
from ganzoo_plugins.vgan import VGANConfig, VGANOptions

from ..test_cli import png_size
from ..conftest import assert_bitwise_equal

SMALL = ["--set", "arch.ngf=4", "--set", "arch.ndf=4", "--set", "arch.latent_dim=8"]
"""Networks small enough that a step takes milliseconds."""


@pytest.fixture(autouse=True)
def vgan_plugin(manager):
    """The vgan plugin beside the built-ins (conftest's set may already hold it)."""
    if "vgan" not in manager.plugins:
        manager.register(ganzoo_plugins.vgan, name="vgan")
    return manager


def tiny_flags(out: Path, data_dir: Path, steps: int, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--steps", str(steps), "--batch-size", "4", "--device", "cpu",
            "--image-size", "16", "--out", str(out), "--quiet", *SMALL, *extra]


def video_shape(channels: int, frames: int, side: int) -> DataShape:
    return DataShape(fields={"video": FieldShape("video", (channels, frames, side, side))})


def one_line_refusal(result, start: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, message
    assert message.startswith(start), message


# the bouncing recipe -------------------------------------------------------------------------

def test_a_digit_bounces_off_each_wall_as_the_recipe_says():
    # column 0.95 moving right by 0.1: 1.05 is clamped to the wall (1.0) and the step flips
    start = torch.tensor([[0.5, 0.95], [0.08, 0.3]], dtype=torch.float64)
    velocity = torch.tensor([[0.0, 0.1], [-0.05, 0.0]], dtype=torch.float64)
    path = mm.bounce(start, velocity, 4)
    assert path.shape == (2, 4, 2)
    assert path[0, :, 1].tolist() == pytest.approx([1.0, 0.9, 0.8, 0.7])
    assert path[0, :, 0].tolist() == [0.5] * 4
    # row 0.08 moving up by 0.05: 0.03, then -0.02 is clamped to 0 and the digit comes back down
    assert path[1, :, 0].tolist() == pytest.approx([0.03, 0.0, 0.05, 0.10])
    # on a 32 px canvas a 14 px digit has 18 px of room: floor(18 * p)
    assert mm.pixel_positions(path[0, :, 1], 18).tolist() == [18, 16, 14, 12]
    assert mm.digit_side(32) == 14 and mm.digit_side(64) == 28


def test_frames_combine_the_digits_by_max():
    digits = torch.tensor([[[[10, 20], [30, 40]], [[50, 5], [5, 5]]]], dtype=torch.uint8)  # [1, 2, 2, 2]
    corners = torch.tensor([[[[0, 0], [1, 1]], [[1, 1], [1, 1]]]])  # digit 0 moves, digit 1 stays at (1, 1)
    video = mm.render(digits, corners, size=3)
    assert video.shape == (1, 1, 2, 3, 3)
    assert video[0, 0, 0].tolist() == [[10, 20, 0], [30, 50, 5], [0, 5, 5]]  # overlap at (1, 1): max(40, 50)
    assert video[0, 0, 1].tolist() == [[0, 0, 0], [0, 50, 20], [0, 30, 40]]  # max(10, 50), max(5, 20)...


def tiny_digits(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    return torch.randint(1, 256, (n, 28, 28), generator=gen, dtype=torch.uint8), torch.arange(n) % 10


def test_clips_are_a_function_of_the_seed():
    digits, labels = tiny_digits()
    a = mm.moving_mnist(digits, labels, clips=6, frames=5, size=32, seed=3)
    b = mm.moving_mnist(digits, labels, clips=6, frames=5, size=32, seed=3)
    c = mm.moving_mnist(digits, labels, clips=6, frames=5, size=32, seed=4)
    assert torch.equal(a.fields["video"], b.fields["video"]) and torch.equal(a.fields["label"], b.fields["label"])
    assert not torch.equal(a.fields["video"], c.fields["video"])


def test_clip_shapes_labels_and_options():
    digits, labels = tiny_digits()
    data = mm.moving_mnist(digits, labels, clips=7, frames=20, size=64, seed=0)
    video, label = data.fields["video"], data.fields["label"]
    assert video.shape == (7, 1, 20, 64, 64) and video.dtype == torch.uint8
    assert data.kinds == {"video": "video", "label": "label"} and data.classes == {"label": 100}
    assert data.rates == {"video": mm.FPS} and data.primary == "video"
    # the label is the ordered pair of the digits drawn, in the same draw order as moving_mnist
    gen = torch.Generator().manual_seed(0)
    picks = torch.randint(len(digits), (7, 2), generator=gen)
    assert label.tolist() == (10 * labels[picks[:, 0]] + labels[picks[:, 1]]).tolist()
    assert mm.digits_of(label).tolist() == labels[picks].tolist()
    # every frame shows both 28x28 digits whole: as bright as the brightest of the two
    peak = torch.maximum(digits[picks[:, 0]].flatten(1).amax(1), digits[picks[:, 1]].flatten(1).amax(1))
    assert torch.equal(video.flatten(3).amax(3)[:, 0], peak.view(7, 1).expand(7, 20))
    one = mm.moving_mnist(digits, labels, clips=3, frames=2, size=16, num_digits=1)
    assert one.fields["video"].shape == (3, 1, 2, 16, 16) and one.classes == {"label": 10}


@pytest.mark.parametrize("option, message", [
    ({"frames": 1}, "a moving-mnist clip needs at least 2 frames, got 1"),
    ({"size": 12}, "moving-mnist frames must be at least 16x16 px, got 12"),
    ({"num_digits": 0}, "moving-mnist draws 1 to 3 digits per clip, got 0"),
    ({"clips": 0}, "moving-mnist needs at least 1 clip, got 0"),
    ({"speed": (0.2, 0.1)}, "moving-mnist speed must be a range 0 <= low <= high"),
])
def test_bad_options_are_refused_in_one_line(option, message):
    digits, labels = tiny_digits()
    with pytest.raises(ConfigError) as info:
        mm.moving_mnist(digits, labels, **{"clips": 2, **option})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_the_registered_datasets_come_from_each_mnist_split(manager, data_dir):
    from ganzoo.datasets.idx import load_mnist

    train = load_dataset(manager.registry, "moving-mnist-32", data_dir)
    test = load_dataset(manager.registry, "moving-mnist-32", data_dir, split="test")
    assert train.fields["video"].shape == (64, 1, 16, 32, 32)  # no more clips than digits
    assert test.fields["video"].shape == (16, 1, 16, 32, 32)
    expected = mm.moving_mnist(load_mnist(data_dir, "test").images, load_mnist(data_dir, "test").labels,
                               clips=16, frames=16, size=32, seed=mm.SEEDS["test"])
    assert torch.equal(test.fields["video"], expected.fields["video"])
    big = load_dataset(manager.registry, "moving-mnist", data_dir, split="test")
    assert big.fields["video"].shape == (16, 1, 20, 64, 64) and big.rates == {"video": 8}


def test_info_describes_the_video_dataset(cli):
    result = cli("info", "moving-mnist-32", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert "32x32, 16 frames" in info["summary"] and "label = 10 * d0 + d1" in info["summary"]


# networks ------------------------------------------------------------------------------------

def test_size_and_time_plans():
    assert [size_plan(s) for s in (8, 16, 28, 32, 64)] == [(4, 1), (4, 2), (7, 2), (4, 3), (4, 4)]
    assert time_plan(32, 4) == (2, 4)   # the paper: 2 -> 32 frames in four doublings
    assert time_plan(16, 3) == (2, 3) and time_plan(20, 4) == (5, 2) and time_plan(3, 2) == (3, 0)
    for bad, message in ((lambda: size_plan(30), "vgan cannot make 30x30 frames"),
                         (lambda: time_plan(1, 3), "vgan generates clips of at least 2 frames")):
        with pytest.raises(ConfigError, match=message):
            bad()


@pytest.mark.parametrize("channels, frames, side", [(1, 16, 32), (3, 20, 64), (1, 16, 28), (3, 3, 16)])
def test_generator_and_discriminator_shapes(channels, frames, side):
    torch.manual_seed(0)
    nets = build(VGANConfig(ngf=4, ndf=4, latent_dim=8), video_shape(channels, frames, side))
    G, D = nets.generator, nets.discriminator
    assert nets.is_pair and isinstance(G, TwoStreamGenerator) and isinstance(D, VideoDiscriminator)
    z = torch.randn(3, 8)
    clips, mask = G(z, return_mask=True)
    f, m, b = G.streams(z)
    assert clips.shape == f.shape == (3, channels, frames, side, side) and clips.abs().max() <= 1
    assert m.shape == mask.shape == (3, 1, frames, side, side) and 0 <= m.min() and m.max() <= 1
    assert b.shape == (3, channels, side, side)
    assert D(clips).shape == (3,)


def test_the_paper_sized_networks():
    nets = build(VGANConfig(ngf=64, ndf=64), video_shape(3, 32, 64))
    G, D = nets.generator, nets.discriminator
    assert G.plan == {"s0": 4, "k": 4, "t0": 2, "kt": 4}
    convs = [m for m in G.foreground if isinstance(m, torch.nn.ConvTranspose3d)]
    assert [c.out_channels for c in convs] == [512, 256, 128, 64] and convs[0].kernel_size == (2, 4, 4)
    d_convs = [m for m in D.body if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in d_convs] == [64, 128, 256, 512] and D.logit.kernel_size == (2, 4, 4)
    norms = [type(m).__name__ for m in D.body if not isinstance(m, (torch.nn.Conv3d, torch.nn.LeakyReLU))]
    assert norms == ["Identity", "BatchNorm3d", "BatchNorm3d", "BatchNorm3d"]  # none on the first layer


def test_the_clip_is_mask_times_foreground_plus_the_rest_background():
    torch.manual_seed(0)
    G = build(VGANConfig(ngf=4, ndf=4, latent_dim=8), video_shape(1, 4, 16)).generator.eval()
    z = torch.randn(2, 8)
    head = G.mask_head[0]
    with torch.no_grad():
        f, _, b = G.streams(z)
        head.weight.zero_()
        head.bias.fill_(100.0)   # sigmoid(100) = 1: the foreground everywhere
        assert torch.equal(G(z), f)
        head.bias.fill_(-100.0)  # sigmoid(-100) ~ 4e-44: the background in every frame
        assert torch.allclose(G(z), b.unsqueeze(2).expand(-1, -1, 4, -1, -1), atol=1e-6)
        head.bias.fill_(0.0)     # sigmoid(0) = 0.5: the mean of the two
        assert torch.allclose(G(z), 0.5 * f + 0.5 * b.unsqueeze(2), atol=1e-6)


@pytest.mark.parametrize("shape, message", [
    (video_shape(1, 16, 30), "vgan cannot make 30x30 frames"),
    (video_shape(1, 1, 32), "vgan generates clips of at least 2 frames"),
    (DataShape(fields={"video": FieldShape("video", (1, 16, 32, 16))}), "vgan makes square frames"),
    (DataShape(channels=1, image_size=28), "vgan generates video: the data needs a video field"),
])
def test_shapes_it_cannot_build_are_refused_in_one_line(shape, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(VGANConfig(), shape)
    assert "\n" not in str(info.value)


# options and defaults --------------------------------------------------------------------------

def test_the_defaults_and_the_norm_under_a_penalty(manager, data_dir):
    registry = manager.registry
    spec = registry.get("model", "vgan").spec
    assert (spec.default_loss, spec.default_dataset, spec.algorithm, spec.data_kinds) == (
        "bce", "moving-mnist-32", "vgan", ("video",))
    cfg = resolve_config(registry, "vgan", flags={"data_dir": str(data_dir)})
    assert cfg.g_optim.lr == cfg.d_optim.lr == 2e-4 and cfg.g_optim.betas == (0.5, 0.999)
    assert cfg.batch_size == 32 and cfg.n_critic == 1 and cfg.algo == VGANOptions(lambda_mask=0.1).model_dump()
    assert cfg.arch == {"latent_dim": 100, "ngf": 32, "ndf": 32, "d_norm": "batch"}
    gp = resolve_config(registry, "vgan", loss="wgan-gp", flags={"data_dir": str(data_dir)})
    assert gp.arch["d_norm"] == "layer" and any("d_norm switched" in note for note in gp.notes)
    nets = build(VGANConfig(**gp.arch), video_shape(1, 16, 32))
    assert any(isinstance(m, torch.nn.GroupNorm) for m in nets.discriminator.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in nets.discriminator.modules())


def test_bad_command_lines_are_one_line_errors(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    one_line_refusal(cli("train", "vgan", *tiny_flags(out, data_dir, 1, "--set", "algo.lambda_mask=-1")),
                     "error: invalid config value for 'algo.lambda_mask'")
    one_line_refusal(cli("train", "vgan", *tiny_flags(out, data_dir, 1, "--image-size", "30")),
                     "error: vgan cannot make 30x30 frames")
    one_line_refusal(cli("train", "vgan", *tiny_flags(out, data_dir, 1, "--dataset", "mnist")), "error: ")
    assert not out.exists() or not any(out.iterdir())


# the training step ----------------------------------------------------------------------------

def make_trainer(manager, data_dir, tmp_path, **flags):
    from ganzoo.plugins.build import build_networks
    from ganzoo.data import shape_of
    from ganzoo.training.assemble import assemble

    registry = manager.registry
    base = {"steps": 2, "batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "log_every": 1,
            "data_dir": str(data_dir), "image_size": 16, "arch": {"ngf": 4, "ndf": 4, "latent_dim": 8}}
    cfg = resolve_config(registry, "vgan", flags={**base, **flags})
    data = load_dataset(registry, cfg.dataset, cfg.data_dir)
    nets = build_networks(registry, cfg, shape_of(data, cfg.image_size), torch.device("cpu"))
    return assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)


@pytest.mark.parametrize("lambda_mask", [0.1, 2.0])
def test_the_generator_loss_adds_lambda_times_the_mask_mean(manager, data_dir, tmp_path, lambda_mask):
    trainer = make_trainer(manager, data_dir, tmp_path, algo={"lambda_mask": lambda_mask})
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    trainer.latent = lambda dim=None: z.clone()
    before = copy.deepcopy(trainer.modules["generator"])  # the mask G's update was computed from
    stats = trainer.train_step()
    with torch.no_grad():
        expected_mask = before(z, return_mask=True)[1].mean().item()
    assert stats["mask_l1"].item() == pytest.approx(expected_mask, rel=1e-6)
    assert stats["g_loss"].item() == pytest.approx(stats["g_adv"].item() + lambda_mask * expected_mask, rel=1e-6)
    assert {"d_loss", "g_grad_norm", "d_grad_norm", "D(x)", "D(G(z))"} <= set(stats)
    # the generator's update moved the mask head: the sparsity gradient reaches it
    assert not torch.equal(before.mask_head[0].bias, trainer.modules["generator"].mask_head[0].bias)


def test_losses_with_their_own_settings_train_a_step(manager, data_dir, tmp_path):
    for loss in ("wgan", "wgan-gp", "ragan"):
        trainer = make_trainer(manager, data_dir, tmp_path / loss, loss=loss)
        stats = trainer.train_step()
        assert all(math.isfinite(v.item()) for v in stats.values()), (loss, stats)
        assert ("penalty" in stats) == bool(trainer.cfg.gp)
        assert trainer.batches.streams[0].position == trainer.cfg.n_critic * trainer.cfg.batch_size
        if trainer.cfg.weight_clip:
            assert all(p.abs().max() <= trainer.cfg.weight_clip for p in trainer.modules["discriminator"].parameters())


def test_the_algorithm_refuses_a_generator_without_a_mask(cli, data_dir, tmp_path):
    result = cli("train", "dcgan", "--set", "algorithm=vgan", "--data-dir", str(data_dir), "--steps", "1",
                 "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path / "runs"), "--quiet")
    one_line_refusal(result, "error: algorithm 'vgan' trains VGAN's two-stream generator")


# the frame classifier ---------------------------------------------------------------------------

def test_targets_and_frames_for_the_classifier():
    video = torch.arange(2 * 4, dtype=torch.uint8).view(2, 1, 4, 1, 1).expand(2, 1, 4, 2, 2).contiguous()
    frames, targets = vm.labelled_frames(video, torch.tensor([37, 44]), stride=2)
    assert frames.shape == (4, 1, 2, 2) and frames[:, 0, 0, 0].tolist() == [0, 2, 4, 6]
    assert targets.nonzero().tolist() == [[0, 3], [0, 7], [1, 3], [1, 7], [2, 4], [3, 4]]
    assert vm.set_accuracy(torch.tensor([[1.0, -1.0], [1.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])) == 0.5
    clips = torch.rand(2, 3, 4, 64, 64) * 2 - 1
    x = vm.to_frames(clips)
    assert x.shape == (8, 1, 32, 32)  # frame t of clip n is row 4 n + t: channels averaged, resized
    assert torch.allclose(x[5, 0], torch.nn.functional.interpolate(clips[1:2, :, 1].mean(1, keepdim=True), size=(32, 32),
                                                                   mode="bilinear", antialias=True)[0, 0])
    with pytest.raises(ConfigError, match=r"takes float clips \[N, C, T, H, W\]"):
        vm.to_frames(torch.zeros(2, 1, 32, 32))


def test_the_classifier_trains_caches_with_its_sha256_and_refuses_tampering(data_dir, monkeypatch):
    weights = vm.train_frame_classifier(data_dir, epochs=1, limit=16, min_accuracy=0.0)
    info = json.loads(weights.with_suffix(".json").read_text())
    assert weights.name == "moving-mnist-classifier.safetensors"
    assert info["sha256"] == sha256_file(weights) and info["train_frames"] == 16 * 16 // vm.FRAME_STRIDE
    assert info["test_frames"] == 16 * 16 and 0.0 <= info["test_accuracy"] <= 1.0
    monkeypatch.setattr(vm, "MIN_ACCURACY", info["test_accuracy"] + 0.01)  # the gate also guards the cache
    with pytest.raises(CheckpointError, match=r"test accuracy .* < .*%; delete .* to retrain it"):
        vm.read_cached()
    monkeypatch.setattr(vm, "MIN_ACCURACY", 0.0)
    extractor = vm.load_moving_mnist_classifier("cpu", data_dir)  # the cached one: no retraining
    assert extractor.kind == "video" and extractor.num_classes == 10 and extractor.sha256 == info["sha256"]
    clips = torch.rand(3, 1, 5, 32, 32) * 2 - 1
    assert extractor.features(clips).shape == (15, 128)  # one row per frame: a frame FID
    assert extractor.logits(clips).shape == (15, 10)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        vm.load_moving_mnist_classifier("cpu", data_dir)


def test_a_classifier_below_the_gate_is_not_cached(data_dir, monkeypatch):
    monkeypatch.setattr(vm, "fit_frame_classifier", lambda *a, **k: (vm.FrameClassifier(), {"test_accuracy": 0.7}))
    with pytest.raises(GanzooError, match=r"reached only 70.00% .* \(needs >= 75.00%\); not cached") as info:
        vm.train_frame_classifier(data_dir)
    assert "\n" not in str(info.value)
    assert not any(path.exists() for path in vm.classifier_paths())


# temporal consistency and motion -----------------------------------------------------------------

def test_temporal_consistency_worked_by_hand():
    logits = torch.full((5, 4, 10), -5.0)
    logits[:, :, [3, 7]] = 5.0          # every clip shows {3, 7}
    logits[1, 2, 7] = -5.0              # clip 1: the 7 hidden in frame 2 ({3}): still the clip's digits
    logits[2, :, :] = -5.0              # clip 2: nothing recognised in any frame: never consistent
    logits[3, 0, :] = -5.0              # clip 3: first frame blank, the other three {3, 7}
    logits[4, 3, 7] = -5.0              # clip 4: the 7 turns into an 8 in the last frame
    logits[4, 3, 8] = 5.0
    result = vm.temporal_consistency(logits)
    assert result == {"temporal_consistency": pytest.approx(0.4),
                      "frame_agreement": pytest.approx((1 + 1 + 0 + 0.75 + 0.75) / 5),
                      "recognised_frames": 15 / 20}
    # a digit seen in exactly half of the frames is not the clip's (a 3 -> 8 morph halfway)
    morph = torch.full((1, 4, 10), -5.0)
    morph[0, :2, 3] = 5.0
    morph[0, 2:, 8] = 5.0
    assert vm.temporal_consistency(morph)["frame_agreement"] == 0.0


class PixelReader(torch.nn.Module):
    """A stand-in classifier: the logits of a frame are its first 10 pixels (x 10)."""

    def features(self, frames):
        return frames.flatten(1)[:, :10] * 10

    def head(self, features):
        return features


def reader_extractor():
    return Extractor("reader", PixelReader(), sha256="0" * 64, feature_dim=10, resize="none", num_classes=10,
                     prepare=lambda clips: clips.transpose(1, 2).flatten(0, 1), kind="video")


def test_the_temporal_consistency_metric_on_hand_built_clips():
    clips = -torch.ones(3, 1, 4, 4, 4)       # [N, C, T, H, W]; row 0 of each frame holds "logits"
    clips[:, 0, :, 0, 1] = 1                 # digit 1 in every frame of every clip
    clips[0, 0, :, 0, 2] = 1                 # clip 0: {1, 2} throughout
    clips[1, 0, 3, 0, 1] = -1                # clip 1: digit 1 vanishes in the last frame: blank
    clips[2, 0, 0, 0, 3] = 1                 # clip 2: a 3 appears in the first frame only
    context = EvalContext("moving-mnist-32", ItemData({"video": torch.zeros(1, 1, 4, 4, 4, dtype=torch.uint8)}),
                          reader_extractor())
    result = vm.temporal_consistency_metric(clips, context)
    assert result == {"temporal_consistency": pytest.approx(1 / 3),
                      "frame_agreement": pytest.approx((1 + 0.75 + 0.75) / 3),
                      "recognised_frames": pytest.approx(11 / 12)}
    image_context = EvalContext("moving-mnist-32", context.real, None)
    with pytest.raises(ConfigError, match="temporal-consistency needs a video classifier extractor"):
        vm.temporal_consistency_metric(clips, image_context)
    with pytest.raises(ConfigError, match=r"scores video clips \[N, C, T, H, W\]"):
        vm.temporal_consistency_metric(clips[:, :, 0], context)


def test_motion_tells_smooth_motion_from_shuffled_and_still_frames():
    frames = 8
    bar = -torch.ones(1, 1, frames, 1, 16)
    for t in range(frames):
        bar[0, 0, t, 0, t:t + 4] = 1      # a 4-px bar moving one pixel a frame
    smooth = vm.motion_statistics(bar)
    # each step turns 2 pixels (of 16) by 2: 0.25; two steps apart 4 pixels: 0.5
    assert smooth == {"motion": pytest.approx(0.25), "motion_order": pytest.approx(2.0)}
    shuffled = vm.motion_statistics(bar[:, :, torch.tensor([0, 4, 1, 5, 2, 6, 3, 7])])
    assert shuffled["motion"] > smooth["motion"] and shuffled["motion_order"] < 1.2
    assert vm.motion_statistics(bar[:, :, :1].expand(-1, -1, frames, -1, -1)) == {"motion": 0.0, "motion_order": 1.0}
    # the metric: against as many real clips (uint8 -> [-1, 1]), at the generated frame size
    real = ((bar + 1) * 127.5).round().to(torch.uint8).repeat(2, 1, 1, 16, 1)  # [2, 1, 8, 16, 16]
    context = EvalContext("moving-mnist-32", ItemData({"video": real}), None)
    result = vm.motion_metric(bar.repeat(1, 1, 1, 16, 1), context)
    assert result == {"motion_gap": pytest.approx(0.0, abs=1e-6), "motion": pytest.approx(0.25),
                      "motion_order": pytest.approx(2.0), "motion_real": pytest.approx(0.25),
                      "motion_order_real": pytest.approx(2.0)}
    fake = bar.repeat(1, 1, 1, 16, 1)[:, :, :, ::2, ::2]  # 8x8 frames: the real ones are resized to them
    small = vm.motion_metric(fake, context)
    resized = vm.motion_statistics(VIDEO.prepare(real[:1], 0.5))
    assert small["motion_real"] == pytest.approx(resized["motion"])
    assert small["motion"] == pytest.approx(vm.motion_statistics(fake)["motion"])


# training, sampling, evaluation, resume ---------------------------------------------------------

def state_of(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, data_dir, tmp_path):
    out = tmp_path / "runs"
    assert cli("train", "vgan", *tiny_flags(out, data_dir, 3, "--run-name", "full")).exit_code == 0
    assert cli("train", "vgan", *tiny_flags(out, data_dir, 2, "--run-name", "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "3", "--quiet")
    assert result.exit_code == 0, result.output
    full, resumed = state_of(out / "full"), state_of(out / "part")
    assert sorted(full) == ["discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]
    assert_bitwise_equal(full, resumed)
    config = json.loads((out / "full" / "config.json").read_text())
    assert config["algorithm"] == "vgan:vgan" and config["dataset"] == "vgan:moving-mnist-32"
    samples = out / "full" / "samples"
    assert sorted(p.suffix for p in samples.glob("step-0000003.*")) == [".gif", ".png"]


def test_a_trained_model_samples_clips_and_is_evaluated(cli, data_dir, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    assert cli("train", "vgan", *tiny_flags(out, data_dir, 1, "--run-name", "s")).exit_code == 0
    handle = ganzoo.load(out / "s")
    clips = handle.sample(3, seed=0)
    assert clips.shape == (3, 1, 16, 16, 16) and handle.kind == "video"
    result = cli("sample", str(out / "s"), "-n", "4", "--out", str(tmp_path / "clips.gif"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clips.gif").read_bytes()[:6] == b"GIF89a"
    assert png_size(tmp_path / "clips.png")[0] > png_size(tmp_path / "clips.png")[1]  # a strip: rows of 16 frames
    # evaluation with the dataset's extractor (here an untrained frame classifier: the plumbing)
    torch.manual_seed(0)
    untrained = vm.as_extractor(vm.FrameClassifier().eval(), "0" * 64, {})
    monkeypatch.setattr(vm, "load_moving_mnist_classifier", lambda device="cpu", data_dir=None: untrained)
    result = cli("eval", str(out / "s"), "--metrics", "fid,temporal-consistency,video-motion", "-n", "8", "--json")
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)["metrics"]
    for key in ("fid", "temporal_consistency", "frame_agreement", "motion_gap", "motion_real"):
        assert math.isfinite(values[f"{key}[moving-mnist-classifier]"]), (key, values)


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_kit(manager):
    """About 20 s on an idle 2-core CPU: the default networks (32x32 x 16 frames) train and resume."""
    from ganzoo.testing import check_plugin

    report = check_plugin("vgan", manager=manager, losses=["bce"])
    assert report.ok, str(report)
