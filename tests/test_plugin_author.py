"""What a third-party plugin author of a CoGAN hit: ``ganzoo sample --net`` ignored for
generators, no way to see an algorithm's own picture outside training (``--preview``), layers
shared by two generators stepped twice, ``t.latent()`` tied to the name ``generator``, and
brackets vanishing from the text a plugin supplies.

``twins`` is a small plugin of the kind the author wrote: two generators (``g_a`` makes black
images, ``g_b`` white ones, whatever the latent), one discriminator, its own algorithm and
dataset, registered in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import BaseModel, Field
from torch import nn

from ganzoo import hookimpl
from ganzoo.algorithms import Algorithm
from ganzoo.data import ImageData
from ganzoo.errors import EXIT_USAGE
from ganzoo.losses import generator_term
from ganzoo.networks import Generator, Networks
from ganzoo.specs import AlgorithmSpec, DatasetSpec, LossSpec, ModelSpec

SIZE = 8
LATENT = 4


class Constant(Generator):
    """Images of one value everywhere (-1: black, +1: white), whatever the latent."""

    def __init__(self, value: float) -> None:
        super().__init__(LATENT, (1, SIZE, SIZE))
        self.value = value
        self.gain = nn.Parameter(torch.zeros(()))  # something for the optimizer to hold

    def forward(self, z, labels=None):
        return torch.full((len(z), *self.out_shape), self.value, device=z.device) + 0 * self.gain


class Critic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(SIZE * SIZE, 1)

    def forward(self, x):
        return self.net(x.flatten(1))


def build(arch, data):
    return Networks(modules={"g_a": Constant(-1.0), "g_b": Constant(1.0), "discriminator": Critic()},
                    optimizers={"g_optim": ("g_a", "g_b"), "d_optim": ("discriminator",)})


class TwinsOptions(BaseModel):
    weight_b: float = Field(1.0, ge=0, description="weight of g_b's term in E[T(x)] - E[exp(T(G(z)) - 1)]")


class Twins(Algorithm):
    """D tells real images from both generators' samples; both generators try to fool it."""

    def step(self, t):
        x = t.batch()["image"]
        z = torch.randn(len(x), LATENT, device=x.device)
        critic = t.net("discriminator")
        fakes = [t.net("g_a")(z), t.net("g_b")(z)]
        real_logits = critic(x).float()
        d_loss = sum(t.loss.d_loss(real_logits, critic(f.detach()).float()) for f in fakes)
        t.update(d_loss, "d_optim")
        with t.frozen("discriminator"):
            g_loss = sum(generator_term(t.loss, critic(f).float(), real_logits.detach()) for f in fakes)
            t.update(g_loss, "g_optim")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def preview(self, t):
        """The pairs: g_a's samples over g_b's for the same latents (a row of each)."""
        z = torch.randn(4, LATENT, generator=torch.Generator().manual_seed(0))
        with t.evaluating("g_a", "g_b"):
            return torch.cat([t.sampling_modules["g_a"](z), t.sampling_modules["g_b"](z)]), 4


def blobs(data_dir, split="train", image_size=None):
    return ImageData(torch.randint(0, 256, (32 if split == "train" else 8, 1, SIZE, SIZE), dtype=torch.uint8))


SUMMARY = "f-GAN, KL: E[T(x)] - E[exp(T(G(z)) - 1)]"
PAPER = "Nowozin et al. 2016 [arXiv:1606.00709]"


class TwinsPlugin:
    @hookimpl
    def ganzoo_models(self):
        yield ModelSpec(name="twins", summary=SUMMARY, paper=PAPER, build=build, algorithm="twins:twins",
                        default_dataset="twins:blobs", default_loss="bce")

    @hookimpl
    def ganzoo_algorithms(self):
        yield AlgorithmSpec(name="twins", summary="[both] generators against one critic", step=Twins,
                            config_class=TwinsOptions, modules=("g_a", "g_b", "discriminator"))

    @hookimpl
    def ganzoo_datasets(self):
        yield DatasetSpec(name="blobs", summary="random [8x8] images", load=blobs, channels=1, image_size=SIZE)

    @hookimpl
    def ganzoo_losses(self):
        yield LossSpec(name="fgan-kl", summary=SUMMARY, paper=PAPER, factory="ganzoo.losses:BCELoss")


