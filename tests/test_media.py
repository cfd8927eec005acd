"""Audio, video and text in the core: the media files a person listens to, watches or reads,
field rates and vocabularies, previews and `ganzoo sample` by the data's kind, the
inception score, extractors of other kinds, and the conformance kit's media data.

The families themselves (WaveGAN, VGAN, RelGAN) have their own tests; here tiny in-process
models of each kind exercise the core paths on their own."""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganzoo import hookimpl
from ganzoo.algorithms import Algorithm, discriminator_update, generator_adversarial
from ganzoo.config import resolve_config
from ganzoo.data import DataShape, ItemData, shape_of
from ganzoo.errors import ConfigError
from ganzoo.kinds.tokens import decode_tokens
from ganzoo.kinds.audio import read_wav, spectrogram, write_wav
from ganzoo.kinds.video import save_gif, video_strip
from ganzoo.metrics.extractors import Extractor
from ganzoo.metrics.scores import inception_score
from ganzoo.networks import Discriminator, Generator, Networks
from ganzoo.training.run import train
from ganzoo.outputs.sampling import load
from ganzoo.specs import AlgorithmSpec, DatasetSpec, ExtractorSpec, ModelSpec
from ganzoo.testing import check_model
from ganzoo.training.progress import make_reporter

RATE = 8000
T = 512
VOCAB = ("<pad>", "<eos>", "<unk>", "red", "green", "blue", "cat", "dog")


# --------------------------------------------------------------------------- media files

def test_spectrogram_of_a_sine_is_brightest_at_its_frequency():
    n_fft = 256
    freq = 1000.0  # bin 1000 / (8000 / 256) = 32
    t = torch.arange(4096) / RATE
    image = spectrogram(0.5 * torch.sin(2 * math.pi * freq * t), RATE, n_fft=n_fft)
    assert image.shape[:3] == (1, 1, n_fft // 2 + 1)
    assert image.min() >= -1 and image.max() <= 1
    column = image[0, 0, :, image.shape[-1] // 2].flip(0)  # low frequencies first again
    assert int(column.argmax()) == 32
    silent = spectrogram(torch.zeros(1, 1, 4096), RATE)
    assert torch.all(silent == -1)  # silence is black, not noise scaled up


def test_wav_round_trip_and_a_file_that_is_not_a_wav(tmp_path):
    clip = torch.linspace(-0.9, 0.9, 1000).reshape(1, -1)
    path = write_wav(tmp_path / "x.wav", clip, RATE)
    back, rate = read_wav(path)
    assert rate == RATE and back.shape == (1, 1000)
    assert torch.allclose(back, clip, atol=1 / 32768 + 1e-6)  # 16-bit PCM
    assert not list(tmp_path.glob(".*tmp*"))
    fake = tmp_path / "fake.wav"
    fake.write_bytes(b"this is not audio at all")
    with pytest.raises(ConfigError, match="cannot read .*fake.wav as audio") as info:
        read_wav(fake)
    assert "\n" not in str(info.value)


def test_video_strip_rows_are_clips_and_the_gif_has_every_frame(tmp_path):
    video = torch.zeros(2, 1, 3, 4, 5)
    video[1, :, 2] = 1.0
    frames, per_row = video_strip(video)
    assert per_row == 3 and frames.shape == (6, 1, 4, 5)
    assert frames[5].eq(1).all() and frames[:5].eq(0).all()  # clip 1, frame 2 is the last cell
    video[0, :, 1] = 0.5  # every frame differs from the one before (GIF merges equal frames)
    path = save_gif(video, tmp_path / "v.gif", fps=4)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        assert gif.info["duration"] == 250


def test_tokens_decode_up_to_eos_without_padding():
    tokens = torch.tensor([[3, 6, 0, 1, 7], [1, 4, 4, 4, 4], [5, 5, 5, 5, 5]])
    assert decode_tokens(tokens, VOCAB) == ["red cat", "", "blue blue blue blue blue"]
    assert decode_tokens(tokens[:1], None) == ["3 6 0 1 7"]
    with pytest.raises(ConfigError, match="outside the vocabulary of 8"):
        decode_tokens(torch.tensor([[9]]), VOCAB)


def test_inception_score_by_hand():
    # two samples, two classes, p(y|x) = (0.8, 0.2) and (0.2, 0.8): p(y) = (0.5, 0.5),
    # KL = 0.8 ln 1.6 + 0.2 ln 0.4 for each, IS = exp of that
    logits = torch.log(torch.tensor([[0.8, 0.2], [0.2, 0.8]], dtype=torch.float64))
    expected = math.exp(0.8 * math.log(1.6) + 0.2 * math.log(0.4))
    assert inception_score(logits, splits=1)["is_mean"] == pytest.approx(expected, rel=1e-12)
    same = inception_score(torch.randn(1, 5).expand(6, 5), splits=3)
    assert same == {"is_mean": pytest.approx(1.0), "is_std": pytest.approx(0.0, abs=1e-12)}
    with pytest.raises(ValueError, match="splits"):
        inception_score(logits, splits=3)


# --------------------------------------------------------------------------- data fields

def test_rates_and_vocabularies_reach_the_shape_and_its_json():
    data = ItemData({"tokens": torch.tensor([[3, 4, 1], [5, 6, 0]])}, vocabularies={"tokens": VOCAB})
    assert data.classes["tokens"] == len(VOCAB)
    shape = shape_of(data)
    assert shape.kind == "tokens" and shape.fields["tokens"].vocabulary == VOCAB
    again = DataShape(**json.loads(json.dumps(shape.to_json())))
    assert again.fields["tokens"].vocabulary == VOCAB and again.kind == "tokens"
    audio = ItemData({"audio": torch.zeros(2, 1, T, dtype=torch.int16)}, rates={"audio": RATE})
    assert DataShape(**shape_of(audio).to_json()).fields["audio"].rate == RATE


def test_bad_media_fields_are_refused():
    with pytest.raises(ValueError, match="outside its vocabulary"):
        ItemData({"tokens": torch.tensor([[3, 8]])}, vocabularies={"tokens": VOCAB})
    with pytest.raises(ValueError, match="float or int16 tensor"):
        ItemData({"audio": torch.zeros(2, T, dtype=torch.int32)})
    with pytest.raises(ValueError, match="not a field"):
        ItemData({"audio": torch.zeros(2, 1, T)}, rates={"video": 8})


# --------------------------------------------------------------------------- tiny models of each kind

class MediaG(Generator):
    """A linear generator of any float shape (tanh), conditional when given classes."""

    def __init__(self, shape, num_classes=None):
        super().__init__(8, shape, num_classes)
        self.net = nn.Linear(8 + (num_classes or 0), math.prod(shape))

    def forward(self, z, labels=None):
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).float()], dim=1)
        return torch.tanh(self.net(z)).view(-1, *self.out_shape)


