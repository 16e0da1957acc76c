"""Generator/discriminator pairs by name: `build(name, *, data_shape, z_dim, d_norm, g_norm, conv, bn_groups=1)`.

Families (one module each, declared with `base.architecture`): `mlp` (2-D mixtures), `infogan` (Lucic et al.
2018, MNIST-like and CelebA-64), `dcgan`, `sndcgan` and `resnet_cifar` (Kurach et al. 2019, compare_gan).
Each family's factory is `@gin.configurable` under its name, so `dcgan.g_width = 32` changes widths.

G(z [B, z_dim], train) -> [B, *data_shape]; D(x [B, ...], train) -> logits [B] float32. Batch-norm state
lives in collection `batch_stats`, spectral-norm vectors in `spectral`; both move only with train=True.
`conv` is the convolution implementation every layer uses (`conv_impl`); a trial picks it with
`trial.conv_impl` (`conv_choice`).
"""
from gan_bench.nets.base import ARCHITECTURES, build
from gan_bench.nets.conv_choice import ConvChoice, choose_conv_impl, write_conv_record
from gan_bench.nets.conv_impl import CONV_IMPLS, ConvImpl, CpuTunedConv, XlaConv, conv_impl
from gan_bench.nets.layers import D_NORMS, G_NORMS

# The families register themselves in ARCHITECTURES on import.
from gan_bench.nets import autoencoder, dcgan, infogan, mlp, resnet, sndcgan  # noqa: E402,F401  pylint: disable=wrong-import-position

__all__ = ["ARCHITECTURES", "CONV_IMPLS", "D_NORMS", "G_NORMS", "ConvChoice", "ConvImpl", "CpuTunedConv", "XlaConv",
           "build", "choose_conv_impl", "conv_impl", "write_conv_record"]
