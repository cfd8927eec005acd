"""RelGAN (Nie, Narodytska & Patel 2019): a Gumbel-softmax text GAN. The registration: the model
``relgan``, its algorithm, the text datasets ``oracle``, ``fortunes`` and ``text-folder``, and the
metrics ``oracle-nll``, ``bleu`` and ``self-bleu``.

Why Gumbel-softmax and not SeqGAN's policy gradient: SeqGAN scores each partial sentence by
Monte-Carlo rollouts (16 rollouts at each of 20 positions: 320 generator passes per batch), which
a 2-core CPU cannot afford; with the Gumbel-softmax relaxation the discriminator's gradient goes
straight through the relaxed one-hot vectors, one generator pass per batch.

Scaled to a CPU: an LSTM generator (embedding 32, hidden 32: the official code's
``lstm_vanilla``, which its synthetic-data experiments run beside the relational memory; the
relational memory itself is heavy), RelGAN's multi-representation CNN discriminator with 16
representations and 64 filters per width (official: 64 and 300), RSGAN (our ``rgan``) as the
default loss, MLE pre-training at Adam 1e-2 then adversarial Adam 1e-4 (betas 0.9, 0.999), 5
discriminator updates per generator update, gradients clipped to norm 5, and the exponential
temperature schedule ``beta_n = beta_max ** (n / N)`` with ``beta_max`` 100 (RelGAN reports 100
and 1000).

The networks live in :mod:`.nets`, the training step in :mod:`.algorithm`, the datasets and the
oracle in :mod:`.data`, the metrics in :mod:`.metrics` (this module must not import torch: listing
models stays light).

Example::

    ganzoo train relgan                                   # the oracle: MLE, then the GAN
    ganzoo train relgan --set algo.pretrain_steps=3000 --steps 3000     # the MLE-only baseline
    ganzoo train relgan --dataset fortunes                # needs `apt-get install fortunes`
    ganzoo train relgan --dataset text-folder --data-dir my_sentences/
    ganzoo sample runs/relgan-oracle-... -n 20            # prints sentences; --out s.txt writes them
    ganzoo eval runs/relgan-fortunes-... --metrics bleu,self-bleu -n 2000
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, confloat

from ganzoo import hookimpl
from ganzoo.specs import AlgorithmSpec, DatasetSpec, MetricSpec, ModelSpec

GANZOO_API = ">=2,<3"
"""The plugin-API versions this plugin supports (see ``ganzoo.PLUGIN_API_VERSION``)."""

PAPER = ("Nie, Narodytska & Patel 2019, RelGAN: Relational Generative Adversarial Networks for Text "
         "Generation (ICLR 2019, openreview rJedV3R5tm); LSTM generator as the official code's lstm_vanilla")

SEQGAN = ("Yu, Zhang, Wang & Yu 2017, SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient "
          "(arXiv:1609.05473), synthetic data experiment")

ADAM_RELGAN = {"name": "adam", "lr": 1e-4, "betas": (0.9, 0.999)}
"""The official code's adversarial optimizers: Adam 1e-4, betas (0.9, 0.999), for G and D."""

SEQUENCE_LENGTH = 20
"""Tokens per sequence of every dataset here (kept in step with ganzoo_plugins.relgan.data.LENGTH)."""


