"""What a person listens to, watches or reads: audio, video and text outputs as files.

Images have :mod:`ganzoo.kinds.grids`; this module is its twin for the other field kinds:

- audio (float ``[N, C, T]`` in [-1, 1]): :func:`spectrogram` images (log magnitude, low
  frequencies at the bottom), :func:`write_wav` / :func:`read_wav` (16-bit PCM through
  soundfile, the libsndfile binding, which reads every WAV flavour a user may bring);
- video (float ``[N, C, T, H, W]`` in [-1, 1]): :func:`video_strip` (one row of frames per
  clip) and :func:`save_gif` (every clip playing in one animated grid);
- tokens (int64 ``[N, L]``): :func:`decode_tokens` with the field's vocabulary, :func:`save_text`.

Every file is written to a temporary name and renamed, so a crash never leaves half a file.

Example::

    save_spectrograms(audio, "grid.png", rate=16000)   # one spectrogram per clip
    write_wav("first.wav", audio[0], rate=16000)
    save_gif(video, "clips.gif", fps=8)
    print("\\n".join(decode_tokens(tokens, vocabulary)))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch

from ..errors import ConfigError
from ..files import write_atomically
from .grids import make_grid, save_grid, square_nrow

EOS, PAD, UNK = "<eos>", "<pad>", "<unk>"
"""Special tokens: decoding stops at the first ``<eos>`` and drops ``<pad>``."""

SPECTROGRAM_DB = 80.0
"""The dynamic range shown by a spectrogram: a full-scale sine is white, 80 dB below it black."""


# --------------------------------------------------------------------------- audio

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
        n_fft = max(64, 2 ** round(math.log2(0.032 * (rate or 16000))))
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


# --------------------------------------------------------------------------- video

def _as_video(video: torch.Tensor) -> torch.Tensor:
    video = torch.as_tensor(video)
    if video.dtype == torch.uint8:
        video = video.float() / 127.5 - 1
    video = video.detach().float().cpu()
    if video.dim() == 4:
        video = video.unsqueeze(0)
    if video.dim() != 5:
        raise ConfigError(f"video must be [N, C, T, H, W], got shape {tuple(video.shape)}")
    return video


def video_strip(video: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Clips ``[N, C, T, H, W]`` as frames ``[N*T, C, H, W]``, one row per clip.

    Returns:
        ``(frames, per_row)`` for :func:`ganzoo.kinds.grids.save_grid`.
    """
    clips = _as_video(video)
    n, c, t, h, w = clips.shape
    return clips.transpose(1, 2).reshape(n * t, c, h, w), t


def save_video_strip(video: torch.Tensor, path: str | Path) -> Path:
    """Write a PNG with one row of frames per clip."""
    frames, per_row = video_strip(video)
    save_grid(frames, Path(path), nrow=per_row)
    return Path(path)


def save_gif(video: torch.Tensor, path: str | Path, fps: int | None = None, nrow: int | None = None) -> Path:
    """Write an animated GIF: every clip plays at once, tiled in a grid (``nrow`` per row,
    default the squarest), looping forever at ``fps`` frames per second (default 8)."""
    from PIL import Image

    clips = _as_video(video)
    n, _, t = clips.shape[:3]
    nrow = nrow or square_nrow(n)
    frames = []
    for k in range(t):
        grid = make_grid(clips[:, :, k], nrow=nrow, normalize=True, value_range=(-1, 1))
        pixels = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
        frames.append(Image.fromarray(pixels))
    duration = int(round(1000 / (fps or 8)))
    path = Path(path)
    write_atomically(path, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                   duration=duration, loop=0))
    return path


# --------------------------------------------------------------------------- tokens

def decode_tokens(tokens: torch.Tensor, vocabulary: Sequence[str] | None) -> list[str]:
    """Sentences from token ids ``[N, L]``: words joined by spaces, up to the first
    ``<eos>``, ``<pad>`` dropped. Without a vocabulary the ids are written as numbers.

    Example::

        decode_tokens(torch.tensor([[3, 4, 1, 5]]), ["<pad>", "<eos>", "<unk>", "the", "cat", "x"])
        # ["the cat"]
    """
    tokens = torch.as_tensor(tokens)
    if tokens.dim() == 1:
        tokens = tokens.unsqueeze(0)
    if tokens.dim() != 2 or tokens.is_floating_point():
        raise ConfigError(f"tokens must be integer ids [N, L], got {tokens.dtype} {tuple(tokens.shape)}")
    lines = []
    for row in tokens.tolist():
        words = []
        for token in row:
            if vocabulary is None:
                words.append(str(token))
                continue
            if not 0 <= token < len(vocabulary):
                raise ConfigError(f"token id {token} is outside the vocabulary of {len(vocabulary)}")
            word = vocabulary[token]
            if word == EOS:
                break
            if word != PAD:
                words.append(word)
        lines.append(" ".join(words))
    return lines


def save_text(lines: Sequence[str], path: str | Path) -> Path:
    """Write one line per sentence (UTF-8), through a temporary file and a rename."""
    path = Path(path)
    text = "".join(f"{line}\n" for line in lines)
    write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
