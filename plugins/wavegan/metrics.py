"""``fsdd-classifier``: a spoken-digit classifier on log-mel spectrograms, the feature extractor
behind WaveGAN's inception score, classifier-feature FID and per-digit coverage on FSDD.

The network (:class:`SpokenDigitCNN`) follows the classifier WaveGAN scores SC09 with (ANCHORS:
1024-point STFT, hop 128, 128 mel bins, four conv-BN-pool blocks, a 10-way output), scaled for
16,384 samples at 16 kHz: a log-mel spectrogram ``[1, 128 mels, 129 frames]`` (Hann window,
mel filterbank built here, log of the power + 1e-6, batch-normalised), four blocks of 3x3 conv
(8, 16, 32, 64 channels) - BN - ReLU - 2x2 max-pool (down to ``64 x 8 x 8``), the mean over
time (so a digit is recognised wherever it starts), a 128-d dense layer (BN, ReLU): the
**features**; dropout and a linear layer give the 10 logits.

Like ``mnist-classifier`` it is trained on first use, on ``fsdd``'s train split (2,700 clips),
and cached in ``cache_dir()/extractors/fsdd-classifier.safetensors`` with a ``.json`` beside it
(sha256, test accuracy, seed, ...); a cached file whose sha256 does not match, or whose test
accuracy is below :data:`MIN_ACCURACY`, is refused. Training augments each clip with a random
delay (up to :data:`MAX_DELAY` s: generated digits need not start at 0) and gain.

Inputs are clips in [-1, 1] ``[N, C, T]`` of 1.024 s: 16,384 samples (16 kHz, ``fsdd``) or
8,192 (8 kHz, ``fsdd-8k``: upsampled to 16 kHz first); channels are averaged.

Example::

    extractor = load_fsdd_classifier("cpu", "../shared/data")     # trains once (a few minutes)
    extractor.logits(audio)     # [N, 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.datasets.common import default_data_dir
from ganzoo.errors import ConfigError, GanzooError

NAME = "fsdd-classifier"
ARCHITECTURE = "logmel-cnn-8-64-v1"
FORMAT, FORMAT_VERSION = "ganzoo-extractor", "1"

RATE, SAMPLES = 16000, 16384
"""What the network reads: 1.024 s at 16 kHz."""

N_FFT, HOP, N_MELS = 1024, 128, 128
"""The log-mel front end (WaveGAN's SC09 classifier's)."""

CHANNELS = (8, 16, 32, 64)
"""The four blocks' widths: narrow, because FSDD's ten digits are an easy task and the
classifier trains on first use on a CPU (16-128 cost four times as much for nothing)."""

FEATURE_DIM, NUM_CLASSES = 128, 10

MIN_ACCURACY = 0.90
"""Test accuracy (on ``fsdd``'s test split) the classifier must reach to be cached and loaded."""

EPOCHS, BATCH_SIZE, MAX_LR = 10, 64, 3e-3
"""Recipe: Adam with a one-cycle learning rate (peak 3e-3), batch 64, 10 epochs."""

MAX_DELAY = 0.25
"""Seconds by which a training clip is delayed at most (zeros in front, the end cut)."""

GAIN_RANGE = (0.5, 1.5)
"""Each training clip is scaled by a gain drawn uniformly from this range."""

PREPARE = ("channels averaged; 8,192 samples (8 kHz) upsampled to 16,384 (16 kHz) by windowed-sinc; "
           "then log-mel (1024-point STFT, hop 128, 128 mel bins)")


# --------------------------------------------------------------------------- log-mel

def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """The HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, n_mels: int, rate: int, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]``: filter ``m`` rises from mel point
    ``m`` to ``m + 1`` and falls to ``m + 2`` (``n_mels + 2`` points equally spaced on the mel
    scale between ``f_min`` and ``f_max``, default Nyquist); its peak is 1.

    Example::

        mel_filterbank(1024, 128, 16000).shape    # (128, 513)
    """
    f_max = rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    points = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(f_min))), float(hz_to_mel(torch.tensor(f_max))),
                                      n_mels + 2, dtype=torch.float64))
    low, centre, high = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (freqs - low) / (centre - low)
    falling = (high - freqs) / (high - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMel(nn.Module):
    """Waveforms ``[N, 1, T]`` to log-mel power spectrograms ``[N, 1, n_mels, frames]``."""

    def __init__(self, rate: int = RATE, n_fft: int = N_FFT, hop: int = HOP, n_mels: int = N_MELS) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filterbank(n_fft, n_mels, rate), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.flatten(0, 1).float(), self.n_fft, self.hop, window=self.window, center=True,
                          return_complex=True).abs().pow(2)
        mel = torch.matmul(self.filters, spec)
        return torch.log(mel + 1e-6).unsqueeze(1)


