"""VQ-GAN first stage (Esser et al. 2021): the autoencoder's shapes, the quantisers (nearest
code, straight-through gradient, EMA update by hand), the adaptive weight and one step's losses
worked out by hand, disc_start, exact resume (EMA codebook included), reconstruction through
``ganzoo sample --input`` and the one-line refusals.

Data: the ``data_dir`` fixture's tiny MNIST files (64 train / 16 test), nothing real; the
perceptual term runs on an untrained classifier put in place of the cached one.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ganzoo
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, FieldShape
from ganzoo.errors import ConfigError
from ganzoo.training import checkpoint as ckpt
from ganzoo_plugins.vqgan.algorithm import ClassifierPerceptual, adaptive_weight
from ganzoo_plugins.vqgan.nets import NLayerDiscriminator, VectorQuantizer, VQAutoencoder, build
from ganzoo_plugins.vqgan import VQGANConfig, VQGANOptions

from ..conftest import assert_bitwise_equal, final_state

SMALL = ["--set", "arch.ngf=8", "--set", "arch.ndf=8", "--set", "arch.embed_dim=8", "--set", "arch.codebook_size=16"]
SMALL_SETS = ["arch.ngf=8", "arch.ndf=8", "arch.embed_dim=8", "arch.codebook_size=16"]


def image_shape(size: int, channels: int = 1) -> DataShape:
    return DataShape(channels=channels, image_size=size, fields={"image": FieldShape("image", (channels, size, size))})


def train_args(data_dir, out, steps: int, *extra: str) -> list[str]:
    return ["vqgan", "--data-dir", str(data_dir), "--steps", str(steps), "--batch-size", "8", *SMALL,
            "--device", "cpu", "--out", str(out), "--quiet", *extra]


# --------------------------------------------------------------------------- networks

@pytest.mark.parametrize("size, channels, n_down, grid", [(28, 1, 2, 7), (32, 3, 2, 8), (32, 1, 3, 4)])
def test_the_autoencoder_downsamples_to_a_grid_of_codes_and_reconstructs_in_range(size, channels, n_down, grid):
    torch.manual_seed(0)
    nets = build(VQGANConfig(ngf=8, ndf=8, embed_dim=8, codebook_size=16, n_down=n_down), image_shape(size, channels))
    G, D = nets.generator, nets.discriminator
    assert isinstance(G, VQAutoencoder) and isinstance(D, NLayerDiscriminator)
    assert (G.input_field, G.output_field, G.in_shape, G.out_shape) == ("image", "image", (channels, size, size),
                                                                        (channels, size, size))
    assert G.latent_shape == (grid, grid) and nets.export == ("generator",)
    x = torch.rand(3, channels, size, size) * 2 - 1
    z = G.encoder(x)
    assert z.shape == (3, 8, grid, grid)
    y, vq = G(x, return_vq=True)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert vq["indices"].shape == (3, grid, grid) and vq["indices"].max() < 16
    assert torch.equal(G.encode(x), vq["indices"])
    with torch.no_grad():
        assert torch.allclose(G.decode_indices(vq["indices"]), y, atol=1e-4)
    # the adaptive weight's layer: the decoder's output conv, just before tanh
    assert G.last_layer is G.decoder.net[-2].weight and G.last_layer.shape[0] == channels
    assert D(y).shape == (3, 1, *D.map_shape)


def test_the_codebook_is_a_parameter_straight_through_and_buffers_with_ema():
    st = VQAutoencoder((1, 28, 28), ngf=8, embed_dim=8, codebook_size=16)
    ema = VQAutoencoder((1, 28, 28), ngf=8, embed_dim=8, codebook_size=16, quantizer="ema")
    assert "quantizer.embedding" in dict(st.named_parameters())
    assert "quantizer.embedding" not in dict(ema.named_parameters())
    assert {"quantizer.embedding", "quantizer.cluster_size", "quantizer.embed_sum"} <= set(ema.state_dict())


# --------------------------------------------------------------------------- the quantisers

def test_straight_through_quantisation_picks_the_nearest_code_and_passes_the_gradient():
    torch.manual_seed(0)
    q = VectorQuantizer(4, 2, data_init="uniform")
    with torch.no_grad():
        q.embedding.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    z = torch.tensor([[0.9, 0.1], [0.1, 0.8], [-0.6, -0.7], [0.1, -0.1]]).t().reshape(1, 2, 2, 2)
    z = z.clone().requires_grad_(True)
    z_q, out = q(z)
    assert out["indices"].flatten().tolist() == [1, 2, 3, 0]
    assert torch.allclose(z_q, q.embedding[out["indices"]].permute(0, 3, 1, 2))
    expected = (z.detach() - z_q.detach()).square().mean()
    assert out["commitment"].item() == pytest.approx(expected.item()) and \
        out["codebook"].item() == pytest.approx(expected.item())
    assert out["usage"].item() == 4 and out["perplexity"].item() == pytest.approx(4.0)
    # straight through: d z_q / d z is the identity
    (grad,) = torch.autograd.grad(z_q.sum(), z)
    assert torch.equal(grad, torch.ones_like(z))
    # the codebook loss moves the codes, the commitment loss the encoder output
    out["codebook"].backward()
    assert q.embedding.grad is not None and q.embedding.grad.abs().sum() > 0


def test_the_ema_update_is_the_papers_with_laplace_smoothed_counts():
    torch.manual_seed(0)
    q = VectorQuantizer(3, 2, "ema", decay=0.9, epsilon=0.1, data_init="uniform")
    with torch.no_grad():
        q.embedding.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]))
        q.embed_sum.copy_(q.embedding)
    z = torch.tensor([[0.1, 0.0], [0.9, 1.2], [1.1, 0.8], [0.0, -0.2]]).t().reshape(1, 2, 1, 4)
    before = q.embedding.clone()
    z_q, out = q(z)
    assert out["indices"].flatten().tolist() == [0, 1, 1, 0]
    assert torch.allclose(z_q, before[out["indices"]].permute(0, 3, 1, 2))  # the codes before the update
    assert out["codebook"].item() == 0.0
    counts = torch.tensor([2.0, 2.0, 0.0])
    sums = torch.tensor([[0.1, -0.2], [2.0, 2.0], [0.0, 0.0]])
    cluster = 0.9 * torch.ones(3) + 0.1 * counts
    embed_sum = 0.9 * before + 0.1 * sums
    total = cluster.sum()
    smoothed = (cluster + 0.1) / (total + 3 * 0.1) * total
    assert torch.allclose(q.cluster_size, cluster) and torch.allclose(q.embed_sum, embed_sum)
    assert torch.allclose(q.embedding, embed_sum / smoothed[:, None])
    # eval mode and no_grad leave the codebook alone
    state = {k: v.clone() for k, v in q.state_dict().items()}
    q.eval()
    q(z)
    q.train()
    with torch.no_grad():
        q(z)
    assert all(torch.equal(v, q.state_dict()[k]) for k, v in state.items())


def test_the_codes_start_at_the_first_training_batchs_encoder_outputs():
    z = torch.arange(16.0).reshape(2, 8).t().reshape(1, 2, 2, 4)  # 8 vectors (2k, 2k + 1)... by position
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    for kind in ("straight-through", "ema"):
        q = VectorQuantizer(4, 2, kind)
        assert q.initialised.item() == 0
        q.eval()
        q(z)  # not in training: nothing happens
        assert q.initialised.item() == 0
        q.train()
        q(z)
        assert q.initialised.item() == 1
        if kind == "ema":  # and one EMA update on top of it
            assert torch.allclose(q.embed_sum, 0.99 * flat[[0, 2, 5, 7]] + 0.01 * (
                F.one_hot(q.codes(z).flatten(), 4).float().t() @ flat))
        else:
            assert torch.equal(q.embedding.detach(), flat[[0, 2, 5, 7]])  # evenly spaced: 0, 2.33, 4.67, 7
            q(z * 10)  # only once
            assert torch.equal(q.embedding.detach(), flat[[0, 2, 5, 7]])
    few = VectorQuantizer(4, 2)
    few(z[..., :1])  # 2 vectors for 4 codes: reused, scaled apart
    assert torch.allclose(few.embedding.detach(), torch.stack([flat[0], flat[4], 1.01 * flat[0], 1.01 * flat[4]]))
    assert VectorQuantizer(4, 2, data_init="uniform").initialised.item() == 1


def test_a_codebook_of_one_code_is_refused():
    with pytest.raises(ConfigError, match="at least 2 codes"):
        VectorQuantizer(1, 4)


# --------------------------------------------------------------------------- the adaptive weight

def test_the_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_layer():
    w = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    x = torch.tensor([0.5, -1.0])
    rec = (w @ x).square().sum()
    gan = -(w @ x).sum() * 0.1
    rec_grad, gan_grad = 2 * torch.outer(w.detach() @ x, x), -0.1 * torch.outer(torch.ones(2), x)
    expected = rec_grad.norm() / (gan_grad.norm() + 1e-4)
    weight = adaptive_weight(rec, gan, w, 0.8)
    assert weight.item() == pytest.approx(0.8 * expected.item(), rel=1e-6) and not weight.requires_grad
    # clamped to [0, 1e4]: a vanishing GAN gradient does not blow it up
    assert adaptive_weight(rec, gan * 0, w, 1.0).item() == 1e4


# --------------------------------------------------------------------------- one step by hand

def _trainer(registry, data_dir, tmp_path, sets=(), loss=None):
    from ganzoo.plugins.build import load_dataset
    from ganzoo.data import shape_of
    from ganzoo.training.assemble import assemble

    cfg = resolve_config(registry, "vqgan", loss=loss, sets=[*SMALL_SETS, *sets],
                         flags={"batch_size": 8, "device": "cpu", "steps": 3, "data_dir": str(data_dir)})
    data = load_dataset(registry, cfg.dataset, cfg.data_dir)
    torch.manual_seed(0)
    nets = build(VQGANConfig.model_validate(cfg.arch), shape_of(data))
    trainer = assemble(cfg, registry, data=data, nets=nets, device="cpu", run_dir=tmp_path)
    trainer.algorithm.setup(trainer)
    return trainer, nets


def test_the_losses_of_one_step_are_the_papers(manager, data_dir, tmp_path):
    """g_loss = L1 + (beta commitment + codebook) + lambda * (-mean D(x_hat)) with D before its
    update and lambda = 0.8 ||grad L1|| / (||grad L_GAN|| + 1e-4) at the decoder's last layer;
    d_loss = 0.5 (mean relu(1 - D(x)) + mean relu(1 + D(x_hat))), D before its update."""
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, sets=["algo.disc_start=0"])
    G_before, D_before = copy.deepcopy(nets.generator), copy.deepcopy(nets.discriminator)
    data_state = trainer.batches.state_dict()
    stats = trainer.train_step()
    trainer.batches.load_state_dict(data_state)
    x = trainer.batches.next_batch()["image"]
    x_hat, vq = G_before(x, return_vq=True)
    l1 = (x_hat - x).abs().mean()
    q_loss = 0.25 * vq["commitment"] + vq["codebook"]
    g_adv = -D_before(x_hat).mean()  # D's batch norm in training mode, as in the step
    rec_grad, = torch.autograd.grad(l1, G_before.last_layer, retain_graph=True)
    gan_grad, = torch.autograd.grad(g_adv, G_before.last_layer, retain_graph=True)
    weight = 0.8 * rec_grad.norm() / (gan_grad.norm() + 1e-4)
    with torch.no_grad():
        d_expected = 0.5 * (F.relu(1 - D_before(x)).mean() + F.relu(1 + D_before(x_hat)).mean())
    assert stats["rec_l1"].item() == pytest.approx(l1.item(), rel=1e-5)
    assert stats["q_loss"].item() == pytest.approx(q_loss.item(), rel=1e-5)
    assert stats["g_adv"].item() == pytest.approx(g_adv.item(), rel=1e-4)
    assert stats["adaptive_weight"].item() == pytest.approx(weight.item(), rel=1e-4)
    assert stats["g_loss"].item() == pytest.approx((l1 + q_loss + weight * g_adv).item(), rel=1e-4)
    assert stats["d_loss"].item() == pytest.approx(d_expected.item(), rel=1e-5)
    counts = torch.bincount(vq["indices"].flatten(), minlength=16).float()
    p = counts / counts.sum()
    assert stats["codebook_usage"].item() == (counts > 0).sum().item()
    assert stats["perplexity"].item() == pytest.approx(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()).item(), rel=1e-5)
    assert {"d_grad_norm", "g_grad_norm", "D(x)"} <= set(stats)


def test_before_disc_start_the_discriminator_is_left_alone(manager, data_dir, tmp_path):
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, sets=["algo.disc_start=2"])
    d_before = {k: v.clone() for k, v in nets.discriminator.state_dict().items()}
    g_before = [p.clone() for p in nets.generator.parameters()]
    for _ in range(2):
        stats = trainer.train_step()
    assert all(torch.equal(v, nets.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, nets.generator.parameters()))
    assert stats["d_loss"].item() == 0.0 and "g_adv" not in stats and "adaptive_weight" not in stats
    assert stats["g_loss"].item() == pytest.approx(stats["rec_l1"].item() + stats["q_loss"].item(), rel=1e-6)
    stats = trainer.train_step()  # step 2: the GAN is on
    assert "adaptive_weight" in stats and stats["d_loss"].item() > 0
    assert any(not torch.equal(v, nets.discriminator.state_dict()[k]) for k, v in d_before.items())


def test_the_ema_quantiser_trains_without_a_codebook_loss(manager, data_dir, tmp_path):
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, sets=["arch.quantizer=ema", "algo.disc_start=0"])
    book = nets.generator.quantizer.embedding.clone()
    stats = trainer.train_step()
    assert stats["q_loss"].item() == pytest.approx(0.25 * stats["commitment"].item(), rel=1e-6)
    assert not torch.equal(book, nets.generator.quantizer.embedding)


@pytest.mark.parametrize("loss", ["wgan-gp", "rgan", "bce"])
def test_other_losses_train(manager, data_dir, tmp_path, loss):
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, loss=loss, sets=["algo.disc_start=0"])
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(v.item()) for v in stats.values()), stats
    if loss == "wgan-gp":
        assert stats["penalty"] > 0 and trainer.cfg.arch["d_norm"] == "layer"


def test_the_perceptual_term_goes_through_the_classifier(manager, data_dir, tmp_path, monkeypatch):
    """With perceptual_weight > 0 the algorithm loads the MNIST classifier (here an untrained one
    put in its place: the real one needs real MNIST) and adds the weighted feature distance."""
    from ganzoo.metrics import extractors

    def untrained(device="cpu", data_dir=None):
        torch.manual_seed(1)
        return extractors.Extractor("mnist-classifier", extractors.SmallCNN(), sha256="0" * 64,
                                    feature_dim=128, resize="", prepare=extractors.to_classifier_input,
                                    num_classes=10, device=device)

    monkeypatch.setattr(extractors, "load_mnist_classifier", untrained)
    perceptual = ClassifierPerceptual(untrained())
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    y = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1).requires_grad_(True)
    assert torch.allclose(perceptual(x, x), torch.zeros(4), atol=1e-6)
    distance = perceptual(y, x)
    assert distance.shape == (4,) and (distance > 0).all()
    distance.sum().backward()
    assert y.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in perceptual.network.parameters())
    trainer, nets = _trainer(manager.registry, data_dir, tmp_path, sets=["algo.perceptual_weight=2",
                                                                          "algo.disc_start=5"])
    stats = trainer.train_step()
    assert stats["perceptual"].item() > 0
    assert stats["g_loss"].item() == pytest.approx(
        stats["rec_l1"].item() + 2 * stats["perceptual"].item() + stats["q_loss"].item(), rel=1e-5)


# --------------------------------------------------------------------------- options, the CLI

def test_defaults_are_the_papers_scaled_to_mnist(manager):
    cfg = resolve_config(manager.registry, "vqgan")
    assert cfg.loss == "core:hinge" and cfg.dataset == "core:mnist" and cfg.algorithm == "vqgan:vqgan"
    # with its own loss (hinge) the model's Adam (0.5, 0.9) wins over the hinge's (0, 0.9)
    assert (cfg.g_optim.lr, cfg.g_optim.betas, cfg.d_optim.betas) == (2e-4, (0.5, 0.9), (0.5, 0.9))
    # with another loss, that loss's optimizer wins
    bce = resolve_config(manager.registry, "vqgan", loss="bce")
    assert (bce.g_optim.lr, bce.g_optim.betas) == (2e-4, (0.5, 0.999))
    assert cfg.batch_size == 16
    assert cfg.algo == {"beta": 0.25, "codebook_weight": 1.0, "l1_weight": 1.0, "perceptual_weight": 0.0,
                        "disc_weight": 0.8, "disc_start": 100, "adaptive_weight": True}
    assert cfg.arch["quantizer"] == "straight-through" and cfg.arch["ema_decay"] == 0.99
    spec = manager.registry.get("model", "vqgan").spec
    assert (spec.task, spec.default_dataset, spec.algorithm) == ("autoencoder", "mnist", "vqgan:vqgan")
    assert VQGANOptions().beta == 0.25


@pytest.mark.parametrize("args, message", [
    (["--image-size", "30"], "image size 30x30 is not divisible by the encoder's downsampling factor 4"),
    (["--set", "arch.codebook_size=1"], "arch.codebook_size"),
    (["--dataset", "toy-ring"], "vqgan"),
])
def test_bad_input_gets_one_line_and_a_non_zero_exit(cli, data_dir, tmp_path, args, message):
    result = cli("train", *train_args(data_dir, tmp_path / "runs", 1), *args)
    assert result.exit_code != 0
    text = result.stderr.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in result.output, result.output
    assert message in text, text
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_interrupted_and_resumed_runs_equal_the_uninterrupted_ones(cli, data_dir, tmp_path):
    """Both quantisers, the GAN switched on at the resumed step (disc_start=2): every saved tensor,
    the EMA codebook's buffers included, is bit for bit the same."""
    for quantizer in ("ema", "straight-through"):
        out = tmp_path / quantizer
        extra = ("--set", f"arch.quantizer={quantizer}", "--set", "algo.disc_start=2")
        assert cli("train", *train_args(data_dir, out, 4, "--run-name", "full", *extra)).exit_code == 0
        assert cli("train", *train_args(data_dir, out, 2, "--run-name", "part", *extra)).exit_code == 0
        result = cli("train", "--resume", str(out / "part"), "--steps", "4", "--quiet")
        assert result.exit_code == 0, result.output
        full, part = ckpt.resolve_checkpoint(out / "full"), ckpt.resolve_checkpoint(out / "part")
        assert full.name == part.name == "step-0000004"
        assert_bitwise_equal(final_state(out / "full"), final_state(out / "part"))
        if quantizer == "ema":
            assert "quantizer.cluster_size" in load_file(str(full / "generator.safetensors"))
        records = [json.loads(line) for line in (out / "full" / "metrics.jsonl").read_text().splitlines()]
        assert records[-1]["adaptive_weight"] > 0 and records[-1]["codebook_usage"] >= 1


