"""The ``audio`` kind: clips ``[N, C, T]``, float in [-1, 1] or int16.

What a person gets of generated clips: one PNG of their spectrograms (log magnitude, low
frequencies at the bottom, time across) and a 16-bit WAV file per clip, through soundfile
(the libsndfile binding, which also reads every WAV flavour a user may bring).

Example::

    save_spectrograms(audio, "grid.png", rate=16000)   # one spectrogram per clip
    write_wav("first.wav", audio[0], rate=16000)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import ConfigError
from ..files import suffixed, write_atomically
from . import FieldKind, FieldShape
from .image import grid_image, save_grid

SPECTROGRAM_DB = 80.0
"""The dynamic range shown by a spectrogram: a full-scale sine is white, 80 dB below it black."""

DEFAULT_RATE = 16000
"""Samples per second assumed for clips whose field names no rate."""

SPECTROGRAMS_PER_ROW = 4
"""Spectrograms side by side in a picture of clips (they are wide)."""


def _as_clips(audio: torch.Tensor) -> torch.Tensor:
    """``[N, C, T]`` float from ``[T]``, ``[C, T]`` or ``[N, C, T]`` (int16 scaled to [-1, 1])."""
    audio = torch.as_tensor(audio)
    if audio.dtype == torch.int16:
        audio = audio.float() / 32768.0
    audio = audio.detach().float().cpu()
    while audio.dim() < 3:
        audio = audio.unsqueeze(0)
    if audio.dim() != 3:
        raise ConfigError(f"audio must be [N, C, T], got shape {tuple(audio.shape)}")
    return audio


def spectrogram(audio: torch.Tensor, rate: int | None = None, n_fft: int | None = None,
                hop: int | None = None) -> torch.Tensor:
    """Log-magnitude spectrograms of clips as images ``[N, 1, F, frames]`` in [-1, 1].

    Channels are averaged; the STFT uses a Hann window of ``n_fft`` samples (default: 32 ms
    at ``rate``, at least 64) and a hop of an eighth of it. The scale is absolute, so
    quiet audio looks dim and silence black: white is a full-scale sine, black
    :data:`SPECTROGRAM_DB` below it; low frequencies at the bottom.

    Args:
        audio: ``[N, C, T]`` (or ``[C, T]``, ``[T]``) float in [-1, 1] or int16.
        rate: samples per second (sets the default window).
        n_fft, hop: STFT window and hop in samples.
    """
    clips = _as_clips(audio).mean(dim=1)
    if n_fft is None:
        n_fft = max(64, 2 ** round(math.log2(0.032 * (rate or DEFAULT_RATE))))
    n_fft = min(n_fft, max(16, clips.shape[-1]))
    hop = hop or max(1, n_fft // 8)
    window = torch.hann_window(n_fft)
    spec = torch.stft(clips, n_fft=n_fft, hop_length=hop, window=window, center=True,
                      return_complex=True).abs()
    full_scale = window.sum() / 2  # the peak magnitude of a full-scale sine
    db = 20 * torch.log10((spec / full_scale).clamp_min(1e-8))
    image = (db / SPECTROGRAM_DB + 1).clamp(0, 1) * 2 - 1
    return image.flip(-2).unsqueeze(1)  # [N, 1, F, frames], low frequencies at the bottom


def save_spectrograms(audio: torch.Tensor, path: str | Path, rate: int | None = None,
                      nrow: int | None = None) -> Path:
    """Write one PNG with a spectrogram per clip (a grid, ``nrow`` per row; default: 4
    wide-ish columns or fewer). Returns the path."""
    images = spectrogram(audio, rate)
    save_grid(images, Path(path), nrow=nrow or min(4, len(images)))
    return Path(path)


def write_wav(path: str | Path, audio: torch.Tensor, rate: int) -> Path:
    """Write one clip ``[C, T]`` (or ``[T]``) in [-1, 1] as a 16-bit PCM WAV file
    (through a temporary file and a rename). Returns the path."""
    import soundfile

    clip = _as_clips(audio)
    if len(clip) != 1:
        raise ConfigError(f"write_wav writes one clip, got {len(clip)}")
    frames = clip[0].clamp(-1, 1).transpose(0, 1).numpy()  # [T, C], soundfile's layout
    path = Path(path)
    write_atomically(path, lambda tmp: soundfile.write(str(tmp), frames, int(rate), subtype="PCM_16",
                                                    format="WAV"))
    return path


def read_wav(path: str | Path) -> tuple[torch.Tensor, int]:
    """A sound file as float32 ``[C, T]`` in [-1, 1] and its sample rate.

    Raises:
        ConfigError: the file is missing, empty or not audio soundfile can read (one line
            that names the file).
    """
    import soundfile

    path = Path(path)
    try:
        frames, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"cannot read {path} as audio: {reason}") from None
    if frames.shape[0] == 0:
        raise ConfigError(f"{path} holds no audio samples")
    return torch.from_numpy(frames).transpose(0, 1).contiguous(), int(rate)


def join_clips(audio: torch.Tensor, rate: int, gap: float = 0.25) -> torch.Tensor:
    """Clips ``[N, C, T]`` one after another with ``gap`` seconds of silence between them,
    as one clip ``[C, N*T + gaps]`` (a preview you listen to in one go)."""
    clips = _as_clips(audio)
    silence = torch.zeros(clips.shape[1], int(gap * rate))
    parts = []
    for i, clip in enumerate(clips):
        if i:
            parts.append(silence)
        parts.append(clip)
    return torch.cat(parts, dim=-1)


def clip_file(stem: Path, index: int, count: int) -> Path:
    """The WAV file of clip ``index`` of ``count``: ``STEM-000.wav``, ``STEM-001.wav``, ..."""
    width = max(3, len(str(count - 1)))
    return stem.parent / f"{stem.name}-{index:0{width}d}.wav"


class AudioKind(FieldKind):
    name = "audio"
    stored = "float [N, C, T] in [-1, 1], or int16 (scaled by 1/32768)"
    generated = True
    noun = "clips"
    caption = "A spectrogram per clip (time across, frequency up, silence is black) and the first clips to play."
    default_metrics = ("fid",)
    sample_suffixes = (".png", ".wav")
    preview_limit = 16
    preview_one_by_one = 4
    rate_unit = "Hz"

    def validate(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.dim() != 3 or not (tensor.is_floating_point() or tensor.dtype == torch.int16):
            raise ValueError(f"{name} must be a float or int16 tensor [N, C, T]")

    def prepare(self, batch: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return batch.float() / 32768.0 if batch.dtype == torch.int16 else batch.float()

    def synthetic(self, n: int, shape: tuple[int, ...], generator: torch.Generator,
                  field: FieldShape | None = None) -> torch.Tensor:
        return torch.rand(n, *shape, generator=generator) * 2 - 1

    def examples(self, labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, FieldShape]:
        """About a second of a tone (16,384 samples at 16 kHz) whose pitch is the label."""
        samples = 16384
        t = torch.arange(samples) / DEFAULT_RATE
        tone = 0.5 * torch.sin(2 * math.pi * (200.0 + 100.0 * labels.float())[:, None] * t[None, :])
        audio = tone + 0.01 * torch.randn(len(labels), samples, generator=generator)
        return audio.clamp(-1, 1).unsqueeze(1), FieldShape(self.name, (1, samples), rate=DEFAULT_RATE)

    def check_samples(self, samples: torch.Tensor, field: FieldShape | None = None) -> str | None:
        if not samples.is_floating_point():
            return f"audio must be float, got {samples.dtype}"
        if samples.numel() and (samples.min() < -1 - 1e-4 or samples.max() > 1 + 1e-4):
            return f"audio must be in [-1, 1], got [{float(samples.min()):.3g}, {float(samples.max()):.3g}]"
        return None

    def write_samples(self, samples: torch.Tensor, stem: Path, field: FieldShape | None = None, *,
                      nrow: int | None = None, reference: torch.Tensor | None = None,
                      one_by_one: int | None = None) -> list[Path]:
        rate = _rate(field)
        stem = Path(stem)
        written = [save_spectrograms(samples, suffixed(stem, ".png"), rate, nrow=nrow)]
        clips = samples[:one_by_one] if one_by_one is not None else samples
        for i, clip in enumerate(clips):
            written.append(write_wav(clip_file(stem, i, len(clips)), clip, rate))
        return written

    def logged(self, samples: torch.Tensor, field: FieldShape | None = None, *,
               wants: Callable[[str], bool] = lambda method: True, nrow: int | None = None,
               reference: torch.Tensor | None = None, one_by_one: int | None = None) -> list[tuple[str, tuple]]:
        rate = _rate(field)
        calls = []
        if wants("image"):
            picture = grid_image(spectrogram(samples, rate), nrow or min(SPECTROGRAMS_PER_ROW, len(samples)))
            calls.append(("image", (picture,)))
        clips = samples[:one_by_one] if one_by_one is not None else samples
        if wants("audio"):
            calls += [("audio", (f"samples/{i}", clip, rate)) for i, clip in enumerate(clips)]
        return calls

    def npz_arrays(self, samples: torch.Tensor, field: FieldShape | None = None) -> dict[str, Any]:
        import numpy as np

        arrays = {"audio": samples.clamp(-1, 1).numpy().astype("float32")}
        if field is not None and field.rate:
            arrays["rate"] = np.asarray(field.rate, dtype="int64")
        return arrays

    def describe_output(self, shape: Sequence[int], field: FieldShape | None = None) -> dict[str, Any]:
        return {"name": "audio", "dtype": "float32", "shape": ["N", *shape],
                "description": "audio [N, channels, samples] in [-1, 1]", "range": [-1, 1]}

    def export_info(self, field: FieldShape | None = None) -> dict[str, Any]:
        if field is None or not field.rate:
            return {}
        return {"rate": field.rate, "rate_unit": "samples per second"}


def _rate(field: FieldShape | None) -> int:
    return field.rate if field is not None and field.rate else DEFAULT_RATE


KIND = AudioKind()