class MediaD(Discriminator):
    def __init__(self, shape):
        super().__init__(shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 1))

    def forward(self, x, labels=None):
        return self.net(x).flatten()


class TokenG(Generator):
    """Per-position logits from z; eval mode picks the argmax token (deterministic in z),
    training mode returns softmax probabilities (a relaxed one-hot)."""

    def __init__(self, length, vocabulary):
        super().__init__(8, (length,))
        self.vocabulary_size = vocabulary
        self.net = nn.Linear(8, length * vocabulary)

    def forward(self, z, labels=None):
        logits = self.net(z).view(len(z), self.out_shape[0], self.vocabulary_size)
        return logits.softmax(-1) if self.training else logits.argmax(-1)


class TokenD(Discriminator):
    def __init__(self, length, vocabulary):
        super().__init__((length, vocabulary))
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(length * vocabulary, 1))

    def forward(self, x, labels=None):
        return self.net(x).flatten()


class OneHotGAN(Algorithm):
    """The smallest text step: real ids as one-hot, G's softmax as the fake."""

    def step(self, t):
        batch = t.batch()
        real = F.one_hot(batch["tokens"], t.modules["discriminator"].in_shape[-1]).float()
        fake = t.net("generator")(t.latent())
        stats = {}
        discriminator_update(t, real, fake, stats=stats)
        with t.frozen("discriminator"):
            logits, _ = t.discriminate(fake)
            g_loss = generator_adversarial(t, logits, real=real)
            t.update(g_loss, "g_optim")
        stats["g_loss"] = g_loss.detach()
        return stats


def _build(arch, data):
    if data.kind == "tokens":
        length, vocabulary = data.sample_shape[0], data.fields["tokens"].classes
        return Networks(TokenG(length, vocabulary), TokenD(length, vocabulary))
    return Networks(MediaG(data.sample_shape, data.num_classes), MediaD(data.sample_shape))


def _load(data_dir, split="train", image_size=None, *, kind):
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(16) % 4
    if kind == "audio":
        t = torch.arange(T) / RATE
        audio = 0.5 * torch.sin(2 * math.pi * (500.0 * (1 + labels.float()))[:, None] * t)
        return ItemData({"audio": audio.unsqueeze(1), "label": labels}, num_classes=4, rates={"audio": RATE})
    if kind == "video":
        video = torch.randint(0, 255, (16, 1, 4, 8, 8), generator=gen, dtype=torch.uint8)
        return ItemData({"video": video}, rates={"video": 4})
    tokens = torch.randint(3, len(VOCAB), (16, 6), generator=gen)
    tokens[:, 4], tokens[:, 5] = 1, 0
    return ItemData({"tokens": tokens}, vocabularies={"tokens": VOCAB})


