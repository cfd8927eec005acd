"""WaveGAN: the audio datasets (FSDD's split, padding and cropping, resampling, a folder of the
user's sounds, bad files), phase shuffle and the polyphase layers worked by hand, the networks'
shapes and conditional variant, the spoken-digit classifier's training and cache, a short
training run with its bitwise resume, sampling and the conformance kit.

Every dataset here is written by the test (a tiny FSDD of tones, 8 kHz int16, two speakers,
recordings 0-6), never the real one; networks are a few channels wide.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ganzoo
from ganzoo.plugins.build import load_dataset
from ganzoo.data import DataShape, FieldShape
from ganzoo.errors import CheckpointError, ConfigError, DataUnavailableError, GanzooError
from ganzoo.training import checkpoint as ckpt
from ganzoo_plugins.wavegan.data import (fit_clip, load_audio_folder, load_fsdd, load_fsdd_8k, resample,
                                       to_int16)
from ganzoo_plugins.wavegan import metrics as audio_classifier
from ganzoo_plugins.wavegan.metrics import (classifier_files, mel_filterbank, read_cached,
                                                  to_classifier_input, train_fsdd_classifier)
from ganzoo_plugins.wavegan.nets import (PhaseShuffle, StridedConv1d, StridedConvTranspose1d, WaveDiscriminator,
                                         WaveGenerator, build, phase_shuffle)
from ganzoo_plugins.wavegan import WaveGANConfig

TINY = ["--set", "arch.ngf=4", "--set", "arch.ndf=4", "--set", "arch.latent_dim=8"]
"""Networks a few channels wide: a training step takes a fraction of a second."""

SPEAKERS = ("ann", "bob")
INDICES = range(7)
"""The tiny FSDD: recordings 0-4 of each speaker and digit are the test split, 5-6 the train split."""


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def file_length(digit: int, index: int) -> float:
    """Seconds: most recordings are short, digit 9's index 6 is longer than a clip (1.024 s)."""
    return 1.5 if (digit, index) == (9, 6) else 0.2 + 0.02 * digit + 0.01 * index


def write_fsdd(root: Path) -> Path:
    """A tiny FSDD: ``{digit}_{speaker}_{index}.wav``, 8 kHz int16 tones at 300 + 150 x digit Hz."""
    folder = root / "FSDD" / "recordings"
    folder.mkdir(parents=True)
    for digit in range(10):
        for s, speaker in enumerate(SPEAKERS):
            for index in INDICES:
                audio = tone(300 + 150 * digit, file_length(digit, index), 8000, 0.3 + 0.2 * s)
                soundfile.write(str(folder / f"{digit}_{speaker}_{index}.wav"), audio, 8000, subtype="PCM_16")
    return root


@pytest.fixture
def fsdd_dir(tmp_path) -> Path:
    return write_fsdd(tmp_path / "fsdd-data")


