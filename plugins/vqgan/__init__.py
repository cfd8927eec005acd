"""VQ-GAN, first stage (Esser, Rombach & Ommer 2021): the registration and its options.

An autoencoder with a vector-quantised bottleneck: a convolutional encoder (residual blocks,
``n_down`` stride-2 downsamplings: 28x28 MNIST -> a 7x7 grid of codes), a codebook of
``codebook_size`` vectors of size ``embed_dim`` (updated by gradients with a codebook loss, the
paper's straight-through quantiser, or by exponential moving averages), and a decoder that
mirrors the encoder. It is trained with an L1 reconstruction loss, a perceptual term (here
through the offline MNIST classifier: the LPIPS analogue), the quantiser's losses (commitment
``beta`` 0.25) and, from step ``disc_start`` on, a PatchGAN's hinge loss weighted by the paper's
adaptive weight ``||grad L_rec|| / (||grad L_GAN|| + 1e-4)`` on the decoder's last layer.

The whole autoencoder is one ``Translator`` named ``generator`` (image -> image), so previews show
input | reconstruction and ``ganzoo sample RUN --input DIR`` reconstructs a folder of images.

The networks live in :mod:`.nets`, the training step and its perceptual term in :mod:`.algorithm`
(this module must not import torch: listing models stays light).

Example::

    ganzoo train vqgan --data-dir ../shared/data --steps 2000              # mnist
    # a short CPU run: the perceptual term and a faster autoencoder lr (the hinge's 2e-4 is slow)
    ganzoo train vqgan --data-dir ../shared/data --steps 300 --set algo.perceptual_weight=1 \\
        --set g_optim.lr=1e-3
    ganzoo train vqgan --data-dir ../shared/data --set algo.perceptual_weight=1 \\
        --set arch.quantizer=ema --set algo.disc_start=500
    ganzoo sample runs/vqgan-... --input my_digits/ --out reconstructions/
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Esser, Rombach & Ommer 2021, Taming Transformers for High-Resolution Image Synthesis "
         "(arXiv:2012.09841), first stage (VQ-GAN)")

ADAM_VQGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.9)}
"""The paper's Adam betas (0.5, 0.9); its lr 4.5e-6 x batch size (7.2e-5 at batch 16) rounded to
a DCGAN-like 2e-4, which trains the small MNIST autoencoder in a few hundred steps. The default
with the model's own loss (``hinge``); with another loss, that loss's optimizer is used."""


class VQGANConfig(BaseModel):
    """VQ-GAN architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    ngf: PositiveInt = Field(16, description="autoencoder width: channels at full resolution (taming's ch); "
                                             "2 ngf after the first downsampling")
    n_blocks: PositiveInt = Field(1, description="residual blocks per resolution in the encoder (the decoder "
                                                 "has one more, as in taming's num_res_blocks)")
    n_down: PositiveInt = Field(2, le=6, description="stride-2 downsamplings (factor 2**n_down: 28 -> 7 with "
                                                     "2); the image size must be divisible by 2**n_down")
    attention: bool = Field(True, description="a self-attention block in the middle of encoder and decoder "
                                              "(taming's mid.attn_1)")
    codebook_size: int = Field(128, ge=2, description="K, the number of codebook vectors (n_embed; at least 2)")
    embed_dim: PositiveInt = Field(16, description="size of each codebook vector (and of the encoder's output)")
    quantizer: Literal["straight-through", "ema"] = Field(
        "straight-through", description="straight-through: codebook learned by its own loss "
        "||sg(z_e) - z_q||^2 (the paper's); ema: codebook as exponential moving averages of the "
        "encoder outputs assigned to each code (buffers, checkpointed), no codebook loss")
    codebook_init: Literal["data", "uniform"] = Field(
        "data", description="data: codes set to evenly spaced encoder outputs of the first training batch "
        "(k-means-style data init; a short CPU run then uses the codebook from the start); uniform: "
        "taming's U(-1/K, 1/K), which Adam moves only ~lr per step")
    ema_decay: float = Field(0.99, gt=0.0, lt=1.0, description="decay of the EMA codebook updates")
    ema_epsilon: float = Field(1e-5, gt=0.0, description="Laplace smoothing of the EMA code counts")
    ndf: PositiveInt = Field(32, description="PatchGAN width: channels of its first layer (taming's ndf 64)")
    d_layers: PositiveInt | None = Field(
        None, description="PatchGAN stride-2 layers (taming's n_layers 3 at 256 px); null = the most whose "
                          "patch is at most half the image (1 at 28 px: 16x16 patches)")
    d_norm: Literal["batch", "layer", "none"] = Field(
        "batch", description="normalisation in the PatchGAN (taming's batch norm; layer for gradient penalties)")


class VQGANOptions(BaseModel):
    """Options of the VQ-GAN training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    beta: NonNegativeFloat = Field(0.25, description="commitment weight: beta * ||z_e - sg(z_q)||^2 (the paper's 0.25)")
    codebook_weight: NonNegativeFloat = Field(1.0, description="weight of the quantiser's loss in the "
                                                               "generator's loss (taming's 1.0)")
    l1_weight: NonNegativeFloat = Field(1.0, description="weight of the L1 reconstruction loss")
    perceptual_weight: NonNegativeFloat = Field(
        0.0, description="weight of the perceptual term: distance of the offline MNIST classifier's "
        "normalised features (the LPIPS analogue; taming uses 1.0 with LPIPS). Default 0 because that "
        "classifier trains on first use and needs real MNIST; set 1 when it is cached or MNIST is at hand")
    disc_weight: NonNegativeFloat = Field(0.8, description="factor on the adaptive weight of the GAN term "
                                                          "(taming's disc_weight 0.8); 0 = a VQ-VAE")
    disc_start: NonNegativeInt = Field(100, description="step from which the discriminator is trained and the "
                                                        "GAN term is on (the paper's threshold, scaled to MNIST)")
    adaptive_weight: bool = Field(True, description="weight the GAN term by ||grad L_rec|| / (||grad L_GAN|| + "
                                                    "1e-4) at the decoder's last layer (else by disc_weight alone)")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="vqgan",
        summary="VQ-GAN first stage: conv encoder, vector-quantised codebook, decoder, PatchGAN, adaptive GAN weight",
        paper=PAPER,
        build="ganzoo_plugins.vqgan.nets:build",
        config_class=VQGANConfig,
        default_loss="hinge",
        data_kinds=("image",),
        task="autoencoder",
        algorithm="vqgan:vqgan",
        default_dataset="mnist",
        min_image_size=8,
        defaults={"batch_size": 16, "g_optim": ADAM_VQGAN, "d_optim": ADAM_VQGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="vqgan",
        summary="One G update (L1 + perceptual + quantiser + adaptive-weight GAN), then one D update from disc_start",
        paper=PAPER,
        step="ganzoo_plugins.vqgan.algorithm:VQGAN",
        config_class=VQGANOptions,
        modules=("generator", "discriminator"),
    )
