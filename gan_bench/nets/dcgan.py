"""DCGAN (Radford et al. 2016) as in google/compare_gan `architectures/dcgan.py` (Lucic et al. 2018,
Kurach et al. 2019).

G: z -> linear to [H/16, W/16, 8w] -> norm, ReLU -> 4 transposed convs 5x5 stride 2 (4w, 2w, w, C), each but
the last followed by norm and ReLU -> tanh. D: 4 convs 5x5 stride 2 (w, 2w, 4w, 8w) with leaky ReLU 0.2,
normalization after all but the first -> linear to one logit. w = 64; sizes shrink as ceil(size / 2).
"""
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, architecture, check_positive
from gan_bench.nets.layers import lrelu, same_size_chain, weight_init


class DCGANGenerator(Generator):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1]."""

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        h, w, c = self.data_shape
        hs, ws = same_size_chain(h, 4), same_size_chain(w, 4)
        z_in, cond = self.inputs(z, y)
        x = self.dense(8 * self.width * hs[4] * ws[4], "g_fc1")(z_in)
        x = x.reshape(z.shape[0], hs[4], ws[4], 8 * self.width)
        x = nn.relu(self.normalize(x, train, "g_bn1", cond))
        for i, mult in enumerate((4, 2, 1)):
            x = self.conv_transpose(mult * self.width, 5, 2, (hs[3 - i], ws[3 - i]), f"g_dc{i + 1}")(x)
            x = nn.relu(self.normalize(x, train, f"g_bn{i + 2}", cond))
        return jnp.tanh(self.conv_transpose(c, 5, 2, (h, w), "g_dc4")(x))


class DCGANDiscriminator(Discriminator):
    """images [B, H, W, C'] -> logits [B]."""

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        x = lrelu(self.conv2d(self.width, 5, 2, "d_conv1")(self.inputs(x, y), train))
        for i, mult in enumerate((2, 4, 8)):
            x = self.conv2d(mult * self.width, 5, 2, f"d_conv{i + 2}")(x, train)
            x = lrelu(self.normalization(f"d_bn{i + 1}")(x, train))
        return self.logits(x, train, "d_fc4", y)


@architecture("dcgan", images=True)
def dcgan(args: BuildArgs, g_width=64, d_width=64):
    """The (G, D) pair; `g_width` (gf_dim) and `d_width` (df_dim) are gin-configurable."""
    check_positive("dcgan", g_width=g_width, d_width=d_width)
    init = weight_init()
    return (args.generator(DCGANGenerator, width=g_width, kernel_init=init),
            args.discriminator(DCGANDiscriminator, width=d_width, kernel_init=init))