class TinyClassifier(nn.Module):
    """Classifies a clip by the strongest of four tones (a hand-made spoken-digit stand-in)."""

    def features(self, x):
        spec = torch.stft(x.mean(1), 128, window=torch.hann_window(128), return_complex=True).abs().mean(-1)
        bins = [8, 16, 24, 32]  # 500 Hz * k at 8 kHz, 128-point FFT: bin 8k
        return torch.stack([spec[:, b] for b in bins], dim=1)

    def head(self, features):
        return 10 * features.log()


def _classifier(device, data_dir=None):
    return Extractor("tone-classifier", TinyClassifier(), sha256="0" * 64, feature_dim=4, resize="none",
                     prepare=lambda x: x, num_classes=4, device=device, kind="audio")


def media_plugin():
    def models():
        yield ModelSpec(name="tiny-audio", summary="tiny audio GAN", build=_build, data_kinds=("audio",),
                        default_dataset="tones")
        yield ModelSpec(name="tiny-video", summary="tiny video GAN", build=_build, data_kinds=("video",),
                        default_dataset="noise-clips")
        yield ModelSpec(name="tiny-text", summary="tiny text GAN", build=_build, data_kinds=("tokens",),
                        default_dataset="colours", algorithm="one-hot-gan")

    def datasets():
        from functools import partial

        yield DatasetSpec(name="tones", summary="16 tones of 4 pitches", load=partial(_load, kind="audio"),
                          data_kind="audio", item_shape=(1, T), rate=RATE, num_classes=4)
        yield DatasetSpec(name="noise-clips", summary="16 noise clips", load=partial(_load, kind="video"),
                          data_kind="video", item_shape=(1, 4, 8, 8), rate=4)
        yield DatasetSpec(name="colours", summary="16 colour sentences", load=partial(_load, kind="tokens"),
                          data_kind="tokens", item_shape=(6,))

    def extractors():
        yield ExtractorSpec(name="tone-classifier", summary="tones by their pitch", load=_classifier,
                            datasets=("tones",))

    def algorithms():
        yield AlgorithmSpec(name="one-hot-gan", summary="one-hot text step", step=OneHotGAN)

    ns = types.SimpleNamespace()
    for name, func in (("ganzoo_models", models), ("ganzoo_datasets", datasets),
                       ("ganzoo_extractors", extractors), ("ganzoo_algorithms", algorithms)):
        setattr(ns, name, hookimpl(func))
    return ns


@pytest.fixture
def media(manager):
    manager.register(media_plugin(), name="media")
    manager._registry = None  # rebuilt with the media plugin on next use
    return manager


def _train(registry, tmp_path, model, **flags):
    cfg = resolve_config(registry, model, flags={
        "steps": 2, "batch_size": 4, "device": "cpu", "out": str(tmp_path / "runs"), "run_name": model,
        "sample_every": 1, "checkpoint_every": 2, "sample_grid": 8, "logger": "tensorboard", **flags})
    return train(cfg, registry, make_reporter(enabled=False))


