"""VGAN (Vondrick, Pirsiavash & Torralba 2016): the registration, its options, the Moving MNIST
datasets, the frame classifier and the video metrics.

Why VGAN as the zoo's video family: the issue names its two-stream generator (a 3-D
transposed-conv foreground video with a mask over a 2-D static background), and one generator of
fixed-length clips fits the core's Generator/Discriminator pair and alternating schedule; TGAN's
temporal generator and MoCoGAN's content/motion split with an extra image discriminator do not.

- model ``vgan``: the two-stream generator ``m * f + (1 - m) * b`` and a 3-D conv discriminator
  (:mod:`.nets`), trained by the algorithm ``vgan``: the alternating schedule
  plus the paper's mask sparsity ``lambda_mask * mean|m|`` (0.1) in G's loss (:mod:`.algorithm`);
- datasets ``moving-mnist`` (64x64, 20 frames) and ``moving-mnist-32`` (32x32, 16 frames, the
  CPU default) (:mod:`.data`);
- extractor ``moving-mnist-classifier``: a small CNN that says which digits a frame shows
  (10 sigmoid outputs), trained on first use and cached; its features are per frame, so the core's
  ``fid`` on these datasets is a frame FID (:mod:`.metrics`);
- metrics ``temporal-consistency`` (do the digits stay the same across a clip's frames?) and
  ``video-motion`` (how much and how smoothly the frames change).

This module must not import torch (listing models stays light).

Example::

    ganzoo train vgan --data-dir DATA                       # moving-mnist-32, bce, Adam 2e-4 (0.5, 0.999)
    ganzoo sample runs/vgan-moving-mnist-32-... --out clips.gif   # an animated grid + a frame strip PNG
    ganzoo eval runs/vgan-moving-mnist-32-... --metrics fid,temporal-consistency,video-motion -n 500
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, DatasetSpec, ExtractorSpec, MetricSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics "
         "(arXiv:1609.02612)")

MOVING_MNIST_PAPER = ("Srivastava, Mansimov & Salakhutdinov 2015, Unsupervised Learning of Video "
                      "Representations using LSTMs (arXiv:1502.04681)")

ADAM_VGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
"""The paper's optimizer: Adam, learning rate 2e-4, beta1 0.5 (beta2 torch's default), G and D."""

BATCH_SIZE = 32
"""The paper's batch is 64; half that keeps a CPU step of 32x32 x 16 clips near half a second."""

MNIST_FILES = tuple(f"MNIST/raw/{name}" for name in (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))

NETS = "ganzoo_plugins.vgan.nets"
ALGORITHM = "ganzoo_plugins.vgan.algorithm"
DATA = "ganzoo_plugins.vgan.data"
METRICS = "ganzoo_plugins.vgan.metrics"


class VGANConfig(BaseModel):
    """VGAN architecture options (``--set arch.KEY=VALUE``).

    The paper's networks are for 64x64 x 32 frames with ngf = ndf = 64 (512 channels at the
    top); the defaults are halved for 32x32 x 16 clips on a CPU.
    """

    model_config = ConfigDict(extra="forbid")

    latent_dim: PositiveInt = Field(100, description="size of the latent vector z (the paper's 100)")
    ngf: PositiveInt = Field(32, description="generator width: channels of the last hidden level of both "
                                             "streams, doubling towards z (paper: 64)")
    ndf: PositiveInt = Field(32, description="discriminator width: channels of its first 3-D conv, "
                                             "doubling at each layer (paper: 64)")
    d_norm: Literal["batch", "layer", "none"] = Field(
        "batch", description="normalisation in the discriminator after its first layer: batch (the paper's), "
                             "layer (GroupNorm(1, C), per sample: for gradient penalties) or none")


class VGANOptions(BaseModel):
    """Options of the VGAN training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    lambda_mask: NonNegativeFloat = Field(
        0.1, description="weight of the mask's L1 sparsity, lambda * mean|m| in G's loss (the paper's 0.1; "
                         "0 = plain alternating)")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="vgan",
        summary="Video GAN: two-stream G (3-D foreground + mask over a 2-D static background), 3-D conv D",
        paper=PAPER,
        build=f"{NETS}:build",
        config_class=VGANConfig,
        default_loss="bce",
        algorithm="vgan",
        default_dataset="moving-mnist-32",
        data_kinds=("video",),
        defaults={"batch_size": BATCH_SIZE, "g_optim": ADAM_VGAN, "d_optim": ADAM_VGAN},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="vgan",
        summary="n_critic D updates, then one G update with the mask sparsity lambda_mask * mean|m|",
        paper=PAPER,
        step=f"{ALGORITHM}:VGAN",
        config_class=VGANOptions,
        modules=("generator", "discriminator"),
    )


@hookimpl
def ganzoo_datasets():
    for name, size, frames, clips, test in (("moving-mnist", 64, 20, 3_000, 1_000),
                                            ("moving-mnist-32", 32, 16, 10_000, 2_000)):
        digit = round(28 * size / 64)
        yield DatasetSpec(
            name=name,
            summary=f"Moving MNIST: two MNIST digits ({digit} px) bouncing in {size}x{size}, {frames} frames; "
                    "label = 10 * d0 + d1",
            paper=f"{MOVING_MNIST_PAPER}; made in memory from mnist (train clips from the train digits, "
                  f"test clips from the test digits, fixed seeds): up to {clips:,} train / {test:,} test clips",
            load=f"{DATA}:load_moving_mnist" + ("" if size == 64 else "_32"),
            data_kind="video", item_shape=(1, frames, size, size), rate=8,
            channels=1, image_size=size, num_classes=100, size=clips, files=MNIST_FILES,
        )


@hookimpl
def ganzoo_extractors():
    yield ExtractorSpec(
        name="moving-mnist-classifier",
        summary="Which digits a Moving MNIST frame shows (10 sigmoids), trained on first use; a frame FID",
        paper="Trained by ganzoo on frames of moving-mnist-32 train clips; multi-label targets from each "
              "clip's digit pair; cached with its sha256 and test accuracy (>= 75% exact digit sets: digits overlap)",
        load=f"{METRICS}:load_moving_mnist_classifier",
        datasets=("moving-mnist", "moving-mnist-32"),
    )


@hookimpl
def ganzoo_metrics():
    yield MetricSpec(
        name="temporal-consistency",
        summary="Clips whose predicted digits are the same in every frame, and mean per-frame agreement",
        compute=f"{METRICS}:temporal_consistency_metric",
        inputs="samples",
        keys=("temporal_consistency", "frame_agreement", "recognised_frames"),
    )
    yield MetricSpec(
        name="video-motion",
        summary="Change between frames one and two apart, against the real clips' (motion_gap: relative)",
        compute=f"{METRICS}:motion_metric",
        inputs="samples",
        keys=("motion_gap", "motion", "motion_order", "motion_real", "motion_order_real"),
        lower_is_better=("motion_gap",),
    )
