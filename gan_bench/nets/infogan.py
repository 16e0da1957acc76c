"""The InfoGAN-style nets of Lucic et al. 2018 ("Are GANs Created Equal?", table 7), as in google/compare_gan
`architectures/infogan.py`; used for MNIST/Fashion-MNIST (28x28) and CelebA (64x64).

G: z -> FC 1024, BN, lReLU -> FC 128*(H/4)*(W/4), BN, lReLU -> deconv 4x4 s2 to 64, BN, lReLU -> deconv
4x4 s2 to C -> tanh. D: conv 4x4 s2 64, lReLU -> conv 4x4 s2 128, norm, lReLU -> FC 1024, norm, lReLU -> FC 1.
Leaky ReLU slope 0.2 everywhere (compare_gan `lrelu`). H and W must be multiples of 4.
"""
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, architecture, check_positive
from gan_bench.nets.layers import lrelu, weight_init


class InfoGANGenerator(Generator):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1]."""

    fc_width: int

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        h, w, c = self.data_shape
        z_in, cond = self.inputs(z, y)
        x = lrelu(self.normalize(self.dense(self.fc_width, "g_fc1")(z_in), train, "g_bn1", cond))
        x = self.dense(2 * self.width * (h // 4) * (w // 4), "g_fc2")(x)
        x = lrelu(self.normalize(x, train, "g_bn2", cond))
        x = x.reshape(z.shape[0], h // 4, w // 4, 2 * self.width)
        x = self.conv_transpose(self.width, 4, 2, (h // 2, w // 2), "g_dc3")(x)
        x = lrelu(self.normalize(x, train, "g_bn3", cond))
        return jnp.tanh(self.conv_transpose(c, 4, 2, (h, w), "g_dc4")(x))


class InfoGANDiscriminator(Discriminator):
    """images [B, H, W, C'] -> logits [B]."""

    fc_width: int

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        x = lrelu(self.conv2d(self.width, 4, 2, "d_conv1")(self.inputs(x, y), train))
        x = self.conv2d(2 * self.width, 4, 2, "d_conv2")(x, train)
        x = lrelu(self.normalization("d_bn2")(x, train))
        x = self.dense(self.fc_width, "d_fc3")(x.reshape(x.shape[0], -1), train)
        x = lrelu(self.normalization("d_bn3")(x, train))
        return self.logits(x, train, "d_fc4", y)


@architecture("infogan", images=True, multiple_of=4)
def infogan(args: BuildArgs, g_width=64, d_width=64, fc_width=1024):
    """The (G, D) pair; conv widths (64, 2x64) and the FC width (1024) are gin-configurable."""
    check_positive("infogan", g_width=g_width, d_width=d_width, fc_width=fc_width)
    init = weight_init()
    return (args.generator(InfoGANGenerator, width=g_width, fc_width=fc_width, kernel_init=init),
            args.discriminator(InfoGANDiscriminator, width=d_width, fc_width=fc_width, kernel_init=init))
