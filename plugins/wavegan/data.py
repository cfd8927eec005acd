"""Audio datasets: the Free Spoken Digit Dataset (``fsdd``, ``fsdd-8k``) and a folder of the
user's own sound files (``audio-folder``), as fixed-length clips in memory.

Every clip becomes one channel of ``CLIP_SAMPLES`` (16,384: WaveGAN's length, 1.024 s at
16 kHz) int16 samples (batches become float in [-1, 1]): a file is resampled to the dataset's
rate (:func:`resample`, a windowed-sinc polyphase resampler in torch), multi-channel files are
mixed down to mono (and a note says so), then the clip is the file's **first** ``CLIP_SAMPLES``
samples, padded with silence at the end when the file is shorter (WaveGAN's SC09 loader: first
slice, pad end). FSDD recordings are 0.14 to 2.3 s long (median 0.42 s), so almost every digit
is whole, at the start of its clip.

FSDD (``FSDD/recordings/{digit}_{speaker}_{index}.wav``, 8 kHz, 10 digits, 6 speakers, 50
recordings each): the official split puts indices 0-4 of every speaker and digit in the test
split (300 clips) and 5-49 in the train split (2,700); the label is the digit. Items are
ordered by index, speaker, digit (each ten in a row are the ten digits). ``fsdd`` is
upsampled to 16 kHz (16,384 samples = 1.024 s); ``fsdd-8k`` keeps the files' 8 kHz and the same
duration (8,192 samples).

Example::

    data = load_fsdd(Path("../shared/data"), "train")   # audio int16 [2700, 1, 16384], label [2700]
    resample(torch.sin(...), 8000, 16000)               # same tone, twice the samples
"""

from __future__ import annotations

import functools
import math
import re
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import ItemData
from ganzoo.datasets.folders import find_files
from ganzoo.errors import ConfigError, DataUnavailableError

CLIP_SAMPLES = 16384
"""Samples per clip at 16 kHz (WaveGAN's 16,384: 1.024 s)."""

CLIP_SECONDS = CLIP_SAMPLES / 16000
"""The clip duration every dataset here keeps, whatever its rate."""

FSDD_RATE = 8000
"""The rate FSDD is recorded at."""

FSDD_FOLDER = "FSDD/recordings"
"""Where FSDD's WAV files lie inside the data folder."""

FSDD_NAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>[0-9]+)\.wav$")
"""FSDD's file names: ``{digit}_{speaker}_{index}.wav``."""

FSDD_TEST_INDICES = 5
"""Recordings 0-4 of each speaker and digit form the test split (the dataset's own split)."""

AUDIO_EXTENSIONS = (".wav", ".flac")
"""File endings (any case) an audio folder is searched for (any format libsndfile reads)."""

FOLDER_RATE = 16000
"""The rate ``audio-folder`` resamples every file to."""

RESAMPLE_ZEROS = 16
"""Zero crossings of the windowed sinc on each side (a longer filter: a sharper band edge)."""

RESAMPLE_ROLLOFF = 0.95
"""The low-pass cut-off as a fraction of the lower rate's Nyquist frequency (anti-aliasing margin)."""

RESAMPLE_CHUNK = 256
"""Clips resampled by one convolution."""


# --------------------------------------------------------------------------- resampling

