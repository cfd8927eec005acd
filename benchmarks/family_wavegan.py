"""WaveGAN on fsdd: do the generated clips sound like spoken digits to a digit classifier,
and are they neither silence nor a single tone?

One run with the model's defaults (d = 8 for G and the critic, z ~ U(-1, 1)^100, phase
shuffle 2, WGAN-GP with n_critic 5 and lambda 10, Adam 1e-4 betas (0.5, 0.9), batch 64: the
paper's recipe at 1/64 of its multiply-adds per clip). Then, through ``fsdd-classifier`` (the
log-mel spoken-digit CNN, trained on fsdd's train split on first use and cached):

- **inception score** of ``N_FAKE`` generated clips (10 splits), against the real test split's
  (300 clips: the ceiling) and an untrained generator's (built with the run's seed: the floor);
- **classifier-feature FID** to the real train split (2,700 clips), against the test split's
  FID to it (real vs real) and the untrained generator's;
- **per-digit coverage**: digits the classifier predicts among the generated clips (of 10) and
  the KL of that histogram to uniform (the core ``modes`` metric's ``class_histogram``);
- **RMS** (dBFS) and **spectral flatness** (geometric over arithmetic mean of the power
  spectrum: ~0 for one tone, ~1 for white noise) of the generated clips, against the real
  test clips': silence would show as a very low RMS, a single tone as a flatness near 0.

The grid: spectrograms (``ganzoo.kinds.audio.spectrogram``), a row of 8 generated clips above a row
of 8 real test clips; ``families-wavegan.wav`` in the run folder holds the first 8 generated clips, a quarter
second apart. ``--quick`` trains a throwaway classifier (one epoch on 300 clips, no accuracy
gate, cached under another name) so that the smoke run stays under a minute.
"""

from __future__ import annotations

import math

import torch

FAMILY = "wavegan"
STEPS = 160
"""The training budget: 160 steps = 800 critic and 160 generator updates on batches of 64
(51,200 real clips seen by the critic, 19 epochs of fsdd). Measured on the 2-core AMD EPYC:
with the machine nearly quiet (load under 2) a step takes 1.45 s (the loop's median rate
217-220 clips/s), so 160 steps in about 4 minutes alone, plus under a minute of scoring; a
160-step run while other sessions' jobs came and went (load 2-5.5) took 979 s. The paper
trains d = 64 for days on a GPU: at this budget WaveGAN makes noise, not digits."""
BUDGET = f"{STEPS} steps ({5 * STEPS} critic + {STEPS} G updates), batch 64, wgan-gp n_critic 5"
QUICK_STEPS = 2
N_FAKE, QUICK_N_FAKE = 1000, 100
QUICK_CLASSIFIER = "fsdd-classifier-quick"
QUICK_BATCH = 8


def rms_dbfs(clips: torch.Tensor) -> float:
    """The mean over clips of each clip's RMS level in dB relative to full scale."""
    rms = clips.float().flatten(1).pow(2).mean(dim=1).sqrt().clamp_min(1e-10)
    return (20 * torch.log10(rms)).mean().item()


def spectral_flatness(clips: torch.Tensor, rate: int = 16000, band_hz: float = 4000.0, n_fft: int = 512) -> float:
    """Wiener entropy of the power spectrum below ``band_hz`` (FSDD is recorded at 8 kHz: the
    16 kHz clips hold nothing above 4 kHz), averaged over the frames that hold sound (within
    40 dB of the loudest frame of their clip) and over clips: ~0 for a pure tone, ~1 for
    white noise (speech is in between, lower in voiced parts)."""
    x = clips.float().mean(dim=1)
    spec = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs().pow(2)
    spec = spec[:, 1:int(band_hz / rate * n_fft)] + 1e-12  # without the DC bin
    flatness = torch.exp(torch.log(spec).mean(dim=1)) / spec.mean(dim=1)  # [N, frames]
    energy = spec.sum(dim=1)
    loud = energy >= energy.max(dim=1, keepdim=True).values * 1e-4
    per_clip = (flatness * loud).sum(dim=1) / loud.sum(dim=1).clamp_min(1)
    return per_clip.mean().item()


@torch.no_grad()
def generate_clips(G, n: int, seed: int) -> torch.Tensor:
    from ganzoo.networks import generate

    gen = torch.Generator().manual_seed(seed)
    z = G.sample_latent(n, generator=gen, device="cpu")
    return generate(G, z)


def classifier(ctx):
    """The benchmark's extractor: ``fsdd-classifier`` (trained on first use), or with
    ``--quick`` a throwaway one."""
    from ganzoo_plugins.wavegan import metrics as ac

    if not ctx.quick:
        return ac.load_fsdd_classifier("cpu", ctx.data_dir)
    weights, info = ac.classifier_files(QUICK_CLASSIFIER)
    if not (weights.is_file() and info.is_file()):
        ac.train_fsdd_classifier(ctx.data_dir, epochs=1, min_accuracy=0.0, name=QUICK_CLASSIFIER, limit=300)
    return ac.read_cached("cpu", name=QUICK_CLASSIFIER, min_accuracy=0.0)


