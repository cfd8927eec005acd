"""The pure math of the evaluation scores (torch only, float64 throughout).

Feature-based scores take two feature matrices ``[N, D]`` (real first, generated second):

- :func:`feature_statistics`, :func:`frechet_distance`, :func:`fid` (Heusel et al. 2017);
- :func:`kid`, the unbiased polynomial-kernel MMD^2 of Binkowski et al. 2018 (as torch-fidelity);
- :func:`precision_recall` (Kynkaanniemi et al. 2019) and :func:`density_coverage`
  (Naeem et al. 2020), both from k-nearest-neighbour balls.

Mode scores (VEEGAN / PacGAN protocols, see ``docs/ANCHORS.md``):

- :func:`mixture_modes` for the 2-D ring and grid mixtures;
- :func:`class_histogram` for classifier predictions, :func:`triple_modes` for Stacked MNIST.

Nothing here materialises a full ``N x M`` matrix: pairwise distances and kernels are
computed in row chunks of at most :data:`CHUNK_ELEMENTS` entries (32 MB in float64), so
10,000 x 10,000 comparisons stay near 100 MB of peak memory including temporaries.
Inputs may be tensors or anything ``torch.as_tensor`` accepts; results are Python numbers.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Iterator

import torch

CHUNK_ELEMENTS = 1 << 22
"""The most entries of a pairwise block (distances, kernel values) computed at once."""

NUM_TRIPLES = 1000
"""Stacked MNIST modes: digit triples ``(d0, d1, d2)``, index ``100*d0 + 10*d1 + d2``."""

HIGH_QUALITY_STDS = 3.0
"""A 2-D mixture sample is high quality within this many standard deviations of its mode."""


# --------------------------------------------------------------------------- helpers

def _as_features(x, name: str, device: torch.device | None = None) -> torch.Tensor:
    """``x`` as a float64 ``[N, D]`` tensor (a 1-D input is ``N`` one-dimensional features)."""
    t = torch.as_tensor(x)
    if device is not None:
        t = t.to(device)
    t = t.to(torch.float64)
    if t.dim() == 1:
        t = t.unsqueeze(1)
    if t.dim() != 2:
        raise ValueError(f"{name} must be a [N, D] matrix, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def _pair(real, fake) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets as float64 on the real set's device, with the same width."""
    r = _as_features(real, "real")
    f = _as_features(fake, "fake", device=r.device)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real and fake features differ in width: {r.shape[1]} vs {f.shape[1]}")
    return r, f


