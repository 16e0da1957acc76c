"""The InfoGAN-style nets of Lucic et al. 2018 ("Are GANs Created Equal?", table 7), as in google/compare_gan
`architectures/infogan.py`; used for MNIST/Fashion-MNIST (28x28) and CelebA (64x64).

G: z -> FC 1024, BN, lReLU -> FC 128*(H/4)*(W/4), BN, lReLU -> deconv 4x4 s2 to 64, BN, lReLU -> deconv
4x4 s2 to C -> tanh. D: conv 4x4 s2 64, lReLU -> conv 4x4 s2 128, norm, lReLU -> FC 1024, norm, lReLU -> FC 1.
Leaky ReLU slope 0.2 everywhere (compare_gan `lrelu`). H and W must be multiples of 4.
"""
import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets import ARCHITECTURES
from gan_bench.nets.layers import (Conv, ConvTranspose, Dense, Normalization, check_image_shape, lrelu,
                                   split_d_norm, weight_init)


class InfoGANGenerator(nn.Module):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1]."""

    data_shape: tuple
    width: int
    fc_width: int
    norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, z, train: bool):
        h, w, c = self.data_shape
        init, norm, groups = self.kernel_init, self.norm, self.bn_groups
        x = lrelu(Normalization(norm, groups, name="g_bn1")(Dense(self.fc_width, kernel_init=init, name="g_fc1")(z), train))
        x = Dense(2 * self.width * (h // 4) * (w // 4), kernel_init=init, name="g_fc2")(x)
        x = lrelu(Normalization(norm, groups, name="g_bn2")(x, train))
        x = x.reshape(z.shape[0], h // 4, w // 4, 2 * self.width)
        x = ConvTranspose(self.width, 4, 2, (h // 2, w // 2), init, name="g_dc3")(x)
        x = lrelu(Normalization(norm, groups, name="g_bn3")(x, train))
        return jnp.tanh(ConvTranspose(c, 4, 2, (h, w), init, name="g_dc4")(x))


class InfoGANDiscriminator(nn.Module):
    """images [B, H, W, C'] -> logits [B]."""

    width: int
    fc_width: int
    d_norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, x, train: bool):
        norm, wn = split_d_norm(self.d_norm)
        init, groups = self.kernel_init, self.bn_groups
        x = lrelu(Conv(self.width, 4, 2, wn, init, name="d_conv1")(x, train))
        x = Conv(2 * self.width, 4, 2, wn, init, name="d_conv2")(x, train)
        x = lrelu(Normalization(norm, groups, name="d_bn2")(x, train))
        x = Dense(self.fc_width, wn, init, name="d_fc3")(x.reshape(x.shape[0], -1), train)
        x = lrelu(Normalization(norm, groups, name="d_bn3")(x, train))
        return Dense(1, wn, init, name="d_fc4")(x, train)[:, 0].astype(jnp.float32)


@ARCHITECTURES.register("infogan")
@gin.configurable("infogan")
def infogan(*, data_shape, z_dim, d_norm, g_norm, bn_groups=1, g_width=64, d_width=64, fc_width=1024):
    """The (G, D) pair; conv widths (64, 2x64) and the FC width (1024) are gin-configurable."""
    del z_dim
    shape = check_image_shape("infogan", data_shape, multiple=4)
    init = weight_init()
    return (InfoGANGenerator(shape, g_width, fc_width, g_norm, bn_groups, init),
            InfoGANDiscriminator(d_width, fc_width, d_norm, bn_groups, init))
