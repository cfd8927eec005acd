"""Blocks the built-in families share (the families import these; no family imports another).

- :mod:`.options`: the architecture options and optimizer settings several registrations use
  (no torch import: the registration modules import it while listing models);
- :mod:`.norm`: the normalisation choice (``batch``, ``instance``, ``layer``, ``none``);
- :mod:`.init`: the N(0, std) initialisation of the DCGAN lineage;
- :mod:`.residual`: the two-conv residual block of the translation and super-resolution generators;
- :mod:`.patchgan`: the PatchGAN's layer stack and its size arithmetic;
- :mod:`.conditional`: one-hot labels and the class count conditional networks need;
- :mod:`.dcgan`: the DCGAN backbone (generator, discriminator, size plan) that dcgan, cgan, acgan,
  wgan, sngan, bigan and the context encoder build on.

This package imports nothing itself, so importing :mod:`.options` stays free of torch.
"""
