"""CycleGAN (Zhu et al. 2017): ResNet generators, PatchGAN discriminators, the image pool
and the training algorithm.

The networks follow the paper's appendix and its official code (junyanz/pytorch-CycleGAN-
and-pix2pix), scaled to the data:

* generator ``c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-C`` with reflection
  padding, instance norm (no affine parameters, no running statistics, as the official code)
  and tanh. ``n_blocks`` defaults by image size: 9 from 256 px, 6 from 128 px (the paper's),
  3 below (28 px MNIST: the bottleneck is 7x7).
* PatchGAN discriminator ``C(ndf) [no norm] - C(2ndf) - ... - C(ndf 2^d_layers) [stride 1] -
  conv to 1 [stride 1]``, 4x4 convolutions, LeakyReLU 0.2. ``d_layers=3`` is the paper's 70x70
  PatchGAN (C64-C128-C256-C512); the default ``d_layers=2`` (C64-C128-C256) has a 34x34
  receptive field and, at 28 px, a 5x5 map of patch logits.

The algorithm (:class:`CycleGAN`) makes one generator update (adversarial terms of both
directions, cycle-consistency L1 both ways, identity L1) and then ``n_critic`` updates of both
discriminators on real images against fakes drawn from each discriminator's
:class:`ImagePool` (Shrivastava et al. 2017).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.algorithms import Algorithm, clip_weights, generator_adversarial, grad_norm_stats, penalties
from ganzoo.data import DataShape
from ganzoo.errors import ConfigError
from ganzoo.losses import discriminator_term
from ganzoo.networks import Discriminator, Networks, Translator
from ganzoo.kinds.grids import TRANSLATIONS_PER_ROW, stack_rows

from ..layers.init import init_weights  # the official code's "normal" init: N(0, 0.02), the same as DCGAN's
from ..layers.norm import norm_layer
from ..layers.patchgan import patch_map_sizes, patch_receptive_field, patchgan_stack
from ..layers.residual import ResidualBlock

MODULES = ("g_ab", "g_ba", "d_a", "d_b")
"""The modules CycleGAN builds: the two translators, then the discriminators of domain A and B."""


# ---------------------------------------------------------------------------------------
# building blocks

NORMS = ("instance", "batch", "none")
"""The normalisations of ``arch.norm``; instance norm is the paper's."""


def cyclegan_norm(kind: str, channels: int) -> nn.Module:
    """``"instance"``: InstanceNorm2d without affine parameters or running statistics (the
    paper's, as the official code); ``"batch"``: BatchNorm2d; ``"none"``: nothing."""
    return norm_layer(kind, channels, kinds=NORMS)


def default_blocks(image_size: int) -> int:
    """Residual blocks by image size: 9 from 256 px, 6 from 128 px (the paper's), else 3."""
    return 9 if image_size >= 256 else 6 if image_size >= 128 else 3


