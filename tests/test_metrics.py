"""The pure score math of ganzoo.metrics.scores against references and hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganzoo.datasets import GRID_STD, RING_STD, gaussian_mixture, grid_means, ring_means
from ganzoo.metrics import scores
from ganzoo.metrics.scores import (
    class_histogram,
    density_coverage,
    feature_statistics,
    fid,
    frechet_distance,
    kid,
    mixture_modes,
    precision_recall,
    triple_modes,
)

scipy_linalg = pytest.importorskip("scipy.linalg")


def random_gaussian(d: int, seed: int, rank: int | None = None):
    g = np.random.default_rng(seed)
    a = g.standard_normal((d, rank or d))
    return g.standard_normal(d), a @ a.T / d + (0.0 if rank else 0.1) * np.eye(d)


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    covmean = scipy_linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# --------------------------------------------------------------------------- FID


@pytest.mark.parametrize("d", [1, 2, 5, 16, 64])
def test_frechet_distance_matches_scipy_sqrtm(d):
    mu1, s1 = random_gaussian(d, seed=d)
    mu2, s2 = random_gaussian(d, seed=100 + d)
    expected = scipy_frechet(mu1, s1, mu2, s2)
    got = frechet_distance(torch.from_numpy(mu1), torch.from_numpy(s1),
                           torch.from_numpy(mu2), torch.from_numpy(s2))
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-10)
    # numpy inputs work too
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_singular_covariances():
    # rank-deficient covariances (features wider than the sample): still matches scipy
    mu1, s1 = random_gaussian(12, seed=1, rank=5)
    mu2, s2 = random_gaussian(12, seed=2, rank=7)
    expected = scipy_frechet(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("d", [1, 8, 64])
def test_frechet_distance_zero_for_identical_statistics(d):
    mu, s = random_gaussian(d, seed=7)
    value = frechet_distance(mu, s, mu, s)
    assert 0.0 <= value <= 1e-8 * np.trace(s)


def test_frechet_distance_of_shifted_means_is_squared_shift():
    mu, s = random_gaussian(6, seed=3)
    shift = np.arange(6.0)
    assert frechet_distance(mu, s, mu + shift, s) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_feature_statistics_match_numpy_cov():
    x = torch.randn(257, 9, generator=torch.Generator().manual_seed(0)) * 3 + 5
    mu, sigma = feature_statistics(x)
    assert mu.dtype == sigma.dtype == torch.float64
    np.testing.assert_allclose(mu.numpy(), x.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False),
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        feature_statistics(x[:1])


def test_feature_statistics_chunking(monkeypatch):
    x = torch.randn(300, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mu, sigma = feature_statistics(x)
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 200)  # 28 rows at a time
    mu2, sigma2 = feature_statistics(x)
    torch.testing.assert_close(mu, mu2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sigma, sigma2, rtol=1e-12, atol=1e-12)


def test_fid_does_not_depend_on_order_or_batching():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(600, 12, generator=g)
    fake = torch.randn(500, 12, generator=g) * 1.2 + 0.3
    value = fid(real, fake)["fid"]
    assert value > 0.5
    # features produced in batches and concatenated
    batched = torch.cat([chunk.clone() for chunk in fake.split(77)])
    assert fid(real, batched)["fid"] == pytest.approx(value, rel=1e-12)
    # rows in another order
    shuffled = fid(real[torch.randperm(600, generator=g)], fake[torch.randperm(500, generator=g)])
    assert shuffled["fid"] == pytest.approx(value, rel=1e-9)
    # same distribution, two samples: much smaller
    assert fid(real[:300], real[300:])["fid"] < value / 5


# --------------------------------------------------------------------------- KID


def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m = len(x)
    return float(((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1))
                 - 2 * kxy.sum() / m**2)


def test_kid_full_set_matches_reference_and_ignores_order(monkeypatch):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(120, 10, generator=g, dtype=torch.float64)
    y = torch.randn(120, 10, generator=g, dtype=torch.float64) + 0.5
    expected = reference_mmd2(x.numpy(), y.numpy())
    # one subset of every row: no randomness left, so the estimate is exact
    result = kid(x, y, subsets=1, subset_size=10_000)
    assert result["kid_mean"] == pytest.approx(expected, rel=1e-10)
    assert result["kid_std"] == 0.0
    permuted = kid(x.flip(0), y[torch.randperm(120, generator=g)], subsets=1, subset_size=120)
    assert permuted["kid_mean"] == pytest.approx(expected, rel=1e-10)
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 5000)  # 41 of 120 rows at a time
    assert kid(x, y, subsets=1, subset_size=120)["kid_mean"] == pytest.approx(expected, rel=1e-10)


def test_kid_batching_seed_and_subsets(monkeypatch):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(400, 8, generator=g)
    y = torch.randn(300, 8, generator=g) + 0.4
    a = kid(x, y, subsets=10, subset_size=100, seed=5)
    b = kid(torch.cat(list(x.split(64))), torch.cat(list(y.split(33))), subsets=10,
            subset_size=100, seed=5)
    assert a == b
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 3000)  # 30 of 100 rows at a time
    c = kid(x, y, subsets=10, subset_size=100, seed=5)
    assert c["kid_mean"] == pytest.approx(a["kid_mean"], rel=1e-10)
    assert c["kid_std"] == pytest.approx(a["kid_std"], rel=1e-8)
    assert kid(x, y, subsets=10, subset_size=100, seed=6) != a
    assert a["kid_std"] > 0


def test_kid_near_zero_for_one_distribution_positive_when_shifted():
    g = torch.Generator().manual_seed(5)
    data = torch.randn(2000, 16, generator=g)
    same = kid(data[:1000], data[1000:], subsets=20, subset_size=200)
    shifted = kid(data[:1000], data[1000:] + 0.5, subsets=20, subset_size=200)
    assert abs(same["kid_mean"]) < 3 * same["kid_std"] + 1e-3
    assert shifted["kid_mean"] > 10 * max(abs(same["kid_mean"]), same["kid_std"])
    assert shifted["kid_mean"] > 0.05


# --------------------------------------------------------------------------- precision / recall, density / coverage


def clusters(centres: torch.Tensor, per_cluster: int, spread: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(centres), per_cluster, centres.shape[1], generator=g) * spread
    return (centres.unsqueeze(1) + noise).reshape(-1, centres.shape[1])


CENTRES = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])


def test_knn_scores_by_hand():
    # 1-D, k = 1: every real ball has radius 1, the fake balls radius 9.5
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0]])
    assert precision_recall(real, fake, k=1) == {"precision": 0.5, "recall": 1.0}
    # 0.5 lies in the balls of 0 and 1, 10 in none: density (2 + 0) / (1 * 2);
    # reals 0 and 1 have a fake within 1, reals 2 and 3 do not
    assert density_coverage(real, fake, k=1) == {"density": 1.0, "coverage": 0.5}


def test_knn_scores_identical_sets():
    real = clusters(CENTRES, 60, 0.3, seed=0)
    pr = precision_recall(real, real.clone(), k=3)
    assert pr == {"precision": 1.0, "recall": 1.0}
    dc = density_coverage(real, real.clone(), k=5)
    assert dc["coverage"] == 1.0
    assert 0.7 < dc["density"] < 1.3


def test_knn_scores_far_away_fake():
    real = clusters(CENTRES, 50, 0.3, seed=1)
    fake = clusters(CENTRES + 100.0, 50, 0.3, seed=2)
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(real, fake) == {"density": 0.0, "coverage": 0.0}


def test_knn_scores_half_the_clusters():
    real = clusters(CENTRES, 200, 0.3, seed=3)
    fake = clusters(CENTRES[:2], 400, 0.3, seed=4)
    pr = precision_recall(real, fake, k=3)
    assert pr["precision"] > 0.95
    assert pr["recall"] == pytest.approx(0.5, abs=0.05)
    dc = density_coverage(real, fake, k=5)
    assert dc["coverage"] == pytest.approx(0.5, abs=0.05)
    assert 0.7 < dc["density"] < 1.3


def test_knn_scores_do_not_depend_on_chunking(monkeypatch):
    real = clusters(CENTRES, 40, 0.5, seed=5)
    fake = clusters(CENTRES[:3] + 0.3, 40, 0.6, seed=6)
    expected = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 2500)  # 15 rows of 160 at a time, 10 at the end
    assert (precision_recall(real, fake), density_coverage(real, fake)) == expected


def test_pairwise_blocks_stay_within_the_chunk_budget(monkeypatch):
    sizes = []
    original = scores._sq_dists

    def spy(x, y, y_sq):
        out = original(x, y, y_sq)
        sizes.append(out.numel())
        return out

    monkeypatch.setattr(scores, "_sq_dists", spy)
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 50_000)
    g = torch.Generator().manual_seed(7)
    real, fake = torch.randn(800, 4, generator=g), torch.randn(600, 4, generator=g)
    precision_recall(real, fake)
    density_coverage(real, fake)
    assert max(sizes) <= 50_000
    assert len(sizes) > 10


def test_knn_scores_reject_too_large_k():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError):
        precision_recall(x, x, k=4)


# --------------------------------------------------------------------------- mixture modes


def ring_points(per_mode: int, spread_std: float, seed: int) -> torch.Tensor:
    """``per_mode`` points around every ring mode, each coordinate within ``spread_std`` std."""
    g = torch.Generator().manual_seed(seed)
    noise = (torch.rand(8, per_mode, 2, generator=g) * 2 - 1) * spread_std * RING_STD
    return (ring_means().unsqueeze(1) + noise).reshape(-1, 2)


def test_mixture_modes_all_ring_modes():
    result = mixture_modes(ring_points(100, 2.0, seed=0), ring_means(), RING_STD)
    assert result["modes"] == 8
    assert result["high_quality"] == 100.0  # every point within 2*sqrt(2) < 3 std
    assert result["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("means, std, count", [(ring_means, RING_STD, 8), (grid_means, GRID_STD, 25)])
def test_mixture_modes_true_mixture_hits_the_ceiling(means, std, count):
    data = gaussian_mixture(means(), std, 20_000, seed=11).points
    result = mixture_modes(data, means(), std)
    ceiling = 100 * (1 - math.exp(-4.5))  # 98.89%
    assert result["modes"] == count
    assert result["high_quality"] == pytest.approx(ceiling, abs=0.5)
    assert result["reverse_kl"] < 0.01


def test_mixture_modes_one_mode():
    points = ring_means()[3] + 0.5 * RING_STD * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    result = mixture_modes(points, ring_means(), RING_STD)
    assert result["modes"] == 1
    assert result["high_quality"] > 99.0
    assert result["reverse_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_mixture_modes_histogram_counts_all_samples():
    means = ring_means()
    good = means[0].expand(100, 2)  # on mode 0: high quality
    bad = (0.9 * means[1]).expand(100, 2)  # nearest to mode 1, 10 std away: low quality
    result = mixture_modes(torch.cat([good, bad]), means, RING_STD)
    assert result["modes"] == 1  # mode 1 has no high-quality sample
    assert result["high_quality"] == 50.0
    # the histogram is over all samples: half on mode 0, half on mode 1
    assert result["reverse_kl"] == pytest.approx(math.log(4), rel=1e-12)


def test_mixture_modes_grid_and_threshold():
    means = grid_means()
    within = means + torch.tensor([2.9 * GRID_STD, 0.0])
    outside = means + torch.tensor([0.0, 3.1 * GRID_STD])
    assert mixture_modes(within, means, GRID_STD) == {"modes": 25, "high_quality": 100.0,
                                                      "reverse_kl": pytest.approx(0.0, abs=1e-12)}
    result = mixture_modes(outside, means, GRID_STD)
    assert result["modes"] == 0 and result["high_quality"] == 0.0


# --------------------------------------------------------------------------- class histograms and triples


def test_class_histogram_by_hand():
    result = class_histogram(torch.tensor([0, 0, 1, 3]), 4)
    assert result["histogram"] == [2, 1, 0, 1]
    assert result["modes"] == 3
    # p = (1/2, 1/4, 0, 1/4): 1/2 log 2 + 2 * 1/4 log 1 (+ 0 for the empty class)
    assert result["kl_uniform"] == pytest.approx(0.5 * math.log(2), rel=1e-12)
    uniform = class_histogram(torch.arange(10).repeat(7), 10)
    assert uniform["modes"] == 10 and uniform["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        class_histogram(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError):
        class_histogram(torch.tensor([0.0, 1.0]), 4)


def test_triple_modes_by_hand():
    every = torch.cartesian_prod(torch.arange(10), torch.arange(10), torch.arange(10))
    result = triple_modes(every)
    assert result["modes"] == 1000 and result["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    one = triple_modes(torch.tensor([[4, 2, 7]]).repeat(50, 1))
    assert one == {"modes": 1, "kl_uniform": pytest.approx(math.log(1000), rel=1e-12)}
    # (1, 2, 3) and (3, 2, 1) are different modes; half the mass each
    two = triple_modes(torch.tensor([[1, 2, 3], [3, 2, 1]] * 5))
    assert two == {"modes": 2, "kl_uniform": pytest.approx(math.log(500), rel=1e-12)}
    with pytest.raises(ValueError):
        triple_modes(torch.tensor([[1, 2, 10]]))
    with pytest.raises(ValueError):
        triple_modes(torch.tensor([1, 2, 3]))
