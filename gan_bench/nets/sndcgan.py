"""SNDCGAN: the CNN of Miyato et al. 2018 (table 3), as in google/compare_gan `architectures/sndcgan.py`
(Kurach et al. 2019).

G: z -> linear to (H/8)(W/8)*8w, norm, ReLU (normalized before the reshape, per unit, as compare_gan) ->
transposed convs 4x4 stride 2 to 4w, 2w, w, each with norm and ReLU -> transposed conv 3x3 stride 1 to C -> tanh.
D: convs (w, 3x3 s1), (2w, 4x4 s2), (2w, 3x3 s1), (4w, 4x4 s2), (4w, 3x3 s1), (8w, 4x4 s2), (8w, 3x3 s1), each
with leaky ReLU 0.1 -> linear to one logit. w = 64. compare_gan's SNDCGAN D has no activation normalization;
for d_norm batch/layer (the normalization axis of Kurach et al.) it is applied after every conv but the first,
the placement of the DCGAN D.
"""
import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets import ARCHITECTURES
from gan_bench.nets.layers import (Conv, ConvTranspose, Dense, Normalization, check_image_shape, lrelu,
                                   same_size_chain, split_d_norm, weight_init)

D_LAYERS = ((1, 3, 1), (2, 4, 2), (2, 3, 1), (4, 4, 2), (4, 3, 1), (8, 4, 2), (8, 3, 1))  # (width x, kernel, stride)


class SNDCGANGenerator(nn.Module):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1]."""

    data_shape: tuple
    width: int
    norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, z, train: bool):
        h, w, c = self.data_shape
        hs, ws = same_size_chain(h, 3), same_size_chain(w, 3)
        init, norm, groups = self.kernel_init, self.norm, self.bn_groups
        x = Dense(hs[3] * ws[3] * 8 * self.width, kernel_init=init, name="g_fc1")(z)
        x = nn.relu(Normalization(norm, groups, name="g_bn1")(x, train))
        x = x.reshape(z.shape[0], hs[3], ws[3], 8 * self.width)
        for i, mult in enumerate((4, 2, 1)):
            x = ConvTranspose(mult * self.width, 4, 2, (hs[2 - i], ws[2 - i]), init, name=f"g_dc{i + 2}")(x)
            x = nn.relu(Normalization(norm, groups, name=f"g_bn{i + 2}")(x, train))
        return jnp.tanh(ConvTranspose(c, 3, 1, (h, w), init, name="g_dc5")(x))


class SNDCGANDiscriminator(nn.Module):
    """images [B, H, W, C'] -> logits [B]."""

    width: int
    d_norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, x, train: bool):
        norm, wn = split_d_norm(self.d_norm)
        for i, (mult, k, s) in enumerate(D_LAYERS):
            x = Conv(mult * self.width, k, s, wn, self.kernel_init, name=f"d_conv{i + 1}")(x, train)
            if i > 0:
                x = Normalization(norm, self.bn_groups, name=f"d_bn{i + 1}")(x, train)
            x = lrelu(x, 0.1)
        x = x.reshape(x.shape[0], -1)
        return Dense(1, wn, self.kernel_init, name="d_fc1")(x, train)[:, 0].astype(jnp.float32)


@ARCHITECTURES.register("sndcgan")
@gin.configurable("sndcgan")
def sndcgan(*, data_shape, z_dim, d_norm, g_norm, bn_groups=1, g_width=64, d_width=64):
    """The (G, D) pair; base widths (64; layers use 1x-8x) are gin-configurable."""
    del z_dim
    shape = check_image_shape("sndcgan", data_shape)
    init = weight_init()
    return (SNDCGANGenerator(shape, g_width, g_norm, bn_groups, init),
            SNDCGANDiscriminator(d_width, d_norm, bn_groups, init))