class ResnetTranslator(Translator):
    """The CycleGAN generator: ``c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-C``.

    Args:
        in_shape, out_shape: ``(channels, size, size)`` of its input and output domains
            (same spatial size; the size must be a multiple of 4: two stride-2 stages).
        ngf: channels of the first layer.
        n_blocks: residual blocks at the bottleneck (``size / 4``).
        norm: ``instance`` (the paper's), ``batch`` or ``none``.
        input_field, output_field: the data fields it reads and makes (``image``/``image_b``).

    Example::

        g_ab = ResnetTranslator((1, 28, 28), (1, 28, 28), ngf=32, n_blocks=3, norm="instance",
                                input_field="image", output_field="image_b")
        g_ab(torch.zeros(2, 1, 28, 28)).shape   # (2, 1, 28, 28), in [-1, 1]
    """

    def __init__(self, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int], *, ngf: int,
                 n_blocks: int, norm: str, input_field: str, output_field: str) -> None:
        super().__init__(in_shape, out_shape, input_field=input_field, output_field=output_field)
        c_in, c_out = in_shape[0], out_shape[0]
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(c_in, ngf, 7, bias=bias),
                                   cyclegan_norm(norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):  # d2ngf, d4ngf
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       cyclegan_norm(norm, ngf * mult * 2), nn.ReLU(True)]
        # the paper's R-k: reflect-pad, conv3x3, norm, ReLU, reflect-pad, conv3x3, norm, plus the input
        layers += [ResidualBlock(ngf * 4, lambda c: cyclegan_norm(norm, c), lambda c: nn.ReLU(True),
                                 reflect=True, bias=bias) for _ in range(n_blocks)]
        for mult in (4, 2):  # u2ngf, ungf
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias),
                       cyclegan_norm(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c_out, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.n_blocks = n_blocks

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(Discriminator):
    """The PatchGAN discriminator: one logit per overlapping patch, ``[N, 1, h, w]``.

    Args:
        in_shape: ``(channels, size, size)`` of its domain.
        ndf: channels of the first layer (doubled per layer, at most 8x).
        d_layers: stride-2 layers: 3 is the paper's 70x70 PatchGAN (C64-C128-C256-C512).
        norm: ``instance`` (the paper's), ``batch`` or ``none``; never on the first layer.

    Attributes:
        receptive_field: the side in pixels of the patch each logit sees.
        patch_shape: ``(h, w)`` of the logit map for ``in_shape``.
    """

    def __init__(self, in_shape: tuple[int, int, int], *, ndf: int, d_layers: int, norm: str) -> None:
        super().__init__(in_shape)
        channels, size = in_shape[0], in_shape[-1]
        sizes = patch_map_sizes(size, d_layers)
        self.receptive_field = patch_receptive_field(d_layers)
        self.patch_shape = (sizes[-1], sizes[-1])
        # instance norm needs more than one value per channel; the logit map at least one patch
        if sizes[-1] < 1 or (norm == "instance" and min(sizes[:-1]) < 2):
            raise ConfigError(f"a PatchGAN with d_layers={d_layers} cannot judge {size}x{size} images "
                              f"(its maps would be {'-'.join(map(str, sizes))}); use a smaller "
                              f"--set arch.d_layers or a larger --image-size")
        self.net = nn.Sequential(*patchgan_stack(channels, ndf, d_layers, lambda c: cyclegan_norm(norm, c),
                                                 bias=norm != "batch"))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


def _domain_shapes(data: DataShape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The image shapes of domain A (``image``) and B (``image_b``; A's when the data has no
    second domain, e.g. a conformance kit building on plain image shapes)."""
    a = data.fields["image"].shape if "image" in data.fields else (data.channels, data.image_size, data.image_size)
    b = data.fields["image_b"].shape if "image_b" in data.fields else a
    return tuple(a), tuple(b)


def build(arch, data: DataShape) -> Networks:
    """The four CycleGAN networks for ``data``, initialised N(0, 0.02).

    Returns:
        ``Networks`` with ``g_ab``, ``g_ba`` (exported), ``d_a``, ``d_b``; ``g_optim`` updates
        both generators, ``d_optim`` both discriminators.
    """
    shape_a, shape_b = _domain_shapes(data)
    if len(shape_a) != 3 or len(shape_b) != 3:
        raise ConfigError("cyclegan translates images; the data has no image fields")
    if shape_a[1:] != shape_b[1:]:
        raise ConfigError(f"cyclegan maps images of one size to the same size; domain A is "
                          f"{shape_a[1]}x{shape_a[2]}, B {shape_b[1]}x{shape_b[2]} (set --image-size)")
    size = shape_a[-1]
    if shape_a[1] != size or size % 4:
        raise ConfigError(f"cyclegan needs square images whose size is a multiple of 4 (two stride-2 "
                          f"stages), got {shape_a[1]}x{size}; set --image-size (e.g. 28, 32, 64, 128, 256)")
    n_blocks = arch.n_blocks if arch.n_blocks is not None else default_blocks(size)
    g_ab = ResnetTranslator(shape_a, shape_b, ngf=arch.ngf, n_blocks=n_blocks, norm=arch.norm,
                            input_field="image", output_field="image_b")
    g_ba = ResnetTranslator(shape_b, shape_a, ngf=arch.ngf, n_blocks=n_blocks, norm=arch.norm,
                            input_field="image_b", output_field="image")
    d_a = PatchDiscriminator(shape_a, ndf=arch.ndf, d_layers=arch.d_layers, norm=arch.norm)
    d_b = PatchDiscriminator(shape_b, ndf=arch.ndf, d_layers=arch.d_layers, norm=arch.norm)
    for module in (g_ab, g_ba, d_a, d_b):
        module.apply(init_weights)
    return Networks(modules={"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b},
                    optimizers={"g_optim": ("g_ab", "g_ba"), "d_optim": ("d_a", "d_b")},
                    export=("g_ab", "g_ba"))


# ---------------------------------------------------------------------------------------
# the image pool

class ImagePool:
    """A history of generated images (Shrivastava et al. 2017; the official ``ImagePool``).

    Until ``size`` images are stored, each new image is stored and returned. After that,
    each image in turn: with probability 0.5 a uniformly chosen stored image is returned
    and the new one takes its place; otherwise the new image is returned. The coin flips
    and slots come from the generator passed to :meth:`query` (the trainer's checkpointed
    ``t.rng``): for a batch of ``n`` it draws ``n`` uniforms, then ``n`` slots, every time
    (also while filling), so the stream of draws does not depend on the pool's fill.

    Args:
        size: images kept; 0 turns the pool off (:meth:`query` returns its input).

    Example::

        pool = ImagePool(50)
        fakes_for_d = pool.query(fake_b.detach(), t.rng)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: torch.Tensor | None = None  # [size, C, H, W] float32 once the first batch came
        self.count = 0

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch the discriminator sees for ``images`` (detached, float32)."""
        images = images.detach().float()
        if self.size == 0:
            return images
        n = len(images)
        coins = torch.rand(n, generator=generator).tolist()
        slots = torch.randint(self.size, (n,), generator=generator).tolist()
        if self.images is None:
            self.images = torch.zeros(self.size, *images.shape[1:], device=images.device)
        elif self.images.device != images.device:
            self.images = self.images.to(images.device)
        out = images.clone()
        for i in range(n):
            if self.count < self.size:  # filling: store it and show it
                self.images[self.count] = images[i]
                self.count += 1
            elif coins[i] > 0.5:  # show a stored image and keep the new one in its place
                out[i] = self.images[slots[i]]
                self.images[slots[i]] = images[i]
        return out

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """The stored images (only the filled part) and the count, as CPU tensors."""
        state = {f"{prefix}count": torch.tensor(self.count, dtype=torch.int64)}
        if self.count:
            state[f"{prefix}images"] = self.images[:self.count].detach().cpu().contiguous()
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor], prefix: str) -> None:
        """Restore :meth:`state_dict`; the images move to the device at the next query."""
        self.count = int(state[f"{prefix}count"]) if f"{prefix}count" in state else 0
        if self.count > self.size:
            raise ValueError(f"the checkpoint's image pool holds {self.count} images, algo.pool_size is {self.size}")
        self.images = None
        if self.count:
            stored = state[f"{prefix}images"]
            self.images = torch.zeros(self.size, *stored.shape[1:], dtype=torch.float32)
            self.images[:self.count] = stored


# ---------------------------------------------------------------------------------------
# the algorithm

def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference in float32 (the paper's cycle and identity losses)."""
    return F.l1_loss(a.float(), b.float())


class CycleGAN(Algorithm):
    """One generator update, then ``n_critic`` updates of both discriminators.

    Generator update (``g_optim``, both translators, discriminators frozen)::

        g_loss = adv(D_b(G_ab(a))) + adv(D_a(G_ba(b)))
               + lambda_cycle * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
               + lambda_cycle * lambda_identity * (|G_ba(a) - a|_1 + |G_ab(b) - b|_1)

    with ``adv`` the run loss's generator term (``lsgan`` by default; a relativistic loss gets
    the real logits of the frozen discriminator). Discriminator update (``d_optim``)::

        d_loss = 0.5 * d(D_a(a), D_a(pool_a(G_ba(b)))) + 0.5 * d(D_b(b), D_b(pool_b(G_ab(a))))
                 + the run config's penalties (gp, r1) on each discriminator

    The 0.5 is the paper's ("we divide the objective by 2 while optimizing D"). The first
    discriminator update uses this step's fakes; further ones (``n_critic > 1``) draw new
    batches and translate them without gradients. ``weight_clip`` clips both discriminators
    after every update.
    """

    def __init__(self, options, cfg) -> None:
        super().__init__(options, cfg)
        if (cfg.gp or cfg.r1) and cfg.arch.get("norm") == "batch":
            penalty = "gradient penalty (gp)" if cfg.gp else "R1 penalty"
            raise ConfigError(f"batch norm in the discriminators breaks the {penalty}, which is computed "
                              "per sample; use --set arch.norm=instance (the paper's) or none")
        self.pool_a = ImagePool(options.pool_size)  # fakes of domain A, for d_a
        self.pool_b = ImagePool(options.pool_size)  # fakes of domain B, for d_b

    def setup(self, trainer) -> None:
        missing = [name for name in MODULES if name not in trainer.modules]
        if missing:
            raise ConfigError(f"algorithm 'cyclegan' needs the modules {', '.join(MODULES)}; the model lacks "
                              f"{', '.join(missing)}")

    def batches_per_step(self) -> int:
        return self.cfg.n_critic

    # the generators' update -------------------------------------------------------------
    def _generator_update(self, t, real_a: torch.Tensor, real_b: torch.Tensor):
        opts = self.options
        lambda_id = opts.lambda_cycle * opts.lambda_identity
        stats: dict[str, torch.Tensor] = {}
        with t.frozen("d_a", "d_b"):
            with t.autocast():
                fake_b = t.net("g_ab")(real_a)
                fake_a = t.net("g_ba")(real_b)
                rec_a = t.net("g_ba")(fake_b)
                rec_b = t.net("g_ab")(fake_a)
                logits_fake_b, _ = t.discriminate(fake_b, name="d_b")
                logits_fake_a, _ = t.discriminate(fake_a, name="d_a")
                if lambda_id:
                    same_b = t.net("g_ab")(real_b)
                    same_a = t.net("g_ba")(real_a)
            adv_ab = generator_adversarial(t, logits_fake_b, real=real_b, name="d_b")
            adv_ba = generator_adversarial(t, logits_fake_a, real=real_a, name="d_a")
            cycle_a, cycle_b = l1(rec_a, real_a), l1(rec_b, real_b)
            g_loss = adv_ab + adv_ba + opts.lambda_cycle * (cycle_a + cycle_b)
            if lambda_id:
                identity_a, identity_b = l1(same_a, real_a), l1(same_b, real_b)
                g_loss = g_loss + lambda_id * (identity_a + identity_b)
                stats.update(identity_a=identity_a.detach(), identity_b=identity_b.detach(),
                             identity=(identity_a + identity_b).detach())
            g_norm = t.update(g_loss, "g_optim")
        stats.update(g_loss=g_loss.detach(), adv_ab=adv_ab.detach(), adv_ba=adv_ba.detach(),
                     cycle_a=cycle_a.detach(), cycle_b=cycle_b.detach(), cycle=(cycle_a + cycle_b).detach())
        grad_norm_stats(stats, "g_optim", g_norm)
        return fake_a.detach(), fake_b.detach(), stats

    # the discriminators' update ---------------------------------------------------------
    def _discriminator_term(self, t, name: str, real: torch.Tensor, fake: torch.Tensor):
        with t.autocast():
            real_logits, _ = t.discriminate(real, name=name)
            fake_logits, _ = t.discriminate(fake, name=name)
        loss = 0.5 * discriminator_term(t.loss, real_logits, fake_logits)
        penalty = penalties(t, real, fake, name=name)
        if penalty is not None:
            loss = loss + penalty
        return loss, penalty, real_logits, fake_logits

    def _discriminator_update(self, t, real_a, real_b, fake_a, fake_b):
        pooled_a = self.pool_a.query(fake_a, t.rng)
        pooled_b = self.pool_b.query(fake_b, t.rng)
        d_a_loss, pen_a, real_a_logits, fake_a_logits = self._discriminator_term(t, "d_a", real_a, pooled_a)
        d_b_loss, pen_b, real_b_logits, fake_b_logits = self._discriminator_term(t, "d_b", real_b, pooled_b)
        d_loss = d_a_loss + d_b_loss
        d_norm = t.update(d_loss, "d_optim")
        if self.cfg.weight_clip:
            for name in ("d_a", "d_b"):
                clip_weights(t.modules[name], self.cfg.weight_clip)
        stats = {"d_loss": d_loss.detach(), "d_a_loss": d_a_loss.detach(), "d_b_loss": d_b_loss.detach()}
        for domain, real_logits, fake_logits in (("a", real_a_logits, fake_a_logits),
                                                 ("b", real_b_logits, fake_b_logits)):
            for key, value in t.loss.scores(real_logits, fake_logits).items():
                stats[key.replace("D(", f"D_{domain}(", 1)] = value
        if pen_a is not None:
            stats["penalty"] = (pen_a + pen_b).detach()
        grad_norm_stats(stats, "d_optim", d_norm)
        return stats

    def step(self, t) -> dict[str, torch.Tensor]:
        """One generator update and ``n_critic`` discriminator updates; detached scalars."""
        batch = t.batch()
        real_a, real_b = batch["image"], batch["image_b"]
        fake_a, fake_b, stats = self._generator_update(t, real_a, real_b)
        for i in range(self.cfg.n_critic):
            if i:  # a fresh batch, translated by the just-updated generators
                batch = t.batch()
                real_a, real_b = batch["image"], batch["image_b"]
                with torch.no_grad(), t.autocast():
                    fake_b, fake_a = t.net("g_ab")(real_a), t.net("g_ba")(real_b)
            d_stats = self._discriminator_update(t, real_a, real_b, fake_a, fake_b)
        stats.update(d_stats)
        return stats

    # checkpointed state -----------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.pool_a.state_dict("pool_a."), **self.pool_b.state_dict("pool_b.")}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.pool_a.load_state_dict(state, "pool_a.")
        self.pool_b.load_state_dict(state, "pool_b.")

    # the sample grid ----------------------------------------------------------------------
    @torch.no_grad()
    def preview(self, t) -> tuple[torch.Tensor, int]:
        """Blocks of three rows for fixed examples: A, G_ab(A), G_ba(G_ab(A)); then B, G_ba(B),
        G_ab(G_ba(B)); translators in eval mode."""
        examples = t.preview_examples
        a, b = examples["image"], examples["image_b"]
        g_ab, g_ba = t.sampling_nets["g_ab"], t.sampling_nets["g_ba"]  # averaged ones with --set ema
        with t.evaluating("g_ab", "g_ba"):
            fake_b, fake_a = g_ab(a), g_ba(b)
            rows_a, _ = stack_rows(a, fake_b, g_ba(fake_b))
            rows_b, _ = stack_rows(b, fake_a, g_ab(fake_a))
        return torch.cat([rows_a, rows_b]), TRANSLATIONS_PER_ROW