def peak_hz(x: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(x * torch.hann_window(len(x), dtype=x.dtype)).abs()
    return spectrum.argmax().item() * rate / len(x)


# resampling and clips ------------------------------------------------------------------------

@pytest.mark.parametrize("orig, new, freq", [(8000, 16000, 440.0), (8000, 16000, 3000.0), (16000, 8000, 1000.0),
                                             (44100, 16000, 1234.0), (22050, 16000, 5000.0)])
def test_resampling_keeps_a_sines_frequency_and_amplitude(orig, new, freq):
    x = torch.sin(2 * math.pi * freq * torch.arange(orig) / orig)  # one second
    y = resample(x, orig, new)
    assert y.shape == (new,)
    middle = y[new // 4: 3 * new // 4]  # away from the edges (zero-padded there)
    assert peak_hz(middle, new) == pytest.approx(freq, abs=2.0)
    assert middle.abs().max().item() == pytest.approx(1.0, abs=0.01)
    # against the exact sine at the new sample times
    exact = torch.sin(2 * math.pi * freq * torch.arange(new) / new)
    assert (middle - exact[new // 4: 3 * new // 4]).abs().max() < 0.01


def test_downsampling_removes_what_the_new_rate_cannot_hold():
    x = torch.sin(2 * math.pi * 6000 * torch.arange(16000) / 16000)  # above 8 kHz's Nyquist (4 kHz)
    y = resample(x, 16000, 8000)
    assert y[2000:6000].abs().max() < 0.01  # no alias at 2 kHz: at least 40 dB down
    assert resample(x, 16000, 16000) is x
    batch = torch.randn(3, 2, 100)
    assert resample(batch, 8000, 16000).shape == (3, 2, 200)  # any leading shape, T x 2


def test_clips_are_the_first_samples_padded_at_the_end():
    assert fit_clip(torch.tensor([[1.0, 2.0, 3.0]]), 5).tolist() == [[1, 2, 3, 0, 0]]
    assert fit_clip(torch.tensor([[1.0, 2.0, 3.0]]), 2).tolist() == [[1, 2]]
    x = torch.tensor([-1.0, -0.5, 0.0, 0.25, 32767 / 32768, 1.0])
    assert to_int16(x).tolist() == [-32768, -16384, 0, 8192, 32767, 32767]  # 1.0 clips to 32767


# FSDD ------------------------------------------------------------------------------------------

def test_fsdd_8k_keeps_the_files_samples_and_splits_by_index(manager, fsdd_dir):
    train = load_dataset(manager.registry, "fsdd-8k", fsdd_dir)
    test = load_dataset(manager.registry, "fsdd-8k", fsdd_dir, split="test")
    assert set(train.fields) == {"audio", "label"} and train.rates == {"audio": 8000} and train.num_classes == 10
    assert train.fields["audio"].shape == (10 * 2 * 2, 1, 8192) and train.fields["audio"].dtype == torch.int16
    assert len(test) == 10 * 2 * 5  # recordings 0-4
    # ordered by index, speaker, digit: items 0-9 are 0_ann_5 ... 9_ann_5, then 0_bob_5 ... 9_bob_5
    assert train.labels.tolist() == list(range(10)) * 4
    first, rate = soundfile.read(str(fsdd_dir / "FSDD/recordings/0_ann_5.wav"), dtype="int16")
    clip = train.fields["audio"][0, 0]
    assert rate == 8000 and torch.equal(clip[:len(first)], torch.from_numpy(first))  # exactly the file
    assert clip[len(first):].abs().sum() == 0 and len(first) < 8192  # then silence
    longest, _ = soundfile.read(str(fsdd_dir / "FSDD/recordings/9_bob_6.wav"), dtype="int16")
    assert len(longest) == 12000 and torch.equal(train.fields["audio"][-1, 0], torch.from_numpy(longest[:8192]))


def test_fsdd_is_the_same_recordings_at_16_khz(fsdd_dir):
    low, high = load_fsdd_8k(fsdd_dir, "test"), load_fsdd(fsdd_dir, "test")
    assert high.fields["audio"].shape == (100, 1, 16384) and high.rates == {"audio": 16000}
    assert torch.equal(low.labels, high.labels)
    item = 33  # digit 3: a 750 Hz tone
    x = high.fields["audio"][item, 0].float() / 32768
    assert peak_hz(x[:2000], 16000) == pytest.approx(750, abs=8)
    expected = resample(low.fields["audio"][item, 0].float() / 32768, 8000, 16000)
    assert (x - expected).abs().max() < 2 / 32768  # the 8 kHz clip resampled, to int16 rounding


def test_fsdd_refuses_a_missing_folder_and_a_misnamed_file(tmp_path, fsdd_dir):
    with pytest.raises(DataUnavailableError, match=r"FSDD not found: .*FSDD/recordings does not exist; put") as info:
        load_fsdd(tmp_path / "nowhere", "train")
    assert "\n" not in str(info.value)
    (fsdd_dir / "FSDD/recordings/hello.wav").write_bytes(b"RIFF")
    with pytest.raises(ConfigError, match=r"hello\.wav is not named \{digit\}_\{speaker\}_\{index\}\.wav"):
        load_fsdd(fsdd_dir, "train")
    with pytest.raises(ConfigError, match="has the splits train and test, not 'valid'"):
        load_fsdd(fsdd_dir, "valid")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fsdd_reads_only_regular_files(fsdd_dir):
    """A FIFO named like a recording would block its reader for ever."""
    os.mkfifo(fsdd_dir / "FSDD/recordings/0_zed_5.wav")
    assert len(load_fsdd_8k(fsdd_dir, "train")) == 10 * 2 * 2


def test_a_broken_wav_stops_training_with_one_line_naming_it(cli, fsdd_dir, tmp_path):
    bad = fsdd_dir / "FSDD/recordings/3_bob_6.wav"
    bad.write_bytes(b"this is not a wav file")
    result = cli("train", "wavegan", "--data-dir", str(fsdd_dir), "--steps", "1", "--batch-size", "4",
                 "--out", str(tmp_path / "runs"), "--quiet", *TINY)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read {bad} as audio")
    assert not (tmp_path / "runs").exists()


# a folder of the user's sounds -------------------------------------------------------------------

def test_audio_folder_resamples_mixes_down_and_labels_by_subfolder(tmp_path, capsys):
    root = tmp_path / "sounds"
    (root / "birds").mkdir(parents=True)
    (root / "cars").mkdir()
    soundfile.write(str(root / "birds" / "a.wav"), tone(1000, 0.5, 44100), 44100, subtype="PCM_16")
    stereo = np.stack([tone(500, 2.0, 22050), tone(500, 2.0, 22050, 0.1)], axis=1)  # [T, 2]
    soundfile.write(str(root / "cars" / "b.wav"), stereo, 22050, subtype="FLOAT")
    soundfile.write(str(root / "cars" / "c.flac"), tone(2000, 0.1, 16000), 16000)
    (root / "cars" / "notes.txt").write_text("not audio")
    data = load_audio_folder(root, "train")
    assert data.fields["audio"].shape == (3, 1, 16384) and data.rates == {"audio": 16000}
    assert data.labels.tolist() == [0, 1, 1] and data.num_classes == 2
    note = capsys.readouterr().err
    assert note.strip() == f"ganzoo: note: mixed {root / 'cars' / 'b.wav'} down to mono (the clips have one channel)"
    mixed = data.fields["audio"][1, 0].float() / 32768
    assert peak_hz(mixed[4000:12000], 16000) == pytest.approx(500, abs=3)
    assert mixed[4000:12000].abs().max().item() == pytest.approx(0.3, abs=0.01)  # (0.5 + 0.1) / 2
    birds = data.fields["audio"][0, 0].float() / 32768
    assert peak_hz(birds[1000:7000], 16000) == pytest.approx(1000, abs=3) and birds[8100:].abs().max() < 0.01
    # files at the top level: unlabelled
    flat = tmp_path / "flat"
    flat.mkdir()
    soundfile.write(str(flat / "x.wav"), tone(440, 0.3, 16000), 16000)
    assert set(load_audio_folder(flat, "test").fields) == {"audio"}


def test_audio_folder_refuses_an_empty_folder_and_an_unreadable_file(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("nothing here")
    with pytest.raises(DataUnavailableError, match=r"no sound files found in .*empty \(looked recursively for "
                                                   r"\.wav, \.flac files\)"):
        load_audio_folder(empty, "train")
    with pytest.raises(DataUnavailableError, match="does not exist or is not a folder"):
        load_audio_folder(tmp_path / "missing", "train")
    (empty / "sub" / "zero.wav").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"cannot read .*zero\.wav as audio") as info:
        load_audio_folder(empty, "train")
    assert "\n" not in str(info.value)


# phase shuffle and the layers --------------------------------------------------------------------

def test_phase_shuffle_worked_by_hand():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]], [[10.0, 20.0, 30.0, 40.0, 50.0]]])
    # shift +1: out[t] = x[t - 1], out[0] = x[1] (reflection, the edge not repeated)
    # shift -2: out[t] = x[t + 2], the last two reflected: x[3], x[2]
    out = phase_shuffle(x, torch.tensor([1, -2]), 2)
    assert out.tolist() == [[[2, 1, 2, 3, 4]], [[30, 40, 50, 40, 30]]]
    assert phase_shuffle(x, torch.tensor([2, 0]), 2).tolist() == [[[3, 2, 1, 2, 3]], [[10, 20, 30, 40, 50]]]
    two_channels = torch.stack([x[0, 0], -x[0, 0]]).unsqueeze(0)  # channels shift together
    assert phase_shuffle(two_channels, torch.tensor([-1]), 2).tolist() == [[[2, 3, 4, 5, 4], [-2, -3, -4, -5, -4]]]


