"""Pixel metrics (L1, PSNR, SSIM), worked out by hand on small images."""

from __future__ import annotations

import math

import pytest
import torch

from ganzoo.metrics.pixels import PSNR_CAP, l1, psnr, ssim, to_unit


def test_uint8_and_model_range_inputs_mean_the_same_image():
    u = torch.tensor([[[[0, 255], [51, 204]]]], dtype=torch.uint8)
    f = u.float() / 127.5 - 1
    assert torch.allclose(to_unit(u), to_unit(f))
    assert torch.allclose(to_unit(u), torch.tensor([[[[0.0, 1.0], [0.2, 0.8]]]]))


def test_psnr_of_one_pixel_off_by_a_half():
    a = torch.zeros(2, 1, 4, 4)  # 0.5 on [0, 1]
    b = a.clone()
    b[0, 0, 0, 0] = 1.0  # 1.0 on [0, 1]: error 0.5 on 1 of 16 pixels
    mse = 0.25 / 16
    assert psnr(b, a)[0].item() == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    assert psnr(b, a)[1].item() == PSNR_CAP  # identical


def test_masked_metrics_count_only_the_masked_pixels():
    a = torch.zeros(1, 1, 4, 4)
    b = a.clone()
    b[..., :2, :] = 1.0  # the top half differs by 0.5 on [0, 1]
    top = torch.zeros(1, 1, 4, 4)
    top[..., :2, :] = 1
    assert l1(b, a).item() == pytest.approx(0.25)
    assert l1(b, a, mask=top).item() == pytest.approx(0.5)
    assert l1(b, a, mask=1 - top).item() == 0.0
    assert psnr(b, a, mask=top).item() == pytest.approx(10 * math.log10(1 / 0.25), abs=1e-4)


def test_ssim_of_two_constant_images_is_the_luminance_term():
    # no variance: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    x = torch.zeros(1, 1, 9, 9)          # 0.5 on [0, 1]
    y = torch.full((1, 1, 9, 9), -0.5)   # 0.25
    c1 = 0.01 ** 2
    expected = (2 * 0.5 * 0.25 + c1) / (0.5 ** 2 + 0.25 ** 2 + c1)
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_ssim_is_one_for_equal_images_and_falls_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 28, 28, generator=g) * 2 - 1
    noisy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    assert torch.allclose(ssim(x, x), torch.ones(3))
    assert (ssim(noisy, x) < 0.95).all()
    assert torch.allclose(ssim(noisy, x), ssim(x, noisy), atol=1e-6)  # symmetric


def test_ssim_refuses_batches_of_different_shapes():
    with pytest.raises(ValueError, match="one shape"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 7, 7))