def test_sample_reconstructs_a_users_folder_and_the_preview_shows_input_and_reconstruction(cli, data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "runs"
    result = cli("train", *train_args(data_dir, out, 2, "--run-name", "s", "--set", "sample_grid=8"))
    assert result.exit_code == 0, result.output
    preview = Image.open(out / "s" / "samples" / "step-0000002.png")
    assert preview.size == (8 * 30 + 2, 2 * 30 + 2)  # input | reconstruction, the input not repeated
    handle = ganzoo.load(out / "s")
    assert list(handle.translators) == ["generator"]
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28), 80 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    png = cli("sample", str(out / "s"), "--input", str(folder), "--out", str(tmp_path / "rec.png"))
    assert png.exit_code == 0, png.output
    assert Image.open(tmp_path / "rec.png").size == (8 * 30 + 2, 2 * 30 + 2)
    raw = cli("sample", str(out / "s"), "--input", str(folder), "--format", "npz", "--out", str(tmp_path / "r.npz"))
    assert raw.exit_code == 0, raw.output
    with np.load(tmp_path / "r.npz") as archive:
        assert archive["images"].shape == (3, 28, 28, 1) and archive["inputs"].shape == (3, 28, 28, 1)
    x = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    assert torch.equal(handle.translate(x), handle.translate(x))  # eval: the codebook is not updated