@pytest.fixture
def twins(manager, cli, tmp_path) -> Path:
    """The plugin registered, and a run of it trained for 2 steps."""
    manager.register(TwinsPlugin(), name="twins")
    result = cli("train", "twins", "--steps", "2", "--batch-size", "4", "--device", "cpu", "-q", "--run-name", "t")
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "t"


# --------------------------------------------------------------------------- --net picks any exported module

def sampled(cli, run: Path, out: Path, *args: str) -> np.ndarray:
    result = cli("sample", str(run), "-n", "4", "--format", "npz", "--out", str(out), *args)
    assert result.exit_code == 0, result.output
    with np.load(out) as archive:
        return archive["images"]


def test_net_picks_the_generator_that_samples(cli, twins, tmp_path):
    assert (sampled(cli, twins, tmp_path / "a.npz") == 0).all()  # the first generator by default: g_a, black
    assert (sampled(cli, twins, tmp_path / "b.npz", "--net", "g_b") == 255).all()  # g_b: white
    assert (sampled(cli, twins, tmp_path / "a2.npz", "--net", "g_a") == 0).all()
    grid = cli("sample", str(twins), "-n", "4", "--net", "g_b", "--out", str(tmp_path / "b.png"))
    assert grid.exit_code == 0, grid.output
    from PIL import Image

    with Image.open(tmp_path / "b.png") as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.max() == 255 and (pixels[2:2 + SIZE, 2:2 + SIZE] == 255).all()  # the first tile is white


@pytest.mark.parametrize("net", ["nosuch", "discriminator"])
def test_an_unknown_net_is_refused_naming_the_exported_modules(cli, twins, tmp_path, net):
    result = cli("sample", str(twins), "--net", net, "--out", str(tmp_path / "x.png"))
    assert result.exit_code == EXIT_USAGE, result.output
    lines = result.stderr.splitlines()
    assert lines == [f"error: no generator {net!r}; this model has g_a, g_b"]
    assert not (tmp_path / "x.png").exists()