def measure(ctx) -> dict:
    from ganzoo.plugins.build import load_dataset
    from ganzoo.data import shape_of
    from ganzoo.kinds.audio import join_clips, spectrogram, write_wav
    from ganzoo.metrics.scores import class_histogram, fid, inception_score
    from ganzoo.kinds.image import save_grid
    from ganzoo_plugins.wavegan.nets import build
    from ganzoo_plugins.wavegan import WaveGANConfig

    # --quick: a smaller batch (a smoke run of the same code, not a measurement)
    run = ctx.train("wavegan", steps=ctx.steps(STEPS), **({"batch_size": QUICK_BATCH} if ctx.quick else {}))
    G = run.load().modules["generator"].eval()
    extractor = classifier(ctx)
    n_fake = QUICK_N_FAKE if ctx.quick else N_FAKE

    train = load_dataset(ctx.registry, "fsdd", ctx.data_dir, "train")
    test = load_dataset(ctx.registry, "fsdd", ctx.data_dir, "test")
    real_test = test.fields["audio"].float() / 32768
    real_train = train.fields["audio"].float() / 32768
    if ctx.quick:
        real_train = real_train[::9]  # 300 clips, every digit
    fake = generate_clips(G, n_fake, ctx.seed + 1)

    torch.manual_seed(ctx.seed)  # the untrained generator: the run's own initialisation
    untrained = build(WaveGANConfig(**run.run.config.arch), shape_of(train)).generator.eval()
    floor = generate_clips(untrained, n_fake, ctx.seed + 1)

    train_features = extractor.features(real_train)

    def scores(clips: torch.Tensor) -> dict:
        logits = extractor.logits(clips)
        histogram = class_histogram(logits.argmax(dim=1), 10)
        return {"is": inception_score(logits, splits=10)["is_mean"],
                "fid": fid(train_features, extractor.features(clips))["fid"],
                "digits": histogram["modes"], "kl_uniform": histogram["kl_uniform"],
                "rms_dbfs": rms_dbfs(clips), "flatness": spectral_flatness(clips)}

    # the test split cycles through the ten digits, so each of the 10 consecutive parts the
    # inception score averages over holds every digit (a split sorted by digit would score ~1)
    trained, real, untrained_scores = scores(fake), scores(real_test), scores(floor)

    rows = torch.cat([spectrogram(fake[:8], 16000), spectrogram(real_test[:8], 16000)])
    grid = ctx.out / "families-wavegan.png"
    save_grid(rows, grid, nrow=8)
    write_wav(ctx.out / "families-wavegan.wav", join_clips(fake[:8], 16000), 16000)

    metric = {"inception score (1,000 generated, 10 splits)": trained["is"],
              "classifier-feature FID to the train split": trained["fid"],
              "digits predicted (of 10) / KL to uniform": f"{trained['digits']} / {trained['kl_uniform']:.3f}",
              "RMS dBFS / spectral flatness": f"{trained['rms_dbfs']:.1f} / {trained['flatness']:.3f}"}
    baseline = {"inception score of the real test split (ceiling)": real["is"],
                "inception score of the untrained G (floor)": untrained_scores["is"],
                "FID of the real test split to the train split": real["fid"],
                "FID of the untrained G": untrained_scores["fid"],
                "real test: digits / KL": f"{real['digits']} / {real['kl_uniform']:.3f}",
                "untrained G: digits / KL": f"{untrained_scores['digits']} / {untrained_scores['kl_uniform']:.3f}",
                "real test: RMS dBFS / flatness": f"{real['rms_dbfs']:.1f} / {real['flatness']:.3f}",
                "untrained G: RMS dBFS / flatness": f"{untrained_scores['rms_dbfs']:.1f} / "
                                                     f"{untrained_scores['flatness']:.3f}"}
    info = extractor.info
    notes = (f"{n_fake} generated clips (fixed seed) scored by {extractor.name} (test accuracy "
             f"{float(info.get('test_accuracy', math.nan)):.1%}); real = the 300 test clips. Grid: spectrograms, "
             "row 1 generated, row 2 real test digits 0-7 (speaker george, recording 0). The paper's d is 64 and "
             "it trains for days on a GPU: at this budget the generator has left its untrained tones for a "
             "noise-like spectrum, not yet digits. wavegan/families-wavegan.wav in the runs folder (--out): the first 8 generated clips.")
    return ctx.row(run, metric=metric, baseline=baseline, grid=grid, notes=notes)
