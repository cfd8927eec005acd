"""WaveGAN (Donahue, McAuley & Puckette 2019): the registration of the model, its audio datasets
(``fsdd``, ``fsdd-8k``, ``audio-folder``) and the ``fsdd-classifier`` extractor.

Raw-waveform generation: a 1-D transposed-conv generator makes 16,384 samples (1.024 s at
16 kHz) from ``z``; a 1-D conv critic with phase shuffle judges them; WGAN-GP (the paper's
Adam 1e-4, betas (0.5, 0.9), n_critic 5, lambda 10), through the core's ``alternating``
algorithm. The networks live in :mod:`.nets`, the datasets in :mod:`.data`, the classifier in
:mod:`.metrics` (this module must not import torch: listing models stays light).

Example::

    ganzoo train wavegan --data-dir DATA                              # fsdd, 16 kHz, d = 8
    ganzoo train wavegan --data-dir DATA --set arch.conditional=true  # one digit per label
    ganzoo train wavegan --dataset audio-folder --data-dir my_sounds/
    ganzoo sample runs/wavegan-fsdd-... -n 8 --out digits.wav        # WAVs + a spectrogram PNG
    ganzoo eval runs/wavegan-fsdd-... --metrics is,fid,modes           # through fsdd-classifier
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from ganzoo import hookimpl
from ganzoo.specs import DatasetSpec, ExtractorSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = "Donahue, McAuley & Puckette 2019, Adversarial Audio Synthesis (arXiv:1802.04208)"

ADAM_WAVEGAN = {"name": "adam", "lr": 1e-4, "betas": (0.5, 0.9)}
"""The paper's optimizer for G and D: Adam, learning rate 1e-4, betas (0.5, 0.9)."""

BATCH_SIZE = 64
"""The paper's batch size."""

FSDD = "Jackson et al., Free Spoken Digit Dataset (https://github.com/Jakobovski/free-spoken-digit-dataset)"
FSDD_FILES = ("FSDD/recordings/*.wav",)


class WaveGANConfig(BaseModel):
    """WaveGAN architecture options (``--set arch.KEY=VALUE``).

    The paper's model size d is 64 for G and D (19 M and 17 M parameters); the default 8
    (0.48 M and 0.27 M) costs 1/64 of its multiply-adds per clip, so that a 2-core CPU makes
    a few hundred WGAN-GP steps (batch 64, n_critic 5) in minutes. Try 16 or more with time or
    a GPU: the cost grows as d squared.
    """

    model_config = ConfigDict(extra="forbid")

    ngf: PositiveInt = Field(8, description="the generator's model size d (paper: 64): widths 16d, 8d, 4d, 2d, d "
                                             "of its five kernel-25 stride-4 transposed convs")
    ndf: PositiveInt = Field(8, description="the critic's model size d (paper: 64): widths d, 2d, 4d, 8d, 16d "
                                             "of its five kernel-25 stride-4 convs")
    latent_dim: PositiveInt = Field(100, description="size of z ~ U(-1, 1) (the paper's 100)")
    phase_shuffle: NonNegativeInt = Field(2, description="phase shuffle radius n: the critic's activations "
                                                         "shift by -n..n samples after each conv but the last "
                                                         "(the paper's 2; 0 turns it off)")
    conditional: bool = Field(False, description="condition on the label (the digit): a label embedding "
                                                 "concatenated to z, a projection term in the critic")
    embed_dim: PositiveInt = Field(16, description="size of the generator's label embedding when conditional")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="wavegan",
        summary="WaveGAN: raw audio from a 1-D transposed-conv G, a phase-shuffle critic, WGAN-GP",
        paper=PAPER,
        build="ganzoo_plugins.wavegan.nets:build",
        config_class=WaveGANConfig,
        default_loss="wgan-gp",
        default_dataset="fsdd",
        data_kinds=("audio",),
        defaults={"batch_size": BATCH_SIZE, "g_optim": ADAM_WAVEGAN, "d_optim": ADAM_WAVEGAN},
    )


@hookimpl
def ganzoo_datasets():
    yield DatasetSpec(
        name="fsdd",
        summary="Free Spoken Digit Dataset at 16 kHz: 1.024 s clips (16,384 samples), label = digit",
        paper=FSDD + "; upsampled from 8 kHz by windowed sinc, first 16,384 samples, padded at the end; "
                     "test split = recordings 0-4 of each speaker and digit (the dataset's own split)",
        load="ganzoo_plugins.wavegan.data:load_fsdd",
        data_kind="audio", item_shape=(1, 16384), rate=16000, num_classes=10, size=2700, files=FSDD_FILES,
    )
    yield DatasetSpec(
        name="fsdd-8k",
        summary="Free Spoken Digit Dataset at its own 8 kHz: 1.024 s clips (8,192 samples), label = digit",
        paper=FSDD + "; first 8,192 samples, padded at the end; test split = recordings 0-4",
        load="ganzoo_plugins.wavegan.data:load_fsdd_8k",
        data_kind="audio", item_shape=(1, 8192), rate=8000, num_classes=10, size=2700, files=FSDD_FILES,
    )
    yield DatasetSpec(
        name="audio-folder",
        summary="Your own sound files (--data-dir, recursive; subfolders = classes) as 16 kHz mono 1.024 s clips",
        paper="WAV or FLAC files, resampled to 16 kHz by windowed sinc, mixed down to mono, first 16,384 "
              "samples, padded at the end; both splits read the whole folder",
        load="ganzoo_plugins.wavegan.data:load_audio_folder",
        data_kind="audio", item_shape=(1, 16384), rate=16000, files=("**/*.wav", "**/*.flac"),
    )


@hookimpl
def ganzoo_extractors():
    yield ExtractorSpec(
        name="fsdd-classifier",
        summary="Spoken-digit CNN on log-mel spectrograms (128-d features, 10 digits), trained on fsdd on first use",
        paper="The scoring classifier of " + PAPER + " (1024-point STFT, hop 128, 128 mel bins, four "
              "conv-BN-pool blocks), retrained on FSDD; cached with its sha256, refused below 90% test accuracy",
        load="ganzoo_plugins.wavegan.metrics:load_fsdd_classifier",
        datasets=("fsdd", "fsdd-8k"),
    )