def test_an_audio_run_previews_spectrograms_wav_and_tensorboard_audio(media, cli, tmp_path):
    run = _train(media.registry, tmp_path, "tiny-audio")
    png = run.path / "samples" / "step-0000002.png"
    # the files `ganzoo sample` writes: spectrograms, and a WAV of each of the first 4 clips
    clips = sorted(run.path.glob("samples/step-0000002-*.wav"))
    assert png.is_file() and [c.name for c in clips] == [f"step-0000002-00{i}.wav" for i in range(4)]
    for clip in clips:
        audio, rate = read_wav(clip)
        assert rate == RATE and audio.shape == (1, T)
    with Image.open(png) as image:  # 8 spectrograms, 4 a row: 129 bins x (512 / 32 + 1) frames, 2 px apart
        assert image.size == (4 * (17 + 2) + 2, 2 * (129 + 2) + 2)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run.path / "tensorboard"), size_guidance={"audio": 0}).Reload()
    assert "samples/0" in events.Tags()["audio"]

    result = cli("sample", str(run.path), "-n", "3", "--out", str(tmp_path / "digits.png"))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.glob("digits*"))
    assert written == ["digits-000.wav", "digits-001.wav", "digits-002.wav", "digits.png"]
    handle = load(run.path, registry=media.registry)
    assert handle.kind == "audio" and handle.rate == RATE
    first, _ = read_wav(tmp_path / "digits-000.wav")
    expected = handle.sample(3, seed=0)[0]
    assert torch.allclose(first, expected, atol=1 / 32768 + 1e-6)
    result = cli("sample", str(run.path), "-n", "3", "--format", "npz", "--out", str(tmp_path / "a.npz"))
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "a.npz") as npz:
        assert npz["audio"].shape == (3, 1, T) and int(npz["rate"]) == RATE and list(npz["labels"]) == [0, 1, 2]
    result = cli("sample", str(run.path), "--out", str(tmp_path / "x.gif"))
    assert result.exit_code == 2 and "audio samples are written to a .png or .wav file" in result.output
    # a name with dots keeps them: digits.v2.png and digits.v2-000.wav, not digits.png
    result = cli("sample", str(run.path), "-n", "1", "--out", str(tmp_path / "digits.v2.png"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("digits.v2*")) == ["digits.v2-000.wav", "digits.v2.png"]

    # --preview writes the training preview again: the same spectrograms and clips
    out = tmp_path / "preview"
    out.mkdir()
    result = cli("sample", str(run.path), "--preview", "--out", str(out / "step.png"))
    assert result.exit_code == 0, result.output
    assert [p.name for p in sorted(out.iterdir())] == ["step-000.wav", "step-001.wav", "step-002.wav",
                                                       "step-003.wav", "step.png"]
    assert (out / "step.png").read_bytes() == png.read_bytes()
    assert (out / "step-003.wav").read_bytes() == clips[3].read_bytes()


def test_the_inception_score_and_modes_of_an_audio_run_use_its_classifier(media, tmp_path):
    from ganzoo.metrics.evaluate import evaluate

    run = _train(media.registry, tmp_path, "tiny-audio", logger="none")
    result = evaluate(run.path, ["is", "modes", "fid"], n=8, registry=media.registry, data_dir=tmp_path)
    values = result["metrics"]
    assert 1.0 <= values["is_mean[tone-classifier]"] <= 4.0
    assert 1 <= values["modes[tone-classifier]"] <= 4
    assert math.isfinite(values["fid[tone-classifier]"])
    assert result["provenance"]["extractor"] == "tone-classifier"
    # the real tones themselves score (near) the ceiling: 4 equally used, confidently told apart
    real = _load(None, "test", kind="audio").fields["audio"]
    assert inception_score(_classifier("cpu").logits(real), splits=1)["is_mean"] > 3.9


def test_a_video_run_previews_a_frame_strip_and_a_gif(media, cli, tmp_path):
    run = _train(media.registry, tmp_path, "tiny-video", logger="none")
    strip = run.path / "samples" / "step-0000002.png"
    with Image.open(strip) as image:  # 8 clips of 4 frames, 8x8 each, 2 px padding
        assert image.size == (4 * 10 + 2, 8 * 10 + 2)
    with Image.open(run.path / "samples" / "step-0000002.gif") as gif:
        assert gif.n_frames == 4
    result = cli("sample", str(run.path), "-n", "5")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "samples.gif").is_file() and (tmp_path / "samples.png").is_file()


def test_a_text_run_writes_sentences_and_sample_prints_them(media, cli, tmp_path):
    run = _train(media.registry, tmp_path, "tiny-text")
    lines = (run.path / "samples" / "step-0000002.txt").read_text().splitlines()
    assert len(lines) == 8 and all(set(line.split()) <= set(VOCAB[2:]) for line in lines)  # no <pad>, <eos>
    handle = load(run.path, registry=media.registry)
    assert handle.kind == "tokens" and handle.field.vocabulary == VOCAB
    tokens = handle.sample(4, seed=3)
    assert tokens.dtype == torch.int64 and tokens.shape == (4, 6)
    result = cli("sample", str(run.path), "-n", "4", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == decode_tokens(tokens, VOCAB)
    result = cli("sample", str(run.path), "-n", "4", "--seed", "3", "--out", str(tmp_path / "s.txt"))
    assert result.exit_code == 0 and (tmp_path / "s.txt").read_text().splitlines() == decode_tokens(tokens, VOCAB)
    result = cli("sample", str(run.path), "-n", "8", "--interpolate", "4")  # two latent walks, as sentences
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 8, result.output


def test_info_shows_a_media_dataset(media, cli):
    result = cli("info", "tones")
    assert result.exit_code == 0, result.output
    assert "audio 1x512 at 8000 Hz" in result.output


@pytest.mark.slow
def test_the_conformance_kit_checks_models_of_every_media_kind(media):
    for model in ("tiny-audio", "tiny-video"):
        report = check_model(model, media.registry)
        failed = [r for r in report.results if r.status == "fail"]
        assert not failed, [(r.name, r.message) for r in failed]
        assert any(r.check.startswith("train[") and r.status == "pass" for r in report.results)
        assert any(r.check == "resume" and r.status == "pass" for r in report.results)
