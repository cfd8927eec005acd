"""The training loop's contract, DCGAN's architecture and the in-memory data pipeline."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

import ganzoo
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, ImageData
from ganzoo.datasets.batches import InMemoryBatches
from ganzoo.kinds.image import to_model_range
from ganzoo.datasets import load_mnist
from ganzoo.errors import ConfigError, DataUnavailableError
from ganzoo.plugins.build import build_networks
from ganzoo.training.checkpoint import flatten_optimizer, unflatten_optimizer
from ganzoo.training.assemble import assemble
from ganzoo.training.context import TrainingContext
from ganzoo.training.loop import Trainer
from ganzoo_plugins.layers.dcgan import DCGANDiscriminator, DCGANGenerator, size_plan

from .conftest import make_digits

TINY_ARCH = {"ngf": 8, "ndf": 8, "latent_dim": 16}


def tiny_trainer(manager, tmp_path, n_critic: int = 1, seed: int = 0) -> TrainingContext:
    """A tiny DCGAN on 32 in-memory digits, assembled as ``ganzoo train`` assembles runs."""
    images, labels = make_digits(32)
    data = ImageData(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), 10)
    cfg = resolve_config(manager.registry, "dcgan", flags={
        "batch_size": 8, "n_critic": n_critic, "seed": seed, "arch": TINY_ARCH, "device": "cpu"})
    return assemble(cfg, manager.registry, data=data, device="cpu", run_dir=tmp_path)


def test_same_seed_same_weights(manager, data_dir):
    kwargs = dict(dataset="mnist", steps=4, batch_size=8, arch=TINY_ARCH, device="cpu",
                  data_dir=str(data_dir), progress=False)
    a = ganzoo.train("dcgan", run_name="a", **kwargs)
    b = ganzoo.train("dcgan", run_name="b", **kwargs)
    c = ganzoo.train("dcgan", run_name="c", seed=1, **kwargs)
    wa, wb, wc = (load_file(str(r.checkpoint / "generator.safetensors")) for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert a.step == 4 and [m["step"] for m in a.metrics()] == [4]


def test_discriminator_gets_no_gradient_from_the_generator_step(manager, tmp_path):
    trainer = tiny_trainer(manager, tmp_path)
    grads = []
    for p in trainer.modules["discriminator"].parameters():
        p.register_hook(lambda g: grads.append(1))
    trainer.train_step()
    # exactly one gradient per D parameter: the discriminator update. The generator
    # update backpropagates through D without computing gradients for D's weights.
    assert len(grads) == len(list(trainer.modules["discriminator"].parameters()))
    assert all(p.requires_grad for p in trainer.modules["discriminator"].parameters())


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_discriminator_steps_and_one_generator_pass_each(manager, tmp_path, n_critic):
    trainer = tiny_trainer(manager, tmp_path, n_critic=n_critic)
    forwards = []
    trainer.modules["generator"].register_forward_hook(lambda *a: forwards.append(1))
    trainer.train_step()
    trainer.train_step()
    d_steps = {int(s["step"]) for s in trainer.optimizers["d_optim"].state.values()}
    g_steps = {int(s["step"]) for s in trainer.optimizers["g_optim"].state.values()}
    assert d_steps == {2 * n_critic} and g_steps == {2}
    assert len(forwards) == 2 * n_critic  # the fake batch is generated once per D step and reused for G


def test_optimizer_state_round_trips_through_flat_tensors(manager, tmp_path):
    trainer = tiny_trainer(manager, tmp_path)
    for _ in range(2):
        trainer.train_step()
    tensors, meta = flatten_optimizer("g", trainer.optimizers["g_optim"])
    fresh = torch.optim.Adam(trainer.modules["generator"].parameters(), lr=1.0)
    fresh.load_state_dict(unflatten_optimizer("g", tensors, meta))
    original, restored = trainer.optimizers["g_optim"].state_dict(), fresh.state_dict()
    assert restored["param_groups"][0]["lr"] == 2e-4
    for index, state in original["state"].items():
        for key, value in state.items():
            assert torch.equal(value, restored["state"][index][key])


# --- DCGAN -----------------------------------------------------------------------

def test_dcgan_64x64_rgb_matches_the_classic_architecture():
    g = DCGANGenerator(100, 3, 64, 64)
    d = DCGANDiscriminator(3, 64, 64)
    # Parameter counts of the PyTorch DCGAN example's netG / netD (nz=100, ngf=ndf=64, nc=3).
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    assert any(isinstance(m, torch.nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.modules())
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in d.modules())  # logits out


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 1), (64, 3), (16, 1)])
def test_dcgan_adapts_to_size_and_channels(size, channels):
    g, d = DCGANGenerator(16, channels, size, 8), DCGANDiscriminator(channels, size, 8)
    images = g(torch.randn(4, 16))
    assert images.shape == (4, channels, size, size)
    assert images.abs().max() <= 1  # tanh
    assert d(images).shape == (4,)


def test_dcgan_refuses_sizes_it_cannot_build():
    assert size_plan(28) == (7, 2) and size_plan(64) == (4, 4)
    for size in (8, 36, 100):
        with pytest.raises(ConfigError, match="cannot make"):
            size_plan(size)


def test_dcgan_initialisation_follows_the_paper(manager):
    cfg = resolve_config(manager.registry, "dcgan", flags={"image_size": 64})
    nets = build_networks(manager.registry, cfg, DataShape(3, 64, None), torch.device("cpu"))
    conv = [m.weight for m in nets.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    weights = torch.cat([w.flatten() for w in conv])
    assert abs(weights.mean().item()) < 1e-3 and abs(weights.std().item() - 0.02) < 1e-3
    bn = [m for m in nets.discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(m.bias == 0) for m in bn)


# --- data ------------------------------------------------------------------------

def test_the_torchvision_reader_reads_our_idx_files(data_dir):
    data = load_mnist(data_dir, "train")
    images, labels = make_digits(64, seed=0)
    assert data.images.shape == (64, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert data.labels.tolist() == labels.tolist() and data.num_classes == 10
    assert len(load_mnist(data_dir, "test")) == 16


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    target = tmp_path / "cache" / "ganzoo" / "data"

    def no_network(self):
        (target / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        (target / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
        raise RuntimeError("no network")

    monkeypatch.setenv("GANZOO_OFFLINE", "0")  # "0" means online
    monkeypatch.setattr(MNIST, "download", no_network)
    with pytest.raises(DataUnavailableError, match="could not be downloaded"):
        load_mnist(target)
    assert not (tmp_path / "cache").exists()  # every folder the attempt created is gone


def test_gz_originals_are_unpacked_even_offline(data_dir, tmp_path):
    import gzip
    import hashlib

    from torchvision.datasets import MNIST

    raw = tmp_path / "gz" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    md5 = {}
    for name, _ in MNIST.resources:
        payload = gzip.compress((data_dir / "MNIST" / "raw" / name[:-3]).read_bytes())
        (raw / name).write_bytes(payload)
        md5[name] = hashlib.md5(payload).hexdigest()
    original = MNIST.resources
    MNIST.resources = [(name, md5[name]) for name, _ in original]  # our tiny files' checksums
    try:
        assert len(load_mnist(tmp_path / "gz")) == 64  # GANZOO_OFFLINE=1 is set by the fixture
    finally:
        MNIST.resources = original


def test_pixels_scale_to_minus_one_one_and_resize():
    images = torch.tensor([0, 255, 128], dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 4, 4)
    x = to_model_range(images)
    assert x[0].unique().item() == -1 and x[1].unique().item() == 1
    assert math.isclose(x[2, 0, 0, 0].item(), 128 / 127.5 - 1, abs_tol=1e-6)
    assert to_model_range(images, image_size=8).shape == (3, 1, 8, 8)


def test_batches_are_reproducible_and_resume_exactly():
    images, labels = make_digits(20)
    data = ImageData(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), 10)
    a = InMemoryBatches(data, 6, "cpu", seed=3)
    first = [a.next()[1] for _ in range(4)]  # 3 batches per epoch: crosses an epoch boundary
    assert a.epoch == 1
    b = InMemoryBatches(data, 6, "cpu", seed=3)
    assert all(torch.equal(x, b.next()[1]) for x in first)
    state = b.state_dict()
    ahead = [b.next()[1] for _ in range(3)]
    c = InMemoryBatches(data, 6, "cpu", seed=99)
    c.load_state_dict(state)
    assert all(torch.equal(x, c.next()[1]) for x in ahead)
    seen = torch.cat(first[:3])  # one epoch: 18 distinct images, the last 2 dropped
    assert len(set(seen.tolist())) <= 10 and len(seen) == 18


def test_progress_bar_on_a_terminal_and_plain_lines_elsewhere(manager, tmp_path):
    import io

    from rich.console import Console

    from ganzoo.training.progress import RichReporter, make_reporter

    terminal = io.StringIO()
    reporter = make_reporter(console=Console(file=terminal, force_terminal=True, width=120))
    assert isinstance(reporter, RichReporter)
    plain = io.StringIO()
    lines = make_reporter(console=Console(file=plain, force_terminal=False, width=120))
    assert not isinstance(lines, RichReporter)
    for name, rep in (("terminal", reporter), ("plain", lines)):
        rep.message("run directory: somewhere")  # before start(), as train() does
        context = tiny_trainer(manager, tmp_path)
        context.cfg = context.cfg.model_copy(update={"log_every": 2})
        (tmp_path / name).mkdir()
        Trainer(context, tmp_path / name, rep).fit(4)
    assert "run directory" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert "\x1b[" not in plain.getvalue()  # no control characters in CI logs
    assert [l for l in plain.getvalue().splitlines() if l.startswith("step ")][0].startswith("step 2/4 ")


def test_progress_bar_keeps_the_latest_evaluation_beside_the_losses():
    import io

    from rich.console import Console

    from ganzoo.training.progress import RichReporter

    reporter = RichReporter(Console(file=io.StringIO(), force_terminal=True, width=200))
    reporter.start(10, 0, "dcgan/bce/mnist")
    reporter.log({"step": 2, "d_loss": 1.0, "g_loss": 2.0, "images_per_sec": 100.0})
    reporter.log({"step": 2, "fid[mnist-classifier]": 12.5})
    reporter.log({"step": 4, "d_loss": 0.5, "g_loss": 1.5, "images_per_sec": 100.0})
    stats = reporter.progress.tasks[0].fields["stats"]
    reporter.close()
    assert "d_loss=0.5" in stats and "fid=12.5" in stats


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_with_float32_weights(manager, tmp_path, precision):
    trainer = tiny_trainer(manager, tmp_path)
    trainer.cfg = trainer.cfg.model_copy(update={"precision": precision})
    trainer.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    trainer.scalers["g_optim"] = torch.amp.GradScaler("cpu", enabled=precision == "fp16")
    trainer.scalers["d_optim"] = torch.amp.GradScaler("cpu", enabled=precision == "fp16")
    before = [p.detach().clone() for p in trainer.modules["generator"].parameters()]
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values())
    assert all(p.dtype == torch.float32 for p in trainer.modules["generator"].parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.modules["generator"].parameters()))


def test_channels_last_gives_the_same_training_up_to_rounding(manager, tmp_path):
    runs = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        trainer = tiny_trainer(manager, tmp_path / str(channels_last))
        if not channels_last:  # rebuild without the memory-format change
            trainer.channels_last = False
            trainer.modules["generator"].to(memory_format=torch.contiguous_format)
            trainer.modules["discriminator"].to(memory_format=torch.contiguous_format)
        torch.manual_seed(1)
        for _ in range(3):
            trainer.train_step()
        runs.append([p.detach().clone() for p in trainer.modules["generator"].parameters()])
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(*runs))


def test_unknown_precision_is_refused(manager):
    with pytest.raises(ConfigError, match="invalid config value for 'precision'"):
        resolve_config(manager.registry, "dcgan", sets=["precision=fp8"])


def test_bench_counts_flops_that_scale_with_the_batch(manager, cli):
    import json

    small = ["--device", "cpu", "--steps", "2", "--warmup", "1", "--set", "arch.ngf=8",
             "--set", "arch.ndf=8", "--set", "arch.latent_dim=8", "--json"]
    one = cli("bench", "dcgan", "--batch-size", "8", *small)
    assert one.exit_code == 0, one.output
    two = cli("bench", "dcgan", "--batch-size", "16", *small)
    r8, r16 = json.loads(one.stdout)[0], json.loads(two.stdout)[0]
    assert r16["flops_per_step"] == 2 * r8["flops_per_step"]  # every layer's work is per image
    assert r8["images_per_sec"] > 0 and r8["ms_per_step"]["p10"] <= r8["ms_per_step"]["p90"]
    assert r8["peak_memory_mb"] > 0 and 0 < r8["peak_fraction"] and r8["matmul_peak_flops_per_sec"] > 0
    assert r8["sample_shape"] == [1, 28, 28] and r8["memory_kind"] == "process RSS"
    refused = cli("bench", "dcgan", "--steps", "0")
    assert refused.exit_code == 2 and "--steps must be at least 1" in refused.stderr
