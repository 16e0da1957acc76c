"""Generator/discriminator pairs by name: `build(name, *, data_shape, z_dim, d_norm, g_norm, conv, bn_groups=1,
num_classes=0, g_conditioning='none', d_conditioning='none', rotation_head=False)`.

Families (one module each, declared with `base.architecture`): `mlp` (2-D mixtures), `infogan` (Lucic et al.
2018, MNIST-like and CelebA-64), `dcgan`, `sndcgan` and `resnet_cifar` (Kurach et al. 2019, compare_gan),
`sagan` (Zhang et al. 2019) and `biggan` (Brock et al. 2019) on the residual nets of `big_resnet`.
Each family's factory is `@gin.configurable` under its name, so `dcgan.g_width = 32` changes widths.

G(z [B, z_dim], train, y=None) -> [B, *data_shape]; D(x [B, ...], train, y=None) -> logits [B] float32, its
auxiliary heads sown into collection "heads" (`conditioning`). Batch-norm state
lives in collection `batch_stats`, spectral-norm vectors in `spectral`; both move only with train=True.
`conv` is the convolution implementation every layer uses (`conv_impl`); a trial picks it with
`trial.conv_impl` (`conv_choice`).
"""
from gan_bench.nets.base import ARCHITECTURES, build
from gan_bench.nets.conditioning import D_CONDITIONINGS, G_CONDITIONINGS
from gan_bench.nets.conv_choice import ConvChoice, choose_conv_impl, write_conv_record
from gan_bench.nets.conv_impl import CONV_IMPLS, ConvImpl, CpuTunedConv, XlaConv, conv_impl
from gan_bench.nets.layers import D_NORMS, G_NORMS

# The families register themselves in ARCHITECTURES on import.
from gan_bench.nets import autoencoder, dcgan, infogan, mlp, resnet, sndcgan  # noqa: E402,F401  pylint: disable=wrong-import-position
from gan_bench.nets import biggan, sagan  # noqa: E402,F401  pylint: disable=wrong-import-position

__all__ = ["ARCHITECTURES", "CONV_IMPLS", "D_CONDITIONINGS", "D_NORMS", "G_CONDITIONINGS", "G_NORMS", "ConvChoice",
           "ConvImpl", "CpuTunedConv", "XlaConv", "build", "choose_conv_impl", "conv_impl", "write_conv_record"]