# --------------------------------------------------------------------------- the network

class SpokenDigitCNN(nn.Module):
    """Log-mel, four conv-BN-ReLU-pool blocks, mean over time, 128-d features, 10 logits."""

    def __init__(self, num_classes: int = NUM_CLASSES, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.logmel = LogMel()
        self.norm = nn.BatchNorm2d(1)  # log power has an arbitrary offset and scale

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

        widths = (1, *CHANNELS)
        self.blocks = nn.Sequential(*(layer for cin, cout in zip(widths, widths[1:]) for layer in block(cin, cout)))
        bands = N_MELS // 16  # 128 mel bins after four poolings
        self.dense = nn.Sequential(nn.Dropout(0.25), nn.Linear(CHANNELS[-1] * bands, feature_dim, bias=False),
                                   nn.BatchNorm1d(feature_dim), nn.ReLU())
        self.classifier = nn.Sequential(nn.Dropout(0.25), nn.Linear(feature_dim, num_classes))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """``[N, 1, 16384]`` waveforms at 16 kHz -> ``[N, 128]``."""
        h = self.blocks(self.norm(self.logmel(audio)))  # [N, 64, 8 mel bands, 8 frames]
        return self.dense(h.mean(dim=3).flatten(1))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(audio))


def to_classifier_input(audio: torch.Tensor) -> torch.Tensor:
    """Clips in [-1, 1] ``[N, C, T]`` as ``[N, 1, 16384]`` at 16 kHz (see :data:`PREPARE`).

    Raises:
        ConfigError: the clips are not ``[N, C, T]`` float with 16,384 or 8,192 samples.
    """
    from .data import resample

    if not audio.is_floating_point() or audio.dim() != 3:
        raise ConfigError(f"{NAME} takes float clips [N, C, T] in [-1, 1], got {audio.dtype} {tuple(audio.shape)}")
    x = audio.mean(dim=1, keepdim=True)
    if x.shape[-1] == SAMPLES // 2:
        x = resample(x, RATE // 2, RATE)
    if x.shape[-1] != SAMPLES:
        raise ConfigError(f"{NAME} reads 1.024 s clips: 16384 samples at 16 kHz or 8192 at 8 kHz, "
                          f"got {x.shape[-1]} samples")
    return x


# --------------------------------------------------------------------------- training and the cache

def classifier_files(name: str = NAME) -> tuple[Path, Path]:
    """``(weights .safetensors, info .json)`` in ganzoo's extractor cache."""
    from ganzoo.metrics.extractors import classifier_paths

    return classifier_paths(name)


def augment(audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each clip ``[N, 1, T]`` delayed by up to :data:`MAX_DELAY` s (zeros in front, its end
    cut) and scaled by a gain from :data:`GAIN_RANGE`."""
    n, _, length = audio.shape
    delays = torch.randint(0, int(MAX_DELAY * RATE) + 1, (n,), generator=generator)
    index = torch.arange(length)[None, :] - delays[:, None]
    shifted = audio[:, 0].gather(1, index.clamp(min=0)) * (index >= 0)
    low, high = GAIN_RANGE
    gains = low + (high - low) * torch.rand(n, 1, generator=generator)
    return (shifted * gains).unsqueeze(1)


def accuracy(net: nn.Module, audio: torch.Tensor, labels: torch.Tensor, batch_size: int = 250) -> float:
    """Top-1 accuracy of ``net`` on int16 or float clips ``[N, 1, 16384]``."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(audio), batch_size):
            x = _as_float(audio[start:start + batch_size])
            correct += int((net(x).argmax(1) == labels[start:start + batch_size]).sum())
    return correct / max(1, len(audio))


def _as_float(audio: torch.Tensor) -> torch.Tensor:
    return audio.float() / 32768.0 if audio.dtype == torch.int16 else audio.float()


def train_fsdd_classifier(data_dir: str | Path | None = None, seed: int = 0, *, epochs: int = EPOCHS,
                          min_accuracy: float | None = None, name: str = NAME, limit: int | None = None) -> Path:
    """Train :class:`SpokenDigitCNN` on ``fsdd``'s train split, test it on the test split, and
    cache it when its accuracy reaches ``min_accuracy``.

    Args:
        data_dir: the folder holding ``FSDD/recordings``; default :func:`ganzoo.datasets.common.default_data_dir`.
        seed: fixes initialisation, dropout, augmentation and batch order.
        epochs: passes over the train split.
        min_accuracy: the test accuracy required to cache it (default :data:`MIN_ACCURACY`).
        name: the cache name (tests and smoke runs use another).
        limit: train on at most this many clips, evenly spaced through the split (which is
            sorted by digit), for smoke runs.

    Returns:
        The weights file (``<name>.json`` is written beside it, both atomically).

    Raises:
        GanzooError: the test accuracy is below ``min_accuracy`` (nothing is cached).
    """
    from ganzoo.metrics.extractors import fit_one_cycle, write_cached_extractor
    from .data import load_fsdd

    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    min_accuracy = MIN_ACCURACY if min_accuracy is None else min_accuracy
    weights, info_file = classifier_files(name)
    cache, data = weights.parent.resolve(), data_dir.resolve()
    if cache == data or data in cache.parents:
        raise ConfigError(f"the extractor cache {cache} lies inside the data folder {data}; "
                          "set $GANZOO_CACHE_DIR to a folder elsewhere")
    train, test = load_fsdd(data_dir, "train"), load_fsdd(data_dir, "test")
    audio, labels = train.fields["audio"], train.labels
    if limit is not None and limit < len(audio):
        keep = torch.linspace(0, len(audio) - 1, limit).round().long()
        audio, labels = audio[keep], labels[keep]
    batch_size = min(BATCH_SIZE, len(audio))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SpokenDigitCNN()
        seconds = fit_one_cycle(
            net, len(audio), lambda index, order: F.cross_entropy(net(augment(_as_float(audio[index]), order)),
                                                                  labels[index]),
            epochs=epochs, batch_size=batch_size, max_lr=MAX_LR, seed=seed)
    test_accuracy = accuracy(net, test.fields["audio"], test.labels)
    if test_accuracy < min_accuracy:
        raise GanzooError(f"{name} reached only {test_accuracy:.2%} test accuracy on fsdd after {epochs} epochs "
                          f"(needs >= {min_accuracy:.2%}); not cached")

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "architecture": ARCHITECTURE,
            "dataset": "fsdd", "seed": str(seed), "test_accuracy": repr(test_accuracy)}
    info = {"name": name, "test_accuracy": test_accuracy, "min_accuracy": min_accuracy,
            "seed": seed, "dataset": "fsdd", "epochs": epochs, "train_clips": len(audio),
            "test_clips": len(test.labels), "train_seconds": round(seconds, 1), "architecture": ARCHITECTURE,
            "format_version": FORMAT_VERSION, "torch": torch.__version__}
    write_cached_extractor(weights, info_file, net.state_dict(), meta, info)
    return weights


def read_cached(device: str | torch.device = "cpu", name: str = NAME, min_accuracy: float | None = None):
    """The cached classifier as an audio :class:`~ganzoo.metrics.extractors.Extractor`, refused
    below ``min_accuracy`` (default :data:`MIN_ACCURACY`).

    Raises:
        CheckpointError: the JSON is unreadable, the weights do not match its sha256, the file
            is not this architecture, or its recorded accuracy is below ``min_accuracy``.
    """
    from ganzoo.metrics.extractors import Extractor, read_cached_extractor

    min_accuracy = MIN_ACCURACY if min_accuracy is None else min_accuracy
    weights, info_file = classifier_files(name)
    net = SpokenDigitCNN()
    _, info, digest = read_cached_extractor(
        weights, info_file, name=name, expect={"format": FORMAT, "architecture": ARCHITECTURE},
        what=f"{ARCHITECTURE} extractor", min_accuracy=min_accuracy, into=net,
        architecture=ARCHITECTURE)
    return Extractor(name, net, sha256=digest, feature_dim=FEATURE_DIM, resize=PREPARE,
                     prepare=to_classifier_input, num_classes=NUM_CLASSES, device=device, info=info, kind="audio")


def load_fsdd_classifier(device: str | torch.device = "cpu", data_dir: str | Path | None = None):
    """``fsdd-classifier`` (``ExtractorSpec.load``): the cached classifier, trained on first use."""
    weights, info_file = classifier_files()
    if not (weights.is_file() and info_file.is_file()):
        data = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        print(f"ganzoo: training the {NAME} extractor on fsdd from {data} (first use, a few minutes on CPU); "
              f"caching it in {weights.parent}", file=sys.stderr, flush=True)
        train_fsdd_classifier(data)
    return read_cached(device)