def test_phase_shuffle_draws_from_torchs_generator_in_training_only():
    layer = PhaseShuffle(2)
    x = torch.randn(64, 3, 32)
    torch.manual_seed(7)
    out = layer(x)
    torch.manual_seed(7)
    shifts = torch.randint(-2, 3, (64,))
    assert torch.equal(out, phase_shuffle(x, shifts, 2)) and set(shifts.tolist()) == {-2, -1, 0, 1, 2}
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(PhaseShuffle(0).train()(x), x)


def test_the_polyphase_layers_equal_the_papers_strided_convolutions():
    torch.manual_seed(0)
    for cin, cout, length in [(1, 4, 64), (3, 2, 256), (8, 1, 16)]:
        x = torch.randn(2, cin, length)
        conv = StridedConv1d(cin, cout)
        assert conv.weight.shape == (cout, cin, 25)
        expected = F.conv1d(x, conv.weight, conv.bias, stride=4, padding=11)
        assert expected.shape[-1] == length // 4 and torch.allclose(conv(x), expected, atol=1e-5)
        up = StridedConvTranspose1d(cin, cout)
        assert up.weight.shape == (cin, cout, 25)
        expected = F.conv_transpose1d(x, up.weight, up.bias, stride=4, padding=11, output_padding=1)
        assert expected.shape[-1] == 4 * length and torch.allclose(up(x), expected, atol=1e-5)