class RelGANConfig(BaseModel):
    """RelGAN architecture options (``--set arch.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    embed_dim: PositiveInt = Field(32, description="generator's token embedding size (the official gen_emb_dim 32)")
    hidden: PositiveInt = Field(32, description="generator's LSTM hidden size (the official lstm_vanilla's 32)")
    d_embed_dim: PositiveInt = Field(64, description="discriminator's embedding size, cut into num_rep "
                                                     "representations (the official dis_emb_dim 64)")
    num_rep: PositiveInt = Field(16, description="embedded representations, each judged on its own (official "
                                                 "64 of 1 dim; 16 of 4 dims here); must divide d_embed_dim")
    ndf: PositiveInt = Field(64, description="discriminator filters per convolution width 2, 3, 4, 5 (official 300)")
    d_fc: PositiveInt = Field(100, description="units of the discriminator's last hidden layer (official 100)")
    d_dropout: confloat(ge=0, lt=1) = Field(0.25, description="dropout before that layer (official keep 0.75)")


class RelGANOptions(BaseModel):
    """Options of the RelGAN training step (``--set algo.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    pretrain_steps: NonNegativeInt = Field(
        1500, description="generator MLE steps before the GAN starts (0: adversarial from step 0; >= steps: "
                          "the MLE-only baseline). The official code pre-trains 150 epochs")
    pretrain_lr: PositiveFloat = Field(1e-2, description="generator learning rate during MLE pre-training "
                                                         "(the official gpre_lr 1e-2; Adam, fresh for the GAN)")
    temperature_max: confloat(ge=1) = Field(
        100.0, description="beta_max, the final inverse temperature of the Gumbel-softmax (RelGAN: 100 or 1000; "
                           "higher: closer to one-hot, more diverse, less fluent)")
    temperature_schedule: Literal["exp", "linear", "log", "sqrt", "quad", "sigmoid", "constant"] = Field(
        "exp", description="how beta rises from 1 to beta_max over the adversarial steps: exp is the paper's "
                           "beta_max ** (n / N)")
    temperature_steps: Optional[PositiveInt] = Field(
        None, description="N of the schedule; null = the run's steps after pre-training (the paper's N); the "
                          "official code fixes 5000")
    grad_clip: NonNegativeFloat = Field(5.0, description="clip every update's gradients to this global norm "
                                                         "(the official 5.0); 0 = off")


@hookimpl
def ganzoo_models():
    yield ModelSpec(
        name="relgan",
        summary="Text GAN: LSTM generator with Gumbel-softmax outputs, multi-representation CNN discriminator, "
                "MLE pre-training",
        paper=PAPER,
        build="ganzoo_plugins.relgan.nets:build",
        config_class=RelGANConfig,
        default_loss="rgan",
        data_kinds=("tokens",),
        task="unconditional",
        algorithm="relgan:relgan",
        default_dataset="oracle",
        # --eval-every scores BLEU on any text (oracle runs: --eval-metrics oracle-nll, the paper's measure)
        defaults={"batch_size": 64, "n_critic": 5, "steps": 2000, "g_optim": ADAM_RELGAN, "d_optim": ADAM_RELGAN,
                  "eval_metrics": ["bleu", "self-bleu"]},
    )


@hookimpl
def ganzoo_algorithms():
    yield AlgorithmSpec(
        name="relgan",
        summary="MLE pre-training, then n_critic D updates and one G update through Gumbel-softmax samples",
        paper=PAPER,
        step="ganzoo_plugins.relgan.algorithm:RelGANAlgorithm",
        config_class=RelGANOptions,
        modules=("generator", "critic"),
    )


@hookimpl
def ganzoo_datasets():
    yield DatasetSpec(
        name="oracle",
        summary="SeqGAN's synthetic data: 10,000 sequences of 20 ids (of 5,000) from a random LSTM oracle",
        paper=SEQGAN + "; the oracle (embedding 32, hidden 32, N(0, 1) weights) is rebuilt from a fixed seed; "
              "made in memory, no files",
        load="ganzoo_plugins.relgan.data:load_oracle",
        data_kind="tokens", item_shape=(SEQUENCE_LENGTH,), size=10_000,
    )
    yield DatasetSpec(
        name="fortunes",
        summary="Sentences of Debian's fortune cookies (apt-get install fortunes), up to 19 words, "
                "5,000-word vocabulary",
        paper="fortune-mod 1.99.1's quotation files (Debian packages fortunes and fortunes-min, BSD licence), "
              "read from DATA/fortunes/ or /usr/share/games/fortunes/; every 10th sentence is the test split",
        load="ganzoo_plugins.relgan.data:load_fortunes",
        data_kind="tokens", item_shape=(SEQUENCE_LENGTH,), size=14_819, files=("fortunes/wisdom", "fortunes/people"),
    )
    yield DatasetSpec(
        name="text-folder",
        summary="Your sentences: --data-dir is a folder of UTF-8 .txt files, one sentence per line",
        paper="tokenised to lower-case words and punctuation, lines of more than 19 tokens dropped; train/ and "
              "test/ subfolders, or every 10th sentence is the test split",
        load="ganzoo_plugins.relgan.data:load_text_folder",
        data_kind="tokens", item_shape=(SEQUENCE_LENGTH,), files=("*.txt",),
    )


@hookimpl
def ganzoo_metrics():
    yield MetricSpec(
        name="oracle-nll",
        summary="Negative log-likelihood per token of the samples under the oracle that made the oracle dataset",
        paper=SEQGAN + ": random generator about 10.3, MLE 9.0 on SeqGAN's own oracle",
        compute="ganzoo_plugins.relgan.metrics:oracle_nll_metric", inputs="samples",
        keys=("oracle_nll",), lower_is_better=("oracle_nll",),
    )
    yield MetricSpec(
        name="bleu",
        summary="BLEU-2, -3, -4 of each sample against the whole test split, averaged (quality)",
        paper="Papineni et al. 2002; sentence BLEU with smoothing method 1 of Chen & Cherry 2014 (epsilon 0.1), "
              "as Texygen and RelGAN",
        compute="ganzoo_plugins.relgan.metrics:bleu_metric", inputs="samples",
        keys=("bleu2", "bleu3", "bleu4"),
    )
    yield MetricSpec(
        name="self-bleu",
        summary="Self-BLEU-2, -3, -4: each sample against the other samples (lower is more diverse)",
        paper="Zhu et al. 2018, Texygen (arXiv:1802.01886); the same BLEU as the bleu metric",
        compute="ganzoo_plugins.relgan.metrics:self_bleu_metric", inputs="samples",
        keys=("self_bleu2", "self_bleu3", "self_bleu4"),
        lower_is_better=("self_bleu2", "self_bleu3", "self_bleu4"),
    )
