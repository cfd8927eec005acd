"""The N(0, std) weight initialisation of DCGAN and the models that copied it."""

from __future__ import annotations

from typing import Callable

from torch import nn

CONVS_2D = (nn.Conv2d, nn.ConvTranspose2d)
BATCH_NORMS_2D = (nn.BatchNorm2d,)


def normal_init(std: float = 0.02, *, convs: tuple[type[nn.Module], ...] = CONVS_2D,
                norms: tuple[type[nn.Module], ...] = BATCH_NORMS_2D,
                zero_conv_bias: bool = True) -> Callable[[nn.Module], None]:
    """A function for ``module.apply``: weights of ``convs`` N(0, ``std``) and their biases 0
    (kept as PyTorch drew them when not ``zero_conv_bias``); scales of ``norms`` N(1, 0.02) and
    their shifts 0. Other modules keep their initialisation.

    Example::

        net.apply(normal_init(0.01, convs=(nn.Conv3d, nn.ConvTranspose3d), norms=(nn.BatchNorm3d,)))
    """
    def init(module: nn.Module) -> None:
        if isinstance(module, convs):
            nn.init.normal_(module.weight, 0.0, std)
            if zero_conv_bias and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, norms):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return init


init_weights = normal_init()
"""DCGAN's initialisation (Radford et al. 2015): 2-D (transposed) conv weights N(0, 0.02),
their biases 0, batch-norm scales N(1, 0.02) and shifts 0. Also the pix2pix/CycleGAN official
code's "normal" initialisation."""
