"""Generator/discriminator pairs by name: `build(name, *, data_shape, z_dim, d_norm, g_norm, bn_groups=1)`.

Families (one module each, registered in `ARCHITECTURES`): `mlp` (2-D mixtures), `infogan` (Lucic et al.
2018, MNIST-like and CelebA-64), `dcgan`, `sndcgan` and `resnet_cifar` (Kurach et al. 2019, compare_gan).
Each family's factory is `@gin.configurable` under its name, so `dcgan.g_width = 32` changes widths.

G(z [B, z_dim], train) -> [B, *data_shape]; D(x [B, ...], train) -> logits [B] float32. Batch-norm state
lives in collection `batch_stats`, spectral-norm vectors in `spectral`; both move only with train=True.
"""
from typing import Tuple

from gan_bench.registry import Registry

ARCHITECTURES = Registry("architecture")

D_NORMS = ("none", "batch", "layer", "spectral", "weight")
G_NORMS = ("none", "batch")

# The families register themselves on import (they need ARCHITECTURES defined above).
from gan_bench.nets import dcgan, infogan, mlp, resnet, sndcgan  # noqa: E402,F401  pylint: disable=wrong-import-position


def build(name: str, *, data_shape, z_dim: int, d_norm: str, g_norm: str, bn_groups: int = 1) -> Tuple:
    """The (G, D) flax modules of family `name`; ValueError for any bad argument, before compute."""
    factory = ARCHITECTURES.get(name)
    if d_norm not in D_NORMS:
        raise ValueError(f"d_norm = {d_norm!r}; expected one of {', '.join(D_NORMS)}")
    if g_norm not in G_NORMS:
        raise ValueError(f"g_norm = {g_norm!r}; expected one of {', '.join(G_NORMS)}")
    data_shape = tuple(data_shape)
    if not data_shape or not all(isinstance(d, int) and d > 0 for d in data_shape):
        raise ValueError(f"data_shape = {data_shape!r}; expected positive integers, (2,) or (H, W, C)")
    if not isinstance(z_dim, int) or z_dim < 1:
        raise ValueError(f"z_dim = {z_dim!r}; expected a positive integer")
    if not isinstance(bn_groups, int) or bn_groups < 1:
        raise ValueError(f"bn_groups = {bn_groups!r}; expected a positive integer")
    return factory(data_shape=data_shape, z_dim=z_dim, d_norm=d_norm, g_norm=g_norm, bn_groups=bn_groups)