def _row_chunks(n_rows: int, n_cols: int, width: int = 1) -> Iterator[slice]:
    """Row slices such that a ``[rows, n_cols, width]`` block stays within CHUNK_ELEMENTS."""
    rows = max(1, CHUNK_ELEMENTS // max(1, n_cols * width))
    for start in range(0, n_rows, rows):
        yield slice(start, min(n_rows, start + rows))


def _sq_dists(x: torch.Tensor, y: torch.Tensor, y_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``[len(x), len(y)]`` (``y_sq``: the squared norms of y)."""
    d = x @ y.T  # the only block allocated: the rest is in place
    d.mul_(-2.0).add_((x * x).sum(1, keepdim=True)).add_(y_sq.unsqueeze(0))
    return d.clamp_min_(0.0)


def _knn_radii_sq(x: torch.Tensor, k: int) -> torch.Tensor:
    """The squared distance from each row of ``x`` to its k-th nearest other row."""
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and N - 1 = {n - 1}, got {k}")
    x_sq = (x * x).sum(1)
    radii = torch.empty(n, dtype=x.dtype, device=x.device)
    for rows in _row_chunks(n, n):
        d = _sq_dists(x[rows], x, x_sq)
        local = torch.arange(rows.stop - rows.start, device=x.device)
        d[local, local + rows.start] = math.inf  # a point is not its own neighbour
        radii[rows] = d.topk(k, dim=1, largest=False).values[:, k - 1]
    return radii


def _in_any_ball(points: torch.Tensor, centres: torch.Tensor, radii_sq: torch.Tensor) -> torch.Tensor:
    """``[len(points)]`` counts of the closed balls ``B(centre_j, radius_j)`` holding each point."""
    c_sq = (centres * centres).sum(1)
    counts = torch.empty(len(points), dtype=torch.int64, device=points.device)
    for rows in _row_chunks(len(points), len(centres)):
        inside = _sq_dists(points[rows], centres, c_sq) <= radii_sq.unsqueeze(0)
        counts[rows] = inside.sum(1)
    return counts


def _centre(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift both sets by the real mean: distances are unchanged, rounding error smaller."""
    shift = real.mean(0, keepdim=True)
    return real - shift, fake - shift


def _kl_from_uniform(counts: torch.Tensor) -> float:
    """KL(p || uniform) of the histogram ``counts`` (natural log); empty bins add 0 exactly.

    The uniform distribution is strictly positive, so with the convention 0 * log 0 = 0
    no epsilon is needed anywhere.
    """
    counts = counts.to(torch.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("the histogram is empty: KL is undefined")
    p = counts / total
    return float(torch.xlogy(p, p).sum() + math.log(len(counts)))


# --------------------------------------------------------------------------- FID

def feature_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and covariance of a feature matrix, in float64.

    Args:
        features: ``[N, D]`` features, one sample per row (N >= 2); a 1-D input is read as
            ``N`` one-dimensional features.

    Returns:
        ``(mu, sigma)``: the mean ``[D]`` and the unbiased covariance ``[D, D]`` (divided
        by N - 1), equal to ``numpy.cov(features, rowvar=False)``. Both float64, on the
        input's device. The covariance is accumulated over row chunks.
    """
    x = torch.as_tensor(features)
    if x.dim() == 1:
        x = x.unsqueeze(1)
    if x.dim() != 2:
        raise ValueError(f"features must be a [N, D] matrix, got shape {tuple(x.shape)}")
    n, d = x.shape
    if n < 2:
        raise ValueError(f"at least 2 samples are needed for a covariance, got {n}")
    mu = torch.zeros(d, dtype=torch.float64, device=x.device)
    for rows in _row_chunks(n, d):
        mu += x[rows].to(torch.float64).sum(0)
    mu /= n
    sigma = torch.zeros(d, d, dtype=torch.float64, device=x.device)
    for rows in _row_chunks(n, d):
        c = x[rows].to(torch.float64) - mu
        sigma += c.T @ c
    sigma /= n - 1
    if not (torch.isfinite(mu).all() and torch.isfinite(sigma).all()):
        raise ValueError("features contain NaN or infinite values")
    return mu, sigma


def _psd_sqrt(s: torch.Tensor) -> torch.Tensor:
    """The PSD square root of a symmetric matrix (negative rounding eigenvalues become 0)."""
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp_min(0.0).sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))``, all in float64. The last
    trace is computed as ``tr(sqrt(sqrt(S1) S2 sqrt(S1)))`` with symmetric eigendecompositions
    (eigh): that matrix is similar to S1 S2 (same eigenvalues), symmetric and PSD, so this
    is exact for PSD inputs, also singular ones, and needs neither scipy nor complex numbers.
    Eigenvalues that rounding makes slightly negative are clamped to 0, and so is the
    result (the true distance is never negative).

    Args:
        mu1, mu2: means ``[D]``.
        sigma1, sigma2: symmetric PSD covariances ``[D, D]`` (symmetrised before use).

    Returns:
        The distance as a float; 0 (up to rounding, ~1e-12 relative) for identical statistics.
    """
    mu1 = torch.as_tensor(mu1).to(torch.float64).reshape(-1)
    device = mu1.device
    mu2 = torch.as_tensor(mu2).to(device=device, dtype=torch.float64).reshape(-1)
    s1 = torch.as_tensor(sigma1).to(device=device, dtype=torch.float64)
    s2 = torch.as_tensor(sigma2).to(device=device, dtype=torch.float64)
    d = mu1.numel()
    if s1.dim() == 0:
        s1 = s1.reshape(1, 1)
    if s2.dim() == 0:
        s2 = s2.reshape(1, 1)
    if mu2.numel() != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"inconsistent shapes: mu1 {tuple(mu1.shape)}, mu2 {tuple(mu2.shape)}, "
                         f"sigma1 {tuple(s1.shape)}, sigma2 {tuple(s2.shape)}")
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    middle = (middle + middle.T) / 2
    tr_covmean = torch.linalg.eigvalsh(middle).clamp_min(0.0).sqrt().sum()
    diff = mu1 - mu2
    value = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_covmean
    return max(float(value), 0.0)


def fid(real_features, fake_features) -> dict[str, float]:
    """The Frechet distance between the Gaussian fits of two feature sets.

    Args:
        real_features: ``[N, D]`` features of real samples (N >= 2).
        fake_features: ``[M, D]`` features of generated samples (M >= 2).

    Returns:
        ``{"fid": float}``. It depends on the rows only through their mean and covariance,
        so neither their order nor how they were batched changes it (up to rounding).
    """
    mu1, s1 = feature_statistics(real_features)
    mu2, s2 = feature_statistics(fake_features)
    if mu1.shape != mu2.shape:
        raise ValueError(f"real and fake features differ in width: {mu1.numel()} vs {mu2.numel()}")
    return {"fid": frechet_distance(mu1, s1, mu2, s2)}


# --------------------------------------------------------------------------- KID

def _poly_kernel_sum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The sum over all pairs of ``(x.y / d + 1)^3``, in row chunks, as a float64 scalar."""
    d = x.shape[1]
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for rows in _row_chunks(len(x), len(y)):
        total += (x[rows] @ y.T).div_(d).add_(1.0).pow_(3).sum()
    return total


def _poly_kernel_diag_sum(x: torch.Tensor) -> torch.Tensor:
    return ((x * x).sum(1) / x.shape[1] + 1.0).pow(3).sum()


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 of two equal-sized samples with the cubic polynomial kernel."""
    m = len(x)
    k_xx = _poly_kernel_sum(x, x) - _poly_kernel_diag_sum(x)
    k_yy = _poly_kernel_sum(y, y) - _poly_kernel_diag_sum(y)
    k_xy = _poly_kernel_sum(x, y)
    return float((k_xx + k_yy) / (m * (m - 1)) - 2.0 * k_xy / (m * m))


def kid(real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """The Kernel Inception Distance (Binkowski et al. 2018), as torch-fidelity computes it.

    For each of ``subsets`` rounds, ``subset_size`` real and ``subset_size`` fake rows are
    drawn without replacement (within a round; rounds are independent) and the unbiased
    MMD^2 with the kernel ``k(x, y) = (x.y / D + 1)^3`` is computed:
    ``(sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1))
    - 2 sum_{i, j} k(x_i, y_j) / m^2``, accumulated in float64.

    Args:
        real: ``[N, D]`` real features.
        fake: ``[M, D]`` generated features.
        subsets: the number of random subset pairs.
        subset_size: rows per subset; clipped to ``min(N, M)`` (and must end up >= 2).
        seed: seeds the CPU ``torch.Generator`` that draws the subsets (``randperm``: the
            real subset, then the fake one, for each round).

    Returns:
        ``{"kid_mean": float, "kid_std": float}``: the mean and the population standard
        deviation (ddof 0, as torch-fidelity) of the per-subset estimates. The estimate is
        unbiased, so it can be slightly negative for matching distributions.
    """
    x, y = _pair(real, fake)
    m = min(int(subset_size), len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 rows, got {m}")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}")
    generator = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(int(subsets)):
        ix = torch.randperm(len(x), generator=generator)[:m].to(x.device)
        iy = torch.randperm(len(y), generator=generator)[:m].to(y.device)
        values.append(_mmd2_unbiased(x[ix], y[iy]))
    v = torch.tensor(values, dtype=torch.float64)
    return {"kid_mean": float(v.mean()), "kid_std": float(v.std(unbiased=False))}


# --------------------------------------------------------------------------- k-NN manifolds

def precision_recall(real, fake, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    Each sample's neighbourhood is the closed ball whose radius is the distance to its k-th
    nearest neighbour within its own set (the sample itself excluded). Precision: the
    fraction of fake samples inside at least one real ball. Recall: the fraction of real
    samples inside at least one fake ball. Ties count as inside (``<=``, as the authors'
    code; prdc uses ``<``, which differs only for exactly equal distances).

    Args:
        real: ``[N, D]`` real features (N > k).
        fake: ``[M, D]`` generated features (M > k).
        k: the neighbour that sets the radius (3 in the paper).

    Returns:
        ``{"precision": float, "recall": float}``, both in [0, 1].
    """
    x, y = _centre(*_pair(real, fake))
    real_radii = _knn_radii_sq(x, k)
    fake_radii = _knn_radii_sq(y, k)
    precision = (_in_any_ball(y, x, real_radii) > 0).double().mean()
    recall = (_in_any_ball(x, y, fake_radii) > 0).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real, fake, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020).

    With ``B_i`` the closed ball around real sample i whose radius is its k-th nearest-
    neighbour distance among the real samples (itself excluded):
    density = ``1 / (k M) * sum_j #{i : fake_j in B_i}`` (can exceed 1), and
    coverage = the fraction of real samples whose ball holds at least one fake sample.

    Args:
        real: ``[N, D]`` real features (N > k).
        fake: ``[M, D]`` generated features.
        k: the neighbour that sets the radius (5 in the paper).

    Returns:
        ``{"density": float, "coverage": float}``.
    """
    x, y = _centre(*_pair(real, fake))
    if len(y) < 1:
        raise ValueError("fake features are empty")
    radii = _knn_radii_sq(x, k)
    density = _in_any_ball(y, x, radii).double().sum() / (k * len(y))
    # Coverage: is the nearest fake sample of real i inside B_i?
    y_sq = (y * y).sum(1)
    nearest = torch.empty(len(x), dtype=torch.float64, device=x.device)
    for rows in _row_chunks(len(x), len(y)):
        nearest[rows] = _sq_dists(x[rows], y, y_sq).min(1).values
    coverage = (nearest <= radii).double().mean()
    return {"density": float(density), "coverage": float(coverage)}


def min_samples(score: Callable[..., dict]) -> int:
    """The fewest samples of each set (real and generated) ``score`` accepts with its default
    arguments: more than ``k`` for the k-nearest-neighbour scores (a sample's k-th neighbour
    is another sample), 2 for the others (FID's covariance, KID's subsets of at least 2 rows)."""
    if score in (precision_recall, density_coverage):
        return inspect.signature(score).parameters["k"].default + 1
    return 2


# --------------------------------------------------------------------------- mode counts

def mixture_modes(points, means, std: float) -> dict[str, float | int]:
    """Mode collapse scores on a 2-D Gaussian mixture (VEEGAN / PacGAN, ``docs/ANCHORS.md``).

    Every sample is assigned to its nearest mode (Euclidean; the first one on a tie).

    - high quality: the sample lies within 3 std of that mode (strictly, as PacGAN's
      ``MetricLogger``: ``distance / std < 3``);
    - modes: the number of modes nearest to at least one high-quality sample;
    - reverse KL: ``KL(p || uniform)`` where ``p`` is the histogram of ALL samples over
      their nearest modes, taken literally from the ANCHORS definition ("the histogram of
      samples over nearest modes"; it does not say high-quality samples). PacGAN's logger
      histograms only the high-quality samples for its entropy/JSD; at the ~95-99% HQ of
      the published rows the two agree closely, but far-off samples weigh in here.
      Empty modes add exactly 0 (0 * log 0 = 0): no epsilon is used.

    Args:
        points: ``[N, 2]`` generated samples (any ``[N, D]`` works), N >= 1.
        means: ``[K, 2]`` mode centres (``ring_means()``, ``grid_means()``).
        std: the modes' standard deviation (``RING_STD``, ``GRID_STD``).

    Returns:
        ``{"modes": int, "high_quality": float (percent of all N samples),
        "reverse_kl": float (nats)}``.
    """
    p = _as_features(points, "points")
    mu = _as_features(means, "means", device=p.device)
    if p.shape[1] != mu.shape[1]:
        raise ValueError(f"points and means differ in width: {p.shape[1]} vs {mu.shape[1]}")
    if len(p) == 0 or len(mu) == 0:
        raise ValueError("points and means must both be non-empty")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    k = len(mu)
    nearest = torch.empty(len(p), dtype=torch.int64, device=p.device)
    distance = torch.empty(len(p), dtype=torch.float64, device=p.device)
    for rows in _row_chunks(len(p), k, p.shape[1]):
        d = (p[rows].unsqueeze(1) - mu.unsqueeze(0)).pow(2).sum(2).sqrt()  # exact differences
        distance[rows], nearest[rows] = d.min(1)
    high = distance / std < HIGH_QUALITY_STDS
    modes = int(torch.unique(nearest[high]).numel())
    counts = torch.bincount(nearest, minlength=k)
    return {
        "modes": modes,
        "high_quality": float(100.0 * high.double().mean()),
        "reverse_kl": _kl_from_uniform(counts),
    }


def class_histogram(predicted, num_classes: int) -> dict[str, object]:
    """How predicted classes spread over ``num_classes`` (e.g. digits of generated MNIST).

    Args:
        predicted: ``[N]`` integer class predictions in ``[0, num_classes)``, N >= 1.
        num_classes: the number of classes.

    Returns:
        ``{"modes": int (classes predicted at least once), "kl_uniform": float
        (KL(histogram || uniform) in nats; empty classes add exactly 0, no epsilon),
        "histogram": list[int] (counts per class)}``.
    """
    labels = torch.as_tensor(predicted).reshape(-1)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError("predicted must hold integer class indices")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if labels.numel() == 0:
        raise ValueError("predicted is empty")
    labels = labels.long()
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"predicted classes must lie in [0, {num_classes})")
    counts = torch.bincount(labels, minlength=num_classes).cpu()
    return {
        "modes": int((counts > 0).sum()),
        "kl_uniform": _kl_from_uniform(counts),
        "histogram": [int(c) for c in counts],
    }


def triple_modes(digits) -> dict[str, float | int]:
    """Stacked MNIST modes: which of the 1,000 digit triples the samples hit (PacGAN/VEEGAN).

    Args:
        digits: ``[N, 3]`` integer digits in 0..9, the classifier's prediction for each of
            the three channels of every sample.

    Returns:
        ``{"modes": int (triples hit, of 1000), "kl_uniform": float}`` with
        ``kl_uniform = KL(generated triple histogram || uniform over 1000)`` in nats;
        triples never generated add exactly 0 (0 * log 0 = 0, no epsilon).
    """
    d = torch.as_tensor(digits)
    if d.dim() != 2 or d.shape[1] != 3:
        raise ValueError(f"digits must be [N, 3], got shape {tuple(d.shape)}")
    if d.dtype.is_floating_point or d.dtype == torch.bool:
        raise ValueError("digits must be integers")
    d = d.long()
    if d.numel() and (int(d.min()) < 0 or int(d.max()) > 9):
        raise ValueError("digits must lie in 0..9")
    index = 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]
    result = class_histogram(index, NUM_TRIPLES)
    return {"modes": result["modes"], "kl_uniform": result["kl_uniform"]}


def inception_score(logits, splits: int = 10) -> dict[str, float]:
    """The inception score (Salimans et al. 2016) of a classifier's logits on generated samples.

    ``IS = exp(E_x KL(p(y|x) || p(y)))``, computed, as the original code does, on ``splits``
    equal consecutive parts of the samples, each with its own marginal ``p(y)``; the result
    is the mean and the (population) standard deviation over the parts. It lies in
    ``[1, K]``: 1 when every sample gets the same prediction, K when each is confidently one
    of K equally used classes.

    Args:
        logits: ``[N, K]`` class logits (softmax is applied here, in float64).
        splits: the number of parts (at most N).

    Returns:
        ``{"is_mean": float, "is_std": float}``.

    Example::

        inception_score(torch.eye(4) * 50, splits=1)   # ~4.0: four confident, distinct classes
    """
    x = torch.as_tensor(logits).to(torch.float64)
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"logits must be a non-empty [N, K] matrix, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("logits contain NaN or infinite values")
    if not 1 <= splits <= x.shape[0]:
        raise ValueError(f"splits must be in 1..{x.shape[0]} (the sample count), got {splits}")
    log_p = torch.log_softmax(x, dim=1)
    scores = []
    for part in torch.tensor_split(log_p, splits):
        log_marginal = torch.logsumexp(part, dim=0) - math.log(len(part))
        kl = (part.exp() * (part - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return {"is_mean": mean, "is_std": std}