def resample(audio: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling of float audio ``[..., T]`` from ``orig_rate`` to ``new_rate``.

    A polyphase windowed-sinc filter: after dividing both rates by their gcd (``orig``,
    ``new``), each of the ``new`` output phases is a Hann-windowed sinc with
    :data:`RESAMPLE_ZEROS` zero crossings each side, cut off at :data:`RESAMPLE_ROLLOFF` times
    the lower rate's Nyquist frequency, applied by one strided ``conv1d`` (the construction of
    torchaudio's ``resample``). The output has ``ceil(T * new / orig)`` samples; a sine below
    the cut-off keeps its frequency and amplitude, content above it is removed (no aliasing
    when downsampling).

    Example::

        tone = torch.sin(2 * math.pi * 440 * torch.arange(8000) / 8000)
        resample(tone, 8000, 16000).shape     # (16000,): the same 440 Hz tone at 16 kHz
    """
    if orig_rate <= 0 or new_rate <= 0:
        raise ConfigError(f"sample rates must be positive, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate:
        return audio
    gcd = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // gcd, int(new_rate) // gcd
    kernels, width = _sinc_kernels(orig, new)
    kernels = kernels.to(audio.dtype if audio.is_floating_point() else torch.float32)

    shape, length = audio.shape[:-1], audio.shape[-1]
    x = audio.reshape(-1, 1, length).to(kernels.dtype)
    x = F.pad(x, (width, width + orig))
    y = F.conv1d(x, kernels.unsqueeze(1), stride=orig)  # [B, new phases, frames]
    y = y.transpose(1, 2).reshape(x.shape[0], -1)
    return y[:, :math.ceil(new * length / orig)].reshape(*shape, -1)


@functools.lru_cache(maxsize=8)
def _sinc_kernels(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """The ``new`` polyphase filters ``[new, 2 * width + orig]`` (float64) and ``width``."""
    cutoff = min(orig, new) * RESAMPLE_ROLLOFF  # in units of the reduced rates
    width = math.ceil(RESAMPLE_ZEROS * orig / cutoff)  # filter half-length, in input samples
    # t[phase, k]: the distance (in input samples) from output phase `phase` to input tap k
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    t = (taps[None, :] - torch.arange(new, dtype=torch.float64)[:, None] / new) * cutoff
    t = t.clamp(-RESAMPLE_ZEROS, RESAMPLE_ZEROS)
    window = torch.cos(t * math.pi / RESAMPLE_ZEROS / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return sinc * window * cutoff / orig, width


# --------------------------------------------------------------------------- clips

def fit_clip(audio: torch.Tensor, samples: int) -> torch.Tensor:
    """The first ``samples`` samples of ``[C, T]`` audio, padded with zeros at the end.

    Example::

        fit_clip(torch.ones(1, 3), 5)    # [[1, 1, 1, 0, 0]]
    """
    if audio.shape[-1] >= samples:
        return audio[..., :samples]
    return F.pad(audio, (0, samples - audio.shape[-1]))


def to_int16(audio: torch.Tensor) -> torch.Tensor:
    """Float audio in [-1, 1] as int16 (x 32768, rounded, clipped): batches divide by 32768,
    so 16-bit input (every FSDD file) comes back exactly."""
    return (audio * 32768.0).round().clamp(-32768, 32767).to(torch.int16)


def read_mono(path: Path, mixed: list[Path]) -> tuple[torch.Tensor, int]:
    """One file as float ``[1, T]`` and its rate, mixed down to mono (then the file is
    appended to ``mixed``).

    Raises:
        ConfigError: the file is not audio libsndfile can read (one line naming it).
    """
    from ganzoo.kinds.audio import read_wav

    audio, rate = read_wav(path)
    if audio.shape[0] > 1:
        audio = audio.mean(dim=0, keepdim=True)
        mixed.append(path)
    return audio, rate


def clip_samples(rate: int) -> int:
    """Samples of a :data:`CLIP_SECONDS` clip at ``rate`` (16,384 at 16 kHz, 8,192 at 8 kHz)."""
    return round(CLIP_SECONDS * rate)


def _note_mixed(mixed: list[Path]) -> None:
    if mixed:
        more = f" and {len(mixed) - 1} more" if len(mixed) > 1 else ""
        print(f"ganzoo: note: mixed {mixed[0]}{more} down to mono (the clips have one channel)",
              file=sys.stderr, flush=True)


def read_clips(paths: list[Path], rate: int) -> torch.Tensor:
    """Files as int16 clips ``[N, 1, T]`` of :data:`CLIP_SECONDS` at ``rate``: mixed down to
    mono, first slice, padded at the end, resampled.

    Each file is cut (or padded) to the clip's duration at its own rate, plus the
    resampler's reach, so files of one rate are resampled together in a few large
    convolutions (thousands of small ones are slow).
    """
    samples = clip_samples(rate)
    mixed: list[Path] = []
    by_rate: dict[int, list[tuple[int, torch.Tensor]]] = {}
    for i, path in enumerate(paths):
        audio, file_rate = read_mono(path, mixed)
        needed = math.ceil(samples * file_rate / rate) + (64 if file_rate != rate else 0)
        by_rate.setdefault(file_rate, []).append((i, fit_clip(audio, needed)))
    _note_mixed(mixed)
    clips = torch.empty(len(paths), 1, samples)
    for file_rate, items in by_rate.items():
        for start in range(0, len(items), RESAMPLE_CHUNK):
            part = items[start:start + RESAMPLE_CHUNK]
            audio = resample(torch.stack([clip for _, clip in part]), file_rate, rate)
            clips[torch.tensor([i for i, _ in part])] = fit_clip(audio, samples)
    return to_int16(clips)  # at once: elementwise ops on thousands of small tensors are slow


def _check_split(split: str, name: str) -> None:
    if split not in ("train", "test"):
        raise ConfigError(f"dataset {name} has the splits train and test, not {split!r}")


# --------------------------------------------------------------------------- FSDD

def fsdd_files(data_dir: Path, split: str) -> list[tuple[Path, int]]:
    """``(path, digit)`` of every FSDD recording of ``split``, sorted by index, then speaker,
    then digit: every run of ten consecutive items holds the ten digits, so the first ``n``
    items (what ``ganzoo eval`` takes as real samples) cover every digit and speaker.

    Raises:
        DataUnavailableError: the recordings folder is missing or holds no WAV file.
        ConfigError: a ``.wav`` file is not named ``{digit}_{speaker}_{index}.wav``.
    """
    folder = Path(data_dir).expanduser() / FSDD_FOLDER
    hint = ("put the Free Spoken Digit Dataset's recordings (https://github.com/Jakobovski/"
            f"free-spoken-digit-dataset) in {folder}/ as {{digit}}_{{speaker}}_{{index}}.wav")
    if not folder.is_dir():
        raise DataUnavailableError(f"FSDD not found: {folder} does not exist; {hint}")
    found = []
    for path in folder.iterdir():
        # a FIFO or device named *.wav would block its reader for ever: regular files only
        if path.name.startswith(".") or not path.name.lower().endswith(".wav") or not path.is_file():
            continue
        match = FSDD_NAME.match(path.name)
        if match is None:
            raise ConfigError(f"{path} is not named {{digit}}_{{speaker}}_{{index}}.wav as FSDD's recordings are")
        digit, speaker, index = int(match["digit"]), match["speaker"], int(match["index"])
        if (index < FSDD_TEST_INDICES) == (split == "test"):
            found.append(((index, speaker, digit), path))
    if not found:
        raise DataUnavailableError(f"no {split} recordings in {folder}; {hint}")
    return [(path, key[2]) for key, path in sorted(found)]


def load_fsdd_at(data_dir: Path, split: str, rate: int) -> ItemData:
    """FSDD's ``split`` as clips of :data:`CLIP_SECONDS` at ``rate`` (``audio`` int16
    ``[N, 1, T]``, ``label`` = the digit)."""
    _check_split(split, "fsdd")
    files = fsdd_files(Path(data_dir), split)
    audio = read_clips([path for path, _ in files], rate)
    labels = torch.tensor([digit for _, digit in files], dtype=torch.int64)
    return ItemData({"audio": audio, "label": labels}, num_classes=10, rates={"audio": rate})


def load_fsdd(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``fsdd``: FSDD upsampled to 16 kHz, 16,384 samples a clip (``image_size`` is ignored)."""
    return load_fsdd_at(data_dir, split, 16000)


