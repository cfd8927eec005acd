"""Pixel-level image quality: L1, PSNR and SSIM between outputs and references.

The measures of super-resolution (Ledig et al. 2017 report PSNR and SSIM), inpainting
(Pathak et al. 2016: L1 and PSNR of the filled region) and reconstruction (VQ-GAN) on images
scaled to [0, 1]. Inputs may be uint8 (0..255) or floats in the model range [-1, 1].

Example::

    >>> a = torch.zeros(1, 1, 8, 8); b = a.clone(); b[..., 0, 0] = 1.0   # [-1, 1] floats
    >>> round(float(psnr(a, b).mean()), 2)    # one pixel off by 0.5 on [0, 1]: MSE 0.25 / 64
    24.08
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PSNR_CAP = 100.0
"""The PSNR of an image equal to its reference (instead of infinity), in dB."""


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images or [-1, 1] floats as float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return ((images.float() + 1) / 2).clamp(0, 1)


def _masked(diff: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-image mean of ``diff`` ``[N, C, H, W]`` over all pixels, or over the pixels where
    ``mask`` (``[N, 1, H, W]``, 1 = counted) is set."""
    if mask is None:
        return diff.flatten(1).mean(1)
    weight = mask.float().expand_as(diff)
    return (diff * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)


def l1(output: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image mean absolute difference on [0, 1] (within ``mask`` when given): ``[N]``."""
    return _masked((to_unit(output) - to_unit(reference)).abs(), mask)


def psnr(output: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR in dB with a peak of 1 on [0, 1] (within ``mask`` when given): ``[N]``;
    an exact match counts as :data:`PSNR_CAP`."""
    mse = _masked((to_unit(output) - to_unit(reference)).square(), mask)
    return torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-10)), torch.tensor(PSNR_CAP))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(output: torch.Tensor, reference: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Per-image structural similarity (Wang et al. 2004) on [0, 1], averaged over channels: ``[N]``.

    A Gaussian window (``sigma`` 1.5, as in the paper; ``window`` 7 by default because MNIST's
    28 px leave an 11 px window only 18 valid positions per side), constants
    ``C1 = (0.01)^2``, ``C2 = (0.03)^2`` for a dynamic range of 1, and only the window
    positions that lie fully inside the image ("valid", as scikit-image's ``gaussian_weights``
    variant without padding).
    """
    x, y = to_unit(output).double(), to_unit(reference).double()
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two [N, C, H, W] batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    window = min(window, x.shape[-1], x.shape[-2])
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma).double().expand(channels, 1, window, window)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(y * y) - mu_y.square()
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return value.flatten(1).mean(1).float()