# networks -------------------------------------------------------------------------------------------

def audio_shape(samples: int, num_classes: int | None = 10, channels: int = 1) -> DataShape:
    fields = {"audio": FieldShape("audio", (channels, samples), rate=16000)}
    if num_classes:
        fields["label"] = FieldShape("label", (), num_classes)
    return DataShape(num_classes=num_classes, fields=fields)


@pytest.mark.parametrize("samples, first", [(16384, 16), (8192, 8), (2048, 2)])
def test_generator_and_critic_shapes(samples, first):
    nets = build(WaveGANConfig(ngf=2, ndf=2, latent_dim=8), audio_shape(samples))
    G, D = nets.generator, nets.discriminator
    assert isinstance(G, WaveGenerator) and isinstance(D, WaveDiscriminator)
    assert G.first_length == first and G.num_classes is None and D.num_classes is None
    assert G.fc.out_features == 16 * 2 * first and D.fc.in_features == 16 * 2 * first
    z = G.sample_latent(3)
    assert z.shape == (3, 8) and z.min() >= -1 and z.max() <= 1  # the paper's uniform prior
    clips = G(z)
    assert clips.shape == (3, 1, samples) and clips.abs().max() <= 1
    assert D(clips).shape == (3,)
    widths = [m.out_channels for m in D.net if isinstance(m, StridedConv1d)]
    assert widths == [2, 4, 8, 16, 32]  # d, 2d, 4d, 8d, 16d
    assert sum(isinstance(m, PhaseShuffle) for m in D.net) == 4  # after each conv but the last
    stereo = build(WaveGANConfig(ngf=2, ndf=2, latent_dim=8), audio_shape(samples, channels=2))
    assert stereo.generator(z).shape == (3, 2, samples)