def load_fsdd_8k(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``fsdd-8k``: FSDD at its own 8 kHz, 8,192 samples a clip (``image_size`` is ignored)."""
    return load_fsdd_at(data_dir, split, FSDD_RATE)


# --------------------------------------------------------------------------- a folder of sounds

def find_audio(folder: Path) -> list[Path]:
    """Every sound file (:data:`AUDIO_EXTENSIONS`) under ``folder``, recursively (following
    links once), hidden names skipped, sorted by relative path."""
    return find_files(folder, AUDIO_EXTENSIONS)


def load_audio_folder(data_dir: Path, split: str = "train", image_size: int | None = None) -> ItemData:
    """``audio-folder``: every sound file in a folder (``data_dir`` itself), resampled to
    16 kHz, mixed down to mono, first 16,384 samples (padded at the end).

    When every file lies inside a first-level subfolder, the sorted subfolder names are the
    classes (as ``image-folder``); otherwise the data is unlabelled. Both splits read the
    same folder. Nothing is written.

    Raises:
        DataUnavailableError: the folder is missing or holds no sound file.
        ConfigError: a file cannot be read as audio (one line naming it).
    """
    _check_split(split, "audio-folder")
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataUnavailableError(f"audio folder {folder} does not exist or is not a folder; "
                                   "pass the folder of sound files as --data-dir")
    paths = find_audio(folder)
    if not paths:
        raise DataUnavailableError(f"no sound files found in {folder} (looked recursively for "
                                   f"{', '.join(AUDIO_EXTENSIONS)} files)")
    audio = read_clips(paths, FOLDER_RATE)
    parts = [path.relative_to(folder).parts for path in paths]
    if all(len(p) > 1 for p in parts):
        classes = sorted({p[0] for p in parts})
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[p[0]] for p in parts], dtype=torch.int64)
        return ItemData({"audio": audio, "label": labels}, num_classes=len(classes), rates={"audio": FOLDER_RATE})
    return ItemData({"audio": audio}, rates={"audio": FOLDER_RATE})
