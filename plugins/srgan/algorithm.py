"""SRGAN's training step (Ledig et al. 2017): one discriminator update on ``HR`` real vs
``G(LR)`` fake with the run's adversarial loss (``bce``, the paper's, by default) and its
``gp``/``r1`` penalties; then one generator update on ``mse_weight * MSE(G(LR), HR) +
feature_weight * MSE(phi(G(LR)), phi(HR)) + adv_weight * adversarial``, ``phi`` an activation
of the frozen MNIST classifier (the VGG54 analogue, :class:`FeatureLoss`; off by default).
``adv_weight=0`` is SRResNet.

When the data's own input is not at the generator's input size (see
:func:`ganzoo_plugins.srgan.nets.resolve_scale`), :func:`low_resolution` re-derives it from
the batch (bicubic, antialiased downsampling).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ganzoo.algorithms import Algorithm, discriminator_update, generator_loss, grad_norm_stats
from ganzoo.errors import ConfigError
from ganzoo.step import StepContext

from . import SRGANOptions
from .nets import SRResNet, VGGDiscriminator

def shrink(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images in [-1, 1] brought to ``size`` by bicubic, antialiased interpolation, clamped."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images.float(), size=tuple(size), mode="bicubic", antialias=True,
                         align_corners=False).clamp_(-1.0, 1.0)


def low_resolution(generator: SRResNet, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The generator's input for a batch: the ``image`` field, or (``generator.lr_from``)
    that field shrunk to ``generator.in_shape`` (see :func:`resolve_scale`)."""
    if generator.lr_from is None:
        return batch["image"]
    return shrink(batch[generator.lr_from], generator.in_shape[1:])


class FeatureLoss:
    """``MSE(phi(fake), phi(real))`` through a frozen ganzoo classifier (not a module of the
    run: it is in no checkpoint and no optimizer; its sha256 goes in the run's notes).

    ``phi`` is ``conv3`` (the last conv block's 64x7x7 map after ReLU: the VGG54 analogue,
    "the feature map obtained by the j-th convolution (after activation) before the i-th
    maxpooling") or ``features`` (the 128-d penultimate layer). Images are brought to the
    classifier's input as its extractor does (gray, 28x28 bilinear antialiased).
    """

    def __init__(self, name: str, layer: str, device: torch.device, data_dir) -> None:
        from ganzoo.metrics.extractors import load_classifier

        self.extractor = load_classifier(name, device, data_dir)
        body = self.extractor.network.body
        self.phi = body[:11] if layer == "conv3" else body  # conv-BN-ReLU x3 (with 2 pools) / all of it
        self.name, self.layer, self.sha256 = name, layer, self.extractor.sha256

    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        from ganzoo.metrics.extractors import to_classifier_input

        self.extractor.network.eval()
        with torch.no_grad():
            target = self.phi(to_classifier_input(real.float()))
        return F.mse_loss(self.phi(to_classifier_input(fake.float())), target)


class SRGAN(Algorithm):
    """The SRGAN step: one discriminator update, then one generator update.

    A loss that recommends ``n_critic > 1`` (wgan, wgan-gp) gets that many discriminator
    updates, each on a fresh batch, before the generator's (the paper's is 1).

    Discriminator: ``d_loss(D(HR), D(G(LR)))`` with the run's loss plus its ``gp`` / ``r1``
    penalties and ``weight_clip``. Generator: ``mse_weight * MSE + feature_weight * feature
    MSE + adv_weight * g_loss(D(G(LR)))``; losses that need the real logits (relativistic)
    get ``D(HR)`` from the updated, frozen D. With ``adv_weight=0`` (SRResNet) D is neither
    updated nor run. No state of its own: a resumed run is bitwise equal to an uninterrupted one.

    Returns (stats): ``d_loss``, ``g_loss``, ``mse``, ``feature`` (with a feature loss),
    ``g_adv`` (the adversarial term before ``adv_weight``), the loss's D scores, ``penalty``
    when set, ``d_grad_norm``, ``g_grad_norm``.
    """

    options: SRGANOptions

    def __init__(self, options, cfg) -> None:
        super().__init__(options, cfg)
        self.feature_loss: FeatureLoss | None = None

    def setup(self, t: StepContext) -> None:
        generator = t.modules.get("generator")
        if not isinstance(generator, SRResNet) or not isinstance(t.modules.get("discriminator"),
                                                                 VGGDiscriminator):
            model = self.cfg.model.split(":")[-1]
            raise ConfigError(f"algorithm 'srgan' trains an SRResNet 'generator' with a VGG-style "
                              f"discriminator; model {model!r} has other networks")
        if self.options.feature_weight:
            self.feature_loss = FeatureLoss(self.options.feature_net, self.options.feature_layer,
                                            t.device, self.cfg.data_dir)
            note = (f"srgan feature loss through the frozen {self.feature_loss.name} ({self.feature_loss.layer}), "
                    f"sha256 {self.feature_loss.sha256}")
            if note not in t.cfg.notes:
                t.cfg.notes.append(note)

    def batches_per_step(self) -> int:
        return self.cfg.n_critic if self.options.adv_weight else 1

    def step(self, t: StepContext) -> dict[str, torch.Tensor]:
        G, options = t.modules["generator"], self.options
        stats: dict[str, torch.Tensor] = {}
        for i in range(self.batches_per_step()):
            batch = t.batch()
            x, y = low_resolution(G, batch), batch[G.output_field]
            last = i == self.batches_per_step() - 1
            with t.autocast(), (contextlib.nullcontext() if last else torch.no_grad()):
                fake = t.net("generator")(x)
            if options.adv_weight:
                real_logits, fake_logits = discriminator_update(t, y, fake, stats=stats)
        mse = F.mse_loss(fake.float(), y)
        g_loss = options.mse_weight * mse
        if self.feature_loss is not None:
            feature = self.feature_loss(fake, y)
            g_loss = g_loss + options.feature_weight * feature
            stats["feature"] = feature.detach()
        with t.frozen("discriminator"):
            if options.adv_weight:
                with t.autocast():
                    g_logits, _ = t.discriminate(fake)
                g_adv = generator_loss(t, g_logits, y)
                g_loss = g_loss + options.adv_weight * g_adv
                stats.update({"g_adv": g_adv.detach(), **t.loss.scores(real_logits, fake_logits)})
            g_norm = t.update(g_loss, "g_optim")
        stats.update({"g_loss": g_loss.detach(), "mse": mse.detach()})
        grad_norm_stats(stats, "g_optim", g_norm)
        return stats

    def preview(self, t: StepContext) -> tuple[torch.Tensor, int]:
        """Rows of fixed examples: the low-resolution input (nearest-upsized), G's
        super-resolution, the high-resolution target; the generator in eval mode."""
        from ganzoo.kinds.image import TRANSLATIONS_PER_ROW, stack_rows

        examples = t.preview_examples
        G = t.modules["generator"]
        x, y = low_resolution(G, examples), examples[G.output_field]
        with t.evaluating("generator"), torch.no_grad():
            sr = t.sampling_modules["generator"](x)
        return stack_rows(x, sr, y)[0], TRANSLATIONS_PER_ROW