def test_preview_writes_the_algorithms_own_picture_as_training_did(cli, twins, tmp_path):
    result = cli("sample", str(twins), "--preview", "--out", str(tmp_path / "pairs.png"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote the training preview of step 2: {tmp_path / 'pairs.png'}"
    assert (tmp_path / "pairs.png").read_bytes() == (twins / "samples" / "step-0000002.png").read_bytes()
    from PIL import Image

    with Image.open(tmp_path / "pairs.png") as image:
        pixels = np.asarray(image.convert("L"))
    first, second = pixels[2:2 + SIZE, 2:2 + SIZE], pixels[4 + SIZE:4 + 2 * SIZE, 2:2 + SIZE]
    assert (first == 0).all() and (second == 255).all()  # g_a's black row over g_b's white one


def test_preview_refuses_the_options_of_sampling(cli, twins, tmp_path):
    result = cli("sample", str(twins), "--preview", "-n", "8", "--net", "g_b", "--out", str(tmp_path / "p.png"))
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stderr.splitlines() == ["error: --preview writes the run's own preview (its fixed latents and "
                                          "examples); drop -n, --net"]
    assert not (tmp_path / "p.png").exists()


def test_net_in_python(manager, twins):
    import ganzoo

    handle = ganzoo.load(twins)
    assert (handle.with_net("g_b").sample(2, seed=0) == 1).all()
    assert (handle.sample(2, seed=0) == -1).all()  # the handle itself is unchanged
    from ganzoo.errors import ConfigError

    with pytest.raises(ConfigError, match="no generator 'g_c'; this model has g_a, g_b"):
        handle.with_net("g_c")


# --------------------------------------------------------------------------- a plugin's text is printed literally

class Failing:
    """A plugin whose model's build fails with a message that holds brackets."""

    @hookimpl
    def ganzoo_models(self):
        def build(arch, data):
            raise ValueError("needs [even] sizes, got E[x]")

        yield ModelSpec(name="odd", summary="fails [on purpose]", build=build)


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps nothing


def test_list_and_info_print_a_plugins_text_literally(cli, manager, wide):
    """Summaries, papers and option descriptions went through rich markup: 'E[T(x)] - E' was left."""
    manager.register(TwinsPlugin(), name="twins")
    listing = cli("list")
    assert listing.exit_code == 0, listing.output
    for text in (SUMMARY, "[both] generators against one critic", "random [8x8] images"):
        assert text in listing.stdout
    assert SUMMARY in cli("list", "models", "twins").stdout
    info = cli("info", "twins")
    assert info.exit_code == 0, info.output
    assert SUMMARY in info.stdout and PAPER in info.stdout
    assert "weight of g_b's term in E[T(x)] - E[exp(T(G(z)) - 1)]" in info.stdout
    assert SUMMARY in cli("info", "fgan-kl").stdout and "random [8x8] images" in cli("info", "blobs").stdout
    assert json.loads(cli("info", "twins", "--json").stdout)["summary"] == SUMMARY  # JSON was always literal


def test_plugins_and_plugin_check_print_a_plugins_text_literally(cli, manager, wide):
    manager.register(Failing(), name="odd[plugin]")
    plugins = cli("plugins")
    assert plugins.exit_code == 0 and "odd[plugin]" in plugins.stdout
    check = cli("plugin", "check", "odd[plugin]")
    assert "needs [even] sizes, got E[x]" in check.stdout and "plugin odd[plugin]" in check.stdout
    assert check.stderr.startswith("error: ") and "odd[plugin]" in check.stderr


def test_training_output_prints_text_literally(cli, manager, tmp_path, wide):
    """Progress lines hold paths, plugin names and metric keys such as fid[mnist-classifier]."""
    manager.register(TwinsPlugin(), name="twins")
    result = cli("train", "twins", "--steps", "2", "--batch-size", "4", "--device", "cpu", "--run-name", "[x]",
                 "--set", "log_every=1")
    assert result.exit_code == 0, result.output
    assert f"run directory: {Path('runs') / '[x]'}" in result.stderr.splitlines()  # the progress line


# --------------------------------------------------------------------------- layers shared between modules

class Head(Generator):
    """One domain's generator of a CoGAN: a trunk it may share with another, then its own layer."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__(LATENT, (1, SIZE, SIZE))
        self.trunk, self.out = trunk, nn.Linear(16, SIZE * SIZE)

    def forward(self, z, labels=None):
        return torch.tanh(self.out(torch.relu(self.trunk(z)))).view(-1, *self.out_shape)


def cogan(groups):
    """Two generators sharing their first layer; ``groups`` places them in optimizer groups."""

    def build(arch, data):
        trunk = nn.Linear(LATENT, 16)
        return Networks(modules={"g_a": Head(trunk), "g_b": Head(trunk), "discriminator": Critic()},
                        optimizers={**groups, "d_optim": ("discriminator",)})

    return build


class CoGANPlugin:
    @hookimpl
    def ganzoo_models(self):
        common = dict(algorithm="twins:twins", default_dataset="twins:blobs", default_loss="bce")
        yield ModelSpec(name="cogan", summary="shared trunk, one group", build=cogan({"g_optim": ("g_a", "g_b")}),
                        **common)
        yield ModelSpec(name="split-cogan", summary="shared trunk, two groups",
                        build=cogan({"g_optim": ("g_a",), "h_optim": ("g_b",)}),
                        defaults={"h_optim": {"lr": 2e-4}}, **common)


def test_parameters_shared_by_two_modules_of_a_group_are_stepped_once_per_update(manager, twins):
    """Listing both generators in one group (the plain PyTorch way) stepped the shared trunk twice
    per update: Adam's step counter reached 6 after 3 steps."""
    from ganzoo.config import resolve_config
    from ganzoo.training.assemble import assemble

    manager.register(CoGANPlugin(), name="cogan")
    cfg = resolve_config(manager.registry, "cogan", flags={"steps": 3, "batch_size": 4, "device": "cpu"})
    t = assemble(cfg, manager.registry, device="cpu", run_dir=twins.parent / "cogan")
    trunk = t.nets.modules["g_a"].trunk
    assert t.nets.modules["g_b"].trunk is trunk
    before = trunk.weight.detach().clone()
    for _ in range(3):
        t.train_step()
    optimizer = t.optimizers["g_optim"]
    counters = {int(state["step"]) for state in optimizer.state.values()}
    assert counters == {3}, counters
    assert len(optimizer.param_groups[0]["params"]) == 2 + 2 + 2  # the trunk's weight and bias once, two heads
    assert not torch.equal(trunk.weight, before)


def test_parameters_shared_by_two_optimizer_groups_are_refused_in_one_line(cli, manager, tmp_path):
    manager.register(TwinsPlugin(), name="twins")
    manager.register(CoGANPlugin(), name="cogan")
    result = cli("train", "split-cogan", "--steps", "2", "--batch-size", "4", "--device", "cpu", "-q",
                 "--run-name", "s")
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stderr.splitlines() == [
        "error: model 'split-cogan': module g_b shares parameters with a module of optimizer group g_optim, so "
        "h_optim and g_optim would both step them; put the modules that share layers in one group, or give "
        "the shared layers a group of their own"]
    assert not (tmp_path / "runs" / "s").exists()


# --------------------------------------------------------------------------- latent() with any generator's name

class Prior(Algorithm):
    """Steps nothing; records what ``t.latent`` gives for the names it is asked about."""

    seen: dict = {}

    def step(self, t):
        for net in ("g_b", "discriminator", "nosuch"):
            try:
                Prior.seen[net] = tuple(t.latent(net=net).shape)
            except ValueError as exc:
                Prior.seen[net] = str(exc)
        Prior.seen[None] = tuple(t.latent().shape)  # the first exported generator: g_a
        Prior.seen[7] = tuple(t.latent(7).shape)
        return {}


def test_latent_works_for_any_generator_name_or_says_what_it_needs(manager, twins):
    from ganzoo.config import resolve_config
    from ganzoo.training.assemble import assemble

    class PriorPlugin:
        @hookimpl
        def ganzoo_algorithms(self):
            yield AlgorithmSpec(name="prior", summary="records latents", step=Prior, modules=("g_a", "g_b"))

    manager.register(PriorPlugin(), name="prior")
    cfg = resolve_config(manager.registry, "twins", sets=["algorithm=prior:prior"],
                         flags={"steps": 1, "batch_size": 4, "device": "cpu"})
    assemble(cfg, manager.registry, device="cpu", run_dir=twins.parent / "prior").train_step()
    assert Prior.seen[None] == Prior.seen["g_b"] == (4, LATENT) and Prior.seen[7] == (4, 7)
    assert Prior.seen["discriminator"] == ("latent() samples the prior of a ganzoo Generator; 'discriminator' "
                                           "is not one; name one with net= (g_a, g_b)")
    assert Prior.seen["nosuch"].startswith("latent() samples the prior of a ganzoo Generator; 'nosuch' is not one")


def test_the_live_progress_bar_prints_text_literally():
    """The bar's title (the run's name) and its stats (a plugin's metric keys) held markup."""
    import io

    from ganzoo.training.progress import RichReporter, plain_stderr

    console = plain_stderr()
    console.file, console._force_terminal = io.StringIO(), True
    reporter = RichReporter(console)
    reporter.start(4, 0, "twins [x] on blobs")
    reporter.log({"step": 2, "d_loss": 1.5, "g_loss": 0.5})
    reporter.log({"step": 2, "score[b]": 0.25})
    reporter.close()
    shown = console.file.getvalue()
    assert "twins [x] on blobs" in shown and "score=0.25" in shown