def test_the_papers_size():
    nets = build(WaveGANConfig(ngf=64, ndf=64), audio_shape(16384, None))
    # dense 100 -> 16 x 1024 (1,654,784), then 1024 -> 512 -> 256 -> 128 -> 64 -> 1, 25 taps + biases
    expected = (100 * 16384 + 16384 + 1024 * 512 * 25 + 512 + 512 * 256 * 25 + 256 + 256 * 128 * 25 + 128
                + 128 * 64 * 25 + 64 + 64 * 25 + 1)
    assert sum(p.numel() for p in nets.generator.parameters()) == expected == 19_065_345
    # 1 -> 64 -> 128 -> 256 -> 512 -> 1024 convs, then dense 16 x 1024 -> 1
    assert sum(p.numel() for p in nets.discriminator.parameters()) == 17_427_969


@pytest.mark.parametrize("shape, message", [
    (audio_shape(16000), "wavegan makes clips whose length is a multiple of 1024 (five stride-4 layers); the "
                         "data's clips have 16000 samples"),
    (audio_shape(512), "multiple of 1024"),
    (DataShape(channels=1, image_size=28), "wavegan generates audio; the data's primary field is image"),
])
def test_shapes_it_cannot_build_are_refused_in_one_line(shape, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        build(WaveGANConfig(), shape)
    assert "\n" not in str(info.value)


def test_the_conditional_variant_uses_the_label_in_both_networks():
    torch.manual_seed(0)
    nets = build(WaveGANConfig(ngf=4, ndf=2, latent_dim=8, conditional=True, embed_dim=4), audio_shape(2048))
    G, D = nets.generator, nets.discriminator
    assert G.num_classes == D.num_classes == 10 and G.fc.in_features == 8 + 4
    D.eval()  # no phase shuffle: outputs depend only on the inputs
    z = G.sample_latent(2).repeat(2, 1)
    labels = torch.tensor([0, 1, 5, 9])
    with torch.no_grad():
        a, b = G(z, labels), G(z, labels.flip(0))
        assert not torch.allclose(a, b)
        x = a.detach()
        h = D.net(x).flatten(1)
        expected = D.fc(h).squeeze(1) + (D.projection(labels) * h).sum(1)  # the projection term
        assert torch.allclose(D(x, labels), expected) and not torch.allclose(D(x, labels), D(x, labels.flip(0)))
    with pytest.raises(ConfigError, match="needs labels"):
        G(z)
    with pytest.raises(ConfigError, match="arch.conditional=true needs labelled audio") as info:
        build(WaveGANConfig(conditional=True), audio_shape(2048, None))
    assert "\n" not in str(info.value)


def test_the_defaults(manager, fsdd_dir):
    from ganzoo.config import resolve_config

    spec = manager.registry.get("model", "wavegan").spec
    assert (spec.default_loss, spec.default_dataset, spec.algorithm, spec.data_kinds) == (
        "wgan-gp", "fsdd", "alternating", ("audio",))
    cfg = resolve_config(manager.registry, "wavegan", flags={"data_dir": str(fsdd_dir)})
    # the paper's recipe: Adam 1e-4, betas (0.5, 0.9) (over wgan-gp's (0, 0.9)), n_critic 5, lambda 10, batch 64
    assert (cfg.g_optim.lr, cfg.g_optim.betas, cfg.d_optim.betas) == (1e-4, (0.5, 0.9), (0.5, 0.9))
    assert (cfg.n_critic, cfg.gp, cfg.batch_size) == (5, 10.0, 64)
    assert cfg.arch == {"ngf": 8, "ndf": 8, "latent_dim": 100, "phase_shuffle": 2, "conditional": False,
                        "embed_dim": 16}
    assert manager.registry.get("extractor", "fsdd-classifier").spec.datasets == ("fsdd", "fsdd-8k")


# the spoken-digit classifier ----------------------------------------------------------------------

def test_the_mel_filterbank_worked_cases():
    bank = mel_filterbank(1024, 128, 16000)
    assert bank.shape == (128, 513) and bank.min() >= 0
    assert bank.max(dim=1).values.min() > 0.5  # every filter catches some bin at 16 kHz / 1024
    centres = bank.argmax(dim=1)
    assert torch.all(centres[1:] >= centres[:-1])  # low to high frequencies
    # 3 filters on 0..4 kHz: mel points equally spaced; the first filter peaks at the second point
    small = mel_filterbank(16, 3, 8000)  # bins every 500 Hz
    mel = lambda hz: 2595 * math.log10(1 + hz / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    points = [hz(mel(4000) * i / 4) for i in range(5)]
    rising = (500 - points[0]) / (points[1] - points[0])
    assert small[0, 1].item() == pytest.approx(min(rising, (points[2] - 500) / (points[2] - points[1])), abs=1e-6)
    assert small[0, 0].item() == 0 and small[2, 8].item() < 1e-6  # 0 Hz and 4 kHz lie on the end points


def test_the_classifier_reads_16_or_8_khz_clips_and_refuses_others():
    x = torch.randn(2, 2, 16384).clamp(-1, 1)
    assert torch.equal(to_classifier_input(x), x.mean(1, keepdim=True))
    low = torch.sin(2 * math.pi * 500 * torch.arange(8192) / 8000).view(1, 1, -1)
    up = to_classifier_input(low)
    assert up.shape == (1, 1, 16384) and peak_hz(up[0, 0, 4000:12000], 16000) == pytest.approx(500, abs=3)
    with pytest.raises(ConfigError, match="reads 1.024 s clips: 16384 samples at 16 kHz or 8192 at 8 kHz, got 16000"):
        to_classifier_input(torch.zeros(1, 1, 16000))
    with pytest.raises(ConfigError, match=r"takes float clips \[N, C, T\]"):
        to_classifier_input(torch.zeros(1, 16384))


def test_the_classifier_trains_caches_with_its_sha256_and_refuses_a_tampered_file(fsdd_dir):
    weights = train_fsdd_classifier(fsdd_dir, seed=3, epochs=2, min_accuracy=0.0)
    _, info_file = classifier_files()
    info = json.loads(info_file.read_text())
    assert weights.name == "fsdd-classifier.safetensors" and weights.parent.name == "extractors"
    from ganzoo.metrics.extractors import sha256_file

    assert info["sha256"] == sha256_file(weights) and info["seed"] == 3 and info["train_clips"] == 40
    extractor = read_cached("cpu", min_accuracy=0.0)
    assert extractor.kind == "audio" and extractor.num_classes == 10 and extractor.feature_dim == 128
    test = load_fsdd(fsdd_dir, "test")
    clips = test.fields["audio"].float() / 32768
    predicted = extractor.logits(clips).argmax(1)
    assert info["test_accuracy"] == pytest.approx((predicted == test.labels).float().mean().item())
    assert extractor.features(clips[:3]).shape == (3, 128)
    assert extractor.logits(load_fsdd_8k(fsdd_dir, "test").fields["audio"][:3].float() / 32768).shape == (3, 10)
    # the accuracy gate on loading, and a tampered file
    with pytest.raises(CheckpointError, match="cached fsdd-classifier has test accuracy"):
        read_cached("cpu", min_accuracy=info["test_accuracy"] + 0.01)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256 recorded in .*; delete .* to retrain it"):
        read_cached("cpu", min_accuracy=0.0)


def test_a_classifier_below_its_threshold_is_not_cached(fsdd_dir):
    with pytest.raises(GanzooError, match=r"fsdd-classifier reached only .* test accuracy on fsdd after 1 epochs "
                                          r"\(needs >= 101.00%\); not cached"):
        train_fsdd_classifier(fsdd_dir, epochs=1, min_accuracy=1.01)
    weights, info_file = classifier_files()
    assert not weights.exists() and not info_file.exists()


# training, sampling, evaluation, resume ------------------------------------------------------------

def tiny_train(out: Path, data_dir: Path, steps: int, name: str, *extra: str) -> list[str]:
    return ["train", "wavegan", "--data-dir", str(data_dir), "--steps", str(steps), "--batch-size", "4",
            "--device", "cpu", "--out", str(out), "--run-name", name, "--quiet", *TINY, *extra]


def state_of(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    folder = ckpt.resolve_checkpoint(run_dir)
    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(cli, fsdd_dir, tmp_path):
    out = tmp_path / "runs"
    # wgan-gp (5 critic updates a step, gradient penalties) and phase shuffle's random shifts
    assert cli(*tiny_train(out, fsdd_dir, 2, "full")).exit_code == 0
    assert cli(*tiny_train(out, fsdd_dir, 1, "part")).exit_code == 0
    result = cli("train", "--resume", str(out / "part"), "--steps", "2", "--quiet")
    assert result.exit_code == 0, result.output
    full, resumed = state_of(out / "full"), state_of(out / "part")
    assert sorted(full) == ["discriminator.safetensors", "generator.safetensors", "train_state.safetensors"]
    for name in full:
        different = [k for k in full[name] if not torch.equal(full[name][k], resumed[name][k])]
        assert not different, f"{name}: {different[:5]}"
    # the previews a person listens to and looks at
    samples = out / "full" / "samples"
    wav, rate = soundfile.read(str(samples / "step-0000002-000.wav"))  # the first clip of the preview
    assert rate == 16000 and len(wav) == 16384 and (samples / "step-0000002.png").is_file()


def test_the_conditional_model_trains_and_samples_wavs(cli, fsdd_dir, tmp_path):
    out = tmp_path / "runs"
    result = cli(*tiny_train(out, fsdd_dir, 1, "c", "--dataset", "fsdd-8k", "--set", "arch.conditional=true",
                             "--loss", "hinge"))
    assert result.exit_code == 0, result.output
    handle = ganzoo.load(out / "c")
    assert handle.kind == "audio" and handle.modules["generator"].num_classes == 10
    clips = handle.sample(4, labels=torch.tensor([0, 1, 2, 3]))
    assert clips.shape == (4, 1, 8192) and clips.abs().max() <= 1
    result = cli("sample", str(out / "c"), "-n", "2", "--out", str(tmp_path / "digits.wav"))
    assert result.exit_code == 0, result.output
    wavs = sorted(tmp_path.glob("digits*.wav"))
    assert len(wavs) == 2 and soundfile.info(str(wavs[0])).samplerate == 8000
    assert soundfile.info(str(wavs[0])).frames == 8192 and (tmp_path / "digits.png").is_file()


def test_eval_scores_a_run_with_the_fsdd_classifier(cli, fsdd_dir, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    assert cli(*tiny_train(out, fsdd_dir, 1, "e")).exit_code == 0
    train_fsdd_classifier(fsdd_dir, epochs=1, min_accuracy=0.0)  # cached: eval finds it
    monkeypatch.setattr(audio_classifier, "MIN_ACCURACY", 0.0)  # a tiny classifier passes the gate
    result = cli("eval", str(out / "e"), "--metrics", "is,modes,fid", "-n", "20", "--data-dir", str(fsdd_dir),
                 "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    flat = json.dumps(scores)
    assert "is_mean[fsdd-classifier]" in flat and "fid[fsdd-classifier]" in flat and "modes" in flat


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_kit(manager):
    """``ganzoo plugin check wavegan`` with the default loss (the zoo sweep trains every loss);
    slow: the kit builds the default networks (d = 8) for 16,384 samples."""
    from ganzoo.testing import check_plugin

    report = check_plugin("wavegan", manager=manager, losses=["wgan-gp"])
    assert report.ok, str(report)
    text = str(report)
    for check in ("shapes: ok at audio 1x16384", "train[wgan-gp]", "resume", "reload", "light import"):
        assert any(check in line and "PASS" in line for line in text.splitlines()), (check, text)
