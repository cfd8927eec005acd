"""Does a video generator work on Moving MNIST? A frame classifier and two clip measures.

- **The extractor** ``moving-mnist-classifier``: a small CNN (:class:`FrameClassifier`) with
  10 sigmoid outputs, "digit k is in this frame", trained on first use on frames of the
  ``moving-mnist-32`` training clips (every :data:`FRAME_STRIDE`-th frame; the targets are each
  clip's two digits, which every frame shows) and cached like the MNIST classifier: ``cache_dir()/extractors/moving-mnist-classifier``
  ``.safetensors`` (weights) + ``.json`` (sha256, test accuracy, seed). Its test accuracy is the
  fraction of the test clips' frames whose predicted digit set (the outputs above 0.5) is
  exactly the true one; below :data:`MIN_ACCURACY` it is not cached (nor loaded). As an
  ``Extractor`` of kind ``"video"`` it takes clips ``[N, C, T, H, W]`` in [-1, 1] and returns
  **per-frame** features ``[N*T, 128]``: the core's ``fid`` on Moving MNIST is a frame FID
  (every generated frame against every real test frame; the features are maxima over positions,
  so it compares what the frames show, not where), and ``modes`` counts the digits that are
  some frame's most confident one (of 10).
- :func:`temporal_consistency`: the fraction of clips in which no frame shows a digit other
  than the clip's own (those predicted in most of its frames; a digit hidden by the other one
  is allowed, one that morphs into another is not), the mean per-frame agreement, and the
  fraction of frames where any digit is recognised (a blank or noisy frame never agrees). The
  metric ``temporal-consistency``.
- :func:`motion_statistics`: ``motion``, the mean absolute change between consecutive frames
  (model range, [-1, 1]), and ``motion_order``, the mean change two frames apart over it: about
  1 for frames in random order, above 1 for smooth motion, 1 by definition for a still clip.
  The metric ``video-motion`` reports them for the generated and the real test clips, and
  ``motion_gap = |motion - motion_real| / motion_real``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.datasets.common import default_data_dir
from ganzoo.kinds.video import KIND as VIDEO
from ganzoo.errors import ConfigError, GanzooError
from ganzoo.metrics.extractors import (Extractor, cache_dir, fit_one_cycle, read_cached_extractor,
                                       write_cached_extractor)

NAME = "moving-mnist-classifier"
FORMAT, FORMAT_VERSION = "ganzoo-extractor", "1"
ARCHITECTURE = "frame-cnn-v1"
NUM_DIGITS = 10
FEATURE_DIM = 128
INPUT_SIZE = 32

MIN_ACCURACY = 0.75
"""Exact digit-set accuracy on the test frames a cached classifier must have. Far below the
MNIST classifier's 99% by nature: the two 14 px digits share an 18 px range of positions, so
they overlap in most frames and one hides the other in about a quarter of them (the recipe
reaches about 93% on frames where they do not overlap, about 50% where they overlap by half
or more, 78% in all)."""

EPOCHS = 3
BATCH_SIZE = 128
MAX_LR = 3e-3
FRAME_STRIDE = 4
"""Train on every fourth frame of each clip (consecutive frames are nearly the same)."""

CHUNK = 2048
"""Frames per forward pass of the classifier (bounds memory for 500-clip batches)."""

RESIZE = "clips [N, C, T, H, W] -> frames [N*T, 1, 32, 32]: channels averaged, bilinear-antialias to 32x32"


# --------------------------------------------------------------------------- the classifier

def to_frames(video: torch.Tensor) -> torch.Tensor:
    """Clips ``[N, C, T, H, W]`` in [-1, 1] as classifier input ``[N*T, 1, 32, 32]`` (:data:`RESIZE`).

    Raises:
        ConfigError: not a float 5-D tensor of 1 or 3 channels (one line).
    """
    if not video.is_floating_point() or video.dim() != 5 or video.shape[1] not in (1, 3):
        raise ConfigError(f"{NAME} takes float clips [N, C, T, H, W] (C 1 or 3) in [-1, 1], got "
                          f"{video.dtype} {tuple(video.shape)}")
    n, c, t, h, w = video.shape
    frames = video.mean(dim=1, keepdim=True).transpose(1, 2).reshape(n * t, 1, h, w)
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):
        frames = F.interpolate(frames, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True,
                               align_corners=False)
    return frames


class FrameClassifier(nn.Module):
    """Which digits a frame shows: four 3x3 conv blocks (16-32-64-128 channels, BN, ReLU) with
    a 2x2 max-pool after the first three (32 -> 16 -> 8 -> 4 px), then the maximum over
    positions: 128 features that say what is *anywhere* in the frame (the digits move, so a
    position-free readout learns from far fewer frames than a fully connected one); a linear
    layer gives one logit per digit. Runs in chunks of :data:`CHUNK` frames; about 0.1 M
    parameters, 32x32 grayscale input in [-1, 1].

    ``features(frames) -> [M, 128]``, ``head(f) -> [M, 10]``.
    """

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 16), nn.MaxPool2d(2),     # 16 x 16 x 16
            *block(16, 32), nn.MaxPool2d(2),    # 32 x 8 x 8
            *block(32, 64), nn.MaxPool2d(2),    # 64 x 4 x 4
            *block(64, FEATURE_DIM),            # 128 x 4 x 4 (receptive field 38 px: a whole frame)
            nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(FEATURE_DIM, NUM_DIGITS)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.body(frames[i:i + CHUNK]) for i in range(0, len(frames), CHUNK)])

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(frames))


def digit_targets(labels: torch.Tensor, num_digits: int = 2) -> torch.Tensor:
    """Multi-hot targets ``[N, 10]`` of clip labels ``10 * d0 + d1`` (a pair of equal digits
    has one 1).

    Example::

        >>> digit_targets(torch.tensor([37, 44]))[:, :8].tolist()
        [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    from .data import digits_of

    targets = torch.zeros(len(labels), NUM_DIGITS)
    return targets.scatter_(1, digits_of(labels, num_digits), 1.0)


def labelled_frames(video: torch.Tensor, labels: torch.Tensor, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``stride``-th frame of uint8 clips ``[N, 1, T, H, W]`` as ``[M, 1, H, W]``, with
    each frame's multi-hot digit targets ``[M, 10]``."""
    picked = video[:, :, ::stride]
    n, c, t, h, w = picked.shape
    frames = picked.transpose(1, 2).reshape(n * t, c, h, w)
    return frames, digit_targets(labels).repeat_interleave(t, dim=0)


def set_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose predicted set (logits > 0) is exactly the target set."""
    return ((logits > 0) == (targets > 0.5)).all(dim=1).float().mean().item()


def classifier_paths() -> tuple[Path, Path]:
    """``(weights .safetensors, info .json)`` of the cached classifier."""
    folder = cache_dir() / "extractors"
    return folder / f"{NAME}.safetensors", folder / f"{NAME}.json"


def _uint8_to_input(frames: torch.Tensor) -> torch.Tensor:
    x = frames.float().div_(127.5).sub_(1.0)
    if tuple(x.shape[-2:]) == (INPUT_SIZE, INPUT_SIZE):
        return x
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)


def _logits(net: FrameClassifier, frames: torch.Tensor, device: torch.device) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(_uint8_to_input(frames[i:i + CHUNK].to(device))).cpu()
                          for i in range(0, len(frames), CHUNK)])


def fit_frame_classifier(data_dir: str | Path | None = None, device: str | torch.device = "cpu", seed: int = 0,
                         *, epochs: int = EPOCHS, limit: int | None = None) -> tuple[FrameClassifier, dict]:
    """Train the frame classifier on ``moving-mnist-32`` train frames and test it on every frame
    of the test clips; nothing is cached (:func:`train_frame_classifier` caches).

    Recipe: BCE on the 10 sigmoid outputs, Adam with a one-cycle learning rate (peak 3e-3),
    batch 128, ``epochs`` passes over every :data:`FRAME_STRIDE`-th frame of each training clip;
    the seed fixes initialisation, dropout and batch order.

    Args:
        data_dir: the folder holding ``MNIST/raw`` (default :func:`ganzoo.datasets.common.default_data_dir`).
        device: where to train.
        seed: the training seed.
        epochs: passes over the training frames.
        limit: use only the first ``limit`` train and test clips (for tests and quick runs).

    Returns:
        ``(network in eval mode, info)``; ``info["test_accuracy"]`` is the exact digit-set
        accuracy on the test frames.
    """
    from .data import load_moving_mnist_32

    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    device = torch.device(device)
    train, test = load_moving_mnist_32(data_dir, "train"), load_moving_mnist_32(data_dir, "test")
    frames, targets = labelled_frames(train.fields["video"][:limit], train.fields["label"][:limit], FRAME_STRIDE)
    test_frames, test_targets = labelled_frames(test.fields["video"][:limit], test.fields["label"][:limit])
    batch_size = min(BATCH_SIZE, len(frames))

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = FrameClassifier().to(device)
        seconds = fit_one_cycle(
            net, len(frames), lambda index, _: F.binary_cross_entropy_with_logits(
                net(_uint8_to_input(frames[index].to(device))), targets[index].to(device)),
            epochs=epochs, batch_size=batch_size, max_lr=MAX_LR, seed=seed)
    accuracy = set_accuracy(_logits(net, test_frames, device), test_targets)
    info = {"name": NAME, "test_accuracy": accuracy, "seed": seed, "dataset": "moving-mnist-32",
            "train_seconds": round(seconds, 2), "epochs": epochs, "train_frames": len(frames),
            "test_frames": len(test_frames), "architecture": ARCHITECTURE, "format_version": FORMAT_VERSION,
            "device": str(device), "torch": torch.__version__}
    return net.eval(), info


def train_frame_classifier(data_dir: str | Path | None = None, device: str | torch.device = "cpu", seed: int = 0,
                           *, epochs: int = EPOCHS, limit: int | None = None,
                           min_accuracy: float | None = None) -> Path:
    """:func:`fit_frame_classifier`, then cache it if its test accuracy reaches ``min_accuracy``
    (default :data:`MIN_ACCURACY`).

    Returns:
        The cached weights file, ``cache_dir()/extractors/moving-mnist-classifier.safetensors``
        (written with its ``.json`` through temporary files and renames).

    Raises:
        GanzooError: the test accuracy is below ``min_accuracy`` (nothing is cached).
    """
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    weights, info_file = classifier_paths()
    if data_dir.resolve() in (weights.parent.resolve(), *weights.parent.resolve().parents):
        raise ConfigError(f"the extractor cache {weights.parent} lies inside the data folder {data_dir}; "
                          "set $GANZOO_CACHE_DIR to a folder elsewhere")
    required = MIN_ACCURACY if min_accuracy is None else min_accuracy
    net, info = fit_frame_classifier(data_dir, device, seed, epochs=epochs, limit=limit)
    accuracy = info["test_accuracy"]
    if accuracy < required:
        raise GanzooError(f"{NAME} reached only {accuracy:.2%} exact digit-set accuracy on moving-mnist-32 "
                          f"test frames after {epochs} epochs (needs >= {required:.2%}); not cached")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": NAME, "architecture": ARCHITECTURE,
            "dataset": "moving-mnist-32", "seed": str(seed), "test_accuracy": repr(accuracy)}
    write_cached_extractor(weights, info_file, net.state_dict(), meta, {**info, "min_accuracy": required})
    return weights


def as_extractor(net: FrameClassifier, sha256: str, info: dict, device: str | torch.device = "cpu") -> Extractor:
    """A frame classifier as an :class:`Extractor` of kind ``"video"`` (per-frame features)."""
    return Extractor(NAME, net, sha256=sha256, feature_dim=FEATURE_DIM, resize=RESIZE, prepare=to_frames,
                     num_classes=NUM_DIGITS, device=device, info=info, kind="video")


def read_cached(device: str | torch.device = "cpu") -> Extractor:
    """The cached classifier as an :class:`Extractor` of kind ``"video"``.

    Raises:
        CheckpointError: the files are unreadable, the weights do not match the recorded sha256,
            or the recorded accuracy is below :data:`MIN_ACCURACY` (one line: delete to retrain).
    """
    weights, info_file = classifier_paths()
    net = FrameClassifier()
    _, info, digest = read_cached_extractor(
        weights, info_file, name=NAME, expect={"format": FORMAT, "name": NAME, "architecture": ARCHITECTURE},
        what=f"{ARCHITECTURE} {NAME}", min_accuracy=MIN_ACCURACY, into=net,
        architecture=ARCHITECTURE)
    return as_extractor(net, digest, info, device)


def load_moving_mnist_classifier(device: str | torch.device = "cpu", data_dir: str | Path | None = None) -> Extractor:
    """``moving-mnist-classifier``: the cached one, trained first (one to two minutes on a 2-core
    CPU, from the MNIST files in ``data_dir``) when the cache has none."""
    weights, info_file = classifier_paths()
    if not (weights.is_file() and info_file.is_file()):
        data = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        print(f"ganzoo: training the {NAME} extractor on moving-mnist-32 frames from {data} (first use, one to two "
              f"minutes on CPU); caching it in {weights.parent}", file=sys.stderr, flush=True)
        train_frame_classifier(data, device=device)
    return read_cached(device)


# --------------------------------------------------------------------------- temporal consistency

def temporal_consistency(logits: torch.Tensor) -> dict[str, float]:
    """Do a clip's digits keep their identity across its frames?

    A frame's predicted set is the digits whose logit is above 0 (probability above 0.5). A
    clip's digits are those predicted in more than half of its frames. A frame *agrees* when
    it shows at least one digit and none but the clip's: a digit hidden behind the other one
    (Moving MNIST's digits overlap in about a quarter of the frames) is not a change, a digit
    that turns into another one is.

    Args:
        logits: ``[N, T, K]`` per-frame logits of ``N`` clips.

    Returns:
        ``temporal_consistency``: fraction of clips whose every frame agrees;
        ``frame_agreement``: mean over clips of the fraction of frames that agree;
        ``recognised_frames``: fraction of frames with a non-empty set.

    Example (clip 0 steady on {3, 7}; clip 1 shows a 5 for its 7 in one of its 4 frames)::

        >>> x = torch.full((2, 4, 10), -5.0); x[:, :, [3, 7]] = 5.0; x[1, 2, 7] = -5.0; x[1, 2, 5] = 5.0
        >>> temporal_consistency(x)
        {'temporal_consistency': 0.5, 'frame_agreement': 0.875, 'recognised_frames': 1.0}
    """
    if logits.dim() != 3 or logits.shape[1] < 1:
        raise ConfigError(f"temporal consistency needs logits [N, T, K], got {tuple(logits.shape)}")
    present = logits > 0                                      # [N, T, K]
    frames = logits.shape[1]
    digits = present.sum(dim=1) * 2 > frames                  # [N, K]: in more than half the frames
    recognised = present.any(dim=2)                           # [N, T]
    foreign = (present & ~digits.unsqueeze(1)).any(dim=2)     # a digit the clip does not have
    agreement = (recognised & ~foreign).float().mean(dim=1)   # [N]
    return {"temporal_consistency": (agreement == 1).float().mean().item(),
            "frame_agreement": agreement.mean().item(),
            "recognised_frames": recognised.float().mean().item()}


def _check_clips(fake: torch.Tensor, metric: str) -> None:
    if not isinstance(fake, torch.Tensor) or fake.dim() != 5 or fake.shape[2] < 2:
        raise ConfigError(f"{metric} scores video clips [N, C, T, H, W] of at least 2 frames, got "
                          f"{tuple(getattr(fake, 'shape', ()))}")


def temporal_consistency_metric(fake: torch.Tensor, context) -> dict[str, float]:
    """The ``temporal-consistency`` metric: :func:`temporal_consistency` of the run's video
    classifier (the dataset's extractor, ``moving-mnist-classifier``) on generated clips."""
    _check_clips(fake, "temporal-consistency")
    extractor = context.extractor
    if extractor is None or getattr(extractor, "kind", "image") != "video" or not extractor.num_classes:
        name = getattr(extractor, "name", None)
        raise ConfigError(f"temporal-consistency needs a video classifier extractor (e.g. {NAME}), got {name}")
    logits = extractor.logits(fake)
    return temporal_consistency(logits.view(fake.shape[0], fake.shape[2], -1))


# --------------------------------------------------------------------------- motion

def motion_statistics(clips: torch.Tensor) -> dict[str, float]:
    """``motion``: mean |x[t+1] - x[t]| over clips ``[N, C, T, H, W]`` (model range);
    ``motion_order``: mean |x[t+2] - x[t]| over ``motion`` (1 for clips of 2 frames or with
    no motion at all).

    Example (a pixel whose value climbs by 0.5 a frame: twice the change two frames apart)::

        >>> motion_statistics(torch.tensor([-1.0, -0.5, 0.0, 0.5]).view(1, 1, 4, 1, 1))
        {'motion': 0.5, 'motion_order': 2.0}
    """
    x = clips.float()
    step = (x[:, :, 1:] - x[:, :, :-1]).abs().mean().item()
    if x.shape[2] < 3 or step == 0:
        return {"motion": step, "motion_order": 1.0}
    return {"motion": step, "motion_order": (x[:, :, 2:] - x[:, :, :-2]).abs().mean().item() / step}


def motion_metric(fake: torch.Tensor, context) -> dict[str, float]:
    """The ``video-motion`` metric: :func:`motion_statistics` of the generated clips and of as
    many real clips of the split (frames brought to the generated size), and ``motion_gap``."""
    _check_clips(fake, "video-motion")
    real = context.real.fields[context.real.primary][:len(fake)]
    if context.real.kinds[context.real.primary] != "video":
        raise ConfigError(f"video-motion compares with real video; {context.dataset} is not video")
    real = VIDEO.prepare(real, fake.shape[-1] / real.shape[-1])
    generated, reference = motion_statistics(fake), motion_statistics(real)
    gap = abs(generated["motion"] - reference["motion"]) / max(reference["motion"], 1e-12)
    return {"motion_gap": gap, **generated, "motion_real": reference["motion"],
            "motion_order_real": reference["motion_order"]}
