"""DCGAN (Radford et al. 2016) as in google/compare_gan `architectures/dcgan.py` (Lucic et al. 2018,
Kurach et al. 2019).

G: z -> linear to [H/16, W/16, 8w] -> norm, ReLU -> 4 transposed convs 5x5 stride 2 (4w, 2w, w, C), each but
the last followed by norm and ReLU -> tanh. D: 4 convs 5x5 stride 2 (w, 2w, 4w, 8w) with leaky ReLU 0.2,
normalization after all but the first -> linear to one logit. w = 64; sizes shrink as ceil(size / 2).
"""
import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets import ARCHITECTURES
from gan_bench.nets.layers import (Conv, ConvTranspose, Dense, Normalization, check_image_shape, lrelu,
                                   same_size_chain, split_d_norm, weight_init)


class DCGANGenerator(nn.Module):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1]."""

    data_shape: tuple
    width: int
    norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, z, train: bool):
        h, w, c = self.data_shape
        hs, ws = same_size_chain(h, 4), same_size_chain(w, 4)
        init, norm = self.kernel_init, self.norm
        x = Dense(8 * self.width * hs[4] * ws[4], kernel_init=init, name="g_fc1")(z)
        x = x.reshape(z.shape[0], hs[4], ws[4], 8 * self.width)
        x = nn.relu(Normalization(norm, self.bn_groups, name="g_bn1")(x, train))
        for i, mult in enumerate((4, 2, 1)):
            x = ConvTranspose(mult * self.width, 5, 2, (hs[3 - i], ws[3 - i]), init, name=f"g_dc{i + 1}")(x)
            x = nn.relu(Normalization(norm, self.bn_groups, name=f"g_bn{i + 2}")(x, train))
        x = ConvTranspose(c, 5, 2, (h, w), init, name="g_dc4")(x)
        return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
    """images [B, H, W, C'] -> logits [B]."""

    width: int
    d_norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, x, train: bool):
        norm, wn = split_d_norm(self.d_norm)
        init = self.kernel_init
        x = lrelu(Conv(self.width, 5, 2, wn, init, name="d_conv1")(x, train))
        for i, mult in enumerate((2, 4, 8)):
            x = Conv(mult * self.width, 5, 2, wn, init, name=f"d_conv{i + 2}")(x, train)
            x = lrelu(Normalization(norm, self.bn_groups, name=f"d_bn{i + 1}")(x, train))
        x = x.reshape(x.shape[0], -1)
        return Dense(1, wn, init, name="d_fc4")(x, train)[:, 0].astype(jnp.float32)


@ARCHITECTURES.register("dcgan")
@gin.configurable("dcgan")
def dcgan(*, data_shape, z_dim, d_norm, g_norm, bn_groups=1, g_width=64, d_width=64):
    """The (G, D) pair; `g_width` (gf_dim) and `d_width` (df_dim) are gin-configurable."""
    del z_dim
    shape = check_image_shape("dcgan", data_shape)
    init = weight_init()
    return (DCGANGenerator(shape, g_width, g_norm, bn_groups, init),
            DCGANDiscriminator(d_width, d_norm, bn_groups, init))
